#!/usr/bin/env python3
"""Benchmarks `loratool generate` against transformers' `generate` and a torch eager decode loop.

The model is MiniMind2-Small-sized (hidden 512, 8 layers, 8 heads, 2 kv heads, intermediate 1408,
vocab 6400, tied head), a seeded random `LlamaForCausalLM` saved as a Hugging Face directory
(safetensors, float32) in a temporary directory: the HF-era MiniMind layout that loratool, transformers
and torch all run. Every side decodes the same prompt ids greedily for the same number of new
tokens (no end-of-sequence stop), with the same number of threads; the generated ids are compared.

    $(scripts/ensure_venv.sh | tail -n 1) scripts/bench_generate.py .build/release/loratool \
        [--threads 2] [--rounds 3] [--new-tokens 128] [--markdown]

Timings (best round, rounds interleaved):
- loratool: `tokens_per_second` of `generate --json` (measured in-process, prefill included), and
  the whole process wall time (load included);
- transformers: `model.generate(do_sample=False, max_new_tokens=N)` wall time in-process;
- torch eager: prefill, then `model(next, past_key_values=cache)` + argmax per token, in-process.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_TOKENIZER = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "tokenizer.json")
PROMPT = ("LoRA adds a low-rank update to the frozen weights of a transformer; merging it folds the "
          "update into the weights so inference costs nothing extra. 你好，请介绍一下你自己。")


def build(work: str):
    """The model directory, the tokenizer directory (tokenizer.json only: no EOS, so nothing stops early), prompt ids."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from tokenizers import Tokenizer

    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=512, intermediate_size=1408, num_hidden_layers=8, num_attention_heads=8,
                      num_key_value_heads=2, vocab_size=6400, rms_norm_eps=1e-5, rope_theta=1e6,
                      max_position_embeddings=2048, tie_word_embeddings=True, attention_bias=False, mlp_bias=False)
    model = LlamaForCausalLM(cfg).eval()
    model_dir = os.path.join(work, "model")
    model.save_pretrained(model_dir, safe_serialization=True)
    tok_dir = os.path.join(work, "tokenizer")
    os.makedirs(tok_dir)
    if os.path.exists(SHARED_TOKENIZER):
        shutil.copy(SHARED_TOKENIZER, os.path.join(tok_dir, "tokenizer.json"))
    else:  # a fresh machine without the shared fixtures: a byte-level BPE trained here
        from tokenizers import models, pre_tokenizers, decoders, trainers
        t = Tokenizer(models.BPE())
        t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        t.decoder = decoders.ByteLevel()
        t.train_from_iterator([PROMPT] * 10, trainers.BpeTrainer(vocab_size=6400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        t.save(os.path.join(tok_dir, "tokenizer.json"))
    ids = Tokenizer.from_file(os.path.join(tok_dir, "tokenizer.json")).encode(PROMPT, add_special_tokens=False).ids
    return model, model_dir, tok_dir, ids


def time_transformers(model, ids, n):
    import torch
    inputs = torch.tensor([ids])
    with torch.no_grad():
        t = time.perf_counter()
        out = model.generate(inputs, attention_mask=torch.ones_like(inputs), do_sample=False, max_new_tokens=n,
                             min_new_tokens=n, eos_token_id=None, pad_token_id=0)
        seconds = time.perf_counter() - t
    return seconds, out[0, len(ids):].tolist()


def time_eager(model, ids, n):
    import torch
    from transformers import DynamicCache
    with torch.no_grad():
        t = time.perf_counter()
        cache = DynamicCache()
        out = model(torch.tensor([ids]), past_key_values=cache, use_cache=True)
        generated = []
        nxt = int(out.logits[0, -1].argmax())
        generated.append(nxt)
        for _ in range(n - 1):
            out = model(torch.tensor([[nxt]]), past_key_values=out.past_key_values, use_cache=True)
            nxt = int(out.logits[0, -1].argmax())
            generated.append(nxt)
        seconds = time.perf_counter() - t
    return seconds, generated


def time_loratool(loratool, model_dir, tok_dir, prompt_file, n, threads, sampling=("--temperature", "0")):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    cmd = [loratool, "generate", model_dir, "--tokenizer", tok_dir, "--raw", "--prompt-file", prompt_file,
           *sampling, "--max-tokens", str(n), "--json"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"loratool generate failed: {proc.stderr.strip()}")
    run = json.loads(proc.stdout)["runs"][0]
    seconds = run["prefill_seconds"] + run["decode_seconds"]
    return seconds, wall, run["ids"], run["prompt_ids"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("loratool")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    import warnings
    import torch
    from transformers.utils import logging as hf_logging
    warnings.filterwarnings("ignore")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    n = args.new_tokens
    with tempfile.TemporaryDirectory(prefix="loratool-bench-generate-") as work:
        model, model_dir, tok_dir, ids = build(work)
        prompt_file = os.path.join(work, "prompt.txt")
        with open(prompt_file, "w", encoding="utf-8") as f:
            f.write(PROMPT)
        time_transformers(model, ids, 4)  # warm-up
        best = {"lt": float("inf"), "lt_wall": float("inf"), "lt_sampled": float("inf"), "hf": float("inf"), "eager": float("inf")}
        outputs = {}
        for _ in range(args.rounds):
            s, wall, lt_ids, lt_prompt = time_loratool(args.loratool, model_dir, tok_dir, prompt_file, n, args.threads)
            best["lt"], best["lt_wall"] = min(best["lt"], s), min(best["lt_wall"], wall)
            s, _, sampled_ids, _ = time_loratool(args.loratool, model_dir, tok_dir, prompt_file, n, args.threads,
                                                 ("--temperature", "0.85", "--top-p", "0.85", "--seed", "1"))
            if len(sampled_ids) == n:
                best["lt_sampled"] = min(best["lt_sampled"], s)
            s, outputs["hf"] = time_transformers(model, ids, n)
            best["hf"] = min(best["hf"], s)
            s, outputs["eager"] = time_eager(model, ids, n)
            best["eager"] = min(best["eager"], s)
            outputs["lt"] = lt_ids
        if lt_prompt != ids:
            print("error: loratool's prompt ids differ from tokenizers'", file=sys.stderr)
            return 1
        same = sum(a == b for a, b in zip(outputs["lt"], outputs["hf"]))
        rate = {k: n / v for k, v in best.items()}
    rows = [
        ("loratool generate (in-process, prefill included)", best["lt"], rate["lt"]),
        ("loratool generate (whole process, load included)", best["lt_wall"], rate["lt_wall"]),
        ("loratool generate, sampled (T 0.85, top-p 0.85, in-process)", best["lt_sampled"], rate["lt_sampled"]),
        ("transformers generate(do_sample=False)", best["hf"], rate["hf"]),
        ("torch eager decode loop (KV cache)", best["eager"], rate["eager"]),
    ]
    title = (f"generate: MiniMind2-Small-sized model (hidden 512, 8 layers, float32), prompt {len(ids)} tokens, "
             f"{n} new tokens greedy, {args.threads} threads, best of {args.rounds}")
    if args.markdown:
        print(f"\n{title}\n\n| what | seconds | tokens/s |\n| --- | ---: | ---: |")
        for name, s, r in rows:
            print(f"| {name} | {s:.3f} | {r:.0f} |")
    else:
        print(f"\n{title}")
        for name, s, r in rows:
            print(f"  {name:<52} {s:8.3f} s  {r:8.0f} tok/s")
    print(f"  loratool vs transformers: {rate['lt'] / rate['hf']:.2f}x, vs torch eager: {rate['lt'] / rate['eager']:.2f}x; "
          f"greedy ids agree on {same}/{n} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
