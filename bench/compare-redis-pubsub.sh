#!/usr/bin/env bash
# Pub/sub benchmark of ferrocache-engine against Debian's redis-server, in one run on loopback: PUBLISH of a
# 64-byte message to one channel with SUBSCRIBERS subscribed clients (redis-cli processes reading every
# message), from 50 redis-benchmark clients at pipeline 1 and 16. Reports publishes/s, latency percentiles,
# server CPU per 1M publishes and the ratio ours/redis. Every subscriber's received byte count is checked
# against what was published, so a server that drops messages cannot look fast.
#
#     bash bench/compare-redis-pubsub.sh      # REQUESTS_P1=100000 REQUESTS_P16=500000 SUBSCRIBERS=10
#
# Results also go to bench/out/pubsub.md.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS_P1=${REQUESTS_P1:-100000}
REQUESTS_P16=${REQUESTS_P16:-500000}
SUBSCRIBERS=${SUBSCRIBERS:-10}
OUT=bench/out/pubsub.md
mkdir -p bench/out
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null; }
cargo build --release --quiet --bin ferrocache-engine
ENGINE=target/release/ferrocache-engine
WORK=$(mktemp -d -t ferrocache-pubsub.XXXXXX)
SUB_PIDS=()
# shellcheck source=bench/lib.sh
. bench/lib.sh
cleanup() {
  for p in "${SUB_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for n in "${!PID[@]}"; do stop "$n"; done
  rm -rf "$WORK"
}
trap cleanup EXIT

subscribe() { # subscribe NAME: SUBSCRIBERS redis-cli processes on channel "feed", output to files
  SUB_PIDS=()
  for i in $(seq "$SUBSCRIBERS"); do
    redis-cli -p "${PORT[$1]}" subscribe feed >"$WORK/sub.$i" 2>&1 &
    SUB_PIDS+=($!)
  done
  for _ in $(seq 100); do
    [ "$(redis-cli -p "${PORT[$1]}" pubsub numsub feed | tail -1)" = "$SUBSCRIBERS" ] && return 0
    sleep 0.1
  done
  echo "subscribers did not attach to $1" >&2; exit 1
}

unsubscribe() { # unsubscribe EXPECTED_MESSAGES: stops the subscribers, checks each saw every message
  sleep 1
  for p in "${SUB_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for i in $(seq "$SUBSCRIBERS"); do
    local got; got=$(grep -c '^message$' "$WORK/sub.$i" || true)
    [ "$got" -ge "$1" ] || { echo "subscriber $i saw $got of $1 messages" >&2; exit 1; }
  done
}

declare -A R=()
for name in ours redis; do
  start "$name"
  for p in 1 16; do
    n=$REQUESTS_P1; [ "$p" -gt 1 ] && n=$REQUESTS_P16
    subscribe "$name"
    R[$name,$p]=$(bench "$name" "$n" "$p" PUBLISH feed "$(printf 'x%.0s' $(seq 64))")
    unsubscribe "$n"
  done
  stop "$name"
done

{
  echo "# ferrocache-engine vs redis-server: PUBLISH to $SUBSCRIBERS subscribers ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(redis-server --version | awk '{print $3}'))"
  echo
  echo "redis-benchmark -c 50 PUBLISH feed <64 bytes>; -n $REQUESTS_P1 at -P 1, $REQUESTS_P16 at -P 16; $SUBSCRIBERS redis-cli subscribers on the same machine. CPU: server CPU seconds per 1M publishes (each fans out to $SUBSCRIBERS)."
  echo
  echo "| pipeline | publishes/s ours | publishes/s redis | ratio | p50 ms ours | p50 ms redis | p99 ms ours | p99 ms redis | CPU ours | CPU redis | CPU ratio |"
  echo "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"
  for p in 1 16; do
    read -r ro p50o p99o co <<<"${R[ours,$p]}"
    read -r rr p50r p99r cr <<<"${R[redis,$p]}"
    echo "| $p | $ro | $rr | $(ratio "$ro" "$rr") | $p50o | $p50r | $p99o | $p99r | $co | $cr | $(ratio "$co" "$cr") |"
  done
} | tee "$OUT"
