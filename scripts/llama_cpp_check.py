"""Runs loratool's GGUF files in llama.cpp and compares its logits (and tokenization) with loratool's.

Usage (with the project venv, see scripts/ensure_venv.sh):
    $(scripts/ensure_venv.sh) scripts/llama_cpp_check.py [path/to/loratool] [--shared DIR] [--tolerance 5e-2]

llama.cpp comes from `../shared/tools/llama_cpp` (llama-cpp-python 0.3.36 prebuilt; its env.sh unpacks
it into ~/.cache). When that copy is absent the script prints "SKIP ..." and exits 0: nothing in the
project depends on it. (Building llama-cpp-python 0.3.36 from its sdist instead takes ~20 minutes
on 2 cores; point LLAMA_CPP_LIB_PATH and PYTHONPATH at such a build and it is used.)

For every model family (MiniMind2 v1 .pth, MiniMind2 HF-era + PEFT, minimind-3 dense and MoE, and the
project's Qwen2 fixture with q/k/v biases, written without a tokenizer as llama.cpp's `no_vocab`), merged
with its adapter to GGUF f16 (and f32, q8_0): llama.cpp's logits on the fixture tokens against
loratool's own logits of the same GGUF (`loratool logits model.gguf`) and torch's adapter-wrapped
logits; llama.cpp's tokenizer (vocab-only load) against `tokenizers` on mixed texts.
Prints one line per check and "N passed, M failed"; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from export_interop import FAMILIES, SAMPLE_TEXTS, CheckFailed, Runner, fx, tokenizer_args, tokens_file  # noqa: E402


def llama_cpp_environment(shared_tools: str) -> dict | None:
    """The environment variables that make `llama_cpp` importable, or None when no copy is found."""
    if os.environ.get("LLAMA_CPP_LIB_PATH") and os.environ.get("PYTHONPATH"):
        return {}
    env_sh = os.path.join(shared_tools, "llama_cpp", "env.sh")
    if not os.path.exists(env_sh):
        return None
    out = subprocess.run(["bash", env_sh], capture_output=True, text=True, check=True).stdout
    env = {}
    for part in out.replace("export ", "").split():
        key, _, value = part.partition("=")
        value = value.strip("'")
        value = value.replace("${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}", "").replace("${PYTHONPATH:+:$PYTHONPATH}", "")
        env[key] = value.strip("'")
    return env


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("loratool", nargs="?", default=os.environ.get("LORATOOL", os.path.join(ROOT, ".build/debug/loratool")))
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(ROOT), "shared"))
    parser.add_argument("--tolerance", type=float, default=5e-2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if not args.child:
        env = llama_cpp_environment(os.path.join(args.shared, "tools"))
        if env is None:
            print(f"SKIP llama.cpp check: no prebuilt llama.cpp at {os.path.join(args.shared, 'tools/llama_cpp')} "
                  "(and LLAMA_CPP_LIB_PATH/PYTHONPATH not set)")
            return 0
        # Re-run in a child whose environment has the library path set before the bindings load.
        child_env = dict(os.environ)
        for key, value in env.items():
            child_env[key] = value + ((":" + os.environ[key]) if os.environ.get(key) and key != "LLAMA_CPP_LIB_PATH" else "")
        return subprocess.run([sys.executable, __file__, args.loratool, "--shared", args.shared, "--tolerance",
                               str(args.tolerance), "--child"], env=child_env).returncode

    from llama_cpp import Llama
    fixtures = os.path.join(args.shared, "fixtures")
    workdir = tempfile.mkdtemp(prefix="loratool-llama-cpp-")
    r = Runner(os.path.abspath(args.loratool), workdir)
    rows = []
    try:
        for family in FAMILIES:
            name, base, adapter, data = family
            base_path, adapter_path = fx(fixtures, base), fx(fixtures, adapter)
            tokens_path = tokens_file(fixtures, family)
            tokens = [int(t) for t in np.load(tokens_path).reshape(-1)]
            wrapped = np.load(os.path.join(fx(fixtures, data), "logits_wrapped.npy"))
            for gtype in ("f16", "f32", "q8_0"):
                out = r.out(f"{name}-{gtype}.gguf")

                def run_family(out=out, gtype=gtype, name=name, family=family, base_path=base_path, adapter_path=adapter_path,
                               tokens_path=tokens_path, tokens=tokens, wrapped=wrapped):
                    r.run("merge", base_path, adapter_path, "-o", out, "--dtype", gtype, *tokenizer_args(fixtures, family))
                    ours_path = r.out(f"{name}-{gtype}-ours.npy")
                    r.run("logits", out, "--tokens", tokens_path, "-o", ours_path)
                    ours = np.load(ours_path)
                    model = Llama(model_path=out, logits_all=True, verbose=False, n_ctx=max(64, len(tokens) + 8), n_threads=2)
                    model.eval(tokens)
                    theirs = np.array(model.scores[: len(tokens)], dtype=np.float32)
                    d_ours = float(np.abs(theirs - ours).max())
                    d_torch = float(np.abs(theirs - wrapped).max())
                    rows.append((name, gtype, d_ours, d_torch))
                    limit = args.tolerance if gtype != "q8_0" else max(args.tolerance, 4 / 127 * max(1.0, float(np.abs(ours).max())))
                    if d_ours > limit:
                        raise CheckFailed(f"llama.cpp vs loratool on the GGUF: max |Δ| {d_ours:.3g} > {limit:.3g}")
                    return f"vs loratool {d_ours:.2g}, vs torch wrapped {d_torch:.2g} (limit {limit:.2g})"

                r.check(f"llama.cpp {name} {gtype}: logits", run_family)

            if name == "minimind-v1":
                def tokenize(out=r.out(f"{name}-f16.gguf")):
                    from tokenizers import Tokenizer
                    source = Tokenizer.from_file(os.path.join(fixtures, "tokenizer.json"))
                    vocab_only = Llama(model_path=out, vocab_only=True, verbose=False)
                    for text in SAMPLE_TEXTS:
                        want = source.encode(text, add_special_tokens=False).ids
                        got = vocab_only.tokenize(text.encode("utf-8"), add_bos=False, special=True)
                        if got != want:
                            raise CheckFailed(f"llama.cpp splits {text!r} differently: {got[:16]} vs {want[:16]}")
                    return f"{len(SAMPLE_TEXTS)} mixed Chinese/English/code/digit texts, tokenizer.ggml.pre = gpt-2"

                r.check("llama.cpp tokenizer = tokenizers", tokenize)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if rows:
        print("\n| family | GGUF type | llama.cpp vs loratool | llama.cpp vs torch (adapter-wrapped) |")
        print("| --- | --- | --- | --- |")
        for name, gtype, d_ours, d_torch in rows:
            print(f"| {name} | {gtype} | {d_ours:.2e} | {d_torch:.2e} |")
    print(f"{r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
