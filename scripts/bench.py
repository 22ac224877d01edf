"""Benchmarks loratool against cp, the seed's Python merge and torch eager. Merge: on a
MiniMind2-Small-shaped and a 775 MB-class MiniMind-shaped float16 checkpoint (and with --big a
4.6 GB Llama-7B-shaped one, also as sharded safetensors), medians of interleaved rounds with
ratios to cp (scripts/bench_merge.py). Forward pass: on a MiniMind2-Small-sized model (dim 512, 8 layers, 8 heads, 2 kv heads, vocab 6400, hidden 1408,
float16, tied head) with a rank-16 MiniMind adapter on the square linears, all built with real
torch in a temporary directory.

Usage (project venv, release build):
    swift build -c release --scratch-path .build-py
    $(scripts/ensure_venv.sh) scripts/bench.py .build-py/release/loratool [--threads 2] [--rounds 3]
        [--repeats 3] [--merge-rounds 5] [--big] [--cold] [--merge-only | --forward-only] [--markdown]

Every measurement runs once per round, rounds interleaved so background load hits all sides
alike; the median over the rounds counts (each round's in-process time being the best of its
--repeats). Process times are wall clock; model times are measured inside the
process (torch: time.perf_counter around the forward; loratool: `logits --bench --repeat N`).
Peak RSS is GNU time's %M for the command (else the child's ru_maxrss from os.wait4).
loratool gets OPENBLAS_NUM_THREADS=--threads, torch gets torch.set_num_threads(--threads).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

PREFILL_LENS = (48, 256)
# issue 8's targets for torch/loratool model time, by prompt length
PREFILL_TARGETS = {256: " (target >= 1.3x)"}
DECODE_NEW = 64


# --------------------------------------------------------------------------- measuring

class Measured:
    def __init__(self, wall: float, rss: int, out: str, err: str, rc: int, faults: int = 0):
        self.wall, self.rss, self.out, self.err, self.rc = wall, rss, out, err, rc
        self.faults = faults  # minor page faults of the command (pages the kernel mapped in and zeroed or found cached)


TIME = "/usr/bin/time"


def token_ids(n: int) -> list:
    """The deterministic prompt given to both loratool and torch: 1 (bos), then a fixed walk."""
    return [1] + [(i * 2654435761 + 12345) % 6397 + 3 for i in range(1, n)]


def run_once(cmd: list, env: dict | None = None, cwd: str | None = None) -> Measured:
    """Runs cmd, returning wall seconds, the command's own peak RSS in bytes and its minor page faults.

    With /usr/bin/time the RSS and faults are GNU time's report for the command alone (%M %R);
    otherwise the child's ru_maxrss and ru_minflt from os.wait4 (on Linux ru_maxrss also counts
    memory inherited at fork)."""
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe, \
            tempfile.NamedTemporaryFile(mode="r", suffix=".time") as ft:
        full = [TIME, "-q", "-f", "%M %R", "-o", ft.name, *cmd] if os.access(TIME, os.X_OK) else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(full, stdout=fo, stderr=fe, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        rss, faults = usage.ru_maxrss * 1024, usage.ru_minflt
        if full is not cmd:
            lines = [ln.split() for ln in open(ft.name).read().splitlines()]
            lines = [ln for ln in lines if len(ln) == 2 and all(x.isdigit() for x in ln)]
            if lines:
                rss, faults = int(lines[-1][0]) * 1024, int(lines[-1][1])
        fo.seek(0)
        fe.seek(0)
        return Measured(wall, rss, fo.read().decode(errors="replace"),
                        fe.read().decode(errors="replace"), proc.returncode, faults)


def best_of(n: int, cmd: list, env=None, cwd=None, before=None) -> Measured:
    """Best wall time of n runs (after one warm-up), with the largest peak RSS seen."""
    if before:
        before()
    warm = run_once(cmd, env, cwd)
    if warm.rc != 0:
        return warm
    best = None
    peak = warm.rss
    for _ in range(n):
        if before:
            before()
        m = run_once(cmd, env, cwd)
        if m.rc != 0:
            return m
        peak = max(peak, m.rss)
        if best is None or m.wall < best.wall:
            best = m
    best.rss = peak
    return best


def unlink(path: str) -> None:
    """Removes a previous output: `logits -o` refuses to overwrite a file without --force."""
    if os.path.exists(path):
        os.remove(path)


def mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


# --------------------------------------------------------------------------- building the model

def build(work: str, threads: int) -> dict:
    """Writes base.pth and lora.pth into work (runs in a child so the parent stays small)."""
    import torch

    import minimind_ref as ref

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    cfg = ref.MiniMindConfig(dim=512, n_layers=8, n_heads=8, n_kv_heads=2, vocab_size=6400,
                             hidden_dim=1408, max_seq_len=16)
    model = ref.MiniMindLM(cfg)
    targets = ref.apply_lora(model, rank=16)
    with torch.no_grad():
        for _, module in model.named_modules():
            if hasattr(module, "lora"):
                module.lora.B.weight.normal_(0.0, 0.02)
    lora = ref.lora_state_dict(model)
    state = {k: v for k, v in model.state_dict().items() if ".lora." not in k}
    state = {k: v.half() for k, v in state.items()}
    state["output.weight"] = state["tok_embeddings.weight"]  # tied head, one storage
    base = os.path.join(work, "base.pth")
    torch.save(state, base)
    adapter = os.path.join(work, "lora.pth")
    torch.save(lora, adapter)
    params = sum(v.numel() for k, v in state.items() if k != "output.weight")
    return {"base": base, "adapter": adapter, "params": params, "targets": len(targets)}


# --------------------------------------------------------------------------- loratool CLI discovery

def help_text(loratool: str, *sub: str) -> str:
    m = run_once([loratool, *sub, "--help"])
    return m.out + m.err


def token_arg(ids: list) -> str:
    return ",".join(str(i) for i in ids)


def reported_seconds(text: str, kind: str) -> float | None:
    """The best time loratool --bench printed for kind: a line 'prefill: X ms ...' / 'decode: X ms ...'."""
    for line in text.splitlines():
        m = re.match(rf"\s*{kind}:\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s)\b", line)
        if m:
            v = float(m.group(1))
            return v / 1000 if m.group(2) == "ms" else v
    return None


def bench_line(text: str, kind: str) -> str:
    for line in text.splitlines():
        if line.strip().startswith(kind + ":"):
            return line.strip()
    return ""


# --------------------------------------------------------------------------- main

class Best:
    """Median wall time and largest peak RSS over the rounds, per measurement."""

    def __init__(self):
        self.samples: dict = {}
        self.rss: dict = {}
        self.errors: dict = {}

    @property
    def t(self) -> dict:
        import statistics

        return {k: statistics.median(v) for k, v in self.samples.items() if v}

    def add(self, key: str, seconds: float | None, rss: int | None = None) -> None:
        if seconds is not None:
            self.samples.setdefault(key, []).append(seconds)
        if rss is not None:
            self.rss[key] = max(self.rss.get(key, 0), rss)

    def fail(self, key: str, m: Measured) -> None:
        self.errors[key] = (m.err.strip().splitlines() or m.out.strip().splitlines() or ["?"])[-1]


def fmt_time(t: float | None, md: bool) -> str:
    if t is None:
        return "—" if md else "-"
    return f"{t * 1000:.1f} ms" if t < 1 else f"{t:.2f} s"


def print_table(header: str, columns: tuple, widths: tuple, rows: list, notes: list, markdown: bool) -> None:
    """Prints one result table (two label columns, a time column named columns[2], peak RSS, note) and its notes, as
    markdown or as aligned text."""
    if markdown:
        print(f"_{header}_\n")
        print(f"| {columns[0]} | {columns[1]} | {columns[2]} | peak RSS | notes |")
        print("| --- | --- | ---: | ---: | --- |")
        for a, b, t, rss, note in rows:
            print(f"| {a} | {b} | {fmt_time(t, True)} | {'—' if rss is None else mb(rss)} | {note} |")
        print()
        for n in notes:
            print(f"- {n}")
    else:
        print(header)
        for a, b, t, rss, note in rows:
            print(f"{a:{widths[0]}} {b:{widths[1]}} {fmt_time(t, False):>10} {'-' if rss is None else mb(rss):>10}  {note}")
        for n in notes:
            print("note: " + n)


def main() -> int:
    ap = argparse.ArgumentParser(description="loratool benchmarks")
    ap.add_argument("loratool", nargs="?", default=os.environ.get("LORATOOL"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5,
                    help="interleaved rounds of the forward-pass table (every measurement once per round); medians count")
    ap.add_argument("--repeats", type=int, default=3, help="in-process timed runs per round (torch, loratool --bench)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--merge-rounds", type=int, default=5, help="interleaved rounds for the merge table (medians)")
    ap.add_argument("--big", action="store_true",
                    help="also merge a 4.6 GB Llama-7B-shaped checkpoint (.pth and sharded safetensors); ~10 min")
    ap.add_argument("--cold", action="store_true",
                    help="also time cp and merge once each with the page cache dropped (root; affects the whole machine)")
    ap.add_argument("--merge-only", action="store_true", help="only the merge table")
    ap.add_argument("--forward-only", action="store_true", help="only the forward-pass table (prefill, decode)")
    ap.add_argument("--inputs", metavar="DIR", help="build the merge inputs into DIR and keep them; reuse them next time")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--build-only", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build_only:
        print(json.dumps(build(args.build_only, args.threads)))
        return 0
    if not args.loratool or not os.access(args.loratool, os.X_OK):
        print("bench: give the loratool binary (argument or env LORATOOL)", file=sys.stderr)
        return 2
    loratool = os.path.abspath(args.loratool)
    py = sys.executable
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    rep = str(args.repeats)

    load_start = os.getloadavg()
    work = tempfile.mkdtemp(prefix="loratool-bench-")
    notes = []
    best = Best()
    try:
        made = subprocess.run([py, os.path.abspath(__file__), "--build-only", work, "--threads", str(args.threads)],
                              capture_output=True, text=True, check=True)
        # (the forward-pass model; the merge inputs are built by bench_merge)
        info = json.loads(made.stdout.strip().splitlines()[-1])
        base, adapter, params, n_targets = info["base"], info["adapter"], info["params"], info["targets"]
        base_size = os.path.getsize(base)
        notes.append(f"base.pth {mb(base_size)} ({params / 1e6:.1f} M params, float16, tied head), "
                     f"lora.pth {mb(os.path.getsize(adapter))} (rank 16 on {n_targets} square linears)")

        top = help_text(loratool)
        logits_help = help_text(loratool, "logits") if re.search(r"^\s+logits\b", top, re.M) else ""
        has_bench = "--bench" in logits_help
        has_decode = "--decode" in logits_help
        out = os.path.join(work, "out.pth")
        prompt8 = token_arg(token_ids(8))

        def measure(key, cmd, before=None):
            if before:
                before()
            m = run_once(cmd, env)
            if m.rc != 0:
                best.fail(key, m)
                return None
            best.add(key, m.wall, m.rss)
            return m

        import bench_merge

        merge_rows, merge_notes = ([], []) if args.forward_only else \
            bench_merge.run(loratool, work, run_once, env, args.merge_rounds, args.big, args.cold, args.inputs)
        for _ in range(0 if args.merge_only else args.rounds):
            # torch eager: prefill per length and KV-cache decode, timed in-process
            m = measure("torch", [py, os.path.join(HERE, "bench_torch.py"), base, str(args.threads), rep,
                                  ",".join(map(str, PREFILL_LENS)), str(DECODE_NEW), work])
            if m:
                tr = json.loads(m.out.strip().splitlines()[-1])
                for n in PREFILL_LENS:
                    best.add(f"torch_prefill{n}", tr["prefill_s"][str(n)])
                best.add("torch_decode", tr["decode_s"])
                best.add("torch_load", tr["load_s"])
            if not logits_help:
                continue
            for n in PREFILL_LENS:
                cmd = [loratool, "logits", base, "--tokens", token_arg(token_ids(n)), "-o",
                       os.path.join(work, f"logits{n}.npy")]
                measure(f"lt_whole{n}", cmd, before=lambda: unlink(cmd[-1]))
                if has_bench:
                    unlink(cmd[-1])
                    m = run_once(cmd + ["--bench", "--repeat", rep], env)
                    best.add(f"lt_prefill{n}", reported_seconds(m.out + m.err, "prefill") if m.rc == 0 else None)
            if has_decode:
                cmd = [loratool, "logits", base, "--tokens", prompt8, "--decode", str(DECODE_NEW), "-o",
                       os.path.join(work, "dec.npy")]
                measure("lt_dec_whole", cmd, before=lambda: unlink(cmd[-1]))
                if has_bench:
                    unlink(cmd[-1])
                    m = run_once(cmd + ["--bench", "--repeat", rep], env)
                    best.add("lt_decode", reported_seconds(m.out + m.err, "decode") if m.rc == 0 else None)

        # correctness sanity: loratool's logits against torch's
        for n in PREFILL_LENS:
            a, b = os.path.join(work, f"logits{n}.npy"), os.path.join(work, f"torch_logits{n}.npy")
            if os.path.exists(a) and os.path.exists(b):
                import numpy as np

                notes.append(f"loratool vs torch logits, {n} tokens: max |diff| "
                             f"{float(np.abs(np.load(a) - np.load(b)).max()):.2g}")
    finally:
        if args.keep:
            notes.append(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    T, R = best.t, best.rss

    def ratio(a, b, fmt="{:.2f}x"):
        return fmt.format(T[a] / T[b]) if a in T and b in T else "n/a"

    def status(key, fallback=""):
        return f"FAILED: {best.errors[key]}" if key in best.errors else fallback

    rows = []  # (section, what, time, rss, note)
    for n in ([] if args.merge_only else PREFILL_LENS):
        if not logits_help:
            rows.append(("prefill", f"loratool logits, {n} tokens", None, None, "TODO: no `logits` subcommand yet"))
        elif f"lt_prefill{n}" in T:
            rows.append(("prefill", f"loratool logits, {n} tokens: model time (--bench)", T[f"lt_prefill{n}"], None,
                         f"torch/loratool {ratio(f'torch_prefill{n}', f'lt_prefill{n}')}"
                         f"{PREFILL_TARGETS.get(n, '')}"))
            rows.append(("prefill", f"loratool logits, {n} tokens: whole process", T.get(f"lt_whole{n}"),
                         R.get(f"lt_whole{n}"), status(f"lt_whole{n}", "load + forward + write .npy")))
        else:
            rows.append(("prefill", f"loratool logits, {n} tokens: WHOLE PROCESS (no in-process timing)",
                         T.get(f"lt_whole{n}"), R.get(f"lt_whole{n}"),
                         status(f"lt_whole{n}", f"torch/loratool {ratio(f'torch_prefill{n}', f'lt_whole{n}')}")))
        rows.append(("prefill", f"torch eager forward, {n} tokens: model time", T.get(f"torch_prefill{n}"), None,
                     status("torch", f"in-process, {args.threads} threads")))
    dec = f"decode {DECODE_NEW} tokens after an 8-token prompt, KV cache"
    if args.merge_only:
        pass
    elif not has_decode:
        rows.append(("decode", f"loratool {dec}", None, None, "TODO: no decode/generate command in loratool yet"))
    elif "lt_decode" in T:
        rows.append(("decode", f"loratool logits --decode {DECODE_NEW}: model time (--bench)", T["lt_decode"], None,
                     f"{DECODE_NEW / T['lt_decode']:.0f} tok/s incl. prefill; torch/loratool "
                     f"{ratio('torch_decode', 'lt_decode')} (target >= 4x)"))
        rows.append(("decode", f"loratool logits --decode {DECODE_NEW}: whole process", T.get("lt_dec_whole"),
                     R.get("lt_dec_whole"), status("lt_dec_whole")))
    else:
        rows.append(("decode", f"loratool logits --decode {DECODE_NEW}: WHOLE PROCESS (no in-process timing)",
                     T.get("lt_dec_whole"), R.get("lt_dec_whole"), status("lt_dec_whole")))
    if "torch_decode" in T:
        rows.append(("decode", f"torch eager {dec}: model time", T["torch_decode"], None,
                     f"{DECODE_NEW / T['torch_decode']:.0f} tok/s incl. prefill"))
    if "torch" in R:
        notes.append(f"torch process peak RSS {mb(R['torch'])} (weights widened to float32), "
                     f"load {T.get('torch_load', float('nan')):.2f} s")

    load = os.getloadavg()
    header = (f"machine: {platform.machine()}, {os.cpu_count()} cores, threads={args.threads}, "
              f"median of {args.rounds} interleaved rounds (each the best of {args.repeats} in-process repeats), "
              f"load average {load_start[0]:.1f} at the start, {load[0]:.1f}/{load[1]:.1f} (1/5 min) at the end")
    merge_header = (f"merge: median of interleaved rounds (--merge-rounds {args.merge_rounds}; at least {bench_merge.BIG_ROUNDS} for inputs over 1 GB), "
                    f"every output deleted and the disk synced before each run, hot page cache")
    if not args.forward_only:
        print_table(merge_header, ("input", "command", "median"), (28, 34), merge_rows, merge_notes, args.markdown)
        print()
    if args.merge_only:
        return 0
    print_table(header, ("section", "what", "time"), (8, 62), rows, notes, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
