#!/usr/bin/env bash
# Side-by-side benchmark of ferrocache-engine against Debian's redis-server on this machine.
#
# What it measures, for both servers in the same run:
#   * throughput and latency: the same redis-benchmark load on each server -- 50 clients, random keys over a 100k
#     keyspace, 64-byte values, pipeline depth 1 and 16, tests SET, GET, INCR and MSET (10 keys per command).
#     Reports ops/s, p50 and p99 latency (from redis-benchmark --csv) and the ratio ours/redis. For each
#     (test, pipeline) both servers run back to back, and which one goes first alternates, so both see the same
#     machine conditions.
#   * CPU cost: server CPU seconds (utime + stime of the whole process, all threads, from /proc/PID/stat) spent
#     per 1,000,000 requests (an MSET with 10 keys counts as one request). Note that redis-server executes
#     commands on one thread while ferrocache-engine uses --threads (default: all cores), and that the
#     redis-benchmark client runs on the same cores.
#   * memory per key: on a fresh process of each server, RSS (VmRSS) before and after loading 1,000,000 keys with
#     16-byte names and 32-byte values (bench/gen-keys.py piped into `redis-cli --pipe`), divided by the number
#     of keys. DBSIZE confirms the load.
#
# Run from anywhere (as root if redis-server/redis-tools need installing):
#
#     bash bench/compare-redis.sh
#
# Sizes can be overridden from the environment, e.g. a quick run:
#
#     REQUESTS_P1=20000 REQUESTS_P16=200000 MEMORY_KEYS=100000 bash bench/compare-redis.sh
#
#   REQUESTS_P1     requests per test at pipeline 1       (default 200000)
#   REQUESTS_P16    requests per test at pipeline 16      (default 2000000)
#   CLIENTS         redis-benchmark -c                    (default 50)
#   CLIENT_THREADS  redis-benchmark --threads             (default 1; at pipeline 1 one client thread is the
#                   bottleneck for both servers, 2 shows the servers' own difference)
#   KEYSPACE        redis-benchmark -r                    (default 100000)
#   VALUE_SIZE      redis-benchmark -d, bytes             (default 64)
#   TESTS           redis-benchmark -t list               (default set,get,incr,mset)
#   PIPELINES       pipeline depths                       (default "1 16")
#   MEMORY_KEYS     keys loaded for the memory test       (default 1000000)
#   ENGINE_THREADS  ferrocache-engine --threads           (default: the engine's own default, all cores)
#   ENGINE_FLAGS    extra ferrocache-engine flags (e.g. "--set io-uring=no" to measure the epoll path)
#   BENCH_TIMEOUT   limit for one redis-benchmark run, s  (default 300)
#
# Servers listen on free ports on 127.0.0.1 only and are stopped on exit, also on failure or Ctrl-C.
# The tables are printed and also written to bench/out/latest.md (git-ignored). The exit status is non-zero if
# any benchmark failed or a server misbehaved; the tables then show ERROR in the affected cells.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

REQUESTS_P1=${REQUESTS_P1:-200000}
REQUESTS_P16=${REQUESTS_P16:-2000000}
CLIENTS=${CLIENTS:-50}
CLIENT_THREADS=${CLIENT_THREADS:-1}
KEYSPACE=${KEYSPACE:-100000}
VALUE_SIZE=${VALUE_SIZE:-64}
TESTS=${TESTS:-set,get,incr,mset}
PIPELINES=${PIPELINES:-1 16}
MEMORY_KEYS=${MEMORY_KEYS:-1000000}
ENGINE_THREADS=${ENGINE_THREADS:-}
ENGINE_FLAGS=${ENGINE_FLAGS:-}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-300}

ENGINE="$ROOT/target/release/ferrocache-engine"
OUT_DIR="$ROOT/bench/out"
OUT_FILE="$OUT_DIR/latest.md"
SERVERS=(ours redis)

START_SECONDS=$SECONDS
CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d -t ferrocache-bench.XXXXXX)

declare -A PID=() PORT=()   # running servers, by name
declare -A RESULT=()        # "name,test,pipeline" -> "rps p50 p99 cpu_s_per_million" or "ERROR"
FAILURES=()                 # human-readable problems, reported at the end

log() { printf '== %s\n' "$*" >&2; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
problem() {
  printf 'PROBLEM: %s\n' "$*" >&2
  FAILURES+=("$*")
}

# --- servers -------------------------------------------------------------------------------------------------

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

is_running() { [ -n "${PID[$1]:-}" ] && kill -0 "${PID[$1]}" 2>/dev/null; }

# start_server NAME: starts a fresh server process and waits (at most 10 s) until it answers PING.
start_server() {
  local name=$1 port
  port=$(free_port)
  case $name in
    ours)
      local threads=()
      [ -n "$ENGINE_THREADS" ] && threads=(--threads "$ENGINE_THREADS")
      # shellcheck disable=SC2086
      "$ENGINE" --port "$port" --bind 127.0.0.1 --loglevel warning "${threads[@]}" $ENGINE_FLAGS \
        >>"$WORK/ours.log" 2>&1 &
      ;;
    redis)
      redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning \
        --dir "$WORK" --daemonize no >>"$WORK/redis.log" 2>&1 &
      ;;
  esac
  PID[$name]=$!
  PORT[$name]=$port
  for _ in $(seq 100); do
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
      return 0
    fi
    is_running "$name" || break
    sleep 0.1
  done
  tail -n 20 "$WORK/$name.log" >&2 || true
  fail "$name did not start on 127.0.0.1:$port"
}

# stop_server NAME: SIGTERM, then SIGKILL after 5 s.
stop_server() {
  local name=$1 pid=${PID[$1]:-}
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  unset "PID[$name]"
}

cleanup() {
  local name
  for name in "${!PID[@]}"; do
    stop_server "$name"
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# cpu_ticks PID: user + system CPU time of the whole process, in clock ticks (/proc/PID/stat fields 14 and 15).
cpu_ticks() {
  local stat fields
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }   # drop "pid (comm) ": the remaining fields start at field 3
  read -r -a fields <<<"$stat"
  echo $((fields[11] + fields[12]))
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# --- throughput, latency, CPU ----------------------------------------------------------------------------------

# bench_one NAME TEST PIPELINE REQUESTS: one redis-benchmark run; stores the result in RESULT.
bench_one() {
  local name=$1 test=$2 pipeline=$3 requests=$4
  local key="$name,$test,$pipeline" out="$WORK/bench.out" err="$WORK/bench.err"
  RESULT[$key]=ERROR
  if ! is_running "$name"; then
    problem "$name is not running any more; skipped $test -P $pipeline"
    return 0
  fi
  local pid=${PID[$name]} before after status=0
  before=$(cpu_ticks "$pid")
  timeout "$BENCH_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "${PORT[$name]}" \
    -c "$CLIENTS" --threads "$CLIENT_THREADS" -r "$KEYSPACE" -d "$VALUE_SIZE" -P "$pipeline" -n "$requests" \
    -t "$test" --csv -e >"$out" 2>"$err" || status=$?
  if ! is_running "$name"; then
    problem "$name exited during $test -P $pipeline; last log lines: $(tail -n 5 "$WORK/$name.log" | tr '\n' ' ')"
    return 0
  fi
  after=$(cpu_ticks "$pid")
  if [ "$status" -ne 0 ]; then
    problem "redis-benchmark $test -P $pipeline against $name exited with status $status$([ "$status" -eq 124 ] && echo ' (timeout)'): $(tail -n 3 "$err" "$out" | tr '\n' ' ')"
    return 0
  fi
  if grep -q '^Error from server' "$out" "$err"; then
    problem "$name replied with errors during $test -P $pipeline: $(grep -h '^Error from server' "$out" "$err" | sort -u | head -n 3 | tr '\n' ' ')"
  fi
  # CSV row: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms",...
  local row
  row=$(grep '^"' "$out" | grep -v '^"test"' | tail -n 1 | tr -d '"') || true
  if [ -z "$row" ]; then
    problem "no CSV result from redis-benchmark $test -P $pipeline against $name: $(tr '\n' ' ' <"$out" | head -c 300)"
    return 0
  fi
  local label rps p50 p99
  IFS=, read -r label rps _ _ p50 _ p99 _ <<<"$row"
  LABEL[$test]=$label
  local cpu
  cpu=$(awk -v t="$((after - before))" -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.2f", t / hz / n * 1e6 }')
  rps=$(printf '%.0f' "$rps")
  RESULT[$key]="$rps $p50 $p99 $cpu"
  printf '   %-5s %-16s -P %-3s %12s ops/s  p50 %7s ms  p99 %7s ms  cpu %6s s/1M\n' \
    "$name" "$label" "$pipeline" "$rps" "$p50" "$p99" "$cpu" >&2
}

# --- memory per key ---------------------------------------------------------------------------------------------

declare -A MEM=()   # name -> "rss_before_kb rss_after_kb dbsize bytes_per_key" or "ERROR"

measure_memory() {
  local name=$1 before after dbsize status=0
  MEM[$name]=ERROR
  start_server "$name"
  before=$(rss_kb "${PID[$name]}")
  python3 "$ROOT/bench/gen-keys.py" "$MEMORY_KEYS" |
    timeout "$BENCH_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$name]}" --pipe >"$WORK/pipe.out" 2>&1 ||
    status=$?
  if ! is_running "$name"; then
    problem "$name exited while loading $MEMORY_KEYS keys; last log lines: $(tail -n 5 "$WORK/$name.log" | tr '\n' ' ')"
    stop_server "$name"
    return 0
  fi
  if [ "$status" -ne 0 ] || ! grep -q '^errors: 0, replies: '"$MEMORY_KEYS"'$' "$WORK/pipe.out"; then
    problem "loading keys into $name failed (status $status): $(tr '\n' ' ' <"$WORK/pipe.out" | tail -c 300)"
  fi
  dbsize=$(redis-cli -h 127.0.0.1 -p "${PORT[$name]}" dbsize 2>&1) || true
  after=$(rss_kb "${PID[$name]}")
  if [ "$dbsize" != "$MEMORY_KEYS" ]; then
    problem "$name has DBSIZE '$dbsize' after loading $MEMORY_KEYS keys"
  fi
  MEM[$name]="$before $after $dbsize $(awk -v a="$after" -v b="$before" -v n="$MEMORY_KEYS" 'BEGIN { printf "%.1f", (a - b) * 1024 / n }')"
  printf '   %-5s RSS %s kB -> %s kB, DBSIZE %s\n' "$name" "$before" "$after" "$dbsize" >&2
  stop_server "$name"
}

# --- tables -------------------------------------------------------------------------------------------------------

# ratio A B: A / B with two decimals, or "-" if either is missing.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

# markdown_table: tab-separated lines on stdin (first line is the header) -> aligned markdown table. Columns
# whose cells are numbers are right-aligned.
markdown_table() {
  awk -F '\t' '
    { rows[NR] = $0; for (i = 1; i <= NF; i++) { if (length($i) > w[i]) w[i] = length($i)
        if (NR > 1 && $i !~ /^-?[0-9.]+$/ && $i != "-" && $i != "") text[i] = 1 } ; if (NF > nf) nf = NF }
    END {
      for (r = 1; r <= NR; r++) {
        n = split(rows[r], c, "\t"); line = "|"
        for (i = 1; i <= nf; i++) line = line " " sprintf(text[i] ? "%-" w[i] "s" : "%" w[i] "s", c[i]) " |"
        print line
        if (r == 1) { line = "|"; for (i = 1; i <= nf; i++) { d = ""; for (k = 0; k < w[i]; k++) d = d "-"
            line = line (text[i] ? " " d " |" : " " substr(d, 2) ": |") } ; print line }
      }
    }'
}

throughput_table() {
  local test pipeline o r
  printf 'command\tpipeline\tops/s ours\tops/s redis\tratio\tp50 ms ours\tp50 ms redis\tp99 ms ours\tp99 ms redis\tCPU s/1M ours\tCPU s/1M redis\tCPU ratio\n'
  for pipeline in $PIPELINES; do
    for test in ${TESTS//,/ }; do
      local -a a=(ERROR ERROR ERROR ERROR) b=(ERROR ERROR ERROR ERROR)
      o=${RESULT["ours,$test,$pipeline"]:-ERROR}
      r=${RESULT["redis,$test,$pipeline"]:-ERROR}
      [ "$o" = ERROR ] || read -r -a a <<<"$o"
      [ "$r" = ERROR ] || read -r -a b <<<"$r"
      local ra rc
      ra=$(ratio "${a[0]}" "${b[0]}")
      rc=$(ratio "${a[3]}" "${b[3]}")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "${LABEL[$test]:-${test^^}}" "$pipeline" "${a[0]}" "${b[0]}" "$ra" \
        "${a[1]}" "${b[1]}" "${a[2]}" "${b[2]}" "${a[3]}" "${b[3]}" "$rc"
    done
  done
}

memory_table() {
  local name
  printf 'server\tRSS before (kB)\tRSS after (kB)\tDBSIZE\tbytes/key\n'
  for name in "${SERVERS[@]}"; do
    local -a m=(ERROR ERROR ERROR ERROR)
    [ "${MEM[$name]:-ERROR}" = ERROR ] || read -r -a m <<<"${MEM[$name]}"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "${m[@]}"
  done
  local o=${MEM[ours]:-ERROR} r=${MEM[redis]:-ERROR}
  if [ "$o" != ERROR ] && [ "$r" != ERROR ]; then
    printf 'ratio ours/redis\t\t\t\t%s\n' "$(ratio "${o##* }" "${r##* }")"
  fi
}

# --- main -----------------------------------------------------------------------------------------------------------

command -v python3 >/dev/null || fail "python3 is required"
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null || ! command -v redis-cli >/dev/null; then
  log "installing redis-server redis-tools"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server redis-tools
fi

log "building ferrocache-engine (release)"
cargo build --release --bin ferrocache-engine
BUILT_FROM=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)

declare -A LABEL=()   # test -> name in redis-benchmark's CSV, e.g. "MSET (10 keys)"

log "starting servers"
for name in "${SERVERS[@]}"; do
  start_server "$name"
  log "$name: pid ${PID[$name]}, 127.0.0.1:${PORT[$name]}"
done

log "throughput: -c $CLIENTS -r $KEYSPACE -d $VALUE_SIZE, -n $REQUESTS_P1 at -P 1, -n $REQUESTS_P16 at deeper pipelines"
round=0
for pipeline in $PIPELINES; do
  requests=$REQUESTS_P16
  [ "$pipeline" = 1 ] && requests=$REQUESTS_P1
  for test in ${TESTS//,/ }; do
    if ((round % 2 == 0)); then order=(ours redis); else order=(redis ours); fi
    for name in "${order[@]}"; do
      bench_one "$name" "$test" "$pipeline" "$requests"
    done
    round=$((round + 1))
  done
done
for name in "${SERVERS[@]}"; do
  if is_running "$name"; then
    log "$name: DBSIZE after the throughput runs: $(redis-cli -h 127.0.0.1 -p "${PORT[$name]}" dbsize 2>&1)"
  fi
  stop_server "$name"
done

log "memory: $MEMORY_KEYS keys, 16-byte names, 32-byte values, fresh processes"
for name in "${SERVERS[@]}"; do
  measure_memory "$name"
done

elapsed=$((SECONDS - START_SECONDS))
mkdir -p "$OUT_DIR"
{
  echo "# ferrocache-engine vs redis-server"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $BUILT_FROM," \
    "$(nproc) cores, engine threads: ${ENGINE_THREADS:-default (all cores)}${ENGINE_FLAGS:+, engine flags $ENGINE_FLAGS}, redis-benchmark threads: $CLIENT_THREADS, $(redis-server --version | awk '{ print $1, $3 }')."
  echo
  echo "redis-benchmark -c $CLIENTS -r $KEYSPACE -d $VALUE_SIZE -t $TESTS; -n $REQUESTS_P1 at -P 1," \
    "-n $REQUESTS_P16 at deeper pipelines. Latencies in ms. CPU: server CPU seconds (user + system) per" \
    "1,000,000 requests; an MSET (10 keys) is one request. Ratios are ours / redis."
  echo
  throughput_table | markdown_table
  echo
  echo "Memory: RSS growth after loading $MEMORY_KEYS keys (16-byte names, 32-byte values) into a fresh process."
  echo
  memory_table | markdown_table
  echo
  echo "Total time: ${elapsed} s."
  if [ "${#FAILURES[@]}" -gt 0 ]; then
    echo
    echo "Problems:"
    echo
    printf -- '- %s\n' "${FAILURES[@]}"
  fi
} >"$OUT_FILE"

echo
cat "$OUT_FILE"
echo
log "written to ${OUT_FILE#"$ROOT"/}"
[ "${#FAILURES[@]}" -eq 0 ]
