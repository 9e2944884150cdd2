#!/usr/bin/env bash
# End-to-end tests on the local Kubernetes kit of ../shared/kube (a real Kubernetes 1.36 API server and controller
# manager; pods run as local processes in network namespaces by minikubelet.py): no Docker, kind or Helm needed.
#
#   bash e2e/kit.sh                        # build, start the kit, run every e2e test, stop everything
#   bash e2e/kit.sh scaling                # only the tests whose name contains "scaling" (cargo test filter)
#   KEEP_KIT=1 bash e2e/kit.sh             # leave the kit and the operator running afterwards, for a look
#
# It builds the debug ferrocache-engine and ferrocache-operator, starts the kit with the engine image mapped to the
# engine binary (any tag: the rolling image test's second tag runs the same binary) and the client pods' image
# (redis:7.2-alpine) to the host's redis-cli, so their `sh -c "redis-cli ..."` runs on the host's sh and
# redis-cli. It applies crds/ and the chart's RBAC (rendered from charts/ferrocache-operator by the e2e crate's
# chart-rbac), runs `ferrocache-operator run` on the host authenticated as the chart's ServiceAccount (a token
# from the TokenRequest API, so every API call passes the chart's ClusterRole and leader election Role; started
# again whenever it exits), and runs the ferrocache-e2e tests with FERROCACHE_E2E_PLATFORM=kit (Services reached
# through their EndpointSlices). The tests also get FERROCACHE_E2E_KIT_DIR and KUBE_KIT_STATE (for the kit's chaos
# commands), FERROCACHE_E2E_OPERATOR_PID_FILE (the running operator's pid) and FERROCACHE_E2E_OPERATOR_METRICS
# (its /metrics address). On failure it writes objects, events, the operator's log and the kit's logs to $LOGS
# and prints the essentials.
#
# Needs root, cargo, kubectl, redis-cli and what the kit needs (etcd, python3 with PyYAML, openssl, iproute2,
# util-linux, xz, curl); on Debian:
#   apt-get install etcd-server python3-yaml openssl iproute2 util-linux xz-utils curl redis-tools
# Environment: KUBE_KIT_STATE (default /tmp/ferrocache-e2e-kit; wiped at start and end), LOGS (default
# target/e2e-kit-logs), E2E_TEST_THREADS (default 3), E2E_TIMEOUT (seconds for the test run, default 1500),
# E2E_USAGE_PUBLISH_INTERVAL (the operator's --usage-publish-interval, default 5s), OPERATOR_LOG_LEVEL (RUST_LOG).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KIT=${KUBE_KIT_DIR:-$ROOT/../shared/kube}
export KUBE_KIT_STATE=${KUBE_KIT_STATE:-/tmp/ferrocache-e2e-kit}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
LOGS=${LOGS:-$ROOT/target/e2e-kit-logs}
THREADS=${E2E_TEST_THREADS:-3}
TEST_TIMEOUT=${E2E_TIMEOUT:-1500}
RELEASE=ferrocache
NAMESPACE=ferrocache-system
S=$KUBE_KIT_STATE

say() { echo "== $*"; }
fail() {
  echo "e2e/kit.sh: $*" >&2
  exit 2
}

# ---- prerequisites: nothing is installed here, only checked
[ "$(id -u)" = 0 ] || fail "the kit runs pods in network namespaces and needs root; run as root (CI does)."
[ -x "$KIT/start.sh" ] && [ -f "$KIT/minikubelet.py" ] ||
  fail "no Kubernetes kit at $KIT (start.sh, minikubelet.py); set KUBE_KIT_DIR to its directory."
missing=()
for tool in cargo kubectl redis-cli etcd python3 openssl ip unshare nsenter xz curl timeout; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
python3 -c 'import yaml' 2>/dev/null || missing+=("PyYAML (python3 -c 'import yaml')")
if [ "${#missing[@]}" -gt 0 ]; then
  echo "e2e/kit.sh: missing ${missing[*]}." >&2
  echo "On Debian: apt-get install etcd-server python3-yaml openssl iproute2 util-linux xz-utils curl redis-tools" >&2
  echo "(kubectl and cargo come with the machine; bash .ci/run installs the rest when missing)." >&2
  exit 2
fi
# One kit per machine: the control plane listens on fixed loopback ports and pods share one bridge and subnet.
if [ -d "$S" ]; then
  say "stopping what a previous run left in $S"
  "$KIT/stop.sh" --wipe
fi
for port in 2379 2380 6443 10257; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "127.0.0.1:$port is in use: another control plane (another kit?) is running on this machine; stop it" \
      "(KUBE_KIT_STATE=<its state dir> $KIT/stop.sh) and retry."
  fi
done

# ---- build first, so the kit does not idle while cargo works
say "build (debug): engine, operator, e2e tests"
cargo build -p ferrocache-engine -p ferrocache-operator --locked
cargo test -p ferrocache-e2e --locked --no-run
rm -rf "$LOGS"
mkdir -p "$LOGS"
cargo run -q -p ferrocache-e2e --locked --bin chart-rbac -- "$RELEASE" "$NAMESPACE" >"$LOGS/rbac.yaml"

# The pods run copies of the binaries: a rebuild during the run (the target directory is shared) must not change
# what a restarted pod executes. Copies under the state directory are also readable by the engine's non-root user
# wherever the checkout lives.
mkdir -p "$S/images"
install -m 0755 "$TARGET/debug/ferrocache-engine" "$TARGET/debug/ferrocache-operator" "$S/images/"
ENGINE_BIN=$S/images/ferrocache-engine
OPERATOR_BIN=$S/images/ferrocache-operator

SUPERVISOR_PID=
OPERATOR_PID_FILE=$S/operator.pid
operator_pid() { cat "$OPERATOR_PID_FILE" 2>/dev/null || true; }
cleanup() {
  status=$?
  trap - EXIT INT TERM
  if [ "$status" -ne 0 ]; then
    dump || true
  fi
  if [ "${KEEP_KIT:-0}" = 1 ]; then
    echo "KEEP_KIT=1: the kit and the operator (supervisor pid ${SUPERVISOR_PID:-none}, operator pid in" \
      "$OPERATOR_PID_FILE) keep running:"
    echo "  export KUBECONFIG=$S/admin.kubeconfig"
    echo "  stop: ${SUPERVISOR_PID:+kill $SUPERVISOR_PID \$(cat $OPERATOR_PID_FILE); }KUBE_KIT_STATE=$S $KIT/stop.sh --wipe"
    exit "$status"
  fi
  if [ -n "$SUPERVISOR_PID" ]; then
    kill "$SUPERVISOR_PID" 2>/dev/null || true
    pid=$(operator_pid)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  say "stopping the kit"
  "$KIT/stop.sh" --wipe
  exit "$status"
}

# What a failed run leaves for a look: in $LOGS, and the essentials on stdout (CI keeps only that).
dump() {
  say "collecting logs in $LOGS"
  mkdir -p "$LOGS/kit"
  kubectl get nodes,all,cacheclusters,cacheparametergroups,endpointslices,pvc,networkpolicies -A -o wide \
    >"$LOGS/objects.txt" 2>&1
  kubectl get cacheclusters,cacheparametergroups -A -o yaml >"$LOGS/cacheclusters.yaml" 2>&1
  kubectl get statefulsets,pods -A -o yaml >"$LOGS/pods.yaml" 2>&1
  kubectl get events -A --sort-by=.lastTimestamp -o wide >"$LOGS/events.txt" 2>&1
  python3 "$KIT/minikubelet.py" ps --state-dir "$S/mk" >"$LOGS/kit/ps.txt" 2>&1
  # The kit's component logs and every container's output (not the volumes' data).
  (cd "$S" && find logs mk -name '*.log' -print0 | xargs -0 -r cp --parents -t "$LOGS/kit")
  echo "-- objects"
  cat "$LOGS/objects.txt"
  echo "-- warning events"
  grep -i warning "$LOGS/events.txt" | tail -n 60
  echo "-- operator log (last 150 lines of $LOGS/operator.log)"
  tail -n 150 "$LOGS/operator.log"
  echo "-- minikubelet log (last 60 lines)"
  tail -n 60 "$S/logs/minikubelet.log"
  echo "-- everything is in $LOGS (kit logs in $LOGS/kit, each container's output under kit/mk/pods)"
}

say "start the kit (state in $S)"
started=$SECONDS
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
images="ferrocache-engine=$ENGINE_BIN,redis=$(command -v redis-cli)"
KUBECONFIG=$("$KIT/start.sh" --images "$images" | tail -n 1)
export KUBECONFIG
kubectl get nodes -L topology.kubernetes.io/zone
kit_seconds=$((SECONDS - started))
say "kit up in ${kit_seconds} s"

say "CRDs and the chart's RBAC"
kubectl create namespace "$NAMESPACE"
kubectl apply -f crds/
kubectl wait --for condition=Established --timeout=60s -f crds/
kubectl apply -f "$LOGS/rbac.yaml"
SA=$(kubectl -n "$NAMESPACE" get serviceaccounts -l "app.kubernetes.io/instance=$RELEASE" \
  -o jsonpath='{.items[0].metadata.name}')
[ -n "$SA" ] || fail "the chart's ServiceAccount was not created"

say "operator on the host as serviceaccount $NAMESPACE/$SA"
# A kubeconfig with only the ServiceAccount's token: the API server authorizes every call of the operator by the
# chart's ClusterRole and leader election Role.
TOKEN=$(kubectl -n "$NAMESPACE" create token "$SA" --duration 3h)
OPERATOR_KUBECONFIG=$S/operator.kubeconfig
(
  umask 077
  cat >"$OPERATOR_KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kit
  cluster: {server: https://127.0.0.1:6443, certificate-authority: $S/pki/ca.crt}
users:
- name: $SA
  user: {token: $TOKEN}
contexts:
- name: operator
  context: {cluster: kit, user: $SA, namespace: $NAMESPACE}
current-context: operator
EOF
)
kubectl --kubeconfig "$OPERATOR_KUBECONFIG" auth whoami 2>/dev/null | sed 's/^/  /' || true
HTTP_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A supervisor starts the operator again whenever it exits (a test may restart it: SIGTERM to the pid in
# $OPERATOR_PID_FILE); every exit is noted in its log. Leader election is on, as the chart deploys it, so the Role
# for the Lease is exercised too; one identity for every start, so a new process takes over the Lease at once.
# status.usage is written every few seconds instead of every 5 minutes, so metering tests see their units soon.
USAGE_PUBLISH_INTERVAL=${E2E_USAGE_PUBLISH_INTERVAL:-5s}
supervise_operator() {
  local pid code
  while :; do
    KUBECONFIG=$OPERATOR_KUBECONFIG NO_COLOR=1 RUST_LOG=${OPERATOR_LOG_LEVEL:-info,kube=warn} "$OPERATOR_BIN" run \
      --http-addr "127.0.0.1:$HTTP_PORT" --leader-election true --lease-namespace "$NAMESPACE" \
      --identity kit-operator --log-format text --usage-publish-interval "$USAGE_PUBLISH_INTERVAL" \
      >>"$LOGS/operator.log" 2>&1 &
    pid=$!
    echo "$pid" >"$OPERATOR_PID_FILE"
    code=0
    wait "$pid" || code=$?
    echo "e2e/kit.sh: operator pid $pid exited with status $code; starting it again" >>"$LOGS/operator.log"
    sleep 0.5
  done
}
: >"$LOGS/operator.log"
supervise_operator &
SUPERVISOR_PID=$!
ready=0
for _ in $(seq 120); do
  kill -0 "$SUPERVISOR_PID" 2>/dev/null || break
  if curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.5
done
if [ "$ready" != 1 ]; then
  tail -n 40 "$LOGS/operator.log" >&2
  fail "the operator did not become ready on 127.0.0.1:$HTTP_PORT/readyz within 60 s"
fi
echo "  ready on 127.0.0.1:$HTTP_PORT (pid $(operator_pid), log $LOGS/operator.log)"

say "e2e tests (FERROCACHE_E2E_PLATFORM=kit, $THREADS at a time)"
started=$SECONDS
test_status=0
# What the tests may use besides KUBECONFIG: the kit (chaos commands, its state), the operator's pid file and its
# metrics address. Failures print their message, not the backtraces anyhow captures when RUST_BACKTRACE is set.
# Every test binary runs even when an earlier one failed.
export FERROCACHE_E2E=1 FERROCACHE_E2E_PLATFORM=kit FERROCACHE_E2E_KIT_DIR=$KIT
export FERROCACHE_E2E_OPERATOR_PID_FILE=$OPERATOR_PID_FILE FERROCACHE_E2E_OPERATOR_METRICS=127.0.0.1:$HTTP_PORT
RUST_BACKTRACE=${E2E_RUST_BACKTRACE:-0} timeout --signal=TERM --kill-after=30 "$TEST_TIMEOUT" \
  cargo test -p ferrocache-e2e --locked --no-fail-fast -- --test-threads="$THREADS" "$@" || test_status=$?
say "e2e tests took $((SECONDS - started)) s (kit start ${kit_seconds} s)"
exits=$(grep -c '^e2e/kit.sh: operator pid' "$LOGS/operator.log" || true)
[ "${exits:-0}" = 0 ] || echo "e2e/kit.sh: the operator exited ${exits} time(s) during the tests (started again; see $LOGS/operator.log)"
[ "$test_status" = 124 ] && echo "e2e/kit.sh: the tests did not finish within $TEST_TIMEOUT s" >&2
exit "$test_status"
