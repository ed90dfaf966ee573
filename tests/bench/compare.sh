#!/usr/bin/env bash
# Start-rate benchmark: ctrd (`ctr bench`) and runc (shared/bench/runc_start_bench.py) on the same
# busybox bundle, in the same job, alternating, and the ratio of their medians. Needs root.
#   tests/bench/compare.sh [--count 1000] [--concurrency 100] [--rounds 2] [--exec]
# Prints one line per run and a summary; exit 0 (a benchmark, not a test).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
count=1000 conc=100 rounds=2 exec_flag=""
while [ $# -gt 0 ]; do
  case $1 in
    --count) count=$2; shift 2 ;;
    --concurrency) conc=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --exec) exec_flag=--exec; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
runc_bench=${RUNC_BENCH:-$top/../shared/bench/runc_start_bench.py}
[ -f "$runc_bench" ] || { echo "runc_start_bench.py not found (set RUNC_BENCH)" >&2; exit 1; }
command -v runc >/dev/null || { echo "runc is needed as the comparison peer: apt-get install runc" >&2; exit 1; }

export PATH="$HOME/.cargo/bin:$PATH"
(cd "$top" && cargo build --release -p ctrd -p ctr-cli --locked >/dev/null 2>&1)
work=$(mktemp -d /tmp/ctrd-bench.XXXXXX)
bundle=$work/bundle
bash "$top/scripts/make-bundle.sh" "$bundle" sleep infinity >/dev/null
# Enough pids for thousands of containers.
[ "$(cat /proc/sys/kernel/pid_max)" -ge 131072 ] || sysctl -qw kernel.pid_max=4194304

mkdir -p "$work/state"
"$top/target/release/ctrd" --state-dir "$work/state" --state-tmpfs true --root "$work/root" \
  --listen "unix://$work/ctrd.sock" >"$work/ctrd.log" 2>&1 &
daemon=$!
cleanup() {
  kill "$daemon" 2>/dev/null || true
  wait "$daemon" 2>/dev/null || true
  umount "$work/state" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$work/ctrd.sock" ] && break; sleep 0.1; done
export CTRD_ADDRESS="unix://$work/ctrd.sock"

# The kernel tears down a thousand containers (network namespaces, memory cgroups) for seconds
# after the delete returns, in kworkers. Each run starts once the machine is quiet again, so
# neither runtime pays for the other's cleanup.
settle() {
  python3 - <<'PY'
import time
def busy():
    def snap():
        v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return v[3] + v[4], sum(v)
    i0, t0 = snap(); time.sleep(1); i1, t1 = snap()
    return 1 - (i1 - i0) / max(1, t1 - t0)
for _ in range(60):
    if busy() < 0.10:
        break
PY
}

ctrd_rates=() runc_rates=() ctrd_exec=() runc_exec=()
for r in $(seq "$rounds"); do
  settle
  out=$("$top/target/release/ctr" --json bench --count "$count" --concurrency "$conc" --bundle "$bundle" $exec_flag)
  rate=$(python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rate"],1))' <<<"$out")
  p99=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["daemonStartMs"]["p99"],1))' <<<"$out")
  echo "round $r ctrd: $rate containers/s (daemon startMs p99 $p99 ms)"
  ctrd_rates+=("$rate")
  if [ -n "$exec_flag" ]; then
    erate=$(python3 -c 'import json,sys; e=json.load(sys.stdin)["exec"]; print(round(e["latencyMs"]["count"]/e["wallSeconds"],1))' <<<"$out")
    echo "round $r ctrd exec: $erate execs/s"
    ctrd_exec+=("$erate")
  fi
  settle
  out=$(python3 "$runc_bench" --count "$count" --workers "$conc" --json "$bundle")
  rate=$(python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rate_per_s"],1))' <<<"$out")
  echo "round $r runc: $rate containers/s"
  runc_rates+=("$rate")
  if [ -n "$exec_flag" ]; then
    out=$(python3 "$top/tests/bench/runc_exec_bench.py" --count "$count" --workers "$conc" --json "$bundle")
    erate=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["rate_per_s"])' <<<"$out")
    echo "round $r runc exec: $erate execs/s"
    runc_exec+=("$erate")
  fi
done
if [ -n "$exec_flag" ]; then
  python3 - "${ctrd_exec[*]}" "${runc_exec[*]}" <<'PY'
import statistics, sys
c = [float(x) for x in sys.argv[1].split()]
r = [float(x) for x in sys.argv[2].split()]
print(f"exec: median ctrd {statistics.median(c):.1f}/s, runc {statistics.median(r):.1f}/s, "
      f"ratio ctrd/runc = {statistics.median(c) / statistics.median(r):.2f}x")
PY
fi
python3 - "${ctrd_rates[*]}" "${runc_rates[*]}" <<'PY'
import statistics, sys
c = [float(x) for x in sys.argv[1].split()]
r = [float(x) for x in sys.argv[2].split()]
mc, mr = statistics.median(c), statistics.median(r)
print(f"median ctrd {mc:.1f}/s, runc {mr:.1f}/s, ratio ctrd/runc = {mc / mr:.2f}x")
PY
