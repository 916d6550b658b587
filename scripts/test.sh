#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the integration tests
# need when it is missing, then runs the same checks everywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nats-server >/dev/null || need_apt+=(nats-server)
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]} (Debian packages)"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! python3 -c "import grpc, grpc_tools, grpc_health, grpc_reflection" 2>/dev/null; then
  echo "==> installing the Python gRPC conformance client's packages"
  python3 -m pip install -q -r tests/conformance/requirements.txt 2>/dev/null \
    || python3 -m pip install -q --break-system-packages -r tests/conformance/requirements.txt
fi
if ! python3 -c "import openapi_spec_validator, jsonschema, referencing" 2>/dev/null; then
  echo "==> installing the OpenAPI checker's packages"
  python3 -m pip install -q -r tests/openapi/requirements.txt 2>/dev/null \
    || python3 -m pip install -q --break-system-packages -r tests/openapi/requirements.txt
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --lib --bins --tests --locked   # benches are load runs: `cargo bench`, linted by clippy above
echo "==> cargo test --doc"
cargo test --doc --locked
echo "==> deployment checks (Dockerfile, Helm chart, Kustomize, examples)"
bash scripts/check-deploy.sh
