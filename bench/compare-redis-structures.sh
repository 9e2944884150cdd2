#!/usr/bin/env bash
# Data-structure benchmark of ferrocache-engine against Debian's redis-server, in one run on loopback:
#   * throughput, latency and server CPU per request for LPUSH, RPOP, SADD, HSET, ZADD (redis-benchmark's
#     built-in tests) and, on a sorted set of 1,000,000 members, ZRANGE of the first 100 and ZRANK of a random
#     member; XADD (`XADD xs * field value`) and, on a stream of 1,000,000 entries, XREADGROUP of one new
#     entry per call (`XREADGROUP GROUP g<pipeline> c COUNT 1 STREAMS es >`); 50 clients, pipeline 1 and 16;
#   * resident memory for 1,000,000 small hashes (5 fields), one 1,000,000-member sorted set and one stream of
#     1,000,000 entries (two fields each), plus `used_memory` growth for that stream.
#
#   * throughput rows run ROUNDS times (default 3), the first server alternating by round, and each figure is
#     the median of its rounds: single runs at pipeline 1 swing by ±15% on 2 cores shared with the client.
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
ROUNDS=${ROUNDS:-3}
OUT=bench/out/structures.md
mkdir -p bench/out
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null; }
cargo build --release --quiet --bin ferrocache-engine
ENGINE=target/release/ferrocache-engine
WORK=$(mktemp -d -t ferrocache-structures.XXXXXX)
# shellcheck source=bench/lib.sh
. bench/lib.sh
cleanup() { for n in "${!PID[@]}"; do stop "$n"; done; rm -rf "$WORK"; }
trap cleanup EXIT
used_memory() { redis-cli -p "${PORT[$1]}" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}'; }
load() { # load NAME KIND N
  python3 bench/gen-structures.py "$2" "$3" | redis-cli -p "${PORT[$1]}" --pipe >"$WORK/pipe.log" 2>&1
  grep -q "errors: 0" "$WORK/pipe.log" || { cat "$WORK/pipe.log" >&2; exit 1; }
}

# run NAME PIPELINE ARGS... -> bench (bench/lib.sh) with the request count of that pipeline depth
run() {
  local name=$1 p=$2; shift 2
  local n=$REQUESTS_P1; [ "$p" -gt 1 ] && n=$REQUESTS_P16
  bench "$name" "$n" "$p" "$@"
}

declare -A R=() RUNS=()
for round in $(seq "$ROUNDS"); do
  order=(ours redis); ((round % 2 == 0)) && order=(redis ours)
  for name in "${order[@]}"; do
    start "$name"
    [[ " $TESTS " =~ \ zr ]] && load "$name" zset "$MEMBERS"
    [[ " $TESTS " == *" xreadgroup "* ]] && load "$name" stream "$MEMBERS"
    for p in 1 16; do
      for t in $TESTS; do
        case $t in
          zrange100) r=$(run "$name" "$p" ZRANGE lb 0 99) ;;
          zrank) r=$(run "$name" "$p" -r "$MEMBERS" ZRANK lb "m:__rand_int__") ;;
          xadd) r=$(run "$name" "$p" XADD xs '*' field value) ;;
          xreadgroup) r=$(run "$name" "$p" XREADGROUP GROUP "g$p" c COUNT 1 STREAMS es '>') ;;
          *) r=$(run "$name" "$p" -r 100000 -d 64 -t "$t") ;;
        esac
        RUNS[$name,$t,$p]+="$r;"
      done
    done
    stop "$name"
  done
done
for key in "${!RUNS[@]}"; do R[$key]=$(median_runs "${RUNS[$key]}"); done

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

{
  echo "# ferrocache-engine vs redis-server: data structures ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(redis-server --version | awk '{print $3}'))"
  echo
  echo "redis-benchmark -c 50; -n $REQUESTS_P1 at -P 1, $REQUESTS_P16 at -P 16; medians of $ROUNDS rounds; ZRANGE/ZRANK on a $MEMBERS-member sorted set, XREADGROUP on a $MEMBERS-entry stream. CPU: server CPU seconds per 1M requests."
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
