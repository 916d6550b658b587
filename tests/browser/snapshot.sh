#!/usr/bin/env bash
# snapshot.sh URL OUT_PREFIX: loads URL in headless Debian chromium twice and
# writes what a person would get: the DOM after scripts ran (OUT_PREFIX.html)
# and a screenshot (OUT_PREFIX.png, WINDOW_SIZE wide,high; default 1280,900). Exits non-zero if chromium fails
# or either file is missing or empty.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 URL OUT_PREFIX" >&2
  exit 2
fi
url=$1
out=$2
chromium_bin=${CHROMIUM:-chromium}
command -v "$chromium_bin" >/dev/null || { echo "snapshot: $chromium_bin not found (apt-get install chromium)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"

# One headless run with a fresh, empty profile that is removed afterwards.
run_chromium() {
  local profile rc=0
  profile=$(mktemp -d)
  timeout 60 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --user-data-dir="$profile" "$@" || rc=$?
  rm -rf "$profile"
  return "$rc"
}

# Fails unless file $1 exists and is not empty; shows the end of chromium's log $2.
require_output() {
  if [ ! -s "$1" ]; then
    echo "snapshot: $1 is missing or empty; chromium's last words ($2):" >&2
    tail -n 20 "$2" >&2
    exit 1
  fi
}

rm -f "$out.html" "$out.png"

if ! run_chromium --virtual-time-budget=2000 --dump-dom "$url" >"$out.html" 2>"$out.dom.log"; then
  echo "snapshot: chromium --dump-dom failed for $url; its last words ($out.dom.log):" >&2
  tail -n 20 "$out.dom.log" >&2
  exit 1
fi
require_output "$out.html" "$out.dom.log"

if ! run_chromium --screenshot="$out.png" --window-size="${WINDOW_SIZE:-1280,900}" "$url" >/dev/null 2>"$out.png.log"; then
  echo "snapshot: chromium --screenshot failed for $url; its last words ($out.png.log):" >&2
  tail -n 20 "$out.png.log" >&2
  exit 1
fi
require_output "$out.png" "$out.png.log"

rm -f "$out.dom.log" "$out.png.log"
echo "snapshot: wrote $out.html and $out.png"
