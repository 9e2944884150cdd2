#!/usr/bin/env bash
# Side-by-side benchmark of ferrocache-engine (--protocol memcached) against Debian's memcached on this machine.
#
# What it measures, for both servers in the same run, with the same load generator
# (engine/examples/memcached_load.rs: one blocking connection per thread, text or binary protocol):
#   * throughput and latency: CLIENTS connections for SECONDS seconds per row over a preloaded keyspace of
#     KEYSPACE 32-byte keys; rows: get/set 90/10 and 50/50 with 100-byte values, 90/10 with 4 KB values, and
#     90/10 where each get is a multi-get of 10 keys; then the binary protocol at 90/10 and 50/50 with 100-byte
#     values, one request at a time and pipelined 16 deep. Reports requests/s, p50 and p99 latency (ms) and the ratio
#     ours/memcached. A multi-get counts as one request. Each row runs ROUNDS times per server, interleaved, and
#     every figure is the median of its rounds; which server goes first alternates per row and round, and both
#     get one unrecorded warm-up second first.
#   * CPU cost: server CPU seconds (utime + stime, all threads, /proc/PID/stat) per 1,000,000 requests.
#   * memory per item: on a fresh process of each server, RSS (VmRSS) growth after storing MEMORY_KEYS items
#     with 16-byte keys and 32-byte values, divided by the number of items; curr_items confirms the load.
# Both servers run THREADS worker threads (memcached -t, ferrocache-engine --threads); memcached gets
# -m MEMCACHED_MB so that nothing is evicted; ferrocache-engine runs without maxmemory. The load generator
# shares the machine's cores with the server.
#
#     bash bench/compare-memcached.sh
#     SECONDS_PER_ROW=2 MEMORY_KEYS=100000 bash bench/compare-memcached.sh     # a quick run
#
#   SECONDS_PER_ROW  seconds per row and server   (default 5)
#   ROUNDS           runs per row and server      (default 3; figures are medians)
#   CLIENTS          connections                  (default 50)
#   KEYSPACE         keys of the throughput rows  (default 100000)
#   MEMORY_KEYS      items of the memory test     (default 1000000)
#   THREADS          server threads               (default: number of cores)
#   MEMCACHED_MB     memcached -m                 (default 2048)
#   ENGINE_FLAGS     extra ferrocache-engine flags (e.g. "--set io-uring=no" to measure the epoll path)
#
# Servers listen on free ports on 127.0.0.1 and are stopped on exit. The tables are printed and written to
# bench/out/memcached-latest.md (git-ignored). The exit status is non-zero if a run failed.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

SECONDS_PER_ROW=${SECONDS_PER_ROW:-5}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
MEMORY_KEYS=${MEMORY_KEYS:-1000000}
THREADS=${THREADS:-$(nproc)}
MEMCACHED_MB=${MEMCACHED_MB:-2048}
ENGINE_FLAGS=${ENGINE_FLAGS:-}

ENGINE="$ROOT/target/release/ferrocache-engine"
LOAD="$ROOT/target/release/examples/memcached_load"
OUT_DIR="$ROOT/bench/out"
OUT_FILE="$OUT_DIR/memcached-latest.md"
SERVERS=(ours memcached)
CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d -t ferrocache-mcbench.XXXXXX)

# name|load generator options
ROWS=(
  "get/set 90/10, 100 B|--get-ratio 0.9 --value-size 100"
  "get/set 50/50, 100 B|--get-ratio 0.5 --value-size 100"
  "get/set 90/10, 4 KB|--get-ratio 0.9 --value-size 4096"
  "multi-get 10 keys 90/10, 100 B|--get-ratio 0.9 --value-size 100 --multiget 10"
  "binary get/set 90/10, 100 B|--binary 1 --get-ratio 0.9 --value-size 100"
  "binary get/set 50/50, 100 B|--binary 1 --get-ratio 0.5 --value-size 100"
  "binary 90/10, 100 B, pipeline 16|--binary 1 --get-ratio 0.9 --value-size 100 --pipeline 16"
  "binary 50/50, 100 B, pipeline 16|--binary 1 --get-ratio 0.5 --value-size 100 --pipeline 16"
)

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"   # median_runs; the functions below are this script's own
declare -A PID=() PORT=() RESULT=() RUNS=() MEM=()
FAILURES=()

log() { printf '== %s\n' "$*" >&2; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
problem() { printf 'PROBLEM: %s\n' "$*" >&2; FAILURES+=("$*"); }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

is_running() { [ -n "${PID[$1]:-}" ] && kill -0 "${PID[$1]}" 2>/dev/null; }

answers_version() {
  python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"version\r\n")
sys.exit(0 if s.recv(64).startswith(b"VERSION ") else 1)
EOF
}

start_server() {
  local name=$1 port
  port=$(free_port)
  case $name in
    ours)
      # shellcheck disable=SC2086
      "$ENGINE" --protocol memcached --memcached-port "$port" --bind 127.0.0.1 --threads "$THREADS" \
        --loglevel warning $ENGINE_FLAGS >>"$WORK/ours.log" 2>&1 &
      ;;
    memcached)
      memcached -u "$(id -un)" -l 127.0.0.1 -p "$port" -U 0 -t "$THREADS" -m "$MEMCACHED_MB" -c 4096 \
        >>"$WORK/memcached.log" 2>&1 &
      ;;
  esac
  PID[$name]=$!
  PORT[$name]=$port
  for _ in $(seq 100); do
    answers_version "$port" && return 0
    is_running "$name" || break
    sleep 0.1
  done
  tail -n 20 "$WORK/$name.log" >&2 || true
  fail "$name did not start on 127.0.0.1:$port"
}

stop_server() {
  local name=$1 pid=${PID[$1]:-}
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "PID[$name]"
}

cleanup() {
  local name
  for name in "${!PID[@]}"; do stop_server "$name"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cpu_ticks() {
  local stat fields
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }
  read -r -a fields <<<"$stat"
  echo $((fields[11] + fields[12]))
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

# bench_one NAME ROW_INDEX: one round, appended to RUNS[NAME,ROW] as "rps p50 p99 cpu;"
bench_one() {
  local name=$1 row=$2 spec opts out before after
  spec=${ROWS[$row]}
  opts=${spec#*|}
  is_running "$name" || { problem "$name is not running; skipped row $row"; return 0; }
  before=$(cpu_ticks "${PID[$name]}")
  # shellcheck disable=SC2086
  if ! out=$("$LOAD" --port "${PORT[$name]}" --conns "$CLIENTS" --seconds "$SECONDS_PER_ROW" \
    --keys "$KEYSPACE" --key-size 32 $opts 2>&1); then
    problem "load against $name, row '${spec%%|*}' failed: $out"
    return 0
  fi
  after=$(cpu_ticks "${PID[$name]}")
  local rps p50 p99 requests errors cpu
  rps=$(field rps "$out"); p50=$(field p50_ms "$out"); p99=$(field p99_ms "$out")
  requests=$(field requests "$out"); errors=$(field errors "$out")
  [ "$errors" = 0 ] || problem "$name answered $errors errors in row '${spec%%|*}'"
  cpu=$(awk -v t="$((after - before))" -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.2f", t / hz / n * 1e6 }')
  RUNS["$name,$row"]+="$rps $p50 $p99 $cpu;"
  printf '   %-9s %-32s %9s req/s  p50 %6s ms  p99 %6s ms  cpu %6s s/1M\n' \
    "$name" "${spec%%|*}" "$rps" "$p50" "$p99" "$cpu" >&2
}

measure_memory() {
  local name=$1 before after items out
  MEM[$name]=ERROR
  start_server "$name"
  before=$(rss_kb "${PID[$name]}")
  if ! out=$("$LOAD" --port "${PORT[$name]}" --conns 4 --key-size 16 --value-size 32 --load "$MEMORY_KEYS" 2>&1); then
    problem "loading $MEMORY_KEYS items into $name failed: $out"
  fi
  after=$(rss_kb "${PID[$name]}")
  items=$(python3 - "${PORT[$name]}" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"stats\r\n")
data = b""
while not data.endswith(b"END\r\n"):
    data += s.recv(65536)
print(next(l.split()[2] for l in data.decode().splitlines() if l.startswith("STAT curr_items ")))
EOF
)
  [ "$items" = "$MEMORY_KEYS" ] || problem "$name holds $items items after loading $MEMORY_KEYS"
  MEM[$name]="$before $after $items $(awk -v a="$after" -v b="$before" -v n="$MEMORY_KEYS" 'BEGIN { printf "%.1f", (a - b) * 1024 / n }')"
  printf '   %-9s RSS %s kB -> %s kB, curr_items %s\n' "$name" "$before" "$after" "$items" >&2
  stop_server "$name"
}

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

throughput_table() {
  echo "| load | req/s ours | req/s memcached | ratio | p50 ms ours | p50 ms memcached | p99 ms ours | p99 ms memcached | CPU s/1M ours | CPU s/1M memcached | CPU ratio |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  local row
  for row in "${!ROWS[@]}"; do
    local -a a=(ERROR ERROR ERROR ERROR) b=(ERROR ERROR ERROR ERROR)
    [ "${RESULT["ours,$row"]}" = ERROR ] || read -r -a a <<<"${RESULT["ours,$row"]}"
    [ "${RESULT["memcached,$row"]}" = ERROR ] || read -r -a b <<<"${RESULT["memcached,$row"]}"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${ROWS[$row]%%|*}" \
      "${a[0]}" "${b[0]}" "$(ratio "${a[0]}" "${b[0]}")" "${a[1]}" "${b[1]}" "${a[2]}" "${b[2]}" \
      "${a[3]}" "${b[3]}" "$(ratio "${a[3]}" "${b[3]}")"
  done
}

memory_table() {
  echo "| server | RSS before (kB) | RSS after (kB) | curr_items | bytes/item |"
  echo "|---|---:|---:|---:|---:|"
  local name
  for name in "${SERVERS[@]}"; do
    local -a m=(ERROR ERROR ERROR ERROR)
    [ "${MEM[$name]}" = ERROR ] || read -r -a m <<<"${MEM[$name]}"
    printf '| %s | %s | %s | %s | %s |\n' "$name" "${m[@]}"
  done
  local o=${MEM[ours]} r=${MEM[memcached]}
  if [ "$o" != ERROR ] && [ "$r" != ERROR ]; then
    printf '| ratio ours/memcached | | | | %s |\n' "$(ratio "${o##* }" "${r##* }")"
  fi
}

# --- main -------------------------------------------------------------------------------------------------------

command -v python3 >/dev/null || fail "python3 is required"
if ! command -v memcached >/dev/null; then
  log "installing memcached"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq memcached
fi

log "building ferrocache-engine and the load generator (release)"
cargo build --release --bin ferrocache-engine --example memcached_load
BUILT_FROM=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)

log "starting servers and loading $KEYSPACE keys"
for name in "${SERVERS[@]}"; do
  start_server "$name"
  "$LOAD" --port "${PORT[$name]}" --conns 4 --keys "$KEYSPACE" --key-size 32 --value-size 100 \
    --load "$KEYSPACE" >/dev/null
done

log "warm-up: 1 s per server"
for name in "${SERVERS[@]}"; do
  "$LOAD" --port "${PORT[$name]}" --conns "$CLIENTS" --seconds 1 --keys "$KEYSPACE" --key-size 32 >/dev/null
done

log "throughput: $CLIENTS connections, $SECONDS_PER_ROW s per row and server, $ROUNDS rounds"
for round in $(seq "$ROUNDS"); do
  for row in "${!ROWS[@]}"; do
    if (((row + round) % 2 == 0)); then order=(ours memcached); else order=(memcached ours); fi
    for name in "${order[@]}"; do bench_one "$name" "$row"; done
  done
done
for row in "${!ROWS[@]}"; do
  for name in "${SERVERS[@]}"; do RESULT["$name,$row"]=$(median_runs "${RUNS["$name,$row"]:-}"); done
done
for name in "${SERVERS[@]}"; do stop_server "$name"; done

log "memory: $MEMORY_KEYS items, 16-byte keys, 32-byte values, fresh processes"
for name in "${SERVERS[@]}"; do measure_memory "$name"; done

mkdir -p "$OUT_DIR"
{
  echo "# ferrocache-engine (--protocol memcached) vs memcached"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $BUILT_FROM, $(nproc) cores, $THREADS server threads each," \
    "$(memcached -V)${ENGINE_FLAGS:+, ferrocache-engine $ENGINE_FLAGS}."
  echo
  echo "$CLIENTS connections, pipeline 1, $SECONDS_PER_ROW s per row, medians of $ROUNDS interleaved rounds," \
    "$KEYSPACE keys of 32 bytes. Latency in ms." \
    "CPU: server CPU seconds per 1,000,000 requests. Ratios are ours / memcached (throughput: higher is better;" \
    "CPU: lower is better)."
  echo
  throughput_table
  echo
  echo "Memory: RSS growth after storing $MEMORY_KEYS items (16-byte keys, 32-byte values) in a fresh process."
  echo
  memory_table
  if [ "${#FAILURES[@]}" -gt 0 ]; then
    echo
    echo "Problems:"
    printf -- '- %s\n' "${FAILURES[@]}"
  fi
} >"$OUT_FILE"

echo
cat "$OUT_FILE"
[ "${#FAILURES[@]}" -eq 0 ]
