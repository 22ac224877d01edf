"""Interop checks of loratool's adapter algebra against real PEFT 0.21.2 and torch.

Run from scripts/interop.py (`run_checks(runner, shared, work)`), so `make test` and CI run them.

* merge of PEFT DoRA, modules_to_save and embedding adapters (Tests/Fixtures/algebra), and of a
  modules_to_save lm_head on a base storing its tied head once, equals PEFT's merge_and_unload()
  on the same files within 1e-5 (float32);
* the wrapped (unmerged) forward of each (`logits --lora`) equals PeftModel's forward within 1e-5,
  and `verify` passes PEFT's merge_and_unload and our in-memory merge, and fails wrong merges;
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


# Each fixture adapter and the base directory it was trained on.
VARIANTS = {"dora": "base", "mts": "base", "emb": "base", "tied_mts": "tied_base"}


def algebra_model(base_name: str = "base"):
    """A fixture base (Tests/Fixtures/algebra/base: lm_head untied; tied_base: tied, stored once) as a torch module."""
    tied = base_name == "tied_base"
    model = alg.base_model(tied)
    sd = load_st(os.path.join(FIX, base_name, "model.safetensors"))
    if tied:
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    model.load_state_dict(sd)
    return model.eval()


def peft_merged(adapter_dir: str) -> dict:
    from peft import PeftModel
    model = PeftModel.from_pretrained(algebra_model(VARIANTS[os.path.basename(adapter_dir)]), adapter_dir)
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
    for variant, variant_base in VARIANTS.items():
        def merge_check(variant=variant, variant_base=variant_base):
            vbase = dict(load_st(os.path.join(FIX, variant_base, "model.safetensors")))
            vbase.setdefault("lm_head.weight", vbase["model.embed_tokens.weight"])
            r.run("merge", os.path.join(FIX, variant_base), os.path.join(FIX, variant), "-o", out(f"{variant}.safetensors"))
            got = load_st(out(f"{variant}.safetensors"))
            want = peft_merged(os.path.join(FIX, variant))
            if set(got) != set(want):
                raise CheckFailed(f"tensor names differ: {sorted(set(got) ^ set(want))[:5]}")
            worst, changed = 0.0, 0
            for k, w in want.items():
                worst = max(worst, max_rel(got[k], w))
                changed += int(not torch.equal(w, vbase[k]))
            if worst > 1e-5:
                raise CheckFailed(f"max relative difference {worst:.3g} from PEFT's merge_and_unload")
            return f"{changed} tensors changed by PEFT, max rel diff {worst:.2g}"

        r.check(f"merge PEFT {variant} adapter == PEFT merge_and_unload", merge_check)

    # ---- signed scales and unmerge
    def f16_step(x: torch.Tensor) -> torch.Tensor:
        x = x.float().abs()
        return torch.where(x < 2 ** -14, torch.full_like(x, 2.0 ** -24),
                           2.0 ** (torch.floor(torch.log2(x.clamp(min=2 ** -30))) - 10))

    def negative_scale_check():
        hf = os.path.join(shared, "hf_tiny_peft")
        r.run("merge", os.path.join(hf, "base.pth"), os.path.join(hf, "adapter"), "--scale", "-1", "-o", out("neg.safetensors"))
        got = load_st(out("neg.safetensors"))
        base_sd = torch.load(os.path.join(hf, "base.pth"), weights_only=True)
        adapter = load_st(os.path.join(hf, "adapter", "adapter_model.safetensors"))
        cfg = json.load(open(os.path.join(hf, "adapter", "adapter_config.json")))
        scale = cfg["lora_alpha"] / cfg["r"]
        worst, n = 0.0, 0
        for key, a in adapter.items():
            if ".lora_A." not in key:
                continue
            module = key[len("base_model.model."):].split(".lora_A.")[0]
            b = adapter[key.replace(".lora_A.", ".lora_B.")]
            want = base_sd[module + ".weight"].float() - scale * (b.float() @ a.float())
            worst = max(worst, max_rel(got[module + ".weight"], want))
            n += 1
        if worst > 1e-5:
            raise CheckFailed(f"max relative difference {worst:.3g} from torch's W - s*B@A")
        return f"{n} weights equal torch's W - {scale:g}*B@A (max rel {worst:.2g})"

    r.check("merge --scale -1 (value as its own argument) == W - s*B@A", negative_scale_check)

    def unmerge_check():
        v1 = os.path.join(shared, "v1_tiny")
        r.run("merge", os.path.join(v1, "base.pth"), os.path.join(v1, "lora.pth"), "-o", out("m16.pth"))
        r.run("unmerge", out("m16.pth"), os.path.join(v1, "lora.pth"), "-o", out("u16.pth"))
        r.run("merge", out("m16.pth"), os.path.join(v1, "lora.pth"), "--scale=-1", "-o", out("u16b.pth"))
        base_sd = torch.load(os.path.join(v1, "base.pth"), weights_only=True)
        merged = torch.load(out("m16.pth"), weights_only=True)
        restored = torch.load(out("u16.pth"), weights_only=True)
        again = torch.load(out("u16b.pth"), weights_only=True)
        worst, exact, touched = 0.0, 0, 0
        for k, w in base_sd.items():
            if not torch.equal(restored[k], again[k]):
                raise CheckFailed(f"{k}: unmerge and merge --scale=-1 differ")
            if torch.equal(w, merged[k]):
                if not torch.equal(w, restored[k]):
                    raise CheckFailed(f"{k}: untouched tensor changed")
                continue
            touched += 1
            diff = (restored[k].float() - w.float()).abs()
            step = torch.maximum(f16_step(merged[k]), f16_step(w))
            worst = max(worst, (diff / step).max().item())
            exact += int((diff == 0).sum())
        if worst > 1:
            raise CheckFailed(f"restored weights up to {worst:.3g} float16 steps from the base")
        return f"{touched} float16 weights restored within {worst:g} step (at the merged magnitude); {exact} elements exact"

    r.check("unmerge float16 merge restores the base within one float16 step", unmerge_check)

    # ---- combine against PEFT's add_weighted_adapter
    from peft import LoraConfig, PeftModel, get_peft_model
    from peft.utils import get_peft_model_state_dict

    def make_adapter(name, seed, **kw):
        torch.manual_seed(seed)
        m = get_peft_model(algebra_model(), LoraConfig(lora_dropout=0.0, **kw))
        with torch.no_grad():
            for pname, p in m.named_parameters():
                if "lora_B" in pname or "lora_embedding_B" in pname:
                    p.normal_(0, 0.1)
                elif "lora_embedding_A" in pname:
                    p.normal_(0, 0.3)
        m.save_pretrained(out(name))
        return out(name)

    adapters = {
        "ca": make_adapter("ca", 71, r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "embed_tokens"]),
        "cb": make_adapter("cb", 72, r=4, lora_alpha=4, target_modules=["q_proj", "o_proj", "embed_tokens"]),
        "cc": make_adapter("cc", 73, r=2, lora_alpha=6, target_modules=["q_proj", "down_proj"]),
    }

    def peft_combined(names, weights, method, svd_rank=None):
        model = PeftModel.from_pretrained(algebra_model(), adapters[names[0]], adapter_name=names[0])
        for n in names[1:]:
            model.load_adapter(adapters[n], adapter_name=n)
        model.add_weighted_adapter(names, weights, "combined", combination_type=method, svd_rank=svd_rank)
        return get_peft_model_state_dict(model, adapter_name="combined"), model.peft_config["combined"]

    def pairs_of(sd):
        got = {}
        for k, v in sd.items():
            for half in ("lora_A.weight", "lora_B.weight", "lora_embedding_A", "lora_embedding_B"):
                if k.endswith("." + half):
                    got.setdefault(k[: -len(half) - 1], {})[half[5] if half.startswith("lora_") and len(half) > 6 and half[5] in "AB" else half[-1]] = v
        return got

    def delta(p):
        return p["B"].double() @ p["A"].double()

    cases = [(["ca", "cb"], [0.7, -0.4], "linear", None), (["ca", "cb", "cc"], [0.7, -0.4, 1.3], "cat", None),
             (["ca", "cb", "cc"], [0.7, -0.4, 1.3], "svd", None), (["ca", "cb"], [1.0, 0.5], "svd", 3)]
    for names, weights, method, svd_rank in cases:
        def combine_check(names=names, weights=weights, method=method, svd_rank=svd_rank):
            dst = out(f"comb_{method}_{len(names)}_{svd_rank}")
            args = ["combine", *[adapters[n] for n in names], "--weights", ",".join(str(w) for w in weights), "--method", method, "-o", dst]
            if svd_rank:
                args += ["--rank", str(svd_rank)]
            r.run(*args)
            want_sd, want_cfg = peft_combined(names, weights, method, svd_rank)
            got_sd = load_st(os.path.join(dst, "adapter_model.safetensors"))
            got_cfg = json.load(open(os.path.join(dst, "adapter_config.json")))
            want, got = pairs_of(want_sd), pairs_of(got_sd)
            if set(want) != set(got):
                raise CheckFailed(f"modules differ: {sorted(set(want) ^ set(got))[:4]}")
            want_scale = want_cfg.lora_alpha / want_cfg.r
            got_scale = got_cfg["lora_alpha"] / got_cfg["r"]
            worst, worst_sv = 0.0, 0.0
            for module, p in want.items():
                q = got[module]
                if method in ("linear", "cat"):
                    for h in "AB":
                        if p[h].shape != q[h].shape:
                            raise CheckFailed(f"{module}.{h}: shape {tuple(q[h].shape)}, PEFT {tuple(p[h].shape)}")
                        worst = max(worst, (p[h] - q[h]).abs().max().item())
                else:
                    dw, dg = delta(p) * want_scale, delta(q) * got_scale
                    sw = torch.linalg.svdvals(dw)[: p["A"].shape[0]]
                    sg = torch.linalg.svdvals(dg)[: q["A"].shape[0]]
                    worst_sv = max(worst_sv, ((sw - sg).abs() / sw.max()).max().item())
                    worst = max(worst, (torch.linalg.norm(dw - dg) / torch.linalg.norm(dw)).item())
            if method in ("linear", "cat") and worst > 1e-6:
                raise CheckFailed(f"A/B differ from PEFT's by up to {worst:.3g}")
            if method == "svd" and (worst > 1e-4 or worst_sv > 1e-5):
                raise CheckFailed(f"merged delta {worst:.3g} relative from PEFT's, singular values {worst_sv:.3g}")
            if abs(got_scale - want_scale) > 1e-12:
                raise CheckFailed(f"scale {got_scale} but PEFT's combined adapter has {want_scale}")
            what = f"max |A/B diff| {worst:.2g}" if method != "svd" else f"delta rel {worst:.2g}, singular values {worst_sv:.2g}"
            return f"{len(want)} modules, {what}"

        r.check(f"combine {method} {'+'.join(names)} {weights}{' rank ' + str(svd_rank) if svd_rank else ''} == PEFT add_weighted_adapter", combine_check)

    # ---- extract against torch.linalg.svd's optimal rank-r error (Eckart-Young)
    tuned = {k: v.clone() for k, v in base.items()}
    g = torch.Generator().manual_seed(91)
    changed_linears = []
    for k in sorted(tuned):
        if k.endswith(("q_proj.weight", "o_proj.weight", "down_proj.weight", "lm_head.weight")):
            w = tuned[k]
            m, n = w.shape
            u, _ = torch.linalg.qr(torch.randn(m, min(m, n), generator=g))
            v, _ = torch.linalg.qr(torch.randn(n, min(m, n), generator=g))
            sigma = 0.3 * 0.7 ** torch.arange(min(m, n), dtype=torch.float32)
            tuned[k] = w + (u * sigma) @ v.T
            changed_linears.append(k)
    tuned["model.norm.weight"] = tuned["model.norm.weight"] + 0.01
    os.makedirs(out("tuned"), exist_ok=True)
    from safetensors.torch import save_file
    save_file(tuned, out("tuned/model.safetensors"))
    shutil_copy = __import__("shutil").copy
    shutil_copy(os.path.join(base_dir, "config.json"), out("tuned/config.json"))

    def optimal(k, rank):
        d = (tuned[k].double() - base[k].double())
        s = torch.linalg.svdvals(d)
        return (s[rank:] ** 2).sum().sqrt().item() / torch.linalg.norm(d).item(), s

    def extracted_errors(adapter_dir):
        from peft import PeftModel
        merged = PeftModel.from_pretrained(algebra_model(), adapter_dir).merge_and_unload().state_dict()
        errs = {}
        for k in changed_linears:
            d = tuned[k].double() - base[k].double()
            errs[k] = (torch.linalg.norm(merged[k].double() - tuned[k].double()) / torch.linalg.norm(d)).item()
        return errs, merged

    for svd_method in ("exact", "randomized"):
        def extract_check(svd_method=svd_method):
            dst = out(f"extract_{svd_method}")
            report = json.loads(r.run("extract", base_dir, out("tuned"), "--rank", "4", "--svd", svd_method, "-o", dst, "--json"))
            errs, merged = extracted_errors(dst)
            worst = 0.0
            for k in changed_linears:
                best, _ = optimal(k, 4)
                worst = max(worst, abs(errs[k] - best))
            if worst > 1e-3:
                raise CheckFailed(f"relative error up to {worst:.3g} above the optimal rank-4 error")
            if not torch.equal(merged["model.norm.weight"], tuned["model.norm.weight"]):
                raise CheckFailed("model.norm (modules_to_save) differs from the fine-tune")
            reported = {l["tensor"]: l["relative_error"] for l in report["layers"]}
            off = max(abs(reported[k] - errs[k]) for k in changed_linears)
            if off > 1e-4:
                raise CheckFailed(f"reported relative errors differ from PEFT-merged ones by {off:.3g}")
            return f"{len(changed_linears)} layers at rank 4, max excess over optimal {worst:.2g}; norm saved whole; reports agree within {off:.1g}"

        r.check(f"extract --rank 4 --svd {svd_method} reaches torch's optimal rank-4 error (PEFT-merged)", extract_check)

    def extract_energy_check():
        dst = out("extract_energy.pth")
        report = json.loads(r.run("extract", base_dir, out("tuned"), "--energy", "0.9", "--linear-only", "-o", dst, "--json"))
        sd = torch.load(dst, weights_only=True)
        if any(".lora." not in k for k in sd):
            raise CheckFailed("a non-LoRA key in the --linear-only MiniMind file")
        for k in changed_linears:
            module = k[: -len(".weight")]
            a, b = sd[module + ".lora.A.weight"], sd[module + ".lora.B.weight"]
            _, s = optimal(k, 0)
            energy = (s ** 2).cumsum(0) / (s ** 2).sum()
            want = int((energy < 0.9 - 1e-6).sum().item()) + 1
            if a.shape[0] != want:
                raise CheckFailed(f"{module}: rank {a.shape[0]}, torch's smallest rank keeping 0.9 is {want}")
            best, _ = optimal(k, want)
            err = (torch.linalg.norm(base[k].double() + b.double() @ a.double() - tuned[k].double()) / torch.linalg.norm(tuned[k].double() - base[k].double())).item()
            if abs(err - best) > 1e-3:
                raise CheckFailed(f"{module}: error {err:.4g}, optimal {best:.4g}")
        skipped = [o["tensor"] for o in report["other_changed"] if o["action"] == "skipped"]
        if skipped != ["model.norm.weight"]:
            raise CheckFailed(f"--linear-only reported {skipped}, expected model.norm.weight")
        return f"per-layer ranks {[l['rank'] for l in report['layers']]} minimal for 0.9 energy; norm reported and skipped"

    r.check("extract --energy 0.9 --linear-only -> MiniMind .pth: minimal ranks, optimal errors", extract_energy_check)

    # ---- adapter conversion both ways
    def minimind_to_peft_check():
        import numpy as np
        from peft import PeftModel
        v1 = os.path.join(shared, "v1_tiny")
        dst = out("v1_peft")
        r.run("convert", os.path.join(v1, "lora.pth"), "-o", dst, "--format", "peft")
        base_sd = torch.load(os.path.join(v1, "base.pth"), weights_only=True)
        model = ref.load_model(base_sd, ref.config_from_state_dict(base_sd, n_heads=8))
        peft_model = PeftModel.from_pretrained(model, dst).eval()
        tokens = torch.from_numpy(np.load(os.path.join(v1, "tokens.npy"))).reshape(1, -1)
        with torch.no_grad():
            got = peft_model(tokens)[0][0]
        want = torch.from_numpy(np.load(os.path.join(v1, "logits_wrapped.npy")))
        base_logits = torch.from_numpy(np.load(os.path.join(v1, "logits_base.npy")))
        diff = (got - want).abs().max().item()
        effect = (want - base_logits).abs().max().item()
        if diff > 1e-4:
            raise CheckFailed(f"PEFT-loaded logits differ from MiniMind's wrapped model by {diff:.3g}")
        cfg = json.load(open(os.path.join(dst, "adapter_config.json")))
        if cfg["lora_alpha"] / cfg["r"] != 1:
            raise CheckFailed(f"scale {cfg['lora_alpha']}/{cfg['r']} is not MiniMind's 1")
        return f"PeftModel.from_pretrained logits within {diff:.2g} of logits_wrapped.npy (adapter moves them by {effect:.2g})"

    r.check("convert MiniMind lora.pth -> PEFT dir loads in PEFT with the wrapped model's logits", minimind_to_peft_check)

    def peft_to_minimind_check():
        hf = os.path.join(shared, "hf_tiny_peft")
        r.run("convert", os.path.join(hf, "adapter"), "-o", out("hf_lora.pth"))
        sd = torch.load(out("hf_lora.pth"), weights_only=True)
        if not sd or any(not k.endswith((".lora.A.weight", ".lora.B.weight")) for k in sd):
            raise CheckFailed(f"keys are not MiniMind's <module>.lora.A/B.weight: {list(sd)[:3]}")
        r.run("merge", os.path.join(hf, "base.pth"), out("hf_lora.pth"), "-o", out("via_minimind.safetensors"))
        r.run("merge", os.path.join(hf, "base.pth"), os.path.join(hf, "adapter"), "-o", out("via_peft.safetensors"))
        a, b = load_st(out("via_minimind.safetensors")), load_st(out("via_peft.safetensors"))
        worst = max(max_rel(a[k], b[k]) for k in b)
        if worst > 1e-6:
            raise CheckFailed(f"merges differ by {worst:.3g} relative")
        return f"{len(sd) // 2} layers (scale 2 folded into B); merged weights equal the PEFT adapter's merge within {worst:.2g}"

    r.check("convert PEFT dir -> MiniMind .pth merges to the same weights", peft_to_minimind_check)

    # ---- wrapped (unmerged) forward of every delta kind: logits equal PEFT's forward; verify
    # passes PEFT's merge and our in-memory merge, and fails wrong merges.
    tokens = alg.TOKENS
    for variant, variant_base in VARIANTS.items():
        vdir = os.path.join(FIX, variant_base)

        def forward_check(variant=variant, variant_base=variant_base, vdir=vdir):
            import numpy as np
            from peft import PeftModel
            r.run("logits", vdir, "--lora", os.path.join(FIX, variant), "--tokens", ",".join(map(str, tokens)), "-o", out(f"{variant}_logits.npy"))
            got = torch.from_numpy(np.load(out(f"{variant}_logits.npy")))
            model = PeftModel.from_pretrained(algebra_model(variant_base), os.path.join(FIX, variant)).eval()
            with torch.no_grad():
                want = model(torch.tensor([tokens]))[0][0]
                plain = algebra_model(variant_base)(torch.tensor([tokens]))[0][0]
            stored = torch.from_numpy(np.load(os.path.join(FIX, f"{variant}.logits.npy")))
            if not torch.equal(stored, want):
                raise CheckFailed(f"{variant}.logits.npy is not this PEFT's forward (rerun make_fixtures.py)")
            diff = (got - want).abs().max().item()
            gate = 1e-5 * max(1.0, want.abs().max().item())
            if diff > gate:
                raise CheckFailed(f"wrapped {variant} logits differ from PEFT's forward by {diff:.3g} (gate {gate:.2g})")
            return f"max |Δlogit| {diff:.2g} against PeftModel's forward (the adapter moves them by {(want - plain).abs().max().item():.2g})"

        r.check(f"logits --lora {variant} adapter == PEFT's unmerged forward", forward_check)

        def verify_check(variant=variant, vdir=vdir):
            from safetensors.torch import save_file
            config = os.path.join(vdir, "config.json")
            adapter = os.path.join(FIX, variant)
            merged = peft_merged(adapter)
            save_file({k: v.contiguous() for k, v in merged.items()}, out(f"{variant}_peft_merged.safetensors"))
            runs = {"PEFT's merge_and_unload": (out(f"{variant}_peft_merged.safetensors"), 0), "the in-memory merge": (None, 0)}
            wrong = out(f"{variant}_wrong.safetensors")
            if variant == "dora":  # the same A/B merged as plain LoRA (DoRA's magnitudes ignored)
                plain = out("dora_as_lora")
                os.makedirs(plain, exist_ok=True)
                sd = {k: v for k, v in load_st(os.path.join(adapter, "adapter_model.safetensors")).items() if "magnitude" not in k}
                save_file(sd, os.path.join(plain, "adapter_model.safetensors"))
                cfg = json.load(open(os.path.join(adapter, "adapter_config.json")))
                cfg["use_dora"] = False
                json.dump(cfg, open(os.path.join(plain, "adapter_config.json"), "w"))
                r.run("merge", vdir, plain, "-o", wrong)
                runs["the merge without DoRA's magnitudes"] = (wrong, 1)
            elif variant in ("mts", "tied_mts"):  # PEFT's merge with the replaced modules put back to the base
                vbase = load_st(os.path.join(vdir, "model.safetensors"))
                kept = {k: (vbase[k] if k in vbase and ("norm" in k or k.startswith("lm_head")) else v).contiguous() for k, v in merged.items()}
                if variant == "tied_mts":
                    kept["lm_head.weight"] = vbase["model.embed_tokens.weight"].clone()
                save_file(kept, wrong)
                runs["PEFT's merge without the modules_to_save tensors"] = (wrong, 1)
            else:  # the embedding LoRA left out of PEFT's merge
                vbase = load_st(os.path.join(vdir, "model.safetensors"))
                kept = dict(merged)
                kept["model.embed_tokens.weight"] = vbase["model.embed_tokens.weight"]
                save_file({k: v.contiguous() for k, v in kept.items()}, wrong)
                runs["PEFT's merge without the embedding LoRA"] = (wrong, 1)
            runs["the base"] = (os.path.join(vdir, "model.safetensors"), 1)
            said = []
            for what, (path, expected) in runs.items():
                cmd = [r.loratool, "verify", vdir, adapter, "--config", config, "--tokens", ",".join(map(str, tokens))]
                if path:
                    cmd += ["--merged", path]
                got = subprocess_run(cmd)
                if got.returncode != expected:
                    raise CheckFailed(f"verify of {what} exited {got.returncode}, expected {expected}: {got.stdout.strip()[-200:]} {got.stderr.strip()[-200:]}")
                said.append(f"{what} {'passes' if expected == 0 else 'fails'}")
            return "; ".join(said)

        r.check(f"verify {variant}: passes PEFT's and our merge, fails wrong ones", verify_check)

    # ---- diff: which tensors changed, numerical rank of the change
    def diff_check():
        report = json.loads(r.run("diff", base_dir, out("tuned"), "--json"))
        changed = {t["name"]: t for t in report["tensors"] if t["status"] == "changed"}
        want = set(changed_linears) | {"model.norm.weight"}
        if set(changed) != want:
            raise CheckFailed(f"changed tensors {sorted(set(changed) ^ want)[:4]} disagree")
        for k in changed_linears:
            d = tuned[k].double() - base[k].double()
            s = torch.linalg.svdvals(d)
            rank = int((s > 1e-3 * s[0]).sum())
            energy = (s ** 2).cumsum(0) / (s ** 2).sum()
            r99 = int((energy < 0.99 - 1e-9).sum()) + 1
            e = changed[k]
            if e["numerical_rank"] != rank or e["rank_99"] != r99:
                raise CheckFailed(f"{k}: rank {e['numerical_rank']}/{e['rank_99']}, torch {rank}/{r99}")
            rel = (torch.linalg.norm(d) / torch.linalg.norm(base[k].double())).item()
            if abs(e["relative_frobenius"] - rel) > 1e-5 * rel:
                raise CheckFailed(f"{k}: relative Frobenius {e['relative_frobenius']} vs torch {rel}")
        return f"{len(changed)} changed tensors found; numerical ranks and 99%-energy ranks equal torch's"

    r.check("diff base tuned: changed tensors, relative norms and ranks equal torch's", diff_check)


def subprocess_run(cmd):
    import subprocess
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)
