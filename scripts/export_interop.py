"""Interop test of loratool's exports with the pinned transformers and gguf packages.

Usage (with the project venv, see scripts/ensure_venv.sh):
    $(scripts/ensure_venv.sh) scripts/export_interop.py [path/to/loratool] [--shared DIR] [--keep]

For every model family (MiniMind2 v1 .pth, MiniMind2 HF-era with a PEFT adapter, minimind-3 dense
and MoE when loratool runs them), merged with its adapter:
* Hugging Face directory (`merge -o DIR --format hf`): transformers' AutoModelForCausalLM loads it
  WITHOUT trust_remote_code; its float32 logits equal loratool's own logits of that directory (1e-4)
  and torch's adapter-wrapped logits of the fixture (float32 export: 1e-4 relative to the logit scale;
  float16 export: verify's dtype rule); AutoTokenizer gives the source tokenizer's ids on mixed
  Chinese/English/code/digit texts; a sharded export (--max-shard-size) loads the same.
* GGUF (`merge -o X.gguf`): see gguf_checks.
Prints one line per check and "N passed, M failed"; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SAMPLE_TEXTS = [
    "Hello, world! 你好，世界。",
    "def add(a, b):\n    return a + b  # 加法\n",
    "MiniMind2 在 2025 年发布了 26M 参数的模型，速度 1234.5 tokens/s。",
    "  leading spaces, tabs\tand\nnewlines\n\n  end ",
    "数字 0123456789 和 3.14159, 1,000,000 以及 x**2 + y**2 == z**2",
    "<|im_start|>user\n讲个笑话<|im_end|>\n<|im_start|>assistant\n",
    "Emoji 🙂 and mixed中英文mixed text with café, naïve, Ünïcödé.",
]

# name, base, adapter, tokens/logits dir, extra merge args
FAMILIES = [
    ("minimind-v1", "v1_tiny/base.pth", "v1_tiny/lora.pth", "v1_tiny"),
    ("minimind2-hf", "hf_tiny_peft/base.pth", "hf_tiny_peft/adapter", "hf_tiny_peft"),
    ("minimind3", "mm3_tiny/base.pth", "mm3_tiny/lora.pth", "mm3_tiny"),
    ("minimind3-moe", "mm3_tiny_moe/base.pth", "mm3_tiny_moe/lora.pth", "mm3_tiny_moe"),
]


class CheckFailed(Exception):
    pass


class Runner:
    def __init__(self, loratool: str, workdir: str):
        self.loratool = loratool
        self.workdir = workdir
        self.passed = 0
        self.failed = 0

    def check(self, name: str, fn) -> bool:
        try:
            detail = fn()
        except CheckFailed as e:
            self.failed += 1
            print(f"FAIL {name}: {e}", flush=True)
            return False
        except Exception as e:
            self.failed += 1
            last = traceback.format_exception_only(type(e), e)[-1].strip()
            print(f"FAIL {name}: {last}", flush=True)
            return False
        self.passed += 1
        print(f"PASS {name}" + (f" ({detail})" if detail else ""), flush=True)
        return True

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.loratool, *args], cwd=self.workdir, capture_output=True, text=True, timeout=600)
        if ok and proc.returncode != 0:
            raise CheckFailed(f"loratool {' '.join(args[:1])} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
        return proc

    def out(self, name: str) -> str:
        return os.path.join(self.workdir, name)


def our_logits(r: Runner, model: str, tokens: str, name: str) -> np.ndarray:
    path = r.out(name + ".npy")
    r.run("logits", model, "--tokens", tokens, "-o", path)
    return np.load(path)


def verify_tolerance(dtype: str, scale: float) -> float:
    eps = {"float32": 2.0 ** -23, "float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}[dtype]
    return max(4 * eps, 1e-4) * max(1.0, scale)


def family_runs(r: Runner, base: str) -> bool:
    """Whether loratool can run this family's forward pass (minimind-3 needs q/k norm support)."""
    proc = r.run("logits", base, "--tokens", "1,2,3", "--top", "1", ok=False)
    return proc.returncode == 0


def hf_checks(r: Runner, shared: str, family, dtype: str, shard: str | None = None) -> None:
    from transformers import AutoModelForCausalLM

    name, base, adapter, data = family
    base, adapter = os.path.join(shared, base), os.path.join(shared, adapter)
    tokens = os.path.join(shared, data, "tokens.npy")
    label = f"hf {name} {dtype}" + (f" shards<{shard}" if shard else "")
    out = r.out(f"{name}-{dtype}-{shard or 'one'}-hf")

    def export():
        args = ["merge", base, adapter, "-o", out, "--format", "hf", "--dtype", dtype, "--tokenizer", shared]
        if shard:
            args += ["--max-shard-size", shard]
        r.run(*args)
        files = sorted(os.listdir(out))
        if shard and "model.safetensors.index.json" not in files:
            raise CheckFailed(f"no shard index: {files}")
        if not shard and "model.safetensors" not in files:
            raise CheckFailed(f"no model.safetensors: {files}")
        config = json.load(open(os.path.join(out, "config.json")))
        return f"{config['architectures'][0]}, {len(files)} files"

    if not r.check(f"{label}: export", export):
        return

    def load_and_compare():
        model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)  # no trust_remote_code
        model.eval()
        ids = torch.from_numpy(np.load(tokens)).long().reshape(1, -1)
        with torch.no_grad():
            theirs = model(ids).logits[0].float().numpy()
        ours = our_logits(r, out, tokens, f"{name}-{dtype}-{shard}-ours")
        d_ours = float(np.abs(theirs - ours).max())
        if d_ours > 1e-4:
            raise CheckFailed(f"transformers vs loratool on the exported directory: max |Δ| {d_ours:.3g} > 1e-4")
        wrapped = np.load(os.path.join(shared, data, "logits_wrapped.npy"))
        scale = float(np.abs(wrapped).max())
        d_ref = float(np.abs(theirs - wrapped).max())
        tol = verify_tolerance(dtype, scale)
        if d_ref > tol:
            raise CheckFailed(f"transformers on the export vs torch's adapter-wrapped logits: max |Δ| {d_ref:.3g} > {tol:.3g}")
        tied = model.config.tie_word_embeddings
        return f"{type(model).__name__}, tied={tied}, vs loratool {d_ours:.2g}, vs wrapped {d_ref:.2g} (tol {tol:.2g})"

    r.check(f"{label}: transformers loads it without remote code, logits", load_and_compare)

    if shard or dtype != "float32":
        return

    def tokenizer_round_trip():
        from tokenizers import Tokenizer
        from transformers import AutoTokenizer

        source = Tokenizer.from_file(os.path.join(shared, "tokenizer.json"))
        loaded = AutoTokenizer.from_pretrained(out)
        for text in SAMPLE_TEXTS:
            want = source.encode(text, add_special_tokens=False).ids
            got = loaded.encode(text, add_special_tokens=False)
            if want != got:
                raise CheckFailed(f"ids differ for {text!r}: {got[:12]} vs {want[:12]}")
            if loaded.decode(got) != source.decode(want, skip_special_tokens=False):
                raise CheckFailed(f"decode differs for {text!r}")
        if loaded.chat_template is None:
            raise CheckFailed("no chat template")
        messages = [{"role": "user", "content": "你好"}]
        text = loaded.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return f"{len(SAMPLE_TEXTS)} texts, bos={loaded.bos_token} eos={loaded.eos_token}, template {len(text)} chars"

    r.check(f"{label}: AutoTokenizer round-trips", tokenizer_round_trip)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("loratool", nargs="?", default=os.environ.get("LORATOOL", os.path.join(ROOT, ".build/debug/loratool")))
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(ROOT), "shared/fixtures"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not os.path.isdir(args.shared):
        print(f"SKIP export interop: no shared fixtures at {args.shared}")
        return 0
    workdir = tempfile.mkdtemp(prefix="loratool-export-")
    r = Runner(os.path.abspath(args.loratool), workdir)
    try:
        for family in FAMILIES:
            base = os.path.join(args.shared, family[1])
            if not family_runs(r, base):
                print(f"SKIP {family[0]}: loratool cannot run this family's forward pass yet")
                continue
            hf_checks(r, args.shared, family, "float32")
            hf_checks(r, args.shared, family, "float16")
            if family[0] == "minimind2-hf":
                hf_checks(r, args.shared, family, "float32", shard="300KB")
    finally:
        if args.keep:
            print(f"outputs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
