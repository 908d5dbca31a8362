#!/usr/bin/env bash
# Installs and runs the real components shadowcast is tested against, all on
# 127.0.0.1. Source it, then call install_* / start_* / stop_all.
#
#   TOOLS   where binaries are cached (default ~/.cache/shadowcast/tools, kept
#           between CI runs on the same machine)
#   RUNDIR  state and logs of started components (default: a fresh temp dir)
TOOLS=${TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/shadowcast/tools}
RUNDIR=${RUNDIR:-$(mktemp -d /tmp/shadowcast-run.XXXXXX)}
SCRIPTS=${SCRIPTS:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
mkdir -p "$TOOLS" "$RUNDIR"
export PATH="$TOOLS:$PATH" TOOLS RUNDIR

PROM_MODULE_VERSION=${PROM_MODULE_VERSION:-v0.316.0} # Prometheus 3.16.0
PROM_VERSION=${PROM_VERSION:-3.16.0}
AM_VERSION=${AM_VERSION:-v0.31.1}   # newest Alertmanager whose module builds with go install
K8S_VERSION=${K8S_VERSION:-v1.37.2}

apt_install() { # installs Debian packages that are missing
  local want=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || want+=("$p"); done
  [ ${#want[@]} -eq 0 ] && return 0
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
}

wait_http() { # url [seconds] [curl args...]
  local url=$1 secs=${2:-30} i; shift 2 || shift $#
  for ((i = 0; i < secs * 10; i++)); do
    curl -sfk "$@" "$url" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "timed out waiting for $url" >&2
  return 1
}

port_in_use() { # port: true while something listens on 127.0.0.1:port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port_free() { # port [seconds]: a component must never talk to a stranger left on its port
  local port=$1 secs=${2:-30} i
  for ((i = 0; i < secs * 10; i++)); do
    port_in_use "$port" || return 0
    sleep 0.1
  done
  echo "port 127.0.0.1:$port is still in use after ${secs}s: $(ss -ltnp "sport = :$port" 2>/dev/null | tail -n +2)" >&2
  return 1
}

start_bg() { # name command... ; pid in $RUNDIR/name.pid, output in $RUNDIR/name.log
  local name=$1; shift
  "$@" >"$RUNDIR/$name.log" 2>&1 &
  echo $! >"$RUNDIR/$name.pid"
  echo "$name" >>"$RUNDIR/started"
}

stop_all() { # stops in reverse order of start
  [ -f "$RUNDIR/started" ] || return 0
  local n p i
  for n in $(tac "$RUNDIR/started"); do
    [ -f "$RUNDIR/$n.pid" ] || continue
    p=$(cat "$RUNDIR/$n.pid")
    kill "$p" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    rm -f "$RUNDIR/$n.pid"
  done
  rm -f "$RUNDIR/started"
}

install_prometheus() { # Prometheus + promtool from the module proxy (~5 min cold, cached after)
  [ -x "$TOOLS/prometheus" ] && [ -x "$TOOLS/promtool" ] && return 0
  GOBIN="$TOOLS" go install -ldflags "-X github.com/prometheus/common/version.Version=$PROM_VERSION" \
    "github.com/prometheus/prometheus/cmd/prometheus@$PROM_MODULE_VERSION" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROM_MODULE_VERSION"
}

start_prometheus() { # config-file port
  local cfg=$1 port=$2
  wait_port_free "$port" || return 1
  start_bg "prometheus-$port" prometheus --config.file="$cfg" --storage.tsdb.path="$RUNDIR/prometheus-$port" \
    --web.listen-address="127.0.0.1:$port" --web.external-url="http://127.0.0.1:$port/" \
    --web.enable-remote-write-receiver --web.enable-lifecycle --rules.alert.resend-delay=1s
  wait_http "http://127.0.0.1:$port/-/ready" 30
}

install_alertmanager() {
  [ -x "$TOOLS/alertmanager" ] && [ -x "$TOOLS/amtool" ] && return 0
  GOBIN="$TOOLS" go install -ldflags "-X github.com/prometheus/common/version.Version=${AM_VERSION#v}" \
    "github.com/prometheus/alertmanager/cmd/alertmanager@$AM_VERSION" \
    "github.com/prometheus/alertmanager/cmd/amtool@$AM_VERSION"
}

start_alertmanager() { # config-file port ; gossip off (it would bind 0.0.0.0)
  local cfg=$1 port=$2
  wait_port_free "$port" || return 1
  start_bg "alertmanager-$port" alertmanager --config.file="$cfg" --storage.path="$RUNDIR/alertmanager-$port" \
    --web.listen-address="127.0.0.1:$port" --web.external-url="http://127.0.0.1:$port/" --cluster.listen-address=
  wait_http "http://127.0.0.1:$port/-/ready" 30
}

install_kube() { # etcd from Debian, kube-apiserver built from the k8s.io/kubernetes module (~5 min, cached)
  apt_install etcd-server openssl
  ln -sf /usr/bin/etcd "$TOOLS/etcd"
  [ -x "$TOOLS/kube-apiserver" ] || "$SCRIPTS/build-kube-apiserver.sh" "$TOOLS"
  # Link the system kubectl (never $TOOLS/kubectl itself: PATH starts with $TOOLS).
  if ! "$TOOLS/kubectl" version --client >/dev/null 2>&1; then
    rm -f "$TOOLS/kubectl"
    local k
    k=$(PATH=${PATH#"$TOOLS:"} command -v kubectl) && ln -sf "$(readlink -f "$k")" "$TOOLS/kubectl"
  fi
  return 0
}

start_kube() { # apiserver-port etcd-port ; writes $RUNDIR/kube-<port>/kubeconfig (token in system:masters)
  local port=$1 eport=$2 d="$RUNDIR/kube-$1"
  wait_port_free "$port" && wait_port_free "$eport" && wait_port_free $((eport + 1)) || return 1
  mkdir -p "$d"
  start_bg "etcd-$eport" etcd --name t --data-dir "$d/etcd" \
    --listen-client-urls "http://127.0.0.1:$eport" --advertise-client-urls "http://127.0.0.1:$eport" \
    --listen-peer-urls "http://127.0.0.1:$((eport + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((eport + 1))" \
    --initial-cluster "t=http://127.0.0.1:$((eport + 1))"
  wait_http "http://127.0.0.1:$eport/health" 30
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  echo 'testtoken,admin,1,"system:masters"' >"$d/tokens.csv"
  start_bg "kube-apiserver-$port" kube-apiserver --etcd-servers="http://127.0.0.1:$eport" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --secure-port="$port" --cert-dir="$d/certs" --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
    --token-auth-file="$d/tokens.csv" --authorization-mode=RBAC --service-cluster-ip-range=10.96.0.0/24
  cat >"$d/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:$port", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: testtoken}}]
contexts: [{name: local, context: {cluster: local, user: admin, namespace: default}}]
current-context: local
KC
  wait_http "https://127.0.0.1:$port/readyz" 120 -H "Authorization: Bearer testtoken"
}

install_grpcurl() { # a real gRPC client for the KEDA scaler tests
  [ -x "$TOOLS/grpcurl" ] || GOBIN="$TOOLS" go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4
}
