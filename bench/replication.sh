#!/usr/bin/env bash
# Replication benchmark for ferrocache-engine, on loopback:
#   * primary SET throughput (redis-benchmark, 50 clients, -P 16, 64-byte values) with 0, 1 and 2 replicas
#     attached, as a ratio to 0 replicas;
#   * replication lag (bytes and ms behind) sampled every 100 ms under a SET load;
#   * full sync of about 1 GB (1M keys of 1000 bytes): time from REPLICAOF to a caught-up link, and MB/s.
#
#     bash bench/replication.sh            # REQUESTS=2000000 FULLSYNC_KEYS=1000000 by default
#
# Needs redis-benchmark and redis-cli (Debian redis-tools; installed if missing). Results also go to
# bench/out/replication.md.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-2000000}
FULLSYNC_KEYS=${FULLSYNC_KEYS:-1000000}
OUT=bench/out/replication.md
mkdir -p bench/out

command -v redis-benchmark >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-tools >/dev/null; }
cargo build --release --quiet --bin ferrocache-engine
BIN=target/release/ferrocache-engine

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # start PORT [flags...]
  local port=$1; shift
  "$BIN" --port "$port" --metrics-port 0 --loglevel warning "$@" &
  PIDS+=($!)
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "engine on $port did not start" >&2; exit 1
}

field() { redis-cli -p "$1" info "$2" | tr -d '\r' | awk -F: -v k="$3" '$1==k {print $2}'; }

wait_caught_up() { # wait_caught_up PRIMARY REPLICA
  for _ in $(seq 6000); do
    if [ "$(field "$2" replication master_link_status)" = up ] &&
       [ "$(field "$2" replication slave_repl_offset)" = "$(field "$1" replication master_repl_offset)" ]; then
      return 0
    fi
    sleep 0.01
  done
  echo "replica $2 never caught up" >&2; exit 1
}

set_rps() { # set_rps PORT -> ops/s of a SET load
  redis-benchmark -p "$1" -c 50 -n "$REQUESTS" -r 100000 -d 64 -P 16 -t set --csv 2>/dev/null |
    awk -F'","' 'NR==2 {print $2}'
}

P=$(free_port); start "$P"
R0=$(set_rps "$P")
R1P=$(free_port); start "$R1P" --replicaof "127.0.0.1 $P"; wait_caught_up "$P" "$R1P"
R1=$(set_rps "$P")
R2P=$(free_port); start "$R2P" --replicaof "127.0.0.1 $P"; wait_caught_up "$P" "$R2P"
R2=$(set_rps "$P")
wait_caught_up "$P" "$R1P"; wait_caught_up "$P" "$R2P"

# Lag under a pipelined-free SET load: sample offsets while the load runs.
redis-benchmark -p "$P" -c 50 -n 400000 -r 100000 -d 64 -t set -q >/dev/null 2>&1 &
LOAD=$!
MAXLAG=0; SUM=0; N=0
while kill -0 "$LOAD" 2>/dev/null; do
  m=$(field "$P" replication master_repl_offset); r=$(field "$R1P" replication slave_repl_offset)
  lag=$(( m > r ? m - r : 0 )); SUM=$((SUM + lag)); N=$((N + 1)); [ "$lag" -gt "$MAXLAG" ] && MAXLAG=$lag
  sleep 0.1
done
AVGLAG=$(( N > 0 ? SUM / N : 0 ))

# Full sync of ~1 GB.
redis-cli -p "$P" flushall >/dev/null
wait_caught_up "$P" "$R1P"
redis-benchmark -p "$P" -c 20 -n "$FULLSYNC_KEYS" -r 100000000 -d 1000 -P 32 -t set -q >/dev/null 2>&1
KEYS=$(redis-cli -p "$P" dbsize)
BYTES=$(field "$P" memory used_memory_dataset)
R3P=$(free_port); start "$R3P"
T0=$(date +%s.%N)
redis-cli -p "$R3P" replicaof 127.0.0.1 "$P" >/dev/null
wait_caught_up "$P" "$R3P"
T1=$(date +%s.%N)
SECS=$(python3 -c "print(f'{$T1 - $T0:.2f}')")
MBPS=$(python3 -c "print(f'{$BYTES / 1e6 / ($T1 - $T0):.0f}')")
[ "$(redis-cli -p "$R3P" dbsize)" = "$KEYS" ] || { echo "full sync lost keys" >&2; exit 1; }

{
  echo "# ferrocache-engine replication ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores)"
  echo
  echo "| replicas attached | SET ops/s (-P 16) | ratio to 0 |"
  echo "| --: | --: | --: |"
  echo "| 0 | $R0 | 1.00 |"
  echo "| 1 | $R1 | $(python3 -c "print(f'{$R1/$R0:.2f}')") |"
  echo "| 2 | $R2 | $(python3 -c "print(f'{$R2/$R0:.2f}')") |"
  echo
  echo "Replication lag under a 50-client SET load (sampled every 100 ms): max $MAXLAG bytes, mean $AVGLAG bytes."
  echo
  echo "Full sync: $KEYS keys, $BYTES dataset bytes, caught up in $SECS s ($MBPS MB/s)."
} | tee "$OUT"
