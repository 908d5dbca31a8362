#!/usr/bin/env bash
# Checks and unit-tests the Prometheus rules with the real promtool:
#   promtool check rules   on the static rules and the generated example
#   promtool test rules    on rules/tests/*.test.yml (every alert fires and stays silent)
# and checks that the generator still produces the golden example.
# Installs promtool into the tools cache (scripts/components.sh) when missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# Its own RUNDIR: components.sh exports RUNDIR, and the caller's (make test)
# holds the pid files of the apiserver it still runs; cleaning that one up
# here leaked it (a stale kube-apiserver on 16443 broke the next run).
RUNDIR=$(mktemp -d /tmp/shadowcast-rules.XXXXXX)
# shellcheck source=components.sh
. scripts/components.sh
trap 'rm -rf "$RUNDIR"' EXIT # nothing is started here
PROMTOOL=${PROMTOOL:-$TOOLS/promtool}
if [ ! -x "$PROMTOOL" ]; then
  echo "+ install_prometheus (promtool missing from $TOOLS)"
  install_prometheus
fi

run() { echo "+ $*"; "$@"; }

# The generated example must be what the generator produces today (golden
# test; `go test ./rules -update` rewrites it).
run go test -count=1 -run 'TestGenerate' ./rules
run "$PROMTOOL" check rules --lint-fatal rules/shadowcast.rules.yml rules/shadowcast.alerts.yml rules/testdata/generated.rules.yml
run "$PROMTOOL" test rules rules/tests/*.test.yml
echo "test-rules: OK"
