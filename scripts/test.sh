#!/usr/bin/env bash
# The whole test suite (`make test`): lint, Go tests (unit and integration
# against a real Prometheus, Alertmanager, kube-apiserver and gRPC client),
# promtool rule tests and a server-side dry-run of the manifests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/components.sh
trap stop_all EXIT

step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

step "lint: gofmt, go vet"
make -s lint

step "install real components into $TOOLS (cached)"
install_prometheus
install_alertmanager
install_kube
install_grpcurl
ls "$TOOLS"

step "end to end scaling: load -> shadowcast -> Prometheus rules -> Alertmanager -> webhook -> kube-apiserver"
bash scripts/e2e-scaling.sh

step "start etcd + kube-apiserver on 127.0.0.1:16443"
start_kube 16443 12379
export SHADOWCAST_TEST_KUBECONFIG="$RUNDIR/kube-16443/kubeconfig"
export SHADOWCAST_TOOLS="$TOOLS"

step "go test -race ./..."
go test -race -timeout 30m ./...

step "promtool: rules"
bash scripts/test-rules.sh

step "kube-apiserver: server-side dry-run of deploy/"
bash scripts/test-deploy.sh

step "all tests passed"
