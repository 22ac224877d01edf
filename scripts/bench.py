"""Benchmarks loratool against cp, the seed's Python merge and torch eager on a
MiniMind2-Small-sized model (dim 512, 8 layers, 8 heads, 2 kv heads, vocab 6400, hidden 1408,
float16, tied head) with a rank-16 MiniMind adapter on the square linears, all built with real
torch in a temporary directory.

Usage (project venv, release build):
    swift build -c release --scratch-path .build-py
    $(scripts/ensure_venv.sh) scripts/bench.py .build-py/release/loratool [--threads 2] [--repeats 5] [--markdown]

Times are wall clock, best of --repeats runs; peak RSS is each child's own ru_maxrss (os.wait4).
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
DECODE_NEW = 64


# --------------------------------------------------------------------------- measuring

class Measured:
    def __init__(self, wall: float, rss: int, out: str, err: str, rc: int):
        self.wall, self.rss, self.out, self.err, self.rc = wall, rss, out, err, rc


TIME = "/usr/bin/time"


def token_ids(n: int) -> list:
    """The deterministic prompt given to both loratool and torch: 1 (bos), then a fixed walk."""
    return [1] + [(i * 2654435761 + 12345) % 6397 + 3 for i in range(1, n)]


def run_once(cmd: list, env: dict | None = None, cwd: str | None = None) -> Measured:
    """Runs cmd, returning wall seconds and the command's own peak RSS in bytes.

    With /usr/bin/time the RSS is GNU time's report for the command alone (%M); otherwise the
    child's ru_maxrss from os.wait4 (which on Linux also counts memory inherited at fork)."""
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe, \
            tempfile.NamedTemporaryFile(mode="r", suffix=".time") as ft:
        full = [TIME, "-q", "-f", "%M", "-o", ft.name, *cmd] if os.access(TIME, os.X_OK) else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(full, stdout=fo, stderr=fe, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        rss = usage.ru_maxrss * 1024
        if full is not cmd:
            lines = [ln for ln in open(ft.name).read().splitlines() if ln.strip().isdigit()]
            if lines:
                rss = int(lines[-1]) * 1024
        fo.seek(0)
        fe.seek(0)
        return Measured(wall, rss, fo.read().decode(errors="replace"),
                        fe.read().decode(errors="replace"), proc.returncode)


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


MODEL_TIME = re.compile(r"(prefill|forward|model|decode)[^\n]*?([0-9]+(?:\.[0-9]+)?)\s*(ms|s)\b", re.I)


def reported_seconds(text: str, kind: str) -> float | None:
    """A time the CLI printed for `kind` (prefill/forward/decode), if any."""
    for line in text.splitlines():
        if kind == "prefill" and not re.search(r"prefill|forward|model", line, re.I):
            continue
        if kind == "decode" and not re.search(r"decode", line, re.I):
            continue
        m = re.search(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s)\b", line)
        if m:
            v = float(m.group(1))
            return v / 1000 if m.group(2) == "ms" else v
    return None


# --------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description="loratool benchmarks")
    ap.add_argument("loratool", nargs="?", default=os.environ.get("LORATOOL"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
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

    work = tempfile.mkdtemp(prefix="loratool-bench-")
    rows = []       # (section, what, time, rss, note)
    notes = []
    try:
        made = subprocess.run([py, os.path.abspath(__file__), "--build-only", work, "--threads", str(args.threads)],
                              capture_output=True, text=True, check=True)
        info = json.loads(made.stdout.strip().splitlines()[-1])
        base, adapter, params, n_targets = info["base"], info["adapter"], info["params"], info["targets"]
        base_size = os.path.getsize(base)
        notes.append(f"base.pth {mb(base_size)} ({params / 1e6:.1f} M params, float16, tied head), "
                     f"lora.pth {mb(os.path.getsize(adapter))} (rank 16 on {n_targets} square linears)")
        # ---------------- merge
        out = os.path.join(work, "out.pth")

        def rm_out():
            if os.path.exists(out):
                os.remove(out)

        cp = best_of(args.repeats, ["cp", base, os.path.join(work, "copy.pth")])
        lt = best_of(args.repeats, [loratool, "merge", base, adapter, "-o", out], env=env, before=rm_out)
        pym = best_of(max(1, min(args.repeats, 3)),
                      [py, os.path.join(HERE, "bench_python_merge.py"), base, adapter, os.path.join(work, "py.pth")],
                      env=env)
        rows.append(("merge", "cp base.pth copy.pth (floor)", cp.wall, cp.rss, ""))
        if lt.rc == 0:
            rows.append(("merge", "loratool merge", lt.wall, lt.rss,
                         f"{lt.wall / cp.wall:.2f}x cp; peak RSS {lt.rss / base_size:.2f}x base file"))
        else:
            rows.append(("merge", "loratool merge", None, None, "FAILED: " + (lt.err.strip().splitlines() or ["?"])[-1]))
        if pym.rc == 0:
            speed = f"; loratool is {pym.wall / lt.wall:.1f}x faster" if lt.rc == 0 else ""
            rows.append(("merge", "python merge (torch.load, W += B@A in f16, torch.save)", pym.wall, pym.rss,
                         f"peak RSS {pym.rss / base_size:.2f}x base file{speed}"))
        else:
            rows.append(("merge", "python merge", None, None, "FAILED: " + pym.err.strip()[-200:]))

        # ---------------- forward pass
        top = help_text(loratool)
        has_logits = re.search(r"^\s+logits\b", top, re.M) is not None
        torch_run = run_once([py, os.path.join(HERE, "bench_torch.py"), base, str(args.threads), str(args.repeats),
                              ",".join(map(str, PREFILL_LENS)), str(DECODE_NEW)], env=env)
        tr = json.loads(torch_run.out.strip().splitlines()[-1]) if torch_run.rc == 0 else None
        if tr is None:
            notes.append("torch reference failed: " + torch_run.err.strip()[-300:])
        logits_help = help_text(loratool, "logits") if has_logits else ""
        for n in PREFILL_LENS:
            t_torch = tr["prefill_s"][str(n)] if tr else None
            if not has_logits:
                rows.append(("prefill", f"loratool logits, {n} tokens", None, None, "TODO: no `logits` subcommand yet"))
            else:
                npy = os.path.join(work, f"logits{n}.npy")
                m = best_of(args.repeats, [loratool, "logits", base, "--tokens", token_arg(token_ids(n)), "-o", npy],
                            env=env)
                if m.rc != 0:
                    rows.append(("prefill", f"loratool logits, {n} tokens", None, None,
                                 "FAILED: " + (m.err.strip().splitlines() or ["?"])[-1]))
                else:
                    inner = reported_seconds(m.out + m.err, "prefill")
                    t = inner if inner is not None else m.wall
                    how = "model time reported by loratool" if inner is not None else \
                        f"WHOLE PROCESS (load + forward + write; no in-process timing reported)"
                    ratio = f"; torch/loratool {t_torch / t:.2f}x" if t_torch else ""
                    rows.append(("prefill", f"loratool logits, {n} tokens", t, m.rss, how + ratio))
                    if inner is not None:
                        rows.append(("prefill", f"loratool logits, {n} tokens, whole process", m.wall, m.rss, ""))
            if t_torch is not None:
                rows.append(("prefill", f"torch eager forward, {n} tokens", t_torch, None,
                             f"model time in-process, {tr['threads']} threads"))

        # ---------------- decode
        decode_cmd = None
        if re.search(r"^\s+generate\b", top, re.M):
            gen_help = help_text(loratool, "generate")
            decode_cmd = [loratool, "generate", base, "--tokens", token_arg(token_ids(8)), "--max-new-tokens",
                          str(DECODE_NEW)] if "--max-new-tokens" in gen_help else None
            if decode_cmd is None:
                notes.append("TODO: `loratool generate` exists but its options were not recognised:\n" + gen_help)
        elif "--decode" in logits_help:
            decode_cmd = [loratool, "logits", base, "--tokens", token_arg(token_ids(8)), "--decode", str(DECODE_NEW),
                          "-o", os.path.join(work, "dec.npy")]
        if decode_cmd is None:
            rows.append(("decode", f"loratool decode {DECODE_NEW} tokens (KV cache)", None, None,
                         "TODO: no decode/generate command in loratool yet"))
        else:
            m = best_of(args.repeats, decode_cmd, env=env)
            if m.rc != 0:
                rows.append(("decode", f"loratool decode {DECODE_NEW} tokens", None, None,
                             "FAILED: " + (m.err.strip().splitlines() or ["?"])[-1]))
            else:
                inner = reported_seconds(m.out + m.err, "decode")
                t = inner if inner is not None else m.wall
                how = "decode time reported by loratool" if inner is not None else "WHOLE PROCESS"
                ratio = f"; torch/loratool {tr['decode_s'] / t:.2f}x" if tr else ""
                rows.append(("decode", f"loratool decode {DECODE_NEW} tokens (KV cache)", t, m.rss,
                             f"{how}; {DECODE_NEW / t:.0f} tok/s" + ratio))
        if tr:
            rows.append(("decode", f"torch eager decode {DECODE_NEW} tokens (KV cache, 8-token prompt)",
                         tr["decode_s"], torch_run.rss, f"{DECODE_NEW / tr['decode_s']:.0f} tok/s incl. prefill of 8"))
            notes.append(f"torch process peak RSS {mb(torch_run.rss)} (model widened to float32), "
                         f"load {tr['load_s']:.2f} s")
    finally:
        if args.keep:
            notes.append(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    header = (f"machine: {platform.machine()}, {os.cpu_count()} cores, threads={args.threads}, "
              f"best of {args.repeats}, python {platform.python_version()}")
    if args.markdown:
        print(f"_{header}_\n")
        print("| section | what | time | peak RSS | notes |")
        print("| --- | --- | ---: | ---: | --- |")
        for sec, what, t, rss, note in rows:
            ts = "—" if t is None else (f"{t * 1000:.1f} ms" if t < 1 else f"{t:.2f} s")
            rs = "—" if rss is None else mb(rss)
            print(f"| {sec} | {what} | {ts} | {rs} | {note} |")
        print()
        for n in notes:
            print(f"- {n}")
    else:
        print(header)
        for sec, what, t, rss, note in rows:
            ts = "-" if t is None else (f"{t * 1000:9.1f} ms" if t < 1 else f"{t:9.2f} s ")
            rs = "-" if rss is None else mb(rss)
            print(f"{sec:8} {what:62} {ts:>12} {rs:>10}  {note}")
        for n in notes:
            print("note: " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
