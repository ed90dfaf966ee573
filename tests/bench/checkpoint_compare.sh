#!/usr/bin/env bash
# Checkpoint/restore wall times: ctrd (REST API, CRIU over RPC) vs runc (runc checkpoint/restore,
# CRIU CLI), same rootfs, same job, alternating, N repetitions each; prints medians and ctrd/runc.
#   tests/bench/checkpoint_compare.sh [--reps 5] [--mem-mib 512] [--debug-build]
# Scenarios:
#   idle  busybox `sleep infinity`
#   mem   a static C program (built here with gcc -static, copied into the rootfs) that mallocs
#         MEM MiB, writes every page (non-zero bytes) and pause()s: MEM MiB of anonymous memory
#         CRIU must dump and restore. (Data in a tmpfs would be dumped as a gzipped tar of the
#         mount, not as process memory; a busybox shell variable of 512 MiB is impractical.)
# ctrd: checkpoint = POST /containers/ID/checkpoint/NAME {"exit":true} (curl time_total);
#       restore    = POST /containers/ID {"checkpoint":NAME}.
# runc: checkpoint = runc checkpoint --image-path DIR ID (kills the container, as exit:true);
#       restore    = runc restore -d --image-path DIR ID.
# ctrd and runc alternate who goes first. Each repetition uses a fresh container, which is deleted afterwards (and, for ctrd, the cgroup
# trees a restore leaves are removed, see docs/checkpoint.md). Needs root, criu >= 4.2, runc, gcc.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
reps=5 mem=512 profile=release
while [ $# -gt 0 ]; do
  case $1 in
    --reps) reps=$2; shift 2 ;;
    --mem-mib) mem=$2; shift 2 ;;
    --debug-build) profile=debug; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
for t in criu runc gcc curl python3; do
  command -v $t >/dev/null || { echo "$t is needed" >&2; exit 1; }
done

export PATH="$HOME/.cargo/bin:$PATH"
if [ $profile = release ]; then
  (cd "$top" && cargo build --release -p ctrd >/dev/null 2>&1)
else
  (cd "$top" && cargo build -p ctrd >/dev/null 2>&1)
fi
ctrd_bin=$top/target/$profile/ctrd

work=$(mktemp -d /tmp/ctrd-cpbench.XXXXXX)
chmod 755 "$work"
bash "$top/scripts/make-bundle.sh" "$work/bundle" sleep infinity >/dev/null
cat >"$work/memhog.c" <<'C'
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  size_t n = (size_t)strtoul(argc > 1 ? argv[1] : "512", 0, 10) << 20;
  unsigned char *p = malloc(n);
  if (!p) return 1;
  for (size_t i = 0; i < n; i += 4096) memset(p + i, 1 + (int)((i >> 12) % 251), 4096);
  for (;;) pause();
}
C
gcc -static -O2 -o "$work/bundle/rootfs/bin/memhog" "$work/memhog.c"
# Two bundles on the one rootfs: idle and mem (different process.args only).
for s in idle mem; do
  mkdir -p "$work/$s"
  python3 - "$work/bundle/config.json" "$work/$s/config.json" "$work/bundle/rootfs" "$s" "$mem" <<'PY'
import json, sys
src, dst, rootfs, scen, mem = sys.argv[1:]
c = json.load(open(src))
c["root"]["path"] = rootfs
c["process"]["args"] = ["sleep", "infinity"] if scen == "idle" else ["/bin/memhog", mem]
json.dump(c, open(dst, "w"), indent=1)
PY
done

sock=$work/ctrd.sock
"$ctrd_bin" --state-dir "$work/state" --root "$work/root" --listen "unix://$sock" >"$work/ctrd.log" 2>&1 </dev/null &
daemon=$!
ids=()
cleanup() {
  for id in "${ids[@]}"; do
    runc --root "$work/runc" delete -f "$id" >/dev/null 2>&1 || true
  done
  kill "$daemon" 2>/dev/null || true
  wait "$daemon" 2>/dev/null || true
  for id in "${ids[@]}"; do rm_cgroups "$id"; done
  rm -rf "$work"
}
# Remove /sys/fs/cgroup/*/ctrd/ID and /sys/fs/cgroup/*/ID (runc) with everything below them.
rm_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/ctrd/"$1" /sys/fs/cgroup/ctrd/"$1" /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
api() { curl -sS --unix-socket "$sock" "$@"; }

# Waits until pid $1 has at least $2 KiB resident.
wait_rss() {
  local pid=$1 want=$2 rss
  for _ in $(seq 600); do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -ge "$want" ] && return 0
    sleep 0.1
  done
  echo "pid $pid never reached $want KiB RSS" >&2
  return 1
}
need_kib() { if [ "$1" = mem ]; then echo $((mem * 1024 * 95 / 100)); else echo 0; fi; }

results=$work/results.txt
: >"$results"

ctrd_round() { # scenario rep
  local s=$1 r=$2 id="cpb-ctrd-$1-$2-$$" out pid t_cp t_rs
  ids+=("$id")
  out=$(api -XPOST "http://x/containers/$id" -d "{\"bundlePath\":\"$work/$s\"}")
  pid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' <<<"$out")
  wait_rss "$pid" "$(need_kib "$s")"
  sleep 0.2
  t_cp=$(api -o "$work/cp.json" -w '%{time_total}' -XPOST "http://x/containers/$id/checkpoint/c" -d '{"exit":true}')
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "dumpMs" in d, d' "$work/cp.json"
  t_rs=$(api -o "$work/rs.json" -w '%{time_total}' -XPOST "http://x/containers/$id" -d '{"checkpoint":"c"}')
  pid=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d.get("status")=="running", d; print(d["pid"])' "$work/rs.json")
  wait_rss "$pid" "$(need_kib "$s")"
  frozen=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("frozenMs"))' "$work/cp.json")
  echo "ctrd $s checkpoint $t_cp" >>"$results"
  echo "ctrd $s restore $t_rs" >>"$results"
  echo "  ctrd $s #$r: checkpoint $(printf %.3f "$t_cp") s (CRIU frozen ${frozen} ms), restore $(printf %.3f "$t_rs") s"
  api -XDELETE "http://x/containers/$id?force=true" >/dev/null
  api -XDELETE "http://x/containers/$id/checkpoint/c" >/dev/null
  sleep 0.2
  rm_cgroups "$id"
}

runc_round() { # scenario rep
  local s=$1 r=$2 id="cpb-runc-$1-$2-$$" pid t0 t1 t2 st
  local R=(runc --root "$work/runc")
  ids+=("$id")
  "${R[@]}" run -d --bundle "$work/$s" "$id" </dev/null >/dev/null 2>&1
  pid=$("${R[@]}" state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
  wait_rss "$pid" "$(need_kib "$s")"
  sleep 0.2
  rm -rf "$work/img" "$work/cpwork"
  t0=$(date +%s.%N)
  if ! "${R[@]}" checkpoint --image-path "$work/img" --work-path "$work/cpwork" "$id" </dev/null >"$work/runc-cp.out" 2>&1; then
    echo "runc checkpoint failed:" >&2; cat "$work/runc-cp.out" >&2; tail -5 "$work/cpwork/dump.log" >&2 || true
    return 1
  fi
  t1=$(date +%s.%N)
  if ! "${R[@]}" restore -d --image-path "$work/img" --work-path "$work/cpwork" --bundle "$work/$s" "$id" \
      </dev/null >"$work/runc-rs.out" 2>&1; then
    echo "runc restore failed:" >&2; cat "$work/runc-rs.out" >&2; tail -5 "$work/cpwork/restore.log" >&2 || true
    return 1
  fi
  t2=$(date +%s.%N)
  st=$("${R[@]}" state "$id" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], d["pid"])')
  [ "${st%% *}" = running ] || { echo "runc restored container is $st" >&2; return 1; }
  wait_rss "${st##* }" "$(need_kib "$s")"
  local cp rs
  cp=$(python3 -c "print($t1 - $t0)") rs=$(python3 -c "print($t2 - $t1)")
  echo "runc $s checkpoint $cp" >>"$results"
  echo "runc $s restore $rs" >>"$results"
  echo "  runc $s #$r: checkpoint $(printf %.3f "$cp") s, restore $(printf %.3f "$rs") s"
  "${R[@]}" delete -f "$id" >/dev/null 2>&1 || true
  sleep 0.2
  rm_cgroups "$id"
}

echo "machine: $(nproc) CPUs, kernel $(uname -r), $(criu --version | head -1 | tr -d '\n'), $(runc --version | head -1)"
echo "ctrd: $ctrd_bin ($profile); reps: $reps; mem scenario: $mem MiB"
echo "cgroup dirs on the unified hierarchy now: $(find /sys/fs/cgroup/unified -type d 2>/dev/null | wc -l)"
for s in idle mem; do
  for r in $(seq "$reps"); do
    # Alternate who goes first: writeback of the previous round's images hits the next writer.
    if [ $((r % 2)) = 1 ]; then
      ctrd_round "$s" "$r"; runc_round "$s" "$r"
    else
      runc_round "$s" "$r"; ctrd_round "$s" "$r"
    fi
  done
done

python3 - "$results" <<'PY'
import statistics, sys
from collections import defaultdict
d = defaultdict(list)
for line in open(sys.argv[1]):
    rt, s, op, t = line.split()
    d[(rt, s, op)].append(float(t) * 1000)
print()
print("| scenario | operation | ctrd median (ms) | runc median (ms) | ctrd/runc |")
print("|---|---|---|---|---|")
for s in ("idle", "mem"):
    for op in ("checkpoint", "restore"):
        c, r = d.get(("ctrd", s, op)), d.get(("runc", s, op))
        if not c or not r:
            continue
        mc, mr = statistics.median(c), statistics.median(r)
        print(f"| {s} | {op} | {mc:.0f} (min {min(c):.0f}, max {max(c):.0f}) | {mr:.0f} (min {min(r):.0f}, max {max(r):.0f}) | {mc / mr:.2f} |")
PY
