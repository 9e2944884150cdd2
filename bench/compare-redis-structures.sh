#!/usr/bin/env bash
# Data-structure benchmark of ferrocache-engine against Debian's redis-server, in one run on loopback:
#   * throughput, latency and server CPU per request for LPUSH, RPOP, SADD, HSET, ZADD (redis-benchmark's
#     built-in tests) and, on a sorted set of 1,000,000 members, ZRANGE of the first 100 and ZRANK of a random
#     member; XADD (`XADD xs * field value`) and, on a stream of 1,000,000 entries, XREADGROUP of one new
#     entry per call (`XREADGROUP GROUP g<pipeline> c COUNT 1 STREAMS es >`); 50 clients, pipeline 1 and 16;
#   * resident memory for 1,000,000 small hashes (5 fields), one 1,000,000-member sorted set and one stream of
#     1,000,000 entries (two fields each), plus `used_memory` growth for that stream.
#
#     bash bench/compare-redis-structures.sh     # REQUESTS_P1=200000 REQUESTS_P16=1000000 MEMBERS=1000000
#     TESTS="xadd xreadgroup" KINDS=stream bash bench/compare-redis-structures.sh   # streams only
#
# Results also go to bench/out/structures.md.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS_P1=${REQUESTS_P1:-200000}
REQUESTS_P16=${REQUESTS_P16:-1000000}
MEMBERS=${MEMBERS:-1000000}
TESTS=${TESTS:-lpush rpop sadd hset zadd zrange100 zrank xadd xreadgroup}
KINDS=${KINDS:-hashes zset stream}
OUT=bench/out/structures.md
mkdir -p bench/out
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null; }
cargo build --release --quiet --bin ferrocache-engine
ENGINE=target/release/ferrocache-engine
CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d -t ferrocache-structures.XXXXXX)
declare -A PID=() PORT=()

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # start NAME
  local port; port=$(free_port)
  case $1 in
    ours) "$ENGINE" --port "$port" --metrics-port 0 --loglevel warning >>"$WORK/ours.log" 2>&1 & ;;
    redis) redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning --dir "$WORK" >>"$WORK/redis.log" 2>&1 & ;;
  esac
  PID[$1]=$!; PORT[$1]=$port
  for _ in $(seq 100); do [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.1; done
  echo "$1 did not start" >&2; exit 1
}
stop() { kill "${PID[$1]}" 2>/dev/null || true; wait "${PID[$1]}" 2>/dev/null || true; unset "PID[$1]"; }
cleanup() { for n in "${!PID[@]}"; do stop "$n"; done; rm -rf "$WORK"; }
trap cleanup EXIT
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
used_memory() { redis-cli -p "${PORT[$1]}" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}'; }
load() { # load NAME KIND N
  python3 bench/gen-structures.py "$2" "$3" | redis-cli -p "${PORT[$1]}" --pipe >"$WORK/pipe.log" 2>&1
  grep -q "errors: 0" "$WORK/pipe.log" || { cat "$WORK/pipe.log" >&2; exit 1; }
}

# bench NAME PIPELINE LABEL ARGS... -> "rps p50 p99 cpu_s_per_1M"
bench() {
  local name=$1 p=$2; shift 2
  local n=$REQUESTS_P1; [ "$p" -gt 1 ] && n=$REQUESTS_P16
  local before after csv
  before=$(ticks "${PID[$name]}")
  csv=$(redis-benchmark -p "${PORT[$name]}" -c 50 -n "$n" -P "$p" --csv "$@" 2>/dev/null | tail -1)
  after=$(ticks "${PID[$name]}")
  echo "$csv" | awk -F'","' -v n="$n" -v t=$((after - before)) -v hz="$CLK_TCK" \
    '{print $2, $5, $7, sprintf("%.2f", t / hz / n * 1e6)}'
}

declare -A R=()
for name in ours redis; do
  start "$name"
  [[ " $TESTS " =~ \ zr ]] && load "$name" zset "$MEMBERS"
  [[ " $TESTS " == *" xreadgroup "* ]] && load "$name" stream "$MEMBERS"
  for p in 1 16; do
    for t in $TESTS; do
      case $t in
        zrange100) R[$name,$t,$p]=$(bench "$name" "$p" ZRANGE lb 0 99) ;;
        zrank) R[$name,$t,$p]=$(bench "$name" "$p" -r "$MEMBERS" ZRANK lb "m:__rand_int__") ;;
        xadd) R[$name,$t,$p]=$(bench "$name" "$p" XADD xs '*' field value) ;;
        xreadgroup) R[$name,$t,$p]=$(bench "$name" "$p" XREADGROUP GROUP "g$p" c COUNT 1 STREAMS es '>') ;;
        *) R[$name,$t,$p]=$(bench "$name" "$p" -r 100000 -d 64 -t "$t") ;;
      esac
    done
  done
  stop "$name"
done

declare -A M=() U=()
for name in ours redis; do
  for kind in $KINDS; do
    start "$name"
    before=$(rss_kb "${PID[$name]}")
    used=$(used_memory "$name")
    load "$name" "$kind" "$MEMBERS"
    after=$(rss_kb "${PID[$name]}")
    M[$name,$kind]=$(( (after - before) * 1024 ))
    U[$name,$kind]=$(( $(used_memory "$name") - used ))
    stop "$name"
  done
done

ratio() { python3 -c "print(f'{$1 / $2:.2f}' if $2 else '-')"; }
{
  echo "# ferrocache-engine vs redis-server: data structures ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(redis-server --version | awk '{print $3}'))"
  echo
  echo "redis-benchmark -c 50; -n $REQUESTS_P1 at -P 1, $REQUESTS_P16 at -P 16; ZRANGE/ZRANK on a $MEMBERS-member sorted set, XREADGROUP on a $MEMBERS-entry stream. CPU: server CPU seconds per 1M requests."
  echo
  echo "| command | pipeline | ops/s ours | ops/s redis | ratio | p50 ms ours | p50 ms redis | p99 ms ours | p99 ms redis | CPU ours | CPU redis | CPU ratio |"
  echo "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"
  for p in 1 16; do
    for t in $TESTS; do
      read -r ro p50o p99o co <<<"${R[ours,$t,$p]}"
      read -r rr p50r p99r cr <<<"${R[redis,$t,$p]}"
      echo "| ${t^^} | $p | $ro | $rr | $(ratio "$ro" "$rr") | $p50o | $p50r | $p99o | $p99r | $co | $cr | $(ratio "$co" "$cr") |"
    done
  done
  echo
  echo "| memory (RSS growth) | ours (bytes) | redis (bytes) | ours per element | redis per element | ratio | used_memory ours | used_memory redis |"
  echo "| --- | --: | --: | --: | --: | --: | --: | --: |"
  for kind in $KINDS; do
    o=${M[ours,$kind]}; r=${M[redis,$kind]}
    echo "| $MEMBERS ${kind} | $o | $r | $((o / MEMBERS)) | $((r / MEMBERS)) | $(ratio "$o" "$r") | ${U[ours,$kind]} | ${U[redis,$kind]} |"
  done
} | tee "$OUT"
