"""Writes loratool's own small test fixtures into Tests/Fixtures with real torch.

Run with the project venv (scripts/ensure_venv.sh):
    $(scripts/ensure_venv.sh) scripts/make_fixtures.py [OUT_DIR]
Everything is seeded: re-running writes byte-identical files. See Tests/Fixtures/README.md
for what each file is.

Per checkpoint X (X.pth / X.safetensors) it writes:
* X.pth.truth.json   {"dotted.name": ["dtype", [shape]]} (same format as ../shared/fixtures)
* X.values.json      {"dotted.name": [flat row-major values]} (bfloat16/float16 widened, bool as 0/1)
* X.scalars.json     non-tensor leaves {"dotted.name": value} where the file has any
                     (ints beyond +-2^53 written as decimal strings)
"""

from __future__ import annotations

import collections
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_fixtures  # noqa: E402
import minimind_ref as ref  # noqa: E402
from make_algebra_fixtures import make_algebra  # noqa: E402

ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "fixtures")

ALL_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64,
              torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool]
SAFE_INT = 2 ** 53


def dtype_name(dt: torch.dtype) -> str:
    return str(dt).replace("torch.", "")


# --------------------------------------------------------------------------- flattening / truth

def flatten(obj, prefix=""):
    """Yields (dotted name, leaf) for dicts (keys), lists and tuples (indices)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flatten(v, f"{prefix}{k}.")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from flatten(v, f"{prefix}{i}.")
    else:
        yield prefix[:-1], obj


def tensor_values(t: torch.Tensor) -> list:
    t = t.detach().contiguous().reshape(-1)
    if t.dtype == torch.bool:
        return [int(x) for x in t.to(torch.uint8).tolist()]
    if t.dtype.is_floating_point:
        return [float(x) for x in t.to(torch.float64).tolist()]
    vals = t.tolist()
    for v in vals:
        if abs(v) >= SAFE_INT:
            raise ValueError("int tensor value outside +-2^53 cannot be written to JSON safely")
    return vals


def scalar_value(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v if abs(v) < SAFE_INT else str(v)
    if isinstance(v, float):
        return v
    raise TypeError(f"unsupported leaf {type(v)}")


def write_json(path: str, obj, compact: bool = False) -> None:
    with open(path, "w") as f:
        if compact:
            f.write("{\n")
            items = sorted(obj.items())
            for i, (k, v) in enumerate(items):
                f.write(json.dumps(k) + ": " + json.dumps(v, separators=(",", ":")))
                f.write(",\n" if i + 1 < len(items) else "\n")
            f.write("}\n")
        else:
            json.dump(obj, f, indent=0, sort_keys=True)


def write_truth(ckpt_path: str, obj, values_path: str, scalars_path: str) -> None:
    """Truth, values and scalars for the object torch reads back from ckpt_path."""
    truth, values, scalars = {}, {}, {}
    for name, leaf in flatten(obj):
        if isinstance(leaf, torch.Tensor):
            truth[name] = [dtype_name(leaf.dtype), list(leaf.shape)]
            values[name] = tensor_values(leaf)
        else:
            scalars[name] = scalar_value(leaf)
    write_json(ckpt_path + ".truth.json", truth)
    write_json(values_path, values, compact=True)
    if scalars:
        write_json(scalars_path, scalars)


WEIGHTS_ONLY_REFUSED = []


LEGACY_ELEMENT_SIZE = {
    "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8, "LongStorage": 8,
    "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
}


class _Inert:
    """Stand-in for every global while scanning a pickle: accepts anything, does nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Inert()

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass


def _legacy_storage_ids(pickle_bytes: bytes):
    """(key, storage class name) of each persistent id, in first-appearance order. Executes
    nothing: every global resolves to an inert stub (storage classes to their name)."""
    import io
    import pickle

    found = []

    class Scanner(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "torch" and name.endswith("Storage"):
                return name
            return _Inert()

        def persistent_load(self, pid):
            if pid[0] == "storage":
                key = pid[2]
                if key not in [k for k, _ in found]:
                    found.append((key, pid[1]))
            return _Inert()

    Scanner(io.BytesIO(pickle_bytes)).load()
    return found


def renumber_legacy_storage_keys(path: str) -> None:
    """Makes a legacy (non-zip) torch.save file reproducible.

    Legacy files name each storage by its memory address (str(storage._cdata)) and write the
    storages in the sorted order of those names, so two runs differ. This renames every
    storage to its first-appearance index in the object pickle (zero-padded to the same width)
    and rewrites the storage blocks in the sorted order of the new names, exactly as torch
    would have written the file had the addresses been those numbers.
    """
    import io
    import pickle
    import pickletools
    import re

    data = open(path, "rb").read()
    f = io.BytesIO(data)
    for _ in range(3):                       # magic number, protocol version, sys info
        pickle.load(f)
    main_start = f.tell()
    for _ in pickletools.genops(f):          # find the end of the object pickle
        pass
    main_end = f.tell()
    keys = pickle.load(f)                    # the sorted list of storage keys (plain strings)
    blocks_start = f.tell()
    if not keys:
        return
    ids = _legacy_storage_ids(data[main_start:main_end])
    if sorted(k for k, _ in ids) != sorted(keys):
        raise RuntimeError(f"{path}: storage keys in the pickle and the key list differ")
    width = len(keys[0])
    if any(len(k) != width for k in keys) or len(keys) > 10 ** width:
        raise RuntimeError(f"{path}: storage keys of unequal length {keys}")
    rename = {k: str(i).zfill(width) for i, (k, _) in enumerate(ids)}
    size = {k: LEGACY_ELEMENT_SIZE[cls] for k, cls in ids}
    blocks, pos = {}, blocks_start
    for k in keys:                           # torch wrote them in sorted(old name) order
        numel = int.from_bytes(data[pos : pos + 8], "little", signed=True)
        end = pos + 8 + numel * size[k]
        blocks[k] = data[pos:end]
        pos = end
    if pos != len(data):
        raise RuntimeError(f"{path}: storage blocks do not fill the file")
    pattern = re.compile(b"|".join(re.escape(k.encode()) for k in keys))

    def sub(segment: bytes) -> bytes:
        return pattern.sub(lambda m: rename[m.group(0).decode()].encode(), segment)

    new_keys = sorted(rename.values())
    back = {v: k for k, v in rename.items()}
    protocol = data[main_end + 1] if data[main_end] == 0x80 else 0
    key_list = pickle.dumps(new_keys, protocol=protocol)   # as torch pickles sorted(keys)
    if pickle.dumps(keys, protocol=protocol) != data[main_end:blocks_start]:
        raise RuntimeError(f"{path}: cannot reproduce torch's storage key list pickle")
    out = (data[:main_start] + sub(data[main_start:main_end]) + key_list
           + b"".join(blocks[back[v]] for v in new_keys))
    if len(out) != len(data):
        raise RuntimeError(f"{path}: renaming changed the file length")
    with open(path, "wb") as fh:
        fh.write(out)


def load_own(path: str):
    """torch.load of a file this script just wrote: weights_only=True when torch's restricted
    unpickler accepts it, else (protocol 4/5 files: FRAME opcode) the full unpickler."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return torch.load(path, weights_only=True)
        except Exception:
            WEIGHTS_ONLY_REFUSED.append(os.path.basename(path))
            return torch.load(path, weights_only=False)


def check_same(expected, got, path: str) -> None:
    """The reloaded object has the saved tensors (values, dtypes, shapes) and leaves."""
    exp, back = dict(flatten(expected)), dict(flatten(got))
    if exp.keys() != back.keys():
        raise RuntimeError(f"{path}: names differ after reload")
    for k, v in exp.items():
        if isinstance(v, torch.Tensor):
            w = back[k]
            if v.dtype != w.dtype or v.shape != w.shape or not torch.equal(v, w):
                raise RuntimeError(f"{path}: tensor {k} differs after reload")
        elif v != back[k]:
            raise RuntimeError(f"{path}: value {k} differs after reload")


def save_pth(obj, path: str, *, protocol: int = 2, legacy: bool = False, saved_as: str | None = None) -> None:
    """torch.save, then reload with weights_only=True and write the truth files from what torch reads.

    saved_as: save under this file name first (it sets the zip record prefix), then rename."""
    target = path
    if saved_as is not None:
        target = os.path.join(os.path.dirname(path), saved_as)
    torch.save(obj, target, pickle_protocol=protocol, _use_new_zipfile_serialization=not legacy)
    if target != path:
        os.replace(target, path)
    if legacy:
        renumber_legacy_storage_keys(path)
    back = load_own(path)
    check_same(obj, back, path)
    stem = path[: -len(".pth")]
    write_truth(path, back, stem + ".values.json", stem + ".scalars.json")


# --------------------------------------------------------------------------- matrix

def dtype_sampler(g: torch.Generator):
    """One small tensor per dtype with edge values, deterministic."""

    def rnd(*shape):
        return torch.randn(*shape, generator=g)

    out = collections.OrderedDict()
    out["float32"] = torch.cat([rnd(10), torch.tensor([0.0, -0.0, 1e-40, 3.4e38, -1.5])]).reshape(3, 5)
    out["float16"] = torch.cat([rnd(6), torch.tensor([65504.0, -65504.0, 6e-8, 0.5, -0.0, 1024.0])]).half().reshape(2, 6)
    out["bfloat16"] = torch.cat([rnd(5), torch.tensor([3.0e38, 1e-38, -2.5, 0.0])]).bfloat16().reshape(9)
    out["float64"] = torch.cat([rnd(4).double(), torch.tensor([1e300, -1e-300, math.pi, 2.0 ** -1074],
                                                            dtype=torch.float64)]).reshape(2, 2, 2)
    out["int64"] = torch.tensor([0, 1, -1, 2 ** 40, -(2 ** 52), SAFE_INT - 1, 123456789], dtype=torch.int64)
    out["int32"] = torch.tensor([[0, -1, 2 ** 31 - 1], [-(2 ** 31), 7, 65536]], dtype=torch.int32)
    out["int16"] = torch.tensor([0, -1, 32767, -32768, 300], dtype=torch.int16)
    out["int8"] = torch.tensor([0, -1, 127, -128, 5, -7], dtype=torch.int8)
    out["uint8"] = torch.tensor([[0, 1, 127], [128, 254, 255]], dtype=torch.uint8)
    out["bool"] = torch.tensor([True, False, True, True, False], dtype=torch.bool)
    return out


def make_matrix(out: str) -> None:
    d = os.path.join(out, "matrix")
    os.makedirs(d, exist_ok=True)
    for protocol in (2, 4, 5):
        for legacy in (False, True):
            g = torch.Generator().manual_seed(100 + protocol)
            obj = dtype_sampler(g)
            name = f"p{protocol}_{'legacy' if legacy else 'zip'}.pth"
            save_pth(obj, os.path.join(d, name), protocol=protocol, legacy=legacy)

    # strides, shared storage, 0-d scalars, empty tensors
    for legacy in (False, True):
        base = torch.arange(64, dtype=torch.float32).reshape(8, 8) / 4.0
        alias = torch.linspace(-1, 1, 6)
        half = (torch.arange(15, dtype=torch.float32).reshape(3, 5) / 8).half()
        strided = collections.OrderedDict()
        strided["base"] = base                               # the whole storage
        strided["transposed"] = base.t()                     # strides (1, 8)
        strided["slice_offset"] = base[2:5, 1:7]             # offset 17, non-contiguous
        strided["row"] = base[3]                             # offset 24, contiguous
        strided["column"] = base[:, 6]                       # offset 6, stride 8
        strided["step"] = base.reshape(-1)[5::7]             # offset 5, stride 7
        strided["permuted"] = torch.arange(24, dtype=torch.int32).reshape(2, 3, 4).permute(2, 0, 1)
        strided["expanded"] = torch.tensor([1.0, 2.0, 3.0]).expand(4, 3)   # stride (0, 1)
        strided["f16_transposed"] = half.t()
        strided["alias_1"] = alias                           # same tensor object twice
        strided["alias_2"] = alias
        strided["scalar_f32"] = torch.tensor(3.5)
        strided["scalar_i64"] = torch.tensor(-42, dtype=torch.int64)
        strided["scalar_bool"] = torch.tensor(True)
        strided["scalar_f16"] = torch.tensor(0.25, dtype=torch.float16)
        strided["empty_2d"] = torch.empty(0, 4)
        strided["empty_3d"] = torch.zeros(2, 0, 3, dtype=torch.float16)
        strided["empty_i64"] = torch.zeros(0, dtype=torch.int64)
        name = "strides_legacy.pth" if legacy else "strides.pth"
        save_pth(strided, os.path.join(d, name), protocol=2, legacy=legacy)

    # nested containers around a real OrderedDict state_dict (with its _metadata)
    torch.manual_seed(7)
    net = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), nn.Sequential(nn.Linear(3, 2, bias=False)))
    state = net.state_dict()
    assert isinstance(state, collections.OrderedDict)
    g = torch.Generator().manual_seed(8)
    nested = {
        "model": state,
        "epoch": 3,
        "step": 1000,
        "lr": 0.001,
        "name": "run",
        "none": None,
        "flag": True,
        "off": False,
        "neg": -5,
        "big": 2 ** 70,
        "tree": {
            "a": [{"x": torch.randn(2, generator=g)}, {"y": torch.arange(3, dtype=torch.int64), "z": "zz"}],
            "t1": (torch.ones(1),),
            "t2": (1, 2.5),
            "t3": (torch.zeros(2, dtype=torch.int8), 5, "s"),
            "t5": (1, 2, 3, 4, torch.full((2,), 7.0, dtype=torch.bfloat16)),
            "empty_list": [],
            "empty_dict": {},
            "empty_tuple": (),
        },
    }
    for protocol, legacy in ((2, False), (4, False), (2, True)):
        name = f"nested_p{protocol}{'_legacy' if legacy else ''}.pth"
        save_pth(nested, os.path.join(d, name), protocol=protocol, legacy=legacy)

    # zip record prefix that differs from the file name, and the "archive" prefix of a file object
    g = torch.Generator().manual_seed(9)
    small = {"w": torch.randn(3, 2, generator=g), "b": torch.arange(3, dtype=torch.int32)}
    save_pth(small, os.path.join(d, "renamed.pth"), saved_as="my.model-v2.pth")
    with open(os.path.join(d, "archive_prefix.pth"), "wb") as f:
        torch.save(small, f)
    back = load_own(os.path.join(d, "archive_prefix.pth"))
    write_truth(os.path.join(d, "archive_prefix.pth"), back, os.path.join(d, "archive_prefix.values.json"),
                os.path.join(d, "archive_prefix.scalars.json"))


# --------------------------------------------------------------------------- safetensors

def sort_safetensors_metadata(path: str) -> None:
    """safetensors writes __metadata__ in hash-map order (differs per run); rewrite it sorted.

    Same keys, same values, same byte length: only the order inside __metadata__ changes."""
    import struct

    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = data[8 : 8 + n]
    parsed = json.loads(header, object_pairs_hook=collections.OrderedDict)
    meta = parsed.get("__metadata__")
    if not meta:
        return
    old = ('"__metadata__":' + json.dumps(meta, separators=(",", ":"))).encode()
    new = ('"__metadata__":' + json.dumps(dict(sorted(meta.items())), separators=(",", ":"))).encode()
    if header.count(old) != 1 or len(old) != len(new):
        raise RuntimeError(f"{path}: unexpected safetensors header layout")
    with open(path, "wb") as f:
        f.write(data[:8] + header.replace(old, new) + data[8 + n :])


def make_safetensors(out: str) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    d = os.path.join(out, "safetensors")
    os.makedirs(d, exist_ok=True)

    g = torch.Generator().manual_seed(11)
    mixed = dict(dtype_sampler(g))
    mixed["scalar"] = torch.tensor(2.0)
    mixed["empty"] = torch.zeros(0, 3)
    cases = {
        "mixed": (mixed, {"format": "pt", "producer": "loratool make_fixtures.py", "epoch": "3"}),
    }
    torch.manual_seed(12)
    cfg = ref.MiniMindConfig(dim=16, n_layers=1, n_heads=4, n_kv_heads=2, vocab_size=32, max_seq_len=16)
    tiny = ref.MiniMindLM(cfg).half().state_dict()
    tiny = {k: v.clone() for k, v in tiny.items() if k != "output.weight"}  # tied head dropped as HF does
    cases["tiny_model"] = (tiny, {"format": "pt", "tied": "output.weight=tok_embeddings.weight"})

    for name, (tensors, meta) in cases.items():
        path = os.path.join(d, name + ".safetensors")
        save_file(tensors, path, metadata=meta)
        sort_safetensors_metadata(path)
        back = {}
        with safe_open(path, "pt") as f:
            file_meta = f.metadata()
            for k in f.keys():
                back[k] = f.get_tensor(k)
        write_truth(path, back, os.path.join(d, name + ".values.json"), os.path.join(d, name + ".scalars.json"))
        write_json(os.path.join(d, name + ".metadata.json"), file_meta)


# --------------------------------------------------------------------------- MoE model

MOE_CONFIG = {
    "dim": 64, "n_layers": 2, "n_heads": 8, "n_kv_heads": 2, "vocab_size": 6400, "hidden_dim": 192,
    "norm_eps": 1e-5, "rope_theta": 1e6, "use_moe": True, "n_routed_experts": 4,
    "num_experts_per_tok": 2, "n_shared_experts": 1, "norm_topk_prob": True, "scoring_func": "softmax",
    "tie_word_embeddings": True, "torch_dtype": "float16",
}


def routing_margin(model: ref.MiniMindLM, tokens: torch.Tensor) -> float:
    """Smallest gap between the 2nd and 3rd router score over every token and layer."""
    margins = []

    def hook(module, inputs, output):
        x = inputs[0].reshape(-1, inputs[0].shape[-1])
        scores = torch.nn.functional.linear(x, module.weight).softmax(-1)
        top = scores.sort(dim=-1, descending=True).values
        k = module.top_k
        margins.append(float((top[:, k - 1] - top[:, k]).min()))

    handles = [layer.feed_forward.gate.register_forward_hook(hook) for layer in model.layers]
    with torch.no_grad():
        model(tokens.reshape(1, -1))
    for h in handles:
        h.remove()
    return min(margins)


def make_moe(out: str) -> None:
    d = os.path.join(out, "moe_tiny")
    os.makedirs(d, exist_ok=True)
    cfg = ref.MiniMindConfig(**{k: v for k, v in MOE_CONFIG.items()
                                if k not in ("scoring_func", "tie_word_embeddings", "torch_dtype")},
                             max_seq_len=64)
    torch.manual_seed(20240601)
    model = ref.MiniMindLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))       # non-trivial RMSNorm weights
            elif name.endswith("gate.weight"):
                p.mul_(4.0)                                      # decisive routing
    model = model.half()
    state = model.state_dict()
    assert state["output.weight"].data_ptr() == state["tok_embeddings.weight"].data_ptr()
    torch.save(state, os.path.join(d, "base.pth"))
    back = torch.load(os.path.join(d, "base.pth"), weights_only=True)
    write_json(os.path.join(d, "base.pth.truth.json"), {k: [dtype_name(v.dtype), list(v.shape)] for k, v in back.items()})

    # a rank-8 MiniMind adapter on the square linears with non-zero B
    model32 = ref.load_model(back, ref.config_from_state_dict(back, n_heads=8), max_seq_len=64)
    torch.manual_seed(20240602)
    targets = ref.apply_lora(model32, rank=8)
    with torch.no_grad():
        for name, module in model32.named_modules():
            if hasattr(module, "lora"):
                module.lora.B.weight.normal_(mean=0.0, std=0.05)
    lora = ref.lora_state_dict(model32)
    torch.save(lora, os.path.join(d, "lora.pth"))
    lora_back = torch.load(os.path.join(d, "lora.pth"), weights_only=True)
    write_json(os.path.join(d, "lora.pth.truth.json"), {k: [dtype_name(v.dtype), list(v.shape)] for k, v in lora_back.items()})

    base_model = ref.load_model(back, ref.config_from_state_dict(back, n_heads=8), max_seq_len=64)
    wrapped = ref.load_model(back, ref.config_from_state_dict(back, n_heads=8), max_seq_len=64)
    ref.apply_adapter_dict(wrapped, lora_back, 1.0)
    # among 100 token seeds pick the one whose top-2 routing is least ambiguous (largest
    # smallest gap between the 2nd and 3rd router score), so float32 rounding differences in
    # another implementation cannot flip an expert choice
    best = None
    for seed in range(20240603, 20240703):
        g = torch.Generator().manual_seed(seed)
        cand = torch.cat([torch.tensor([1]), torch.randint(3, 6400, (23,), generator=g)]).to(torch.int64)
        m = min(routing_margin(base_model, cand), routing_margin(wrapped, cand))
        if best is None or m > best[0]:
            best = (m, seed, cand)
    _, seed, tokens = best
    margin = routing_margin(base_model, tokens)
    margin_w = routing_margin(wrapped, tokens)
    if min(margin, margin_w) < 1e-3:
        raise RuntimeError("no token seed with a clear routing margin")
    np.save(os.path.join(d, "tokens.npy"), tokens.numpy())
    logits_base = ref.logits(base_model, tokens)
    logits_wrapped = ref.logits(wrapped, tokens)
    np.save(os.path.join(d, "logits_base.npy"), logits_base.numpy().astype(np.float32))
    np.save(os.path.join(d, "logits_wrapped.npy"), logits_wrapped.numpy().astype(np.float32))

    # greedy decoding with a KV cache (8 new tokens from the first 8 prompt tokens)
    prompt = tokens[:8].tolist()
    greedy = ref.generate_greedy(base_model, prompt, 8)
    full = ref.logits(base_model, prompt + greedy[:-1])[len(prompt) - 1:]
    assert full.argmax(-1).tolist() == greedy, "cached decode disagrees with the full forward"
    top2 = full.topk(2, dim=-1).values
    greedy_margin = float((top2[:, 0] - top2[:, 1]).min())
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(MOE_CONFIG, f, indent=2, sort_keys=True)
        f.write("\n")
    meta = {
        "family": "minimind2-moe",
        "dtype": "float16",
        "compute_dtype": "float32",
        "lora_rank": 8,
        "lora_scale": 1.0,
        "lora_targets": targets,
        "min_router_margin_base": round(margin, 6),
        "min_router_margin_wrapped": round(margin_w, 6),
        "max_abs_logit_change_from_lora": round(float((logits_wrapped - logits_base).abs().max()), 6),
        "greedy_prompt": prompt,
        "greedy_generated": greedy,
        "greedy_min_top1_top2_logit_gap": round(greedy_margin, 6),
    }
    write_json(os.path.join(d, "meta.json"), meta)
    print(f"moe_tiny: token seed {seed}, router margin {margin:.4g} (wrapped {margin_w:.4g}), "
          f"lora logit change {meta['max_abs_logit_change_from_lora']}, greedy {greedy}")


def make_long_v1(out: str) -> None:
    """Logits at a few positions of a 160-token prefill on the shared v1_tiny base, so that
    attention over several blocks of tokens is checked against torch (full logits would be 4 MB)."""
    path = os.path.join(SHARED, "v1_tiny", "base.pth")
    if not os.path.exists(path):
        print("skipping long_v1: shared fixtures not found")
        return
    d = os.path.join(out, "long_v1")
    os.makedirs(d, exist_ok=True)
    sd = torch.load(path, weights_only=True)
    model = ref.load_model(sd, ref.config_from_state_dict(sd, n_heads=8), max_seq_len=256)
    g = torch.Generator().manual_seed(41)
    tokens = torch.randint(0, 6400, (160,), generator=g)
    full = ref.logits(model, tokens.tolist())
    rows = torch.tensor([0, 63, 64, 127, 128, 159])
    np.save(os.path.join(d, "tokens.npy"), tokens.numpy().astype(np.int64))
    np.save(os.path.join(d, "rows.npy"), rows.numpy().astype(np.int64))
    np.save(os.path.join(d, "logits_rows.npy"), full[rows].numpy().astype(np.float32))


def make_greedy_v1(out: str) -> None:
    """Greedy KV-cache decoding on the shared v1_tiny base, for `generate`-style tests."""
    path = os.path.join(SHARED, "v1_tiny", "base.pth")
    if not os.path.exists(path):
        print("skipping v1_tiny greedy: shared fixtures not found")
        return
    sd = torch.load(path, weights_only=True)
    model = ref.load_model(sd, ref.config_from_state_dict(sd, n_heads=8), max_seq_len=64)
    tokens = np.load(os.path.join(SHARED, "v1_tiny", "tokens.npy")).tolist()
    greedy = ref.generate_greedy(model, tokens, 12)
    # the full-sequence forward must agree with the cached decode
    full = ref.logits(model, tokens + greedy[:-1])
    check = full[len(tokens) - 1:].argmax(-1).tolist()
    assert check == greedy, (check, greedy)
    top2 = full[len(tokens) - 1:].topk(2, dim=-1).values
    gap = float((top2[:, 0] - top2[:, 1]).min())
    write_json(os.path.join(out, "v1_tiny_greedy.json"),
               {"base": "../shared/fixtures/v1_tiny/base.pth", "prompt": tokens, "generated": greedy,
                "min_top1_top2_logit_gap": round(gap, 6)})


# --------------------------------------------------------------------------- directories, TorchScript

def make_directories(out: str) -> None:
    """Hugging Face directories (sharded safetensors, pytorch_model.bin) and a PEFT adapter saved as .bin.

    The sharded layout and index are what `save_pretrained(max_shard_size=...)` writes: shards named
    model-0000K-of-0000N.safetensors and model.safetensors.index.json with metadata.total_size and a
    weight_map. `merged_ref.safetensors` is W + (alpha / r) * B @ A computed by torch in float32.
    """
    from safetensors.torch import save_file

    d = os.path.join(out, "dirs")
    torch.manual_seed(21)
    cfg = ref.MiniMindConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=64, max_seq_len=16)
    sd = {k: v.detach().clone() for k, v in ref.MiniMindForCausalLM(cfg).state_dict().items()}
    sd.pop("lm_head.weight", None)  # tied head dropped, as save_pretrained does
    config = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "vocab_size": 64, "intermediate_size": cfg.resolved_hidden_dim(), "rms_norm_eps": 1e-5,
              "rope_theta": 1e6, "tie_word_embeddings": True, "model_type": "minimind"}

    sharded = os.path.join(d, "hf_sharded")
    os.makedirs(sharded, exist_ok=True)
    names = list(sd)
    halves = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map, total = {}, 0
    for i, part in enumerate(halves):
        shard = f"model-0000{i + 1}-of-00002.safetensors"
        save_file({k: sd[k].contiguous() for k in part}, os.path.join(sharded, shard), metadata={"format": "pt"})
        for k in part:
            weight_map[k] = shard
            total += sd[k].numel() * sd[k].element_size()
    with open(os.path.join(sharded, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
        f.write("\n")
    for folder in (sharded, os.path.join(d, "hf_bin")):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")
    torch.save(sd, os.path.join(d, "hf_bin", "pytorch_model.bin"))
    for name in ("hf_sharded", "hf_bin"):
        write_json(os.path.join(d, name + ".truth.json"), {k: [dtype_name(v.dtype), list(v.shape)] for k, v in sd.items()})

    # A PEFT-style adapter saved as adapter_model.bin: r=4, lora_alpha=8, q_proj and v_proj.
    r, alpha = 4, 8
    peft = os.path.join(d, "peft_bin")
    os.makedirs(peft, exist_ok=True)
    adapter, merged = {}, {k: v.clone() for k, v in sd.items()}
    for k, w in sd.items():
        if k.endswith(("q_proj.weight", "v_proj.weight")):
            module = k[: -len(".weight")]
            a = torch.randn(r, w.shape[1]) * 0.1
            b = torch.randn(w.shape[0], r) * 0.1
            adapter[f"base_model.model.{module}.lora_A.weight"] = a
            adapter[f"base_model.model.{module}.lora_B.weight"] = b
            merged[k] = (w.float() + (alpha / r) * (b @ a)).to(w.dtype)
    torch.save(adapter, os.path.join(peft, "adapter_model.bin"))
    with open(os.path.join(peft, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": r, "lora_alpha": alpha, "target_modules": ["q_proj", "v_proj"],
                   "use_rslora": False, "use_dora": False, "fan_in_fan_out": False, "bias": "none",
                   "rank_pattern": {}, "alpha_pattern": {}}, f, indent=2, sort_keys=True)
        f.write("\n")
    write_json(os.path.join(d, "peft_bin.truth.json"), {k: [dtype_name(v.dtype), list(v.shape)] for k, v in adapter.items()})
    save_file({k: v.contiguous() for k, v in merged.items()}, os.path.join(d, "merged_ref.safetensors"))


def make_torchscript(out: str) -> None:
    """Unsupported element types (complex64, float8, uint16), and a TorchScript archive (torch.jit.save), which readers must refuse: it holds code, not a state dict.

    torch.jit.save stamps each archive with a random id, so an existing file is kept as it is."""
    d = os.path.join(out, "bad")
    os.makedirs(d, exist_ok=True)
    # Real element types the readers do not support: each must be refused by name.
    torch.save({"c": torch.zeros(2, dtype=torch.complex64)}, os.path.join(d, "complex64.pth"))
    torch.save({"f8": torch.zeros(2, dtype=torch.float8_e4m3fn)}, os.path.join(d, "float8.pth"))
    torch.save({"u16": torch.zeros(2, dtype=torch.uint16)}, os.path.join(d, "uint16.pth"))
    path = os.path.join(d, "torchscript.pt")
    if not os.path.exists(path):
        torch.manual_seed(31)
        torch.jit.save(torch.jit.script(nn.Linear(4, 4)), path)


def make_deflated(out: str) -> None:
    """A torch zip whose records are DEFLATE-compressed (torch's reader inflates them; torch.save
    never writes them), with views at non-zero storage offsets, so readers must inflate and find
    the bytes at an offset. Kept as it is once written (torch.save stamps a random id)."""
    import zipfile

    d = os.path.join(out, "matrix")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "deflated.pth")
    if os.path.exists(path):
        return
    g = torch.Generator().manual_seed(77)
    base = torch.randn(64, 32, generator=g)
    obj = {"whole": base, "rows": base[40:48], "col": base[:, 5], "half": torch.randn(300, generator=g).half()[100:]}
    plain = path + ".stored"
    torch.save(obj, plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            item = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            item.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(item, src.read(info.filename))
    os.remove(plain)
    back = load_own(path)
    check_same(obj, back, path)
    stem = path[: -len(".pth")]
    write_truth(path, back, stem + ".values.json", stem + ".scalars.json")


def main() -> None:
    torch.set_num_threads(1)
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Tests", "Fixtures")
    os.makedirs(out, exist_ok=True)
    make_matrix(out)
    make_safetensors(out)
    make_moe(out)
    make_greedy_v1(out)
    make_long_v1(out)
    make_directories(out)
    make_torchscript(out)
    make_algebra(out)
    hf_fixtures.make_hf_models(out, SHARED)
    make_deflated(out)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out) for f in fs)
    if WEIGHTS_ONLY_REFUSED:
        print("torch.load(weights_only=True) refuses: " + ", ".join(sorted(set(WEIGHTS_ONLY_REFUSED))))
    print(f"wrote fixtures to {out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
