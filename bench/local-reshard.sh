#!/usr/bin/env bash
# Online resharding of a sharded CacheCluster on the local platform, as a user runs it:
#
#   1. `ferrocache-operator local -f` starts clusterMode: enabled with 3 shards (a primary and REPLICAS replicas
#      each) and the release engine binary.
#   2. KEYS keys of VALUE_SIZE bytes (1M x 1 KB: about 1 GB of values) are loaded, each shard's third into its
#      own slots (bench/slotkeys.py piped into `redis-cli --pipe` at the shard's primary).
#   3. A cluster client (bench/slot-latency.py: follows MOVED, counts errors and GETs that find nothing) sends
#      LATENCY_RATE GET/SET a second on keys of the first shard, whose slots partly move.
#   4. The manifest is edited to 4 shards. The script waits for the run's `resharding done` event line.
#
# Reported: the rebalance time (edit saved to `resharding done`), keys and bytes moved and their rate, the
# longest write pause of any migration (pause_ms from the engine, printed in the `moved` event lines), and the
# client's p50/p99/max latency before and during the resharding, with its errors and missing keys (both must be
# 0). The per-migration speed against Redis' own resharding (redis-cli --cluster reshard) is measured by
# bench/cluster-migration.sh; this script measures the whole plan the operator runs.
#
#     bash bench/local-reshard.sh                        # 1M keys of 1 KB
#     KEYS=30000 bash bench/local-reshard.sh             # quick
#
#   KEYS            keys loaded                                      (default 1000000)
#   VALUE_SIZE      bytes per value                                  (default 1024)
#   REPLICAS        replicas per shard                               (default 1)
#   LATENCY_RATE    latency client commands per second               (default 1000)
#   BASE_PORT       configuration endpoint; nodes take the ports after it (default 7400)
#   TIMEOUT         limit for loading and for the resharding, s      (default 900)
#   SKIP_BUILD      set to use target/release/ferrocache-engine and target/debug/ferrocache-operator as they are
#
# Everything listens on 127.0.0.1 and is stopped on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

KEYS=${KEYS:-1000000}
VALUE_SIZE=${VALUE_SIZE:-1024}
REPLICAS=${REPLICAS:-1}
LATENCY_RATE=${LATENCY_RATE:-1000}
BASE_PORT=${BASE_PORT:-7400}
TIMEOUT=${TIMEOUT:-900}

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -q -p ferrocache-engine --bin ferrocache-engine
  cargo build -q -p ferrocache-operator --bin ferrocache-operator
fi
ENGINE=$ROOT/target/release/ferrocache-engine
OPERATOR=$ROOT/target/debug/ferrocache-operator

WORK=$(mktemp -d)
OP_PID=""
LAT_PID=""
cleanup() {
  [ -n "$LAT_PID" ] && kill "$LAT_PID" 2>/dev/null || true
  [ -n "$OP_PID" ] && kill "$OP_PID" 2>/dev/null && wait "$OP_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

manifest() {
  cat > "$WORK/cluster.yaml.tmp" <<EOF
apiVersion: ferrocache.io/v1alpha1
kind: CacheCluster
metadata:
  name: bench
spec:
  engine: redis
  clusterMode: enabled
  numNodeGroups: $1
  replicasPerNodeGroup: $REPLICAS
  automaticFailoverEnabled: $([ "$REPLICAS" -gt 0 ] && echo true || echo false)
  metering:
    enabled: false
EOF
  mv "$WORK/cluster.yaml.tmp" "$WORK/cluster.yaml"
}

wait_for() { # pattern timeout
  local deadline=$((SECONDS + $2))
  until grep -q "$1" "$WORK/operator.log" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for: $1" >&2; tail -20 "$WORK/operator.log" >&2; exit 1; }
    kill -0 "$OP_PID" 2>/dev/null || { echo "the operator exited" >&2; tail -20 "$WORK/operator.log" >&2; exit 1; }
    sleep 0.05
  done
}

now_ns() { date +%s%N; }

manifest 3
FERROCACHE_ENGINE=$ENGINE "$OPERATOR" local -f "$WORK/cluster.yaml" --base-port "$BASE_PORT" \
  --state-dir "$WORK/state" --health-interval 200ms --status-interval 60m > "$WORK/operator.log" 2>&1 &
OP_PID=$!
wait_for "Ctrl-C stops every node" 60

# Node i of group g listens on BASE + 2 + 6g + i; group g's primary is its node 0 at start.
ranges=("0-5461" "5462-10922" "10923-16383")
per_shard=$((KEYS / 3))
load_start=$(now_ns)
loaders=()
for g in 0 1 2; do
  port=$((BASE_PORT + 2 + 6 * g))
  python3 bench/slotkeys.py "${ranges[$g]}" "$per_shard" "$VALUE_SIZE" |
    timeout "$TIMEOUT" redis-cli -p "$port" --pipe > "$WORK/load-$g.log" &
  loaders+=($!)
done
for pid in "${loaders[@]}"; do wait "$pid" || true; done
for g in 0 1 2; do
  grep -q "errors: 0" "$WORK/load-$g.log" || { echo "loading shard $g failed:" >&2; cat "$WORK/load-$g.log" >&2; exit 1; }
done
load_s=$(python3 -c "print(f'{($(now_ns) - $load_start) / 1e9:.1f}')")
dataset=0
for g in 0 1 2; do
  bytes=$(redis-cli -p $((BASE_PORT + 2 + 6 * g)) info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
  dataset=$((dataset + bytes))
done

(cd bench && exec python3 slot-latency.py run "127.0.0.1:$BASE_PORT" "${ranges[0]}" "$per_shard" "$VALUE_SIZE" \
  "$WORK/latency.txt" --rate "$LATENCY_RATE" --max-seconds "$TIMEOUT") &
LAT_PID=$!
sleep 3
edit_ns=$(now_ns)
manifest 4
wait_for "resharding done" "$TIMEOUT"
done_ns=$(now_ns)
sleep 2
kill -INT "$LAT_PID" 2>/dev/null || true
wait "$LAT_PID" 2>/dev/null || true
LAT_PID=""

read -r before_ops before_p50 before_p99 before_max <<< "$(cd bench && python3 slot-latency.py report "$WORK/latency.txt" 0 "$edit_ns")"
read -r during_ops during_p50 during_p99 during_max <<< "$(cd bench && python3 slot-latency.py report "$WORK/latency.txt" "$edit_ns" "$done_ns")"
summary=$(tail -1 "$WORK/latency.txt")
moved_keys=$(grep -o "slots ([0-9]* keys)" "$WORK/operator.log" | grep -o "[0-9]* keys" | awk '{s += $1} END {print s + 0}')
max_pause=$(grep -o "paused [0-9.]* ms" "$WORK/operator.log" | awk '{if ($2 > m) m = $2} END {print m + 0}')
migrations=$(grep -c "moved [0-9]* slots" "$WORK/operator.log" || true)
python3 - "$KEYS" "$VALUE_SIZE" "$dataset" "$load_s" "$edit_ns" "$done_ns" "$moved_keys" "$migrations" "$max_pause" \
  "$before_ops" "$before_p50" "$before_p99" "$before_max" "$during_ops" "$during_p50" "$during_p99" "$during_max" "$summary" <<'EOF'
import sys
(keys, size, dataset, load_s, edit, done, moved, migrations, pause,
 bops, b50, b99, bmax, dops, d50, d99, dmax, summary) = sys.argv[1:]
seconds = (int(done) - int(edit)) / 1e9
moved_mb = int(moved) * int(size) / 1e6
print(f"Resharding 3 -> 4 shards on the local platform: {int(keys):,} keys of {size} B "
      f"(dataset {int(dataset) / 1e9:.2f} GB in used_memory, loaded in {load_s} s)")
print()
print("| rebalance, s | migrations | keys moved | MB of values moved | MB/s | longest write pause, ms |")
print("| --: | --: | --: | --: | --: | --: |")
print(f"| {seconds:.2f} | {migrations} | {int(moved):,} | {moved_mb:.0f} | {moved_mb / seconds:.0f} | {float(pause):.3f} |")
print()
print("| cluster client on the first shard's keys | commands | p50, ms | p99, ms | max, ms |")
print("| --- | --: | --: | --: | --: |")
print(f"| before the edit | {bops} | {b50} | {b99} | {bmax} |")
print(f"| during resharding | {dops} | {d50} | {d99} | {dmax} |")
print()
print(f"client: {summary.lstrip('# ')}")
EOF
grep -q "missing=0 errors=0" "$WORK/latency.txt" || { echo "the client saw errors or missing keys" >&2; exit 1; }
