#!/usr/bin/env python3
"""The exec peer of `ctr bench --exec`: start N containers with runc, then `runc exec -d ID true`
once into each, concurrently, and print the exec rate and latency statistics (same shape as the
shared runc_start_bench.py). Every container is force-deleted at the end.

usage: runc_exec_bench.py [--count 1000] [--workers 100] [--json] BUNDLE
"""
import argparse
import concurrent.futures as cf
import json
import statistics
import subprocess
import time


def run(args):
    return subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    prefix = f"rx{int(time.time()) % 100000}-"
    ids = [prefix + str(i) for i in range(a.count)]
    with cf.ThreadPoolExecutor(a.workers) as ex:
        started = list(ex.map(lambda i: run(["runc", "run", "-d", "--bundle", a.bundle, i]), ids))

    def exec_one(i):
        t = time.perf_counter()
        ok = run(["runc", "exec", "-d", i, "true"])
        return (time.perf_counter() - t) * 1000, ok

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(a.workers) as ex:
        res = list(ex.map(exec_one, [i for i, ok in zip(ids, started) if ok]))
    elapsed = time.perf_counter() - t0
    with cf.ThreadPoolExecutor(a.workers) as ex:
        list(ex.map(lambda i: run(["runc", "delete", "-f", i]), ids))
    lat = sorted(ms for ms, ok in res if ok)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else 0.0
    out = {"runtime": "runc exec", "count": len(res), "ok": len(lat),
           "elapsed_s": round(elapsed, 3), "rate_per_s": round(len(lat) / elapsed, 1) if elapsed else 0,
           "min_ms": round(lat[0], 1) if lat else 0, "max_ms": round(lat[-1], 1) if lat else 0,
           "mean_ms": round(statistics.mean(lat), 1) if lat else 0,
           "median_ms": round(q(0.5), 1), "p95_ms": round(q(0.95), 1), "p99_ms": round(q(0.99), 1)}
    if a.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>12}: {v}")


if __name__ == "__main__":
    main()
