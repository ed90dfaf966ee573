#!/usr/bin/env bash
# Density: the daemon's memory (PSS) at 0, 1000 and 5000 (and optionally 10000) running
# containers, the time of GET /state, and the daemon's idle CPU with all of them running.
#   tests/bench/density.sh [--max 5000] [--steps "1000 5000"]
# Needs root. Prints numbers; exit 0 (a benchmark, not a test).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
steps="1000 5000"
while [ $# -gt 0 ]; do
  case $1 in
    --steps) steps=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
export PATH="$HOME/.cargo/bin:$PATH"
(cd "$top" && cargo build --release -p ctrd -p ctr-cli --locked >/dev/null 2>&1)
work=$(mktemp -d /tmp/ctrd-density.XXXXXX)
bundle=$work/bundle
bash "$top/scripts/make-bundle.sh" "$bundle" sleep infinity >/dev/null
[ "$(cat /proc/sys/kernel/pid_max)" -ge 131072 ] || sysctl -qw kernel.pid_max=4194304
mkdir -p "$work/state"
"$top/target/release/ctrd" --state-dir "$work/state" --state-tmpfs true --root "$work/root" \
  --listen "unix://$work/ctrd.sock" >"$work/ctrd.log" 2>&1 &
daemon=$!
ctr="$top/target/release/ctr"
export CTRD_ADDRESS="unix://$work/ctrd.sock"
cleanup() {
  echo "cleaning up (force-deleting every container)..."
  "$ctr" --json c ls 2>/dev/null | python3 -c 'import json,sys; [print(c["id"]) for c in json.load(sys.stdin)]' \
    | xargs -r -n 200 "$ctr" c rm -f >/dev/null 2>&1 || true
  kill "$daemon" 2>/dev/null || true
  wait "$daemon" 2>/dev/null || true
  umount "$work/state" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$work/ctrd.sock" ] && break; sleep 0.1; done

pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$daemon/smaps_rollup"; }
# PSS of the daemon, of its fork server and of its workers (one per --concurrency slot, the
# daemon's children too): no process per container exists besides its own.
spawner=$(pgrep -P "$daemon" -x ctrd-forkserver | head -n1 || true)
workers_pss_kib() {
  local w t=0
  for w in $(pgrep -P "$daemon" -x ctrd-worker); do
    t=$((t + $(awk '/^Pss:/ {print $2}' "/proc/$w/smaps_rollup" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
report() {
  local n=$1 pss sp wk
  pss=$(pss_kib)
  wk=$(workers_pss_kib)
  sp=$([ -n "$spawner" ] && awk '/^Pss:/ {print $2}' "/proc/$spawner/smaps_rollup" || echo 0)
  local t0 t1
  t0=$(date +%s.%N); curl -sf --unix-socket "$work/ctrd.sock" http://localhost/state -o /dev/null; t1=$(date +%s.%N)
  local procs
  procs=$(ps -e -o ppid= | awk -v d="$daemon" '$1==d' | wc -l)
  printf '%6d running: daemon PSS %8d KiB, fork server PSS %6d KiB, workers PSS %6d KiB, GET /state %.3f s, daemon children %d\n' \
    "$n" "$pss" "$sp" "$wk" "$(echo "$t1 - $t0" | bc)" "$procs" >&2
  echo "$n $pss"
}
declare -A pss
read -r n p < <(report 0); pss[0]=$p
have=0
for target in $steps; do
  "$ctr" bench --keep --count $((target - have)) --concurrency 50 --bundle "$bundle" >/dev/null
  have=$target
  sleep 2
  read -r n p < <(report "$have"); pss[$have]=$p
  echo "  growth: $(( (p - pss[0]) / have )) KiB per container (PSS)" >&2
done
ticks() { awk '{print $14 + $15}' "/proc/$daemon/stat"; }
a=$(ticks); sleep 10; b=$(ticks)
hz=$(getconf CLK_TCK)
echo "idle CPU with $have containers: $(echo "scale=2; ($b - $a) * 100 / $hz / 10" | bc)% of one core over 10 s"
