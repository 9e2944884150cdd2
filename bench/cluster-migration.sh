#!/usr/bin/env bash
# Cluster benchmark of ferrocache-engine against Debian's redis-server (7.0), in one run on loopback:
#
#   1. Slot migration speed. Two primaries: A owns slots 0-15999, B owns 16000-16383. KEYS keys of VALUE_SIZE
#      bytes are loaded into slots 0-(MOVE_SLOTS-1) of A (bench/slotkeys.py piped into `redis-cli --pipe`, spread
#      evenly over those slots), then those slots move to B, with no client load:
#        ours:  CLUSTER MIGRATESLOTS SLOTSRANGE 0 MOVE_SLOTS-1 NODE <B> on A, CLUSTER GETSLOTMIGRATIONS polled
#               every 20 ms until the export succeeds; pause_ms (the longest write pause) comes from it;
#        redis: redis-cli --cluster reshard --cluster-from <A> --cluster-to <B> --cluster-slots MOVE_SLOTS
#               --cluster-pipeline CLUSTER_PIPELINE --cluster-yes (it moves A's lowest slots: the same ones).
#      Reported: wall-clock seconds from the command to completion, MB/s of values (KEYS x VALUE_SIZE / s),
#      keys/s, and the ratio ours/redis of the speeds. Afterwards DBSIZE must be KEYS on B and 0 on A.
#   2. Latency on the moving slots. bench/slot-latency.py (a cluster client following MOVED and ASK) sends
#      LATENCY_RATE commands/s, GET and SET (SET_RATIO of them, VALUE_SIZE bytes) on random keys of the dataset,
#      for BEFORE_SECONDS, then the same slots migrate back from B to A the same way as in 1. Reported: p50, p99
#      and max latency of the commands sent before and during the migration, the ratio during/before, the
#      redirections the client followed, and GETs that found no value (must be 0). The speed of this second,
#      loaded migration is reported beside the first.
#   3. Cluster throughput. redis-benchmark (-c 50 -r 100000 -d 64, SET and GET, pipeline 1 and 16) against a
#      3-shard cluster (--cluster; slots 0-5460, 5461-10922, 10923-16383) and against one plain node, for each
#      server; ops/s and the ratios 3 shards / 1 node and ours/redis.
#
# Ours forms its cluster the way the control plane does: every engine gets --cluster-enabled yes and the same
# CLUSTER SETTOPOLOGY document. Redis' nodes get ADDSLOTSRANGE, distinct config epochs and CLUSTER MEET, and the
# script waits until `redis-cli --cluster check` agrees. Each server's nodes are stopped before the next start,
# so the two never share the machine.
#
#     bash bench/cluster-migration.sh                 # 1M keys of 1 KB (about 1 GB)
#     KEYS=20000 VALUE_SIZE=1024 REQUESTS_P1=20000 REQUESTS_P16=100000 bash bench/cluster-migration.sh  # quick
#
#   KEYS               keys in the migrated dataset                        (default 1000000)
#   VALUE_SIZE         bytes per value                                     (default 1024)
#   MOVE_SLOTS         how many slots move (0 .. MOVE_SLOTS-1)             (default 1024, at most 16000)
#   CLUSTER_PIPELINE   redis-cli --cluster-pipeline: keys per MIGRATE      (default 100)
#   LATENCY_RATE       latency client commands per second                  (default 2000)
#   SET_RATIO          share of SETs in the latency client's commands      (default 0.5)
#   BEFORE_SECONDS     latency measured before the migration, s            (default 5)
#   REQUESTS_P1        redis-benchmark requests per test at pipeline 1     (default 200000)
#   REQUESTS_P16       redis-benchmark requests per test at pipeline 16    (default 1000000)
#   ENGINE_THREADS     ferrocache-engine --threads                         (default: the engine's default)
#   MIGRATION_TIMEOUT  limit for one migration, and for loading, s        (default 1800)
#   BENCH_TIMEOUT      limit for one redis-benchmark run, s                (default 300)
#   SERVERS            which servers to run                                (default "ours redis")
#   PARTS              "migration" (1 and 2) and/or "throughput" (3)       (default both)
#   KEEP_WORK          set to keep the nodes' logs and the latency samples (the directory is printed)
#   SKIP_BUILD         set to use target/release/ferrocache-engine as it is (default: cargo build first)
#
# Every process listens on 127.0.0.1 only and is stopped on exit, also on failure or Ctrl-C; every wait has a
# deadline. Results also go to bench/out/cluster-migration.md (git-ignored). The exit status is non-zero if
# something failed or misbehaved; the tables then show "-" where a figure is missing and the problems are listed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

KEYS=${KEYS:-1000000}
VALUE_SIZE=${VALUE_SIZE:-1024}
MOVE_SLOTS=${MOVE_SLOTS:-1024}
CLUSTER_PIPELINE=${CLUSTER_PIPELINE:-100}
LATENCY_RATE=${LATENCY_RATE:-2000}
SET_RATIO=${SET_RATIO:-0.5}
BEFORE_SECONDS=${BEFORE_SECONDS:-5}
REQUESTS_P1=${REQUESTS_P1:-200000}
REQUESTS_P16=${REQUESTS_P16:-1000000}
ENGINE_THREADS=${ENGINE_THREADS:-}
MIGRATION_TIMEOUT=${MIGRATION_TIMEOUT:-1800}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-300}
SERVERS=${SERVERS:-ours redis}
PARTS=${PARTS:-migration throughput}

[ "$MOVE_SLOTS" -ge 1 ] && [ "$MOVE_SLOTS" -le 16000 ] || { echo "MOVE_SLOTS must be 1..16000" >&2; exit 2; }
MOVING="0-$((MOVE_SLOTS - 1))"       # the migrated slots, the lowest of A's
A_SLOTS="0-15999"
B_SLOTS="16000-16383"
SHARD_SLOTS=("0-5460" "5461-10922" "10923-16383")

ENGINE="${CARGO_TARGET_DIR:-$ROOT/target}/release/ferrocache-engine"
OUT_FILE="$ROOT/bench/out/cluster-migration.md"
WORK=$(mktemp -d -t ferrocache-cluster-bench.XXXXXX)
START_SECONDS=$SECONDS

declare -A PID=() PORT=() BUS=() ID=()   # running nodes, by name ("ours-a", "redis-b", ...)
declare -A MIG=()      # "server,phase" -> "seconds keys bytes pause_ms engine_elapsed_ms"
declare -A LAT=()      # "server,window" -> "ops p50 p99 max";  "server,counts" -> "moved=.. ask=.. ..."
declare -A TPUT=()     # "server,topology,test,pipeline" -> "ops/s p50 p99"
FAILURES=()

log() { printf '== %s\n' "$*" >&2; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
problem() { printf 'PROBLEM: %s\n' "$*" >&2; FAILURES+=("$*"); }

# shellcheck source=bench/lib.sh
. bench/lib.sh   # free_port

# cli NAME ARGS...: redis-cli against a running node, bounded to 10 s.
cli() { local port=${PORT[$1]}; shift; timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@"; }

now_ns() { date +%s%N; }
seconds_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }

# wait_until DEADLINE_S DESCRIPTION COMMAND...: polls COMMAND every 0.1 s until it succeeds; fails at the deadline.
wait_until() {
  local limit=$1 what=$2 end=$((SECONDS + $1)); shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || fail "gave up after ${limit} s waiting for $what"
    sleep 0.1
  done
}

# info_field NAME SECTION FIELD
info_field() { cli "$1" info "$2" | tr -d '\r' | awk -F: -v k="$3" '$1 == k { print $2 }'; }

# --- nodes ---------------------------------------------------------------------------------------------------

is_running() { [ -n "${PID[$1]:-}" ] && kill -0 "${PID[$1]}" 2>/dev/null; }

# start_node NAME [cluster]: "ours-*" starts ferrocache-engine, "redis-*" redis-server, each in its own directory;
# with "cluster" in cluster mode. Waits (10 s at most) until it answers PING.
start_node() {
  local name=$1 mode=${2:-} port dir="$WORK/$1"
  port=$(free_port)
  mkdir -p "$dir"
  case $name in
    ours-*)
      local flags=(--port "$port" --bind 127.0.0.1 --metrics-port 0 --loglevel warning --dir "$dir")
      [ -n "$ENGINE_THREADS" ] && flags+=(--threads "$ENGINE_THREADS")
      [ "$mode" = cluster ] && flags+=(--cluster-enabled yes)
      "$ENGINE" "${flags[@]}" >>"$dir/log" 2>&1 &
      ;;
    redis-*)
      local flags=(--port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning --dir "$dir"
        --daemonize no)
      if [ "$mode" = cluster ]; then
        local bus
        bus=$(free_port)
        while [ "$bus" = "$port" ]; do bus=$(free_port); done
        BUS[$name]=$bus
        flags+=(--cluster-enabled yes --cluster-port "$bus" --cluster-config-file "$dir/nodes.conf")
      fi
      redis-server "${flags[@]}" >>"$dir/log" 2>&1 &
      ;;
  esac
  PID[$name]=$!
  PORT[$name]=$port
  for _ in $(seq 100); do
    [ "$(cli "$name" ping 2>/dev/null)" = PONG ] && return 0
    is_running "$name" || break
    sleep 0.1
  done
  tail -n 20 "$dir/log" >&2 || true
  fail "$name did not start on 127.0.0.1:$port"
}

# stop_node NAME: SIGTERM, then SIGKILL after 5 s.
stop_node() {
  local pid=${PID[$1]:-}
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  unset "PID[$1]" "ID[$1]"
}

stop_all() { local n; for n in "${!PID[@]}"; do stop_node "$n"; done; }

CLIENT_PID=""
cleanup() {
  [ -z "$CLIENT_PID" ] || kill "$CLIENT_PID" 2>/dev/null || true
  stop_all
  if [ -n "${KEEP_WORK:-}" ]; then echo "logs and samples kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- forming clusters ------------------------------------------------------------------------------------------

cluster_ok() { cli "$1" cluster info | tr -d '\r' | grep -qx 'cluster_state:ok'; }

# ours_cluster NAME:SLOTS...: starts one engine per argument in cluster mode and pushes them one topology (epoch 1)
# in which each is the primary of its own shard, owning SLOTS ("FIRST-LAST").
ours_cluster() {
  local spec name shards=()
  for spec in "$@"; do
    name=${spec%%:*}
    start_node "$name" cluster
    ID[$name]=$(cli "$name" cluster myid)
    shards+=("${ID[$name]}" "${PORT[$name]}" "${spec#*:}")
  done
  local topology
  topology=$(python3 - "${shards[@]}" <<'EOF'
import json, os, sys
args = sys.argv[1:]
shards = []
for node_id, port, slots in zip(args[0::3], args[1::3], args[2::3]):
    first, last = (int(s) for s in slots.split("-"))
    shards.append({"id": os.urandom(20).hex(), "slots": [[first, last]],
                   "nodes": [{"id": node_id, "ip": "127.0.0.1", "port": int(port), "tls_port": 0,
                              "hostname": "", "role": "primary"}]})
print(json.dumps({"epoch": 1, "shards": shards}))
EOF
  )
  for spec in "$@"; do
    name=${spec%%:*}
    local reply
    reply=$(cli "$name" cluster settopology "$topology" 2>&1) || true
    [ "$reply" = OK ] || fail "CLUSTER SETTOPOLOGY on $name answered: $reply"
  done
  for spec in "$@"; do wait_until 30 "cluster_state:ok on ${spec%%:*}" cluster_ok "${spec%%:*}"; done
}

redis_cluster_agrees() {
  timeout 20 redis-cli --cluster check "127.0.0.1:${PORT[$1]}" >"$WORK/check.out" 2>&1 &&
    grep -q 'All nodes agree about slots configuration' "$WORK/check.out" &&
    grep -q 'All 16384 slots covered' "$WORK/check.out" &&
    ! grep -q '^\[ERR\]\|^\[WARNING\]' "$WORK/check.out"
}

# redis_cluster NAME:SLOTS...: starts one redis-server per argument in cluster mode, assigns SLOTS and distinct
# config epochs, introduces every node to the first, and waits until all of them agree.
redis_cluster() {
  local spec name first="" epoch=0
  for spec in "$@"; do
    name=${spec%%:*}
    start_node "$name" cluster
    ID[$name]=$(cli "$name" cluster myid)
    local slots=${spec#*:}
    cli "$name" cluster addslotsrange "${slots%-*}" "${slots#*-}" >/dev/null
    epoch=$((epoch + 1))
    cli "$name" cluster set-config-epoch "$epoch" >/dev/null
    if [ -z "$first" ]; then first=$name; else cli "$name" cluster meet 127.0.0.1 "${PORT[$first]}" "${BUS[$first]}" >/dev/null; fi
  done
  for spec in "$@"; do wait_until 60 "cluster_state:ok on ${spec%%:*}" cluster_ok "${spec%%:*}"; done
  wait_until 60 "redis-cli --cluster check to pass" redis_cluster_agrees "$first"
}

# --- dataset --------------------------------------------------------------------------------------------------

# load_dataset NAME: KEYS keys of VALUE_SIZE bytes in the moving slots, through redis-cli --pipe.
load_dataset() {
  local name=$1 status=0 t0
  t0=$(now_ns)
  python3 bench/slotkeys.py "$MOVING" "$KEYS" "$VALUE_SIZE" |
    timeout "$MIGRATION_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$name]}" --pipe >"$WORK/pipe.out" 2>&1 ||
    status=$?
  if [ "$status" -ne 0 ] || ! grep -q "^errors: 0, replies: $KEYS\$" "$WORK/pipe.out"; then
    fail "loading $KEYS keys into $name failed (status $status): $(tr '\n' ' ' <"$WORK/pipe.out" | tail -c 300)"
  fi
  local size; size=$(cli "$name" dbsize)
  [ "$size" = "$KEYS" ] || fail "$name has DBSIZE $size after loading $KEYS keys"
  log "$name: loaded $KEYS keys of $VALUE_SIZE bytes into slots $MOVING in $(seconds_since "$t0") s"
}

dbsize_is() { [ "$(cli "$1" dbsize)" = "$2" ]; }

# check_moved FROM TO SERVER PHASE: after a migration every key is on TO, none left on FROM (120 s for deferred
# deletes); appends to MIG[SERVER,PHASE] the seconds from completion until FROM was empty.
check_moved() {
  local end=$((SECONDS + 120))
  until dbsize_is "$2" "$KEYS" && dbsize_is "$1" 0; do
    if [ "$SECONDS" -ge "$end" ]; then
      problem "$3 $4: after the migration DBSIZE is $(cli "$2" dbsize 2>&1) on $2 (expected $KEYS) and $(cli "$1" dbsize 2>&1) on $1 (expected 0)"
      MIG[$3,$4]+=" -"
      return 0
    fi
    sleep 0.05
  done
  MIG[$3,$4]+=" $(seconds_since "$MIG_END_NS")"
}

# --- migrations ------------------------------------------------------------------------------------------------

# newest_migration NAME: the newest entry of CLUSTER GETSLOTMIGRATIONS as "field value" lines.
newest_migration() {
  cli "$1" cluster getslotmigrations | awk '
    NR % 2 == 1 { field = $0; if (field == "id") n++; next }
    { value[n, field] = $0; if (!(field in seen)) { seen[field] = 1; order[++f] = field } }
    END { for (i = 1; i <= f; i++) print order[i], value[n, order[i]] }'
}

migration_field() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/migration"; }

# ours_migrate FROM TO PHASE: moves the moving slots with CLUSTER MIGRATESLOTS; stores MIG[ours,PHASE].
ours_migrate() {
  local from=$1 to=$2 phase=$3 t0 reply state="" end
  MIG[ours,$phase]=""
  t0=$(now_ns)
  reply=$(cli "$from" cluster migrateslots slotsrange 0 $((MOVE_SLOTS - 1)) node "${ID[$to]}" 2>&1) || true
  if [ "$reply" != OK ]; then problem "ours $phase: CLUSTER MIGRATESLOTS answered: $reply"; return 0; fi
  end=$((SECONDS + MIGRATION_TIMEOUT))
  while [ "$SECONDS" -lt "$end" ]; do
    newest_migration "$from" >"$WORK/migration" 2>&1 || true
    state=$(awk '$1 == "state" { print $2 }' "$WORK/migration")
    case $state in success | failed | cancelled) break ;; esac
    is_running "$from" && is_running "$to" || break
    sleep 0.02
  done
  MIG_END_NS=$(now_ns)
  local seconds; seconds=$(seconds_since "$t0")
  if [ "$state" != success ]; then
    problem "ours $phase: migration ended in state '${state:-unknown}' after $seconds s: $(tr '\n' ' ' <"$WORK/migration")"
    return 0
  fi
  [ "$(migration_field direction)" = export ] || problem "ours $phase: newest migration on $from is not an export: $(tr '\n' ' ' <"$WORK/migration")"
  if [ "$phase" = idle ] && [ "$(migration_field keys)" != "$KEYS" ]; then
    problem "ours $phase: the migration reports $(migration_field keys) keys sent, the dataset has $KEYS"
  fi
  local pause; pause=$(awk -v p="$(migration_field pause_ms)" 'BEGIN { if (p ~ /^[0-9.]+$/) printf "%.3f", p; else print "-" }')
  MIG[ours,$phase]="$seconds $(migration_field keys) $(migration_field bytes) $pause $(migration_field elapsed_ms)"
  log "ours $phase: $seconds s; $(tr '\n' ' ' <"$WORK/migration")"
  check_moved "$from" "$to" ours "$phase"
}

# redis_migrate FROM TO PHASE: moves the moving slots (FROM's lowest) with redis-cli --cluster reshard.
redis_migrate() {
  local from=$1 to=$2 phase=$3 t0 status=0
  MIG[redis,$phase]=""
  t0=$(now_ns)
  timeout "$MIGRATION_TIMEOUT" redis-cli --cluster reshard "127.0.0.1:${PORT[$from]}" \
    --cluster-from "${ID[$from]}" --cluster-to "${ID[$to]}" --cluster-slots "$MOVE_SLOTS" \
    --cluster-pipeline "$CLUSTER_PIPELINE" --cluster-yes >"$WORK/reshard.out" 2>&1 || status=$?
  MIG_END_NS=$(now_ns)
  local seconds; seconds=$(seconds_since "$t0")
  if [ "$status" -ne 0 ]; then
    problem "redis $phase: redis-cli --cluster reshard exited with $status after $seconds s: $(tail -n 5 "$WORK/reshard.out" | tr '\n' ' ')"
    return 0
  fi
  local moved; moved=$(grep -c '^Moving slot' "$WORK/reshard.out" || true)
  [ "$moved" = "$MOVE_SLOTS" ] || problem "redis $phase: reshard moved $moved slots, not $MOVE_SLOTS"
  MIG[redis,$phase]="$seconds $KEYS - - -"
  log "redis $phase: $seconds s"
  check_moved "$from" "$to" redis "$phase"
  wait_until 60 "redis-cli --cluster check to pass after the reshard" redis_cluster_agrees "$from"
}

# --- latency during a migration -------------------------------------------------------------------------------

# migrate_under_load SERVER FROM TO: latency client for BEFORE_SECONDS, then the migration FROM -> TO under it.
migrate_under_load() {
  local server=$1 from=$2 to=$3 samples="$WORK/latency.$1" t_start t_end
  python3 bench/slot-latency.py run "127.0.0.1:${PORT[$from]}" "$MOVING" "$KEYS" "$VALUE_SIZE" "$samples" \
    --rate "$LATENCY_RATE" --set-ratio "$SET_RATIO" --max-seconds "$((MIGRATION_TIMEOUT + 60))" \
    2>"$WORK/latency.err" &
  CLIENT_PID=$!
  sleep $((BEFORE_SECONDS + 1))   # 1 s to connect and settle, then the measurement window before the migration
  kill -0 "$CLIENT_PID" 2>/dev/null || fail "the latency client exited early: $(tail -n 5 "$WORK/latency.err")"
  t_start=$(now_ns)
  MIG_END_NS=""
  "${server}_migrate" "$from" "$to" loaded
  t_end=${MIG_END_NS:-$(now_ns)}   # the window ends when the migration does, before the checks that follow it
  kill -TERM "$CLIENT_PID" 2>/dev/null || true
  local waited=0
  while kill -0 "$CLIENT_PID" 2>/dev/null && [ "$waited" -lt 300 ]; do sleep 0.1; waited=$((waited + 1)); done
  kill -KILL "$CLIENT_PID" 2>/dev/null || true
  wait "$CLIENT_PID" 2>/dev/null || true
  CLIENT_PID=""
  if ! [ -s "$samples" ] || ! tail -n 1 "$samples" | grep -q '^# '; then
    problem "$server: the latency client left no results: $(tail -n 5 "$WORK/latency.err" | tr '\n' ' ')"
    return 0
  fi
  LAT[$server,before]=$(python3 bench/slot-latency.py report "$samples" $((t_start - BEFORE_SECONDS * 1000000000)) "$t_start")
  LAT[$server,during]=$(python3 bench/slot-latency.py report "$samples" "$t_start" "$t_end")
  LAT[$server,counts]=$(tail -n 1 "$samples" | cut -c3-)
  log "$server latency before: ${LAT[$server,before]}; during: ${LAT[$server,during]}; ${LAT[$server,counts]}"
  echo "$t_start $t_end" >"$samples.window"
  local missing errors
  missing=$(tr ' ' '\n' <<<"${LAT[$server,counts]}" | awk -F= '$1 == "missing" { print $2 }')
  errors=$(tr ' ' '\n' <<<"${LAT[$server,counts]}" | awk -F= '$1 == "errors" { print $2 }')
  [ "${missing:-0}" = 0 ] || problem "$server: $missing GETs on the moving slots found no value"
  [ "${errors:-0}" = 0 ] || problem "$server: $errors commands on the moving slots were answered with an error"
}

# migration_runs SERVER: part 1 (A -> B, idle) and part 2 (B -> A under the latency client).
migration_runs() {
  local server=$1
  log "$server: cluster of two primaries, A $A_SLOTS, B $B_SLOTS"
  "${server}_cluster" "$server-a:$A_SLOTS" "$server-b:$B_SLOTS"
  load_dataset "$server-a"
  log "$server: migrating slots $MOVING A -> B, no client load"
  "${server}_migrate" "$server-a" "$server-b" idle
  log "$server: migrating slots $MOVING B -> A under the latency client ($LATENCY_RATE commands/s)"
  migrate_under_load "$server" "$server-b" "$server-a"
  stop_all
}

# --- throughput ------------------------------------------------------------------------------------------------

# throughput SERVER TOPOLOGY NAME [--cluster]: redis-benchmark SET and GET at pipeline 1 and 16 against NAME.
throughput() {
  local server=$1 topology=$2 name=$3; shift 3
  local test p n status row
  for p in 1 16; do
    n=$REQUESTS_P1; [ "$p" -gt 1 ] && n=$REQUESTS_P16
    for test in set get; do
      status=0
      TPUT[$server,$topology,$test,$p]=""
      timeout "$BENCH_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "${PORT[$name]}" "$@" -c 50 -r 100000 -d 64 \
        -P "$p" -n "$n" -t "$test" --csv >"$WORK/bench.out" 2>"$WORK/bench.err" || status=$?
      row=$(grep '^"' "$WORK/bench.out" | grep -v '^"test"' | tail -n 1 | tr -d '"') || true
      if [ "$status" -ne 0 ] || [ -z "$row" ] || grep -q 'Error' "$WORK/bench.out" "$WORK/bench.err"; then
        problem "redis-benchmark $* -t $test -P $p against $server $topology: status $status: $(cat "$WORK/bench.err" "$WORK/bench.out" | tr '\n' ' ' | tail -c 300)"
        continue
      fi
      local rps p50 p99
      IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"$row"
      TPUT[$server,$topology,$test,$p]="$(printf '%.0f' "$rps") $p50 $p99"
      log "$server $topology ${test^^} -P $p: ${TPUT[$server,$topology,$test,$p]}"
    done
  done
}

throughput_runs() {
  local server=$1
  log "$server: one node"
  start_node "$server-single"
  throughput "$server" single "$server-single"
  stop_all
  log "$server: 3-shard cluster"
  "${server}_cluster" "$server-1:${SHARD_SLOTS[0]}" "$server-2:${SHARD_SLOTS[1]}" "$server-3:${SHARD_SLOTS[2]}"
  throughput "$server" cluster "$server-1" --cluster
  stop_all
}

# --- report ----------------------------------------------------------------------------------------------------

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}
per_second() { awk -v a="$1" -v s="$2" -v d="$3" 'BEGIN { if (s + 0 > 0) printf "%.*f", d, a / s; else print "-" }'; }

migration_table() {
  local phase label mb
  mb=$(awk -v k="$KEYS" -v v="$VALUE_SIZE" 'BEGIN { printf "%.1f", k * v / 1e6 }')
  echo "| migration | seconds ours | seconds redis | MB/s ours | MB/s redis | keys/s ours | keys/s redis | speed ratio ours/redis | pause_ms ours | engine elapsed_ms | source empty after, s ours | source empty after, s redis |"
  echo "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"
  for phase in idle loaded; do
    [ "$phase" = idle ] && label="A -> B, no client load" || label="B -> A, under the latency client"
    local -a o=(- - - - - -) r=(- - - - - -)
    [ -z "${MIG[ours,$phase]:-}" ] || read -r -a o <<<"${MIG[ours,$phase]}"
    [ -z "${MIG[redis,$phase]:-}" ] || read -r -a r <<<"${MIG[redis,$phase]}"
    local mbs_o mbs_r
    mbs_o=$(per_second "$mb" "${o[0]}" 1); mbs_r=$(per_second "$mb" "${r[0]}" 1)
    echo "| $label | ${o[0]} | ${r[0]} | $mbs_o | $mbs_r | $(per_second "$KEYS" "${o[0]}" 0) | $(per_second "$KEYS" "${r[0]}" 0) | $(ratio "$mbs_o" "$mbs_r") | ${o[3]} | ${o[4]} | ${o[5]:--} | ${r[5]:--} |"
  done
}

latency_table() {
  local server
  echo "| server | commands before | p50 ms before | p99 ms before | max ms before | commands during | p50 ms during | p99 ms during | max ms during | p50 during/before | p99 during/before | max during/before | client counters |"
  echo "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --- |"
  for server in ours redis; do
    local -a b=(- - - -) d=(- - - -)
    [ -z "${LAT[$server,before]:-}" ] || read -r -a b <<<"${LAT[$server,before]}"
    [ -z "${LAT[$server,during]:-}" ] || read -r -a d <<<"${LAT[$server,during]}"
    echo "| $server | ${b[0]} | ${b[1]} | ${b[2]} | ${b[3]} | ${d[0]} | ${d[1]} | ${d[2]} | ${d[3]} | $(ratio "${d[1]}" "${b[1]}") | $(ratio "${d[2]}" "${b[2]}") | $(ratio "${d[3]}" "${b[3]}") | ${LAT[$server,counts]:--} |"
  done
}

throughput_table() {
  local test p
  echo "| command | pipeline | ops/s ours 1 node | ops/s ours 3 shards | ratio 3/1 ours | ops/s redis 1 node | ops/s redis 3 shards | ratio 3/1 redis | 1 node ours/redis | 3 shards ours/redis | p99 ms ours 3 shards | p99 ms redis 3 shards |"
  echo "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"
  for p in 1 16; do
    for test in set get; do
      local -a os=(- - -) oc=(- - -) rs=(- - -) rc=(- - -)
      [ -z "${TPUT[ours,single,$test,$p]:-}" ] || read -r -a os <<<"${TPUT[ours,single,$test,$p]}"
      [ -z "${TPUT[ours,cluster,$test,$p]:-}" ] || read -r -a oc <<<"${TPUT[ours,cluster,$test,$p]}"
      [ -z "${TPUT[redis,single,$test,$p]:-}" ] || read -r -a rs <<<"${TPUT[redis,single,$test,$p]}"
      [ -z "${TPUT[redis,cluster,$test,$p]:-}" ] || read -r -a rc <<<"${TPUT[redis,cluster,$test,$p]}"
      echo "| ${test^^} | $p | ${os[0]} | ${oc[0]} | $(ratio "${oc[0]}" "${os[0]}") | ${rs[0]} | ${rc[0]} | $(ratio "${rc[0]}" "${rs[0]}") | $(ratio "${os[0]}" "${rs[0]}") | $(ratio "${oc[0]}" "${rc[0]}") | ${oc[2]} | ${rc[2]} |"
    done
  done
}

# --- main ------------------------------------------------------------------------------------------------------

command -v python3 >/dev/null || fail "python3 is required"
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  log "installing redis-server redis-tools"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server redis-tools >/dev/null
fi
if [ -z "${SKIP_BUILD:-}" ]; then
  log "building ferrocache-engine (release)"
  cargo build --release --quiet -p ferrocache-engine
fi
BUILT_FROM=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
case " $PARTS " in *" migration "*) for server in $SERVERS; do migration_runs "$server"; done ;; esac
case " $PARTS " in *" throughput "*) for server in $SERVERS; do throughput_runs "$server"; done ;; esac

mkdir -p "$(dirname "$OUT_FILE")"
{
  echo "# ferrocache-engine vs redis-server: slot migration and cluster throughput"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $BUILT_FROM, $(nproc) cores, engine threads:" \
    "${ENGINE_THREADS:-default}, $(redis-server --version | awk '{ print $1, $3 }'), all on 127.0.0.1."
  echo
  echo "## 1, 2. Migration of slots $MOVING: $KEYS keys of $VALUE_SIZE bytes" \
    "($(awk -v k="$KEYS" -v v="$VALUE_SIZE" 'BEGIN { printf "%.1f", k * v / 1e6 }') MB of values)"
  echo
  echo "Ours: CLUSTER MIGRATESLOTS, completion polled every 20 ms. Redis: redis-cli --cluster reshard" \
    "--cluster-pipeline $CLUSTER_PIPELINE. Seconds are wall clock from the command to completion; MB/s counts" \
    "values only. pause_ms and elapsed_ms are what CLUSTER GETSLOTMIGRATIONS reports; \"source empty after\"" \
    "is the time from completion until DBSIZE on the source is 0 (polled every 50 ms)."
  echo
  migration_table
  echo
  echo "Latency of GET/SET on the moving slots (one cluster client, $LATENCY_RATE commands/s, $SET_RATIO SET," \
    "latency from first send to final reply including redirections), ${BEFORE_SECONDS} s before the" \
    "migration B -> A and during it:"
  echo
  latency_table
  echo
  echo "## 3. Throughput: 3-shard cluster (redis-benchmark --cluster) vs one node"
  echo
  echo "redis-benchmark -c 50 -r 100000 -d 64; -n $REQUESTS_P1 at -P 1, $REQUESTS_P16 at -P 16. A 3-shard" \
    "cluster is 3 processes on the same $(nproc) cores."
  echo
  throughput_table
  echo
  echo "Total time: $((SECONDS - START_SECONDS)) s. Load average (1, 5, 15 min) at the start: $LOAD_AT_START," \
    "at the end: $(cut -d' ' -f1-3 /proc/loadavg); other processes on the machine disturb every figure above."
  if [ "${#FAILURES[@]}" -gt 0 ]; then
    echo
    echo "Problems:"
    echo
    printf -- '- %s\n' "${FAILURES[@]}"
  fi
} >"$OUT_FILE"

echo
cat "$OUT_FILE"
[ "${#FAILURES[@]}" -eq 0 ]
