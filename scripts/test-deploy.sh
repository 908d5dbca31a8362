#!/usr/bin/env bash
# Checks deploy/ against a real kube-apiserver (built and cached by
# scripts/components.sh, with etcd, on 127.0.0.1):
#   1. renders every kustomization with kubectl's built-in kustomize;
#   2. installs the CRDs the manifests need from the projects' published Go
#      modules (prometheus-operator: ServiceMonitor, PrometheusRule,
#      AlertmanagerConfig, Prometheus; KEDA: ScaledObject), not hand-written;
#   3. creates the namespaces and the webhook Secret for real, then applies
#      every rendered manifest with server-side dry-run and strict field
#      validation (a deliberately broken manifest must be refused);
#   4. applies the targets' RBAC for real and checks with `kubectl auth can-i`
#      that shadowcast's service account may do what its resources need and
#      nothing else.
# Exits non-zero on any failure. Ports: KUBE_PORT (16543), ETCD_PORT (12479,
# and +1 for peers).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# kubectl (>= 1.27 for --validate=strict) resolved before components.sh puts
# $TOOLS first on PATH: its install_kube links $TOOLS/kubectl to
# `command -v kubectl`, which becomes a link to itself on a second run.
KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
KUBECTL=$(readlink -f "$KUBECTL" 2>/dev/null || true)
if ! "$KUBECTL" version --client >/dev/null 2>&1; then KUBECTL=/usr/bin/kubectl; fi
kubectl() { "$KUBECTL" "$@"; }
# Its own RUNDIR: components.sh exports RUNDIR, and the caller's (make test)
# holds the pid files of the apiserver it still runs; cleaning that one up
# here leaked it (a stale kube-apiserver on 16443 broke the next run).
RUNDIR=$(mktemp -d /tmp/shadowcast-deploy.XXXXXX)
# shellcheck source=components.sh
. scripts/components.sh
cleanup() { stop_all; rm -rf "$RUNDIR"; }
trap cleanup EXIT

KUBE_PORT=${KUBE_PORT:-16543}
ETCD_PORT=${ETCD_PORT:-12479}
PROM_OPERATOR_VERSION=${PROM_OPERATOR_VERSION:-v0.85.0}
KEDA_VERSION=${KEDA_VERSION:-v2.21.0}
KUSTOMIZATIONS=(overlays/standalone overlays/sidecar examples/keda)

run() { echo "+ $*" >&2; "$@"; }
fail() { echo "test-deploy: FAIL: $*" >&2; exit 1; }

module_dir() { # module@version -> its directory in the module cache
  (cd "$RUNDIR" && GOFLAGS=-mod=mod go mod download -json "$1") |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}

echo "== render"
mkdir -p "$RUNDIR/rendered"
for k in "${KUSTOMIZATIONS[@]}"; do
  out="$RUNDIR/rendered/${k//\//_}.yaml"
  run kubectl kustomize "deploy/$k" >"$out"
  echo "   $k: $(grep -c '^kind:' "$out") objects" >&2
done

echo "== CRDs from the published modules"
po=$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION")
keda=$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")
[ -d "$po" ] && [ -d "$keda" ] || fail "module download failed (prometheus-operator: '$po', keda: '$keda')"
crds=()
for c in servicemonitors prometheusrules alertmanagerconfigs prometheuses; do
  crds+=("$po/example/prometheus-operator-crd/monitoring.coreos.com_$c.yaml")
done
crds+=("$keda/config/crd/bases/keda.sh_scaledobjects.yaml")
for c in "${crds[@]}"; do [ -f "$c" ] || fail "missing CRD file $c"; done

echo "== kube-apiserver on 127.0.0.1:$KUBE_PORT"
install_kube
run start_kube "$KUBE_PORT" "$ETCD_PORT"
export KUBECONFIG="$RUNDIR/kube-$KUBE_PORT/kubeconfig"

for c in "${crds[@]}"; do run kubectl apply --server-side --field-manager=shadowcast-test -f "$c" >/dev/null; done
run kubectl wait --for condition=established --timeout=60s \
  crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com \
  crd/alertmanagerconfigs.monitoring.coreos.com crd/prometheuses.monitoring.coreos.com \
  crd/scaledobjects.keda.sh >/dev/null

for ns in shadowcast monitoring shop; do run kubectl create namespace "$ns" >/dev/null; done
token=$(openssl rand -hex 32)
for ns in shadowcast monitoring; do
  echo "+ kubectl -n $ns create secret generic shadowcast-webhook --from-literal=token=(random)" >&2
  kubectl -n "$ns" create secret generic shadowcast-webhook --from-literal=token="$token" >/dev/null
done

echo "== server-side dry-run of every rendered manifest"
for k in "${KUSTOMIZATIONS[@]}"; do
  f="$RUNDIR/rendered/${k//\//_}.yaml"
  run kubectl apply --server-side --dry-run=server --field-manager=shadowcast --validate=strict -f "$f" ||
    fail "deploy/$k does not apply"
done

# Negative control: the same check must refuse an unknown field in a CRD
# object and an invalid value in a core object.
refused() { # file expected-message: the dry-run must fail with that message
  local out
  if out=$(kubectl apply --server-side --dry-run=server --validate=strict -f "$1" 2>&1); then
    fail "$1 was accepted: the check is not validating"
  fi
  grep -q "$2" <<<"$out" || fail "$1 was refused for another reason than '$2': $out"
}
sed 's/^  cooldownPeriod:/  coolDownPeriod:/' "$RUNDIR/rendered/examples_keda.yaml" >"$RUNDIR/bad-scaledobject.yaml"
refused "$RUNDIR/bad-scaledobject.yaml" '.spec.coolDownPeriod: field not declared in schema'
sed 's/containerPort: 9799/containerPort: 99999/' "$RUNDIR/rendered/overlays_standalone.yaml" >"$RUNDIR/bad-deployment.yaml"
refused "$RUNDIR/bad-deployment.yaml" 'containerPort: Invalid value: 99999'
echo "   negative controls refused as expected" >&2

echo "== least privilege of shadowcast's service account (RBAC applied for real)"
run kubectl apply --server-side --field-manager=shadowcast-test -k deploy/targets >/dev/null
sa=system:serviceaccount:shadowcast:shadowcast
can() { # expected verb resource [args...]
  local want=$1; shift
  local got
  got=$(kubectl auth can-i "$@" --as="$sa" 2>/dev/null || true)
  [ "$got" = "$want" ] || fail "can-i $* as $sa: got '$got', want '$want'"
  echo "   $want: $*" >&2
}
can yes update deployments.apps/checkout-api --subresource=scale -n shop
can yes get deployments.apps/checkout-api --subresource=scale -n shop
can yes patch deployments.apps/search -n shop
can yes update horizontalpodautoscalers.autoscaling/orders-worker -n shop
can no update deployments.apps/other --subresource=scale -n shop
can no update deployments.apps/checkout-api --subresource=scale -n default
can no patch deployments.apps/checkout-api -n shop
can no delete deployments.apps/search -n shop
can no patch horizontalpodautoscalers.autoscaling/orders-worker -n shop
can no list deployments.apps -n shop
can no get secrets -n shop
can no get secrets -n shadowcast

echo "test-deploy: OK"
