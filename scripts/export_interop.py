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
* GGUF (`merge -o X.gguf --dtype f32|f16|bf16|q8_0`): the gguf package reads it (key types, tokens equal
  to tokenizer.json's, tensor names/shapes/types as llama.cpp's tensor map and converter lay them out,
  q/k rows permuted as llama.cpp's converter permutes them for `llama`, values equal to torch's own merge
  within the type's rounding, q8_0 within half its block step); `verify --merged` passes on f16/q8_0 and
  fails against a GGUF of the unmerged base; our reader reads a file the gguf package's writer made.
Also: a safetensors file written by `safetensors.torch.save_model` (a tied alias named in __metadata__)
converted twice by loratool keeps its metadata and still loads with `load_model`.
Prints one line per check and "N passed, M failed"; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from check_harness import CheckFailed, Runner  # noqa: E402

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
    # Qwen2 (q/k/v biases) written by transformers with a PEFT adapter: the project's own fixtures, no tokenizer.
    ("qwen2", "local:hf_models/qwen2", "local:hf_models/qwen2_peft", "local:hf_models/qwen2_peft"),
]
NO_TOKENIZER = {"qwen2"}
# Rotary scaling written by transformers (no adapter, no tokenizer): name, model directory under Tests/Fixtures.
ROPE_FIXTURES = [("llama3-rope", "hf_models/llama3"), ("qwen2-yarn", "hf_models/qwen2_yarn")]


def fx(shared: str, rel: str) -> str:
    """A fixture path: `local:` ones under Tests/Fixtures, the others under the shared fixtures."""
    if rel.startswith("local:"):
        return os.path.join(ROOT, "Tests/Fixtures", rel[len("local:"):])
    return os.path.join(shared, rel)


def tokens_file(shared: str, family) -> str:
    """tokens.npy beside the reference logits, else in the base model's directory."""
    here = os.path.join(fx(shared, family[3]), "tokens.npy")
    return here if os.path.exists(here) else os.path.join(fx(shared, family[1]), "tokens.npy")


def tokenizer_args(shared: str, family) -> list:
    return [] if family[0] in NO_TOKENIZER else ["--tokenizer", shared]


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
    base, adapter = fx(shared, base), fx(shared, adapter)
    tokens = tokens_file(shared, family)
    label = f"hf {name} {dtype}" + (f" shards<{shard}" if shard else "")
    out = r.out(f"{name}-{dtype}-{shard or 'one'}-hf")

    def export():
        args = ["merge", base, adapter, "-o", out, "--format", "hf", "--dtype", dtype] + tokenizer_args(shared, family)
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
        wrapped = np.load(os.path.join(fx(shared, data), "logits_wrapped.npy"))
        scale = float(np.abs(wrapped).max())
        d_ref = float(np.abs(theirs - wrapped).max())
        tol = verify_tolerance(dtype, scale)
        if d_ref > tol:
            raise CheckFailed(f"transformers on the export vs torch's adapter-wrapped logits: max |Δ| {d_ref:.3g} > {tol:.3g}")
        tied = model.config.tie_word_embeddings
        return f"{type(model).__name__}, tied={tied}, vs loratool {d_ours:.2g}, vs wrapped {d_ref:.2g} (tol {tol:.2g})"

    r.check(f"{label}: transformers loads it without remote code, logits", load_and_compare)

    if shard or dtype != "float32" or name in NO_TOKENIZER:
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


# --------------------------------------------------------------------------- GGUF

def reference_merged(shared: str, family) -> dict:
    """torch's own merge of the fixture, in float32: W + scale * B @ A from the base and adapter files."""
    name, base, adapter, data = family
    bpath = fx(shared, base)
    if os.path.isdir(bpath):
        from safetensors.torch import load_file as load_st
        sd = load_st(os.path.join(bpath, "model.safetensors"))
    else:
        sd = torch.load(bpath, weights_only=True)
    sd = {k: v.float() for k, v in sd.items()}
    apath = fx(shared, adapter)
    if os.path.isdir(apath):  # PEFT directory
        from safetensors.torch import load_file
        cfg = json.load(open(os.path.join(apath, "adapter_config.json")))
        scale = cfg["lora_alpha"] / cfg["r"]
        ad = load_file(os.path.join(apath, "adapter_model.safetensors"))
        for key, a in ad.items():
            if ".lora_A." not in key:
                continue
            module = key.split("base_model.model.", 1)[1].rsplit(".lora_A.", 1)[0]
            b = ad[key.replace(".lora_A.", ".lora_B.")]
            sd[module + ".weight"] = sd[module + ".weight"] + scale * (b.float() @ a.float())
    else:  # MiniMind save_lora: <module>.lora.A.weight / .lora.B.weight, scale 1
        ad = torch.load(apath, weights_only=True)
        for key, a in ad.items():
            if not key.endswith(".lora.A.weight"):
                continue
            module = key[: -len(".lora.A.weight")]
            b = ad[module + ".lora.B.weight"]
            sd[module + ".weight"] = sd[module + ".weight"] + b.float() @ a.float()
    return sd


def llama_cpp_permute(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's converter's q/k permutation for `llama`: rotate-half rows to adjacent pairs."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def expected_gguf_tensors(sd: dict, family_name: str, heads: int, kv_heads: int) -> dict:
    """GGUF name -> float32 array, as llama.cpp's tensor map and converter lay them out."""
    out = {}
    if family_name == "minimind-v1":
        m = {"tok_embeddings.weight": "token_embd.weight", "norm.weight": "output_norm.weight"}
        per = {"attention_norm": "attn_norm", "attention.wq": "attn_q", "attention.wk": "attn_k", "attention.wv": "attn_v",
               "attention.wo": "attn_output", "ffn_norm": "ffn_norm", "feed_forward.w1": "ffn_gate",
               "feed_forward.w3": "ffn_up", "feed_forward.w2": "ffn_down"}
        for k, v in sd.items():
            if k in m:
                out[m[k]] = v.numpy()
            elif k.startswith("layers."):
                _, i, rest = k.split(".", 2)
                mod = rest[: -len(".weight")]
                if mod in per:
                    out[f"blk.{i}.{per[mod]}.weight"] = v.numpy()
        return out
    m = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
    per = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
           "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm",
           "self_attn.k_norm": "attn_k_norm", "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate",
           "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down", "mlp.gate": "ffn_gate_inp"}
    experts = {}
    for k, v in sd.items():
        if k in m:
            out[m[k]] = v.numpy()
        elif k.startswith("model.layers."):
            _, _, i, rest = k.split(".", 3)
            suffix = ".bias" if rest.endswith(".bias") else ".weight"
            mod = rest[: -len(suffix)]
            if mod.startswith("mlp.experts."):
                _, _, e, proj = mod.split(".")
                experts.setdefault((i, proj), {})[int(e)] = v.numpy()
            elif mod in per:
                w = v.numpy()
                if family_name == "minimind2-hf" and per[mod] in ("attn_q", "attn_k"):
                    w = llama_cpp_permute(w, heads if per[mod] == "attn_q" else kv_heads)
                out[f"blk.{i}.{per[mod]}{suffix}"] = w
    if "output.weight" in out and np.array_equal(out["output.weight"], out["token_embd.weight"]):
        del out["output.weight"]  # a tied head is stored once, as token_embd
    names = {"gate_proj": "ffn_gate_exps", "up_proj": "ffn_up_exps", "down_proj": "ffn_down_exps"}
    for (i, proj), by_e in experts.items():
        out[f"blk.{i}.{names[proj]}.weight"] = np.stack([by_e[e] for e in sorted(by_e)])
    return out


def gguf_checks(r: Runner, shared: str, family, gtype: str) -> None:
    import gguf

    name, base, adapter, data = family
    label = f"gguf {name} {gtype}"
    out = r.out(f"{name}-{gtype}.gguf")
    base_path, adapter_path = fx(shared, base), fx(shared, adapter)

    if not r.check(f"{label}: export", lambda: r.run("merge", base_path, adapter_path, "-o", out, "--dtype", gtype,
                                                     *tokenizer_args(shared, family)).stdout.strip()[-80:]):
        return

    def read_with_gguf():
        reader = gguf.GGUFReader(out)
        fields = reader.fields
        arch = str(bytes(fields["general.architecture"].parts[-1]), "utf-8")
        want_types = {
            "general.architecture": gguf.GGUFValueType.STRING, "general.file_type": gguf.GGUFValueType.UINT32,
            f"{arch}.context_length": gguf.GGUFValueType.UINT32, f"{arch}.embedding_length": gguf.GGUFValueType.UINT32,
            f"{arch}.block_count": gguf.GGUFValueType.UINT32, f"{arch}.attention.head_count": gguf.GGUFValueType.UINT32,
            f"{arch}.attention.head_count_kv": gguf.GGUFValueType.UINT32,
            f"{arch}.attention.layer_norm_rms_epsilon": gguf.GGUFValueType.FLOAT32,
            f"{arch}.rope.freq_base": gguf.GGUFValueType.FLOAT32, "tokenizer.ggml.model": gguf.GGUFValueType.STRING,
        }
        if name not in NO_TOKENIZER:
            want_types.update({"tokenizer.ggml.tokens": gguf.GGUFValueType.ARRAY, "tokenizer.ggml.merges": gguf.GGUFValueType.ARRAY,
                               "tokenizer.chat_template": gguf.GGUFValueType.STRING})
        for key, t in want_types.items():
            if key not in fields:
                raise CheckFailed(f"missing key {key}")
            if fields[key].types[0] != t:
                raise CheckFailed(f"{key} has type {fields[key].types[0]}, want {t}")
        heads = int(fields[f"{arch}.attention.head_count"].parts[-1][0])
        kv_heads = int(fields[f"{arch}.attention.head_count_kv"].parts[-1][0])
        from tokenizers import Tokenizer
        vocab = {} if name in NO_TOKENIZER else Tokenizer.from_file(os.path.join(shared, "tokenizer.json")).get_vocab(with_added_tokens=True)
        tokens = [str(bytes(fields["tokenizer.ggml.tokens"].parts[i]), "utf-8") for i in fields["tokenizer.ggml.tokens"].data] if vocab else []
        for tok, i in vocab.items():
            if tokens[i] != tok:
                raise CheckFailed(f"token {i} is {tokens[i]!r}, tokenizer.json says {tok!r}")
        want = expected_gguf_tensors(reference_merged(shared, family), name, heads, kv_heads)
        got = {t.name: t for t in reader.tensors}
        if set(got) != set(want):
            raise CheckFailed(f"tensor names differ: extra {sorted(set(got) - set(want))[:4]}, missing {sorted(set(want) - set(got))[:4]}")
        worst, worst_step = 0.0, 0.0
        for tname, ref in want.items():
            t = got[tname]
            if tuple(int(x) for x in reversed(t.shape)) != ref.shape:
                raise CheckFailed(f"{tname}: shape {list(reversed(t.shape))} vs {ref.shape}")
            expected_type = gguf.GGMLQuantizationType.F32 if ref.ndim == 1 or "ffn_gate_inp" in tname else {
                "f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16,
                "bf16": gguf.GGMLQuantizationType.BF16, "q8_0": gguf.GGMLQuantizationType.Q8_0}[gtype]
            if t.tensor_type != expected_type:
                raise CheckFailed(f"{tname}: type {t.tensor_type.name}, want {expected_type.name}")
            values = gguf.quants.dequantize(t.data, t.tensor_type).reshape(ref.shape).astype(np.float32)
            diff = np.abs(values - ref)
            if t.tensor_type == gguf.GGMLQuantizationType.Q8_0:
                blocks = np.abs(ref.reshape(-1, 32)).max(axis=1) / 127  # the step d of each block
                allowed = np.repeat(blocks, 32).reshape(ref.shape) * 0.5 + np.abs(ref) * 2 ** -10 + 1e-7
                worst_step = max(worst_step, float(blocks.max()))
            else:
                eps = {gguf.GGMLQuantizationType.F32: 1e-5, gguf.GGMLQuantizationType.F16: 2 ** -11,
                       gguf.GGMLQuantizationType.BF16: 2 ** -8}[t.tensor_type]
                # v1's reference merge adds in float32 on float16 weights: one float16 rounding apart at most.
                allowed = np.abs(ref) * (eps + (2 ** -11 if name == "minimind-v1" else 0)) + 1e-6
            if (diff > allowed).any():
                raise CheckFailed(f"{tname}: max |Δ| {diff.max():.3g} beyond its rounding/step")
            worst = max(worst, float(diff.max()))
        detail = f"{len(got)} tensors, {len(fields)} keys, arch {arch}, max |Δ| {worst:.2g}"
        return detail + (f", largest q8_0 step {worst_step:.3g}" if worst_step else "")

    r.check(f"{label}: the gguf package reads keys, types, names, shapes and values", read_with_gguf)

    if gtype in ("f16", "q8_0"):
        def verify_merged():
            proc = r.run("verify", base_path, adapter_path, "--merged", out, "--json", ok=False)
            if proc.returncode != 0:
                raise CheckFailed(f"verify exit {proc.returncode}: {proc.stdout.strip()[-300:]} {proc.stderr.strip()[-200:]}")
            report = json.loads(proc.stdout)
            body = report.get("result", report)
            return f"max |Δ| {body.get('max_abs_diff'):.3g} ≤ {body.get('tolerance'):.3g}"

        r.check(f"{label}: verify --merged passes", verify_merged)

        def verify_base_fails():
            unmerged = r.out(f"{name}-{gtype}-base.gguf")
            r.run("convert", base_path, "-o", unmerged, "--dtype", gtype, *tokenizer_args(shared, family))
            proc = r.run("verify", base_path, adapter_path, "--merged", unmerged, "--json", ok=False)
            report = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
            body = report.get("result", report)
            if proc.returncode == 1:
                return f"exit 1 (max |Δ| {body.get('max_abs_diff', 0):.3g} > {body.get('tolerance', 0):.3g})"
            if gtype == "q8_0" and proc.returncode == 0 and body.get("adapter_effect", 1) <= body.get("tolerance", 0):
                # q8_0's own noise is as large as this tiny adapter's effect: verify says the adapter is not
                # detectable at this tolerance (reported, not hidden); f16 catches the unmerged base.
                return f"NOT DETECTABLE at q8_0: adapter effect {body['adapter_effect']:.3g} <= tolerance {body['tolerance']:.3g} (stated by verify)"
            raise CheckFailed(f"verify of the unmerged base exited {proc.returncode}, want 1")

        r.check(f"{label}: verify against the unmerged base fails", verify_base_fails)


def llama3_rope_factors(rope: dict, head_dim: int) -> np.ndarray:
    """llama.cpp's `rope_freqs` for llama3 scaling, computed as its converter computes them (in torch float32)."""
    import math
    base = rope["rope_theta"]
    freqs = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < old / high:
            out.append(1)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(out, dtype=torch.float32).numpy()


def rope_scaling_checks(r: Runner) -> None:
    """Models with rotary scaling (transformers' llama3 and yarn): the HF directory keeps it (transformers'
    logits equal the source's), the GGUF carries it as llama.cpp reads it (rope_freqs / rope.scaling.*)."""
    import gguf
    from transformers import AutoConfig, AutoModelForCausalLM

    for name, rel in ROPE_FIXTURES:
        src = os.path.join(ROOT, "Tests/Fixtures", rel)
        tokens = os.path.join(src, "tokens.npy")
        source_logits = np.load(os.path.join(src, "logits.npy"))
        source_logits = source_logits.reshape(-1, source_logits.shape[-1])
        source_rope = AutoConfig.from_pretrained(src).rope_parameters
        out = r.out(f"{name}-hf")

        def hf(src=src, out=out, tokens=tokens, source_logits=source_logits, source_rope=source_rope):
            r.run("convert", src, "-o", out, "--format", "hf", "--dtype", "float32")
            model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)  # no trust_remote_code
            if model.config.rope_parameters != source_rope:
                raise CheckFailed(f"rope_parameters {model.config.rope_parameters} != the source's {source_rope}")
            ids = torch.from_numpy(np.load(tokens)).long().reshape(1, -1)
            with torch.no_grad():
                theirs = model(ids).logits[0].float().numpy()
            d_source = float(np.abs(theirs - source_logits).max())
            ours = our_logits(r, out, tokens, os.path.basename(out) + "-ours")
            d_ours = float(np.abs(theirs - ours).max())
            # The same weights with plain RoPE: how far the check would see a dropped scaling.
            plain = AutoConfig.from_pretrained(out)
            plain.rope_parameters = {"rope_type": "default", "rope_theta": source_rope["rope_theta"]}
            unscaled = AutoModelForCausalLM.from_pretrained(out, config=plain, dtype=torch.float32)
            with torch.no_grad():
                d_plain = float(np.abs(unscaled(ids).logits[0].float().numpy() - source_logits).max())
            if d_source > 1e-4 or d_ours > 1e-4:
                raise CheckFailed(f"transformers on the export vs the source's logits {d_source:.3g}, vs loratool {d_ours:.3g} (> 1e-4)")
            return (f"{source_rope['rope_type']} kept, vs source {d_source:.2g}, vs loratool {d_ours:.2g} "
                    f"(plain RoPE would be off by {d_plain:.2g})")

        r.check(f"hf {name}: transformers runs the scaling, logits", hf)

        for gtype in ("f32", "f16"):
            gout = r.out(f"{name}-{gtype}.gguf")

            def read(src=src, gout=gout, gtype=gtype, source_rope=source_rope, tokens=tokens, source_logits=source_logits):
                r.run("convert", src, "-o", gout, "--dtype", gtype)
                reader = gguf.GGUFReader(gout)
                arch = str(bytes(reader.fields["general.architecture"].parts[-1]), "utf-8")
                tensors = {t.name: t for t in reader.tensors}
                if source_rope["rope_type"] == "llama3":
                    config = json.load(open(os.path.join(src, "config.json")))
                    want = llama3_rope_factors(source_rope, config["head_dim"])
                    t = tensors.get("rope_freqs.weight")
                    if t is None or t.tensor_type != gguf.GGMLQuantizationType.F32:
                        raise CheckFailed(f"no f32 rope_freqs.weight: {sorted(tensors)[:4]}")
                    got = np.asarray(t.data, dtype=np.float32)
                    if not np.array_equal(got, want):
                        raise CheckFailed(f"rope_freqs {got} != llama.cpp's converter's {want}")
                    if f"{arch}.rope.scaling.type" in reader.fields:
                        raise CheckFailed("llama3 scaling must not set rope.scaling.type (llama.cpp reads rope_freqs)")
                    back = r.run("logits", gout, "--tokens", tokens, "-o", r.out("never.npy"), ok=False)
                    if back.returncode != 2 or "rope_freqs" not in back.stderr:
                        raise CheckFailed(f"loratool logits of the llama3 GGUF: exit {back.returncode}, want a refusal naming rope_freqs")
                    return f"rope_freqs = the converter's factors {np.round(got, 3).tolist()}; loratool refuses to read it back by name"
                fields = reader.fields
                kind = str(bytes(fields[f"{arch}.rope.scaling.type"].parts[-1]), "utf-8")
                factor = float(fields[f"{arch}.rope.scaling.factor"].parts[-1][0])
                original = int(fields[f"{arch}.rope.scaling.original_context_length"].parts[-1][0])
                if (kind, factor, original) != ("yarn", source_rope["factor"], source_rope["original_max_position_embeddings"]):
                    raise CheckFailed(f"rope.scaling = {kind}, {factor}, {original}")
                if "rope_freqs.weight" in tensors:
                    raise CheckFailed("yarn must not write rope_freqs")
                back = our_logits(r, gout, tokens, os.path.basename(gout) + "-ours")
                d_back = float(np.abs(back - source_logits).max())
                limit = 1e-4 if gtype == "f32" else 4 * 2 ** -10 * max(1.0, float(np.abs(source_logits).max()))
                if d_back > limit:
                    raise CheckFailed(f"loratool running the GGUF vs transformers on the source: {d_back:.3g} > {limit:.3g}")
                return f"rope.scaling.type yarn, factor {factor:g}, original_context_length {original}; loratool runs it back: {d_back:.2g}"

            r.check(f"gguf {name} {gtype}: the gguf package reads the scaling as llama.cpp's converter writes it", read)


def gguf_written_by_gguf_package(r: Runner) -> None:
    """Our reader reads a file the gguf package's own writer made: metadata and f32/f16/bf16/q8_0 tensors."""
    import gguf

    def check():
        path = r.out("by-gguf-package.gguf")
        rng = np.random.default_rng(7)
        w = gguf.GGUFWriter(path, "llama")
        w.add_uint32("test.count", 7)
        w.add_float32("test.eps", 1e-6)
        w.add_string("test.text", "héllo 你好")
        w.add_bool("test.flag", True)
        w.add_array("test.list", [1, 2, 3])
        arrays = {
            "a.f32": (rng.standard_normal((4, 64)).astype(np.float32), gguf.GGMLQuantizationType.F32),
            "b.f16": (rng.standard_normal((3, 32)).astype(np.float16), gguf.GGMLQuantizationType.F16),
            "c.q8_0": (rng.standard_normal((2, 64)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0),
            "d.bf16": (rng.standard_normal((2, 32)).astype(np.float32), gguf.GGMLQuantizationType.BF16),
        }
        for tname, (a, qtype) in arrays.items():
            if qtype in (gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.BF16):
                w.add_tensor(tname, gguf.quants.quantize(a, qtype).view(np.uint8), raw_dtype=qtype)  # byte shape
            else:
                w.add_tensor(tname, a)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        proc = r.run("inspect", path, "--json")
        text = proc.stdout
        for needle in ["a.f32", "b.f16", "c.q8_0", "d.bf16"]:
            if needle not in text:
                raise CheckFailed(f"inspect does not list {needle}")
        # Values through our reader: convert to safetensors (q8_0 dequantized) and compare.
        st = r.out("by-gguf-package.safetensors")
        r.run("convert", path, "-o", st, "--dtype", "float32")
        from safetensors.numpy import load_file
        ours = load_file(st)
        for tname, (a, qtype) in arrays.items():
            want = gguf.quants.dequantize(gguf.quants.quantize(a.astype(np.float32), qtype), qtype) if qtype in (
                gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.BF16) else a
            got = ours[tname].astype(np.float32)
            if got.shape != a.shape or not np.array_equal(got, np.asarray(want, dtype=np.float32)):
                raise CheckFailed(f"{tname}: our reader gives different values (shape {got.shape})")
        meta = json.loads(text)
        blob = json.dumps(meta, ensure_ascii=False)
        for needle in ["test.count", "héllo 你好", "test.eps"]:
            if needle not in blob:
                raise CheckFailed(f"inspect --json lacks {needle!r}")
        return "4 tensors (f32, f16, q8_0, bf16) and 5 keys"

    r.check("gguf package file: our reader reads metadata and tensors", check)


def safetensors_metadata_round_trip(r: Runner) -> None:
    """A file written by safetensors' save_model (a tied alias dropped and named in __metadata__) converted
    twice by loratool still loads with safetensors.torch.load_model, alias restored, keys unchanged."""
    import safetensors.torch as st
    from safetensors import safe_open

    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(16, 8)
            self.head = torch.nn.Linear(8, 16, bias=False)
            self.head.weight = self.embed.weight

    def check():
        torch.manual_seed(0)
        model = Tied()
        first = r.out("tied.safetensors")
        st.save_model(model, first)
        want = safe_open(first, "pt").metadata()
        once, twice = r.out("tied-once.safetensors"), r.out("tied-twice.safetensors")
        r.run("convert", first, "-o", once)
        r.run("convert", once, "-o", twice)
        got = safe_open(twice, "pt").metadata()
        if {k: v for k, v in got.items() if k != "format"} != {k: v for k, v in want.items() if k != "format"}:
            raise CheckFailed(f"metadata changed: {want} -> {got}")
        fresh = Tied()
        st.load_model(fresh, twice)
        if not torch.equal(fresh.embed.weight, model.embed.weight) or not torch.equal(fresh.head.weight, model.embed.weight):
            raise CheckFailed("load_model restored different weights")
        return f"metadata {sorted(want)} kept through two conversions; load_model restores the alias"

    r.check("safetensors __metadata__ round trip (load_model)", check)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("loratool", nargs="?", default=os.environ.get("LORATOOL", os.path.join(ROOT, ".build/debug/loratool")))
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(ROOT), "shared/fixtures"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--hf-only", action="store_true", help="only the Hugging Face directory checks")
    parser.add_argument("--gguf-only", action="store_true", help="only the GGUF checks")
    parser.add_argument("--family", help="only this family (e.g. qwen2); 'rope' for the rotary-scaling fixtures only")
    args = parser.parse_args()
    if not os.path.isdir(args.shared):
        print(f"SKIP export interop: no shared fixtures at {args.shared}")
        return 0
    workdir = tempfile.mkdtemp(prefix="loratool-export-")
    r = Runner(os.path.abspath(args.loratool), workdir)
    try:
        for family in FAMILIES:
            if args.family and family[0] != args.family:
                continue
            base = fx(args.shared, family[1])
            if not family_runs(r, base):
                print(f"SKIP {family[0]}: loratool cannot run this family's forward pass yet")
                continue
            if not args.gguf_only:
                hf_checks(r, args.shared, family, "float32")
                hf_checks(r, args.shared, family, "float16")
            if family[0] == "minimind2-hf" and not args.gguf_only:
                hf_checks(r, args.shared, family, "float32", shard="300KB")
            if not args.hf_only:
                for gtype in ("f32", "f16", "bf16", "q8_0"):
                    gguf_checks(r, args.shared, family, gtype)
        if args.family in (None, "rope"):
            rope_scaling_checks(r)
        if args.family != "rope" and not args.hf_only:
            gguf_written_by_gguf_package(r)
        if args.family != "rope" and not args.hf_only and not args.gguf_only:
            safetensors_metadata_round_trip(r)
    finally:
        if args.keep:
            print(f"outputs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
