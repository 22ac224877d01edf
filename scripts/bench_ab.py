"""Compares the forward-pass speed of two loratool binaries (before/after a change), side by side.

Usage (project venv, two release builds):
    $(scripts/ensure_venv.sh) scripts/bench_ab.py BEFORE_BINARY AFTER_BINARY [--rounds 9] [--threads 2]

Builds scripts/bench.py's MiniMind2-Small-sized model once (real torch, temporary directory), then
times `logits --bench --repeat 3` for prefill 48, prefill 256 and decode 64 after an 8-token prompt
with both binaries. Every round runs each case with both binaries, alternating which goes first, so
background load hits both alike. Prints median and best model time per binary and the after/before
ratio of each (1.00 = the same speed; above 1 = the after binary is slower). Exit 0 always; the
figures are the result.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench  # noqa: E402  (token_ids, token_arg, reported_seconds: the same prompts and parsing as make bench)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    bins = {"before": os.path.abspath(args.before), "after": os.path.abspath(args.after)}
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    work = tempfile.mkdtemp(prefix="loratool-bench-ab-")
    try:
        made = subprocess.run([sys.executable, os.path.join(HERE, "bench.py"), "--build-only", work,
                               "--threads", str(args.threads)], capture_output=True, text=True, check=True)
        base = json.loads(made.stdout.strip().splitlines()[-1])["base"]
        out = os.path.join(work, "out.npy")
        cases = {"prefill 48": (bench.token_ids(48), None, "prefill"),
                 "prefill 256": (bench.token_ids(256), None, "prefill"),
                 f"decode {bench.DECODE_NEW}": (bench.token_ids(8), bench.DECODE_NEW, "decode")}
        times = {case: {side: [] for side in bins} for case in cases}
        loads = []
        for r in range(args.rounds):
            for case, (ids, decode, kind) in cases.items():
                for side in (("before", "after") if r % 2 == 0 else ("after", "before")):
                    if os.path.exists(out):
                        os.remove(out)
                    cmd = [bins[side], "logits", base, "--tokens", bench.token_arg(ids), "-o", out,
                           "--bench", "--repeat", "3"] + (["--decode", str(decode)] if decode else [])
                    m = bench.run_once(cmd, env)
                    t = bench.reported_seconds(m.out + m.err, kind) if m.rc == 0 else None
                    if t is None:
                        print(f"{side} failed on {case}: {m.err.strip()[-300:]}", file=sys.stderr)
                        continue
                    times[case][side].append(t)
            loads.append(os.getloadavg()[0])
        print(f"{args.rounds} interleaved rounds, {args.threads} threads, load average (1 min) "
              f"{min(loads):.2f}-{max(loads):.2f}")
        print("| case | before median | after median | after/before (median) | before best | after best | after/before (best) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for case in cases:
            b, a = times[case]["before"], times[case]["after"]
            if not a or not b:
                print(f"| {case} | n/a | n/a | n/a | n/a | n/a | n/a |")
                continue
            mb, ma = statistics.median(b), statistics.median(a)
            print(f"| {case} | {mb * 1e3:.1f} ms | {ma * 1e3:.1f} ms | {ma / mb:.3f} | {min(b) * 1e3:.1f} ms | "
                  f"{min(a) * 1e3:.1f} ms | {min(a) / min(b):.3f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
