"""Interop test: files written by loratool must load in real torch / safetensors and hold
what torch itself computes.

Usage (with the project venv, see scripts/ensure_venv.sh):
    $(scripts/ensure_venv.sh) scripts/interop.py [path/to/loratool] [--shared DIR] [--keep]
The binary may also be given as env LORATOOL. Runs every loratool command in a temporary
directory, prints one line per check and a final "N passed, M failed" line; exits 1 on any
failure.

Checks:
* merge (MiniMind adapter, scale 1; PEFT adapter, scale lora_alpha/r) to .pth / .safetensors /
  .bin: every tensor loads (torch.load(weights_only=True) / safetensors.torch.load_file), names,
  dtypes and shapes match the base, untouched tensors are bit-identical, merged tensors equal
  torch's own W + scale * B @ A computed in float32 and rounded once to the base dtype (within one
  float16 ulp for float16, 1e-5 for float32), tied weights shared in the base stay shared in .pth.
* convert to .pth: the whole object (nested dicts/lists/tuples, ints, floats, strings, None,
  key order) equal to torch.load of the input, tensors exactly equal with dtypes and shapes kept,
  tied tensors (the same view twice) still share one storage (other views sharing a storage are
  only reported: materialising them is allowed); to .safetensors: every tensor
  under its dotted name, exactly equal; --dtype float16 rounds like torch's .half().
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import warnings

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from check_harness import CheckFailed, Runner  # noqa: E402
from make_fixtures import flatten  # noqa: E402  (dotted names as the truth files use them)

warnings.filterwarnings("ignore")


# --------------------------------------------------------------------------- loading / comparing

def load_output(path: str):
    """Loads what loratool wrote. A torch zip must also pass zipfile's CRC check (testzip), load
    with mmap=True to the same tensors, and have torch's own zip layout (zip_layout_like_torch)."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    import zipfile

    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
    if bad is not None:
        raise CheckFailed(f"zipfile.testzip: record {bad} is corrupt")
    obj = torch.load(path, weights_only=True)
    mapped = torch.load(path, weights_only=True, mmap=True)
    for (name, a), (_, b) in zip(flatten(obj), flatten(mapped)):
        if isinstance(a, torch.Tensor):
            exact(a, b, name + " (mmap=True)")
    zip_layout_like_torch(path, obj)
    return obj


def zip_records(path: str) -> list:
    """(name without prefix, flags, method, extra ids in the local header, data offset, has
    descriptor) for every record, read from the raw bytes."""
    import struct
    import zipfile

    data = open(path, "rb").read()
    out = []
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            lo = info.header_offset
            sig, _, flags, method, _, _, _, _, _, n, m = struct.unpack("<IHHHHHIIIHH", data[lo:lo + 30])
            extra = data[lo + 30 + n:lo + 30 + n + m]
            ids, i = [], 0
            while i + 4 <= len(extra):
                fid, flen = struct.unpack("<HH", extra[i:i + 4])
                ids.append(fid)
                i += 4 + flen
            start = lo + 30 + n + m
            has_dd = data[start + info.file_size:start + info.file_size + 4] == b"PK\x07\x08"
            out.append((info.filename.split("/", 1)[1], flags, method, tuple(ids), start, has_dd))
    return out


def zip_layout_like_torch(path: str, obj) -> None:
    """torch.save of the same object gives the same records in the same order, with the same
    flags, methods, extra fields and data descriptors; data 64-byte aligned."""
    ref_path = os.path.join(tempfile.mkdtemp(prefix="loratool-ref-"), os.path.basename(path))
    try:
        torch.save(obj, ref_path)
        ours, theirs = zip_records(path), zip_records(ref_path)
    finally:
        shutil.rmtree(os.path.dirname(ref_path), ignore_errors=True)
    strip = lambda rs: [(r[0], r[1], r[2], r[3], r[5]) for r in rs]  # noqa: E731
    if strip(ours) != strip(theirs):
        diff = next((a, b) for a, b in zip(strip(ours) + [None], strip(theirs) + [None]) if a != b)
        raise CheckFailed(f"zip layout differs from torch.save's: ours {diff[0]}, torch {diff[1]}")
    misaligned = [r[0] for r in ours if r[4] % 64]
    if misaligned:
        raise CheckFailed(f"record data not 64-byte aligned: {misaligned[:3]}")


def tensors_of(obj) -> dict:
    return {k: v for k, v in flatten(obj) if isinstance(v, torch.Tensor)}


def exact(a: torch.Tensor, b: torch.Tensor, name: str) -> None:
    if a.dtype != b.dtype:
        raise CheckFailed(f"{name}: dtype {b.dtype}, expected {a.dtype}")
    if tuple(a.shape) != tuple(b.shape):
        raise CheckFailed(f"{name}: shape {list(b.shape)}, expected {list(a.shape)}")
    if a.numel() == 0:
        return
    if a.dtype.is_floating_point:           # bit-exact: -0.0 and NaN payloads count
        bits = {2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
        same = torch.equal(a.contiguous().view(bits), b.contiguous().view(bits))
    else:
        same = torch.equal(a, b)
    if not same:
        diff = (a.double() - b.double()).abs().max().item()
        raise CheckFailed(f"{name}: values differ (max |diff| {diff:.3g})")


def same_structure(want, got, path: str = "<root>") -> None:
    """want == got recursively: mapping keys in order, list vs tuple, leaves, tensors exactly."""
    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{path}: {type(got).__name__}, expected a tensor")
        exact(want, got, path)
    elif isinstance(want, dict):
        if not isinstance(got, dict):
            raise CheckFailed(f"{path}: {type(got).__name__}, expected a dict")
        if list(want.keys()) != list(got.keys()):
            raise CheckFailed(f"{path}: keys {list(got.keys())[:6]}..., expected {list(want.keys())[:6]}...")
        for k in want:
            same_structure(want[k], got[k], f"{path}.{k}")
    elif isinstance(want, (list, tuple)):
        if type(got) is not type(want):
            raise CheckFailed(f"{path}: {type(got).__name__}, expected {type(want).__name__}")
        if len(got) != len(want):
            raise CheckFailed(f"{path}: length {len(got)}, expected {len(want)}")
        for i, (a, b) in enumerate(zip(want, got)):
            same_structure(a, b, f"{path}.{i}")
    else:
        if type(want) is not type(got) or want != got:
            raise CheckFailed(f"{path}: {got!r}, expected {want!r}")


def sharing_groups(tensors: dict, aliases_only: bool = False) -> list:
    """Sets of names (2+) whose tensors live in one storage; with aliases_only, only tensors that
    are the very same view (same storage, offset, shape and strides: a tied weight)."""
    groups: dict = {}
    for name, t in tensors.items():
        if t.untyped_storage().nbytes() == 0:
            continue
        key = (t.untyped_storage().data_ptr(),)
        if aliases_only:
            key += (t.storage_offset(), tuple(t.shape), t.stride(), t.dtype)
        groups.setdefault(key, set()).add(name)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1))


def check_sharing_kept(want: dict, got: dict) -> str:
    """Aliases (tied weights) must still share one storage; other views sharing a storage may
    be materialised separately (reported, not failed)."""
    aliases = sharing_groups(want, aliases_only=True)
    have = sharing_groups(got)
    for g in aliases:
        if not any(set(g) <= set(h) for h in have):
            raise CheckFailed(f"tied {'='.join(g)} shared one storage in the input but not in the output")
    views = [g for g in sharing_groups(want) if g not in aliases]
    kept = [g for g in views if any(set(g) <= set(h) for h in have)]
    notes = []
    if aliases:
        notes.append("tied kept: " + "; ".join("=".join(g) for g in aliases))
    if views:
        notes.append(f"views sharing a storage: {len(kept)}/{len(views)} groups still share ("
                     + "; ".join("=".join(g) for g in views) + ")")
    return ", ".join(notes) if notes else "no shared storage in the input"


def f16_ulp(x: torch.Tensor) -> torch.Tensor:
    """One float16 ulp at each value of x (float32), subnormal spacing 2^-24 at least."""
    _, e = torch.frexp(x.float().abs())
    return torch.clamp(torch.ldexp(torch.ones_like(x, dtype=torch.float32), (e - 11).to(torch.int32)),
                       min=2.0 ** -24)


# --------------------------------------------------------------------------- merge

def adapter_pairs(adapter: dict) -> dict:
    pairs: dict = {}
    for key, value in adapter.items():
        name = key[len("module."):] if key.startswith("module.") else key
        name = name[len("base_model.model."):] if name.startswith("base_model.model.") else name
        for a_sfx, b_sfx in ((".lora.A.weight", ".lora.B.weight"), (".lora_A.weight", ".lora_B.weight")):
            if name.endswith(a_sfx):
                pairs.setdefault(name[: -len(a_sfx)], {})["A"] = value
            elif name.endswith(b_sfx):
                pairs.setdefault(name[: -len(b_sfx)], {})["B"] = value
    return {m: (p["A"], p["B"]) for m, p in pairs.items()}


def expected_merge(base: dict, adapter: dict, scale: float) -> tuple:
    """torch's own merge: (W.float() + scale * B.float() @ A.float()).to(W.dtype)."""
    out = dict(base)
    merged = []
    for module, (a, b) in adapter_pairs(adapter).items():
        key = module + ".weight"
        if key not in base:
            raise CheckFailed(f"adapter module {module} has no {key} in the base")
        w = base[key]
        out[key] = (w.float() + scale * (b.float() @ a.float())).to(w.dtype)
        merged.append(key)
    return out, sorted(merged)


def compare_merge(out_path: str, base: dict, expected: dict, merged: list) -> str:
    got = load_output(out_path)
    if not isinstance(got, dict):
        raise CheckFailed(f"root is {type(got).__name__}, expected a dict of tensors")
    base_groups = sharing_groups(base, aliases_only=True)
    missing = [k for k in expected if k not in got]
    # a tied alias may be dropped in formats without shared storage (safetensors), as HF does
    dropped = []
    for k in missing:
        if out_path.endswith(".safetensors") and any(k in g and any(o in got for o in g if o != k)
                                                     for g in base_groups):
            dropped.append(k)
        elif out_path.endswith(".safetensors") and k in ("output.weight", "lm_head.weight") and \
                (("tok_embeddings.weight" in got and torch.equal(base[k], base["tok_embeddings.weight"]))
                 if "tok_embeddings.weight" in base else
                 ("model.embed_tokens.weight" in got and torch.equal(base[k], base["model.embed_tokens.weight"]))):
            dropped.append(k)
        else:
            raise CheckFailed(f"{k} missing from the output")
    extra = [k for k in got if k not in expected]
    if extra:
        raise CheckFailed(f"unexpected tensors in the output: {extra[:5]}")
    worst = 0.0
    for k, want in expected.items():
        if k in dropped:
            continue
        have = got[k]
        if have.dtype != want.dtype or tuple(have.shape) != tuple(want.shape):
            raise CheckFailed(f"{k}: {have.dtype} {list(have.shape)}, expected {want.dtype} {list(want.shape)}")
        if k in merged:
            diff = (have.float() - want.float()).abs()
            if want.dtype == torch.float16:
                bad = diff > f16_ulp(want)
                if bool(bad.any()):
                    raise CheckFailed(f"{k}: {int(bad.sum())} values off by more than one float16 ulp "
                                      f"(max |diff| {diff.max().item():.3g})")
            else:
                tol = 1e-5 if want.dtype == torch.float32 else 2.0 ** -7 * want.float().abs().max().item()
                if diff.max().item() > tol:
                    raise CheckFailed(f"{k}: max |diff| {diff.max().item():.3g} > {tol:g}")
            worst = max(worst, diff.max().item())
        else:
            exact(want, have, k)
    notes = [f"{len(merged)} merged, max |diff| {worst:.3g}"]
    if dropped:
        notes.append("tied alias dropped: " + ", ".join(dropped))
    if not out_path.endswith(".safetensors") and base_groups:
        notes.append(check_sharing_kept(base, got))
    return "; ".join(notes)


# --------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("loratool", nargs="?", default=os.environ.get("LORATOOL"))
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(ROOT), "shared", "fixtures"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    shared = os.path.abspath(args.shared)

    if not args.loratool:
        print("FAIL no loratool binary given (argument or env LORATOOL)")
        print("0 passed, 1 failed")
        return 1
    loratool = os.path.abspath(args.loratool)
    if not os.access(loratool, os.X_OK):
        print(f"FAIL loratool binary not found or not executable: {loratool}")
        print("0 passed, 1 failed")
        return 1

    work = tempfile.mkdtemp(prefix="loratool-interop-")
    r = Runner(loratool, work)
    try:
        torch.set_num_threads(1)

        def p(rel):
            return os.path.join(shared, rel)

        def out(name):
            return os.path.join(work, name)

        # ---- merge: MiniMind v1_tiny (float16 base, float32 adapter, scale 1)
        base = torch.load(p("v1_tiny/base.pth"), weights_only=True)
        lora = torch.load(p("v1_tiny/lora.pth"), weights_only=True)
        expected, merged = expected_merge(base, lora, 1.0)
        for ext in ("pth", "safetensors", "bin"):
            name = f"out.{ext}"

            def merge_check(name=name):
                r.run("merge", p("v1_tiny/base.pth"), p("v1_tiny/lora.pth"), "-o", out(name))
                return compare_merge(out(name), base, expected, merged)

            r.check(f"merge v1_tiny -> {name}", merge_check)

        # ---- merge: DDP-prefixed adapter gives the same result
        def ddp_check():
            r.run("merge", p("v1_tiny/base.pth"), p("v1_tiny/lora_ddp.pth"), "-o", out("ddp.pth"))
            return compare_merge(out("ddp.pth"), base, expected, merged)

        r.check("merge v1_tiny lora_ddp (module. prefix) -> ddp.pth", ddp_check)

        # ---- merge: legacy float32 family
        base_l = torch.load(p("v1_tiny_legacy_f32/base.pth"), weights_only=True)
        lora_l = torch.load(p("v1_tiny_legacy_f32/lora.pth"), weights_only=True)
        expected_l, merged_l = expected_merge(base_l, lora_l, 1.0)

        def legacy_check():
            r.run("merge", p("v1_tiny_legacy_f32/base.pth"), p("v1_tiny_legacy_f32/lora.pth"), "-o", out("legacy.pth"))
            return compare_merge(out("legacy.pth"), base_l, expected_l, merged_l)

        r.check("merge v1_tiny_legacy_f32 -> legacy.pth", legacy_check)

        # ---- merge: PEFT adapter directory on the HF-style base (scale lora_alpha / r)
        from safetensors.torch import load_file

        hf_base = torch.load(p("hf_tiny_peft/base.pth"), weights_only=True)
        acfg = json.load(open(p("hf_tiny_peft/adapter/adapter_config.json")))
        hf_adapter = load_file(p("hf_tiny_peft/adapter/adapter_model.safetensors"))
        hf_expected, hf_merged = expected_merge(hf_base, hf_adapter, acfg["lora_alpha"] / acfg["r"])

        def hf_check():
            r.run("merge", p("hf_tiny_peft/base.pth"), p("hf_tiny_peft/adapter"), "-o", out("hf.safetensors"))
            return compare_merge(out("hf.safetensors"), hf_base, hf_expected, hf_merged)

        r.check(f"merge hf_tiny_peft + PEFT adapter (scale {acfg['lora_alpha'] / acfg['r']:g}) -> hf.safetensors",
                hf_check)

        # ---- merge: our own MoE fixture (experts untouched, attention merged)
        moe = os.path.join(ROOT, "Tests", "Fixtures", "moe_tiny")
        if os.path.isdir(moe):
            moe_base = torch.load(os.path.join(moe, "base.pth"), weights_only=True)
            moe_lora = torch.load(os.path.join(moe, "lora.pth"), weights_only=True)
            moe_expected, moe_merged = expected_merge(moe_base, moe_lora, 1.0)

            def moe_check():
                r.run("merge", os.path.join(moe, "base.pth"), os.path.join(moe, "lora.pth"), "-o", out("moe.pth"))
                return compare_merge(out("moe.pth"), moe_base, moe_expected, moe_merged)

            r.check("merge moe_tiny -> moe.pth", moe_check)

        # ---- convert
        conversions = [
            ("edge.pth", ("pth", "safetensors")),
            ("edge_legacy.pth", ("pth", "safetensors")),
            ("train_ckpt.pth", ("pth",)),
            ("tied_f32.pth", ("pth", "safetensors")),
            (os.path.join(ROOT, "Tests", "Fixtures", "matrix", "deflated.pth"), ("pth", "safetensors")),
        ]
        for src, exts in conversions:
            want = torch.load(p(src), weights_only=True)
            want_tensors = tensors_of(want)
            stem = os.path.basename(src)[: -len(".pth")]
            for ext in exts:
                dst = out(f"{stem}_conv.{ext}")

                def convert_check(src=src, dst=dst, ext=ext, want=want, want_tensors=want_tensors):
                    r.run("convert", p(src), "-o", dst)
                    got = load_output(dst)
                    if ext == "pth":
                        same_structure(want, got)
                        return f"{len(want_tensors)} tensors; " + check_sharing_kept(want_tensors, tensors_of(got))
                    groups = sharing_groups(want_tensors, aliases_only=True)
                    dropped = []
                    for name, t in want_tensors.items():
                        if name not in got:
                            aliases = [g for g in groups if name in g and any(o in got for o in g if o != name)]
                            if aliases:
                                dropped.append(name)
                                continue
                            raise CheckFailed(f"{name} missing from the output")
                        exact(t.contiguous(), got[name], name)
                    extra = [k for k in got if k not in want_tensors]
                    if extra:
                        raise CheckFailed(f"unexpected tensors {extra[:5]}")
                    return f"{len(got)} tensors" + (f"; tied alias dropped: {', '.join(dropped)}" if dropped else "")

                r.check(f"convert {src} -> {os.path.basename(dst)}", convert_check)

        # ---- convert with a dtype change
        tied = torch.load(p("tied_f32.pth"), weights_only=True)

        def dtype_check():
            r.run("convert", p("tied_f32.pth"), "-o", out("tied_f16.pth"), "--dtype", "float16")
            got = load_output(out("tied_f16.pth"))
            for name, t in tied.items():
                if name not in got:
                    raise CheckFailed(f"{name} missing")
                exact(t.half(), got[name], name)
            return f"{len(tied)} tensors equal torch's .half(); " + check_sharing_kept(tied, got)

        r.check("convert tied_f32.pth --dtype float16 -> tied_f16.pth", dtype_check)

        # ---- merge: a LoRA-training checkpoint (upstream lm_checkpoint: base weights and .lora. keys in
        # one state dict) with no adapter argument: folds in its own adapter, writes the base keys only,
        # and equals upstream merge_lora (W.half() + (B @ A).half(), rounded twice) within one float16
        # step of the operands, while being the correctly rounded W + B·A.
        for case in ("mm3_tiny", "mm3_tiny_moe", "mm3_tiny_yarn"):
            def ckpt_check(case=case):
                ckpt = torch.load(p(f"{case}/ckpt_with_lora.pth"), weights_only=True)
                ref = torch.load(p(f"{case}/merged_ref.pth"), weights_only=True)
                r.run("merge", p(f"{case}/ckpt_with_lora.pth"), "-o", out(f"{case}_ckpt.pth"))
                got = load_output(out(f"{case}_ckpt.pth"))
                if set(got) != set(ref):
                    raise AssertionError(f"keys differ from upstream merge_lora: {sorted(set(got) ^ set(ref))[:4]}")
                if any(".lora." in k for k in got):
                    raise AssertionError("output holds .lora. keys")
                worst_ref = worst_exact = 0.0
                pairs = adapter_pairs({k: v for k, v in ckpt.items() if ".lora." in k})
                for k, v in got.items():
                    if v.dtype != ref[k].dtype:
                        raise AssertionError(f"{k}: dtype {v.dtype}, upstream {ref[k].dtype}")
                    module = k[: -len(".weight")]
                    if module not in pairs:
                        exact(v, ref[k], k)
                        continue
                    a, b = pairs[module]
                    w = ckpt[k].float()
                    delta = b.float() @ a.float()
                    full = w + delta
                    operands = torch.maximum(torch.maximum(w.abs(), delta.abs()), full.abs())
                    worst_ref = max(worst_ref, float(((v.float() - ref[k].float()).abs() / f16_ulp(operands)).max()))
                    worst_exact = max(worst_exact, float(((v.float() - full).abs() / f16_ulp(full)).max()))
                if worst_ref > 1.0 or worst_exact > 0.5:
                    raise AssertionError(f"{worst_ref} float16 steps from upstream, {worst_exact} from W + B·A")
                return f"{len(got)} base keys, {len(pairs)} layers merged; <= {worst_ref:.3g} f16 step from upstream merge_lora, {worst_exact:.3g} from exact"

            r.check(f"merge {case}/ckpt_with_lora.pth (no adapter) -> {case}_ckpt.pth", ckpt_check)

        # ---- adapter algebra (DoRA, modules_to_save, embeddings, combine, extract, conversion, unmerge)
        import interop_algebra
        interop_algebra.run_checks(r, shared, work, CheckFailed)
    finally:
        if args.keep:
            print(f"outputs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"{r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
