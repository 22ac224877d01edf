"""Benchmark of `loratool extract` at scale against mergekit (docs/PERFORMANCE.md, "extract at scale").

    $(scripts/ensure_venv.sh) scripts/bench_extract.py path/to/loratool [--mergekit BIN] [--work DIR] [--keep] [--small]

Writes a synthetic Llama-style model (hidden 1024, intermediate 2816, 10 layers, vocab 32000,
float32: 0.78 GB as safetensors with config.json; `--small` for a seconds-long smoke run) and a
"fine-tune" of it (every Linear plus a rank-16 change and 1e-4 noise, the final norm shifted), then
runs, interleaved, `loratool extract --rank 16` with the randomized SVD, mergekit's
`mergekit-extract-lora --max-rank 16` (when given `--mergekit BIN` or found on PATH), and
`loratool extract --svd exact`, each under `nice -n 5` with one BLAS/torch thread, reporting wall
time, peak RSS (GNU time's maximum resident set size), the 1-minute load average before and after, and the
per-layer relative error ||Δ − B·A||_F / ||Δ||_F of every extracted layer (mergekit's computed here
with torch from its adapter file, loratool's from its --json report), compared layer by layer.

mergekit 0.1.5 is not in the pinned test venv (the test suite does not need it): install it into
a scratch venv layered on the pinned one (`pip install mergekit==0.1.5 immutables --no-deps`).
It runs with HF_HUB_OFFLINE=1 / TRANSFORMERS_OFFLINE=1 and absolute model paths, so its model
card writer never asks the hub whether a path is a repository.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import torch
from safetensors.torch import save_file

CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 1024,
          "intermediate_size": 2816, "num_hidden_layers": 10, "num_attention_heads": 16,
          "num_key_value_heads": 16, "vocab_size": 32000, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
          "tie_word_embeddings": False, "torch_dtype": "float32", "max_position_embeddings": 2048,
          "hidden_act": "silu"}


def make_models(work: str) -> tuple:
    g = torch.Generator().manual_seed(5)
    h, f, v = CONFIG["hidden_size"], CONFIG["intermediate_size"], CONFIG["vocab_size"]
    base, tuned = {}, {}

    def add(name, shape, linear):
        w = torch.randn(*shape, generator=g) * 0.02
        base[name] = w
        if linear:
            a = torch.randn(16, shape[1], generator=g) * 0.05
            b = torch.randn(shape[0], 16, generator=g) * 0.05
            tuned[name] = w + b @ a + 1e-4 * torch.randn(*shape, generator=g)
        else:
            tuned[name] = w

    add("model.embed_tokens.weight", (v, h), False)
    for i in range(CONFIG["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
            add(p + f"self_attn.{n}.weight", (h, h), True)
        add(p + "mlp.gate_proj.weight", (f, h), True)
        add(p + "mlp.up_proj.weight", (f, h), True)
        add(p + "mlp.down_proj.weight", (h, f), True)
        base[p + "input_layernorm.weight"] = torch.ones(h)
        tuned[p + "input_layernorm.weight"] = torch.ones(h)
        base[p + "post_attention_layernorm.weight"] = torch.ones(h)
        tuned[p + "post_attention_layernorm.weight"] = torch.ones(h)
    base["model.norm.weight"] = torch.ones(h)
    tuned["model.norm.weight"] = torch.ones(h) + 0.01
    add("lm_head.weight", (v, h), True)
    dirs = []
    for name, sd in (("base", base), ("tuned", tuned)):
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(d, "config.json"), "w") as fh:
            json.dump(CONFIG, fh, indent=2)
        dirs.append(d)
    return dirs[0], dirs[1], os.path.getsize(os.path.join(dirs[0], "model.safetensors"))


SMALL = {"hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 4, "vocab_size": 256}


def run_env() -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return env


def measure(cmd: list) -> tuple:
    """Runs cmd under nice -n 5; returns (wall seconds, peak RSS bytes, stdout, load before, load after).

    The peak RSS is GNU time's (`/usr/bin/time -f %M`), not getrusage of our own child: Python starts
    children with vfork, and exec then charges the parent's high-water RSS (this script holds the
    generated models and torch) to the child's ru_maxrss.
    """
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.time()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, "nice", "-n", "5"] + cmd,
                              stdout=out, stderr=err, text=True, env=run_env())
        wall = time.time() - start
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {err.read().strip()[-400:]}")
        peak = int(rss.read().split()[-1]) * 1024
        return wall, peak, out.read(), load_before, os.getloadavg()[0]


def peft_errors(adapter: str, base: str, tuned: str) -> dict:
    """Per-module ||Δ − s·B·A||_F / ||Δ||_F of a PEFT adapter directory (Δ = tuned − base), in float64."""
    from safetensors import safe_open
    cfg = json.load(open(os.path.join(adapter, "adapter_config.json")))
    weights = os.path.join(adapter, "adapter_model.safetensors")
    errors = {}
    with safe_open(weights, "pt") as a, safe_open(os.path.join(base, "model.safetensors"), "pt") as b, \
            safe_open(os.path.join(tuned, "model.safetensors"), "pt") as t:
        for key in a.keys():
            if ".lora_A." not in key:
                continue
            module = key.split(".lora_A.")[0].removeprefix("base_model.model.")
            short = module
            r = cfg.get("rank_pattern", {}).get(short, cfg["r"])
            alpha = cfg.get("alpha_pattern", {}).get(short, cfg["lora_alpha"])
            A = a.get_tensor(key).double()
            B = a.get_tensor(key.replace(".lora_A.", ".lora_B.")).double()
            delta = t.get_tensor(module + ".weight").double() - b.get_tensor(module + ".weight").double()
            residual = delta - (alpha / r) * (B @ A)
            errors[module] = (torch.linalg.norm(residual) / torch.linalg.norm(delta)).item()
    return errors


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("loratool")
    ap.add_argument("--mergekit", help="path to mergekit-extract-lora (default: on PATH)")
    ap.add_argument("--work")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--small", action="store_true", help="a tiny model (smoke test)")
    args = ap.parse_args()
    if args.small:
        CONFIG.update(SMALL)
    mergekit = args.mergekit or shutil.which("mergekit-extract-lora")
    work = args.work or tempfile.mkdtemp(prefix="loratool-extract-bench-")
    try:
        base, tuned, size = make_models(work)
        print(f"model: {size / 1e9:.2f} GB float32 safetensors ({work}); {os.cpu_count()} cores", flush=True)
        ours = {}
        runs = [("loratool", "randomized"), ("mergekit", None), ("loratool", "exact")]
        for tool, method in runs:
            if tool == "loratool":
                out = os.path.join(work, f"lora_{method}")
                wall, rss, stdout, l0, l1 = measure([args.loratool, "extract", base, tuned, "--rank", "16", "--svd", method, "-o", out, "--json", "--force"])
                report = json.loads(stdout)
                errors = {l["module"]: l["relative_error"] for l in report["layers"]}
                ours[method] = errors
                print(f"loratool extract --rank 16 --svd {method}: {wall:.1f} s, peak RSS {rss / 2**20:.0f} MiB, load {l0:.2f} -> {l1:.2f}, "
                      f"{len(errors)} layers, worst relative error {max(errors.values()):.4g}", flush=True)
            elif mergekit:
                out = os.path.join(work, "lora_mergekit")
                wall, rss, _, l0, l1 = measure([mergekit, "--model", tuned, "--base-model", base, "--out-path", out, "--max-rank", "16"])
                errors = peft_errors(out, base, tuned)
                ours["mergekit"] = errors
                print(f"mergekit-extract-lora --max-rank 16: {wall:.1f} s, peak RSS {rss / 2**20:.0f} MiB, load {l0:.2f} -> {l1:.2f}, "
                      f"{len(errors)} layers, worst relative error {max(errors.values()):.4g}", flush=True)
            else:
                print("mergekit-extract-lora: not installed (not measured)", flush=True)
        if "mergekit" in ours:
            for method in ("randomized", "exact"):
                common = sorted(set(ours[method]) & set(ours["mergekit"]))
                gap = max(abs(ours[method][m] - ours["mergekit"][m]) for m in common)
                only = sorted(set(ours[method]) ^ set(ours["mergekit"]))
                print(f"per-layer relative error, loratool {method} vs mergekit on {len(common)} common layers: max |difference| {gap:.3g}"
                      + (f"; layers in one only: {only[:4]}" if only else ""), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
