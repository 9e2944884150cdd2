#!/usr/bin/env bash
# Cost of request-unit metering on the hot path: the same redis-benchmark SET/GET load against
# ferrocache-engine with `metering yes` and `metering no`, alternating, ROUNDS times each; prints the ratio of
# the medians (target: at least 0.98). `metering yes` runs with the usage ledger (billed units in a file mapped
# into memory), as nodes the operator starts do.
#
#     bash bench/metering-overhead.sh          # ROUNDS=3 REQUESTS=2000000 PIPELINE=16
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-2000000}
PIPELINE=${PIPELINE:-16}
command -v redis-benchmark >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-tools >/dev/null; }
cargo build --release --quiet --bin ferrocache-engine
BIN=target/release/ferrocache-engine
PID=""
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

DATA=$(mktemp -d)
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$DATA"' EXIT

rps() { # rps METERING TEST  (metering on includes the usage ledger, as the operator runs nodes)
  "$BIN" --port "$port" --metrics-port 0 --loglevel warning --dir "$DATA" --set "metering=$1" \
    --set "usage-ledger=$1" & PID=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis-benchmark -p "$port" -c 50 -n "$REQUESTS" -r 100000 -d 64 -P "$PIPELINE" -t "$2" --csv 2>/dev/null |
    awk -F'","' 'NR==2 {print $2}'
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| test | pipeline | ops/s metering on | ops/s metering off | ratio |"
echo "| --- | --: | --: | --: | --: |"
for t in set get; do
  on=(); off=()
  for _ in $(seq "$ROUNDS"); do on+=("$(rps yes $t)"); off+=("$(rps no $t)"); done
  m_on=$(printf '%s\n' "${on[@]}" | median); m_off=$(printf '%s\n' "${off[@]}" | median)
  echo "| ${t^^} | $PIPELINE | $m_on | $m_off | $(python3 -c "print(f'{$m_on/$m_off:.3f}')") |"
done
