"""Torch eager timings of the reference MiniMind model, for scripts/bench.py.

Usage: python bench_torch.py BASE.pth THREADS REPEATS PREFILL_LENS DECODE_TOKENS [SAVE_DIR]
(PREFILL_LENS comma-separated). Prints one JSON object: load seconds, best prefill seconds per
length, best seconds to greedily decode DECODE_TOKENS new tokens after an 8-token prompt with a
KV cache (prefill included). With SAVE_DIR, writes torch_logits<N>.npy for each length.
Token ids are the deterministic sequence bench.py also gives loratool.
"""

import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import minimind_ref as ref  # noqa: E402
from bench import token_ids  # noqa: E402


@torch.no_grad()
def main() -> None:
    base, threads, repeats, lens, decode = sys.argv[1:6]
    save_dir = sys.argv[6] if len(sys.argv) > 6 else None
    torch.set_num_threads(int(threads))
    repeats = int(repeats)
    t0 = time.perf_counter()
    sd = torch.load(base, weights_only=True)
    cfg = ref.config_from_state_dict(sd, n_heads=8)
    model = ref.load_model(sd, cfg, max_seq_len=1024)
    load = time.perf_counter() - t0
    result = {"threads": torch.get_num_threads(), "load_s": load, "prefill_s": {}}
    for n in [int(x) for x in lens.split(",")]:
        toks = torch.tensor([token_ids(n)])
        model(toks)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            model(toks)
            best = min(best, time.perf_counter() - t)
        result["prefill_s"][str(n)] = best
        if save_dir:
            import numpy as np

            np.save(os.path.join(save_dir, f"torch_logits{n}.npy"), model(toks)[0][0].numpy())
    n_new = int(decode)
    prompt = token_ids(8)
    ref.generate_greedy(model, prompt, 4)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        ref.generate_greedy(model, prompt, n_new)
        best = min(best, time.perf_counter() - t)
    result["decode_prompt"] = len(prompt)
    result["decode_new"] = n_new
    result["decode_s"] = best
    print(json.dumps(result))


if __name__ == "__main__":
    main()
