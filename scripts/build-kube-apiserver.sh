#!/usr/bin/env bash
# Builds kube-apiserver from the k8s.io/kubernetes module into $1. `go install`
# refuses that module (its go.mod replaces k8s.io/* with ./staging, which the
# module zip lacks), so build a writable copy whose staging replaces point at
# the published k8s.io/* modules of the same release (v1.X.Y <-> v0.X.Y).
set -euo pipefail
out=${1:?usage: build-kube-apiserver.sh OUTDIR}
kv=${K8S_VERSION:-v1.37.2}
sv=v0.${kv#v1.}
src=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$kv" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src"/. "$work"/
chmod -R u+w "$work"
cd "$work"
sed -i -E '/=> \.\/staging\//d' go.mod
sed -i -E "s#^(\s+k8s\.io/[a-z0-9-]+) v0\.0\.0\$#\1 $sv#" go.mod
rm -f go.work go.work.sum
mkdir -p "$out"
minor=$(echo "$kv" | cut -d. -f2)
GOFLAGS=-mod=mod GOWORK=off go build \
  -ldflags "-X k8s.io/component-base/version.gitVersion=$kv -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
  -o "$out/" ./cmd/kube-apiserver
