"""Benchmark of `loratool extract` at scale (docs/PERFORMANCE.md, "extract at scale").

    $(scripts/ensure_venv.sh) scripts/bench_extract.py path/to/loratool [--work DIR] [--keep]

Writes a synthetic Llama-style model (hidden 1024, intermediate 2816, 10 layers, vocab 32000,
float32: 0.78 GB as safetensors with config.json) and a "fine-tune" of it (every Linear plus a
rank-16 change and 1e-4 noise, the final norm shifted), then times `loratool extract --rank 16`
with the exact and the randomized SVD, reporting wall time, peak RSS (getrusage of the child) and
the worst per-layer relative error; and mergekit's `mergekit-extract-lora` on the same input when
mergekit is importable (`pip install mergekit==0.1.5 --no-deps` plus its dependencies).
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


def measure(cmd: list) -> tuple:
    """Runs cmd; returns (wall seconds, peak RSS bytes of that child, stdout)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.time()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {err.read().strip()[-400:]}")
        return wall, usage.ru_maxrss * 1024, out.read()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("loratool")
    ap.add_argument("--work")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="loratool-extract-bench-")
    try:
        base, tuned, size = make_models(work)
        print(f"model: {size / 1e9:.2f} GB float32 safetensors ({work})")
        for method in ("randomized", "exact"):
            out = os.path.join(work, f"lora_{method}")
            wall, rss, stdout = measure([args.loratool, "extract", base, tuned, "--rank", "16", "--svd", method, "-o", out, "--json", "--force"])
            report = json.loads(stdout)
            worst = max(l["relative_error"] for l in report["layers"])
            print(f"loratool extract --rank 16 --svd {method}: {wall:.1f} s, peak RSS {rss / 2**20:.0f} MiB, "
                  f"{len(report['layers'])} layers, worst relative error {worst:.3g}")
        if shutil.which("mergekit-extract-lora"):
            out = os.path.join(work, "lora_mergekit")
            wall, rss, _ = measure(["mergekit-extract-lora", "--model", tuned, "--base-model", base, "--out-path", out, "--max-rank", "16"])
            print(f"mergekit-extract-lora --max-rank 16: {wall:.1f} s, peak RSS {rss / 2**20:.0f} MiB")
        else:
            print("mergekit-extract-lora: not installed (not measured)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
