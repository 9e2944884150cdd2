# shellcheck shell=bash
# Shared helpers of the side-by-side benchmark scripts (sourced, not run). Each script sets WORK and ENGINE
# before calling start.
#
#   start NAME [FLAGS...]   start "ours" (ferrocache-engine) or "redis" (redis-server) on a free loopback port
#   stop NAME               stop it
#   bench NAME N PIPELINE redis-benchmark-args...   -> "rps p50_ms p99_ms server_cpu_s_per_1M"
#   ratio A B               A / B with two decimals
#   median_runs "a b c d;…" the median of each of four columns over runs separated by ';' (ERROR: no runs)
declare -A PID=() PORT=()
CLK_TCK=$(getconf CLK_TCK)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {
  local name=$1 port; shift
  port=$(free_port)
  case $name in
    ours) "$ENGINE" --port "$port" --metrics-port 0 --loglevel warning "$@" >>"$WORK/ours.log" 2>&1 & ;;
    redis) redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning \
      --dir "$WORK" "$@" >>"$WORK/redis.log" 2>&1 & ;;
  esac
  PID[$name]=$!; PORT[$name]=$port
  for _ in $(seq 100); do [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.1; done
  echo "$name did not start" >&2; exit 1
}

stop() { kill "${PID[$1]}" 2>/dev/null || true; wait "${PID[$1]}" 2>/dev/null || true; unset "PID[$1]"; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

bench() {
  local name=$1 n=$2 p=$3; shift 3
  local before after csv
  before=$(ticks "${PID[$name]}")
  csv=$(redis-benchmark -p "${PORT[$name]}" -c 50 -n "$n" -P "$p" --csv "$@" 2>/dev/null | tail -1)
  after=$(ticks "${PID[$name]}")
  echo "$csv" | awk -F'","' -v n="$n" -v t=$((after - before)) -v hz="$CLK_TCK" \
    '{print $2, $5, $7, sprintf("%.2f", t / hz / n * 1e6)}'
}

ratio() { python3 -c "print(f'{$1 / $2:.2f}' if $2 else '-')"; }

# median_runs "a b c d;a b c d;..." -> the median of each column ("ERROR" when there are no runs)
median_runs() {
  [ -n "$1" ] || { echo ERROR; return; }
  tr ';' '\n' <<<"$1" | awk 'BEGIN { n = 0 } NF == 4 { for (c = 1; c <= 4; c++) v[c, n] = $c; n++ }
    END {
      for (c = 1; c <= 4; c++) {
        for (i = 0; i < n; i++) a[i] = v[c, i]
        for (i = 1; i < n; i++) for (j = i; j > 0 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        printf "%s%s", a[int((n - 1) / 2)], (c < 4 ? " " : "\n")
      }
    }'
}
