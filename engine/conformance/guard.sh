#!/usr/bin/env bash
# Regression guard on Redis' own test suite: runs a fast part of Redis 7.0.15's Tcl suite (the conformance kit in
# ../shared/conformance, see its README) against a release build of the engine, and fails when a test listed in
# engine/conformance/expected-pass.txt does not pass. The list holds every test of its units that real
# redis-server 7.0.15 passes on the `cache` profile and the engine passes today; when a change makes more tests
# pass, regenerate it with `bash engine/conformance/guard.sh --update`.
#
#     bash engine/conformance/guard.sh            # part of bash .ci/run
set -euo pipefail
cd "$(dirname "$0")/../.."
KIT=${CONFORMANCE_KIT:-../shared/conformance}
LIST=engine/conformance/expected-pass.txt
[ -x "$KIT/run-redis-suite.sh" ] || { echo "conformance guard: no kit at $KIT" >&2; exit 1; }
cargo build --release --locked --quiet -p ferrocache-engine
units=$(cut -f1 "$LIST" | sort -u | tr '\n' ' ')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
started=$(date +%s)
"$KIT/run-redis-suite.sh" --out "$out" -- --units "$units" > "$out/run.log" 2>&1 || true
echo "conformance guard: $(grep '^redis-suite:' "$out/run.log" || echo 'no summary') in $(( $(date +%s) - started )) s ($units)"
if [ "${1:-}" = --update ]; then
  sort -u "$out/passed.txt" | grep -Fxf <(sort -u "$KIT/baselines/redis-7.0.15-cache.passed.txt") > "$LIST"
  echo "conformance guard: $LIST now lists $(wc -l < "$LIST") tests"
  exit 0
fi
missing=$(comm -23 <(sort -u "$LIST") <(sort -u "$out/passed.txt"))
if [ -n "$missing" ]; then
  echo "conformance guard: these tests passed before and do not pass now:"
  echo "$missing"
  for unit in $(echo "$missing" | cut -f1 | sort -u); do
    echo "== $unit"
    grep -a -A3 '\[err\]\|\[exception\]' "$out/logs/${unit//\//_}.log" | head -40 || true
  done
  exit 1
fi
echo "conformance guard: all $(wc -l < "$LIST") listed tests pass"
