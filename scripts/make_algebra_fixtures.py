"""PEFT adapters beyond plain LoRA, written by real PEFT 0.21.2, for loratool's adapter algebra.

Called from make_fixtures.py (`make_algebra(out)`); writes Tests/Fixtures/algebra/:

* base/            config.json + model.safetensors: a later-MiniMind model (Llama names), hidden 32,
                   2 layers, 4 heads / 2 kv heads, vocab 64, float32, lm_head NOT tied (so a
                   modules_to_save head or an embedding adapter changes one tensor only).
* dora/            PEFT adapter with use_dora=True (r 4, alpha 8) on q/v/o_proj and down_proj,
                   B and the magnitude vectors randomised as training would leave them.
* mts/             plain LoRA (r 4, alpha 8, q_proj/k_proj) with modules_to_save
                   ["lm_head", "post_attention_layernorm"], the saved copies perturbed.
* emb/             LoRA on embed_tokens (lora_embedding_A/B) and o_proj (r 4, alpha 4, rsLoRA off).
* tied_base/       the same model with lm_head tied to embed_tokens and stored once, as HF
                   safetensors stores it (no lm_head.weight; config tie_word_embeddings true).
* tied_mts/        plain LoRA (q_proj) with modules_to_save ["lm_head"] on tied_base: PEFT wraps a
                   copy of the tied head, so the saved head replaces it and the embedding stays.
* X.merged.safetensors   PEFT's merge_and_unload() of base + X, float32 (the reference merge); only
                   the tensors it changed (every other tensor equals base/).
* X.logits.npy     PeftModel's forward (adapter unmerged) of base + X on TOKENS, float32 [16, 64]:
                   what `logits --lora` and verify's wrapped model must compute.
"""

from __future__ import annotations

import json
import os
import shutil

import torch

import minimind_ref as ref

CONFIG = dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=64, max_seq_len=32)
# The token ids of X.logits.npy (every row of a 64-token vocabulary is reachable; Swift tests use the same).
TOKENS = [(7 * i + 1) % 64 for i in range(16)]


def base_model(tied: bool = False) -> ref.MiniMindForCausalLM:
    torch.manual_seed(1201)
    model = ref.MiniMindForCausalLM(ref.MiniMindConfig(**CONFIG))
    with torch.no_grad():
        if not tied:
            model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())  # untie
            model.lm_head.weight.normal_(0, 0.2)
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
    return model.eval()


def hf_config(tied: bool = False) -> dict:
    cfg = ref.MiniMindConfig(**CONFIG)
    return {"hidden_size": cfg.dim, "num_hidden_layers": cfg.n_layers, "num_attention_heads": cfg.n_heads,
            "num_key_value_heads": cfg.n_kv_heads, "vocab_size": cfg.vocab_size,
            "intermediate_size": cfg.resolved_hidden_dim(), "rms_norm_eps": cfg.norm_eps,
            "rope_theta": cfg.rope_theta, "tie_word_embeddings": tied, "model_type": "minimind"}


def save_state(sd: dict, path: str) -> None:
    from safetensors.torch import save_file
    save_file({k: v.detach().contiguous().clone() for k, v in sd.items()}, path, metadata={"format": "pt"})


def tidy_adapter_dir(d: str) -> None:
    """Drops PEFT's generated README (it names library versions and dates) to keep reruns identical."""
    readme = os.path.join(d, "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    cfg_path = os.path.join(d, "adapter_config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    for key in ("target_modules", "modules_to_save"):
        if isinstance(cfg.get(key), list):
            cfg[key] = sorted(cfg[key])
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def peft_logits(peft_model) -> "numpy.ndarray":
    """The wrapped (unmerged) PeftModel's logits on TOKENS, float32 [len(TOKENS), vocab]."""
    with torch.no_grad():
        return peft_model.eval()(torch.tensor([TOKENS]))[0][0].float().numpy()


def make_variant(out: str, name: str, seed: int, tied: bool = False, **lora_kwargs) -> None:
    import numpy as np
    from peft import LoraConfig, get_peft_model

    model = base_model(tied)
    torch.manual_seed(seed)
    peft_model = get_peft_model(model, LoraConfig(lora_dropout=0.0, **lora_kwargs))
    with torch.no_grad():
        for pname, p in peft_model.named_parameters():
            if "lora_B" in pname or "lora_embedding_B" in pname:
                p.normal_(0, 0.1)
            elif "lora_embedding_A" in pname:
                p.normal_(0, 0.3)
            elif "lora_magnitude_vector" in pname:
                p.mul_(1.0 + 0.1 * torch.randn_like(p))
            elif "modules_to_save" in pname:
                p.add_(0.05 * torch.randn_like(p))
    d = os.path.join(out, name)
    if os.path.exists(d):
        shutil.rmtree(d)
    peft_model.save_pretrained(d)
    tidy_adapter_dir(d)
    np.save(os.path.join(out, name + ".logits.npy"), peft_logits(peft_model))
    merged = peft_model.merge_and_unload().state_dict()
    base = base_model(tied).state_dict()
    changed = {k: v for k, v in merged.items() if not torch.equal(v, base[k])}
    save_state(changed, os.path.join(out, name + ".merged.safetensors"))


def make_algebra(out: str) -> None:
    d = os.path.join(out, "algebra")
    for name, tied in (("base", False), ("tied_base", True)):
        os.makedirs(os.path.join(d, name), exist_ok=True)
        sd = base_model(tied).state_dict()
        if tied:
            del sd["lm_head.weight"]  # stored once, as transformers saves a tied head
        save_state(sd, os.path.join(d, name, "model.safetensors"))
        with open(os.path.join(d, name, "config.json"), "w") as f:
            json.dump(hf_config(tied), f, indent=2, sort_keys=True)
            f.write("\n")
    make_variant(d, "dora", 1202, r=4, lora_alpha=8, use_dora=True,
                 target_modules=["q_proj", "v_proj", "o_proj", "down_proj"])
    make_variant(d, "mts", 1203, r=4, lora_alpha=8, target_modules=["q_proj", "k_proj"],
                 modules_to_save=["lm_head", "post_attention_layernorm"])
    make_variant(d, "emb", 1204, r=4, lora_alpha=4, target_modules=["embed_tokens", "o_proj"])
    make_variant(d, "tied_mts", 1205, tied=True, r=4, lora_alpha=8, target_modules=["q_proj"], modules_to_save=["lm_head"])
