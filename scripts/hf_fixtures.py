"""Tiny Hugging Face model directories written by transformers itself, with its own logits as truth.

Called from make_fixtures.py (pinned transformers 5.24.0, torch 2.13, safetensors). Each directory
under Tests/Fixtures/hf_models/<name>/ holds what `save_pretrained` writes (config.json,
generation_config.json, model.safetensors) plus tokens.npy (int64) and logits.npy (float32
[tokens, vocab], transformers' eager forward in float32). Seeds are fixed, so re-running writes
identical files.

| name | what |
| --- | --- |
| qwen2 | Qwen2ForCausalLM with random (non-zero) q/k/v biases, untied head |
| qwen2_peft | a PEFT adapter directory for qwen2 (r=4, alpha=8, all seven projections) and PEFT's unmerged logits (logits_wrapped.npy) |
| qwen2_yarn | the same weights, `rope_parameters` yarn (factor 4, original 16): transformers' YaRN |
| qwen3_mm3 | Qwen3ForCausalLM built from ../shared/fixtures/mm3_tiny/base.pth (minimind-3 = Qwen3), tied head, stored float16 as the source is |
| qwen3_moe | Qwen3MoeForCausalLM, 4 experts, top-2, norm_topk_prob false, layer 1 dense (mlp_only_layers), per-expert keys as save_pretrained writes them |
| qwen3_moe_fused | the same model as transformers 5 holds it in memory: mlp.experts.gate_up_proj [E, 2I, H] and down_proj [E, H, I] |
| llama3 | LlamaForCausalLM with `rope_parameters` llama3 (factor 8, low 1, high 4, original 16) |
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import torch


def _logits(model, tokens: torch.Tensor) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(tokens[None, :]).logits[0].float().numpy().astype(np.float32)


def _randomize_biases(model, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def _finish(d: str, model, tokens: torch.Tensor, fused_state: dict | None = None, half: bool = False) -> float:
    """Saves the model (or `fused_state` as model.safetensors), tokens.npy and logits.npy; returns max |logit|.

    The logits are always the float32 model's; `half` stores weights that are exact in float16 as float16."""
    from safetensors.torch import save_file

    if os.path.isdir(d):
        shutil.rmtree(d)
    logits = _logits(model, tokens)
    if half:
        model = model.to(torch.float16)
    model.save_pretrained(d)
    if fused_state is not None:
        os.remove(os.path.join(d, "model.safetensors"))
        save_file({k: v.contiguous() for k, v in fused_state.items()}, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    np.save(os.path.join(d, "tokens.npy"), tokens.numpy().astype(np.int64))
    np.save(os.path.join(d, "logits.npy"), logits)
    return float(np.abs(logits).max())


def _peft_adapter(d: str, model, tokens: torch.Tensor) -> None:
    """A real PEFT adapter (r=4, alpha=8, every projection, random A and B) and PEFT's own wrapped and merged logits."""
    import copy

    from peft import LoraConfig, get_peft_model

    if os.path.isdir(d):
        shutil.rmtree(d)
    torch.manual_seed(45)
    config = LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    peft_model = get_peft_model(copy.deepcopy(model), config)
    peft_model.save_pretrained(d)
    os.remove(os.path.join(d, "README.md"))  # PEFT's model-card template: not part of the adapter
    # PEFT writes target_modules from a set, in hash order: sort it so re-running writes the same file.
    path = os.path.join(d, "adapter_config.json")
    with open(path) as f:
        adapter_config = json.load(f)
    adapter_config["target_modules"] = sorted(adapter_config["target_modules"])
    with open(path, "w") as f:
        json.dump(adapter_config, f, indent=2, sort_keys=True)
        f.write("\n")
    np.save(os.path.join(d, "logits_wrapped.npy"), _logits(peft_model, tokens))


def make_hf_models(out: str, shared: str) -> None:
    from transformers import (LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config,
                              Qwen3ForCausalLM, Qwen3MoeConfig, Qwen3MoeForCausalLM)

    root = os.path.join(out, "hf_models")
    os.makedirs(root, exist_ok=True)
    small = dict(vocab_size=128, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=False)
    tokens = torch.randint(0, 128, (24,), generator=torch.Generator().manual_seed(5))

    torch.manual_seed(40)
    q2 = Qwen2ForCausalLM(Qwen2Config(intermediate_size=96, rope_theta=1e6, attn_implementation="eager", **small))
    _randomize_biases(q2, 41)
    _finish(os.path.join(root, "qwen2"), q2, tokens)
    yarn_cfg = Qwen2Config(intermediate_size=96, attn_implementation="eager",
                           rope_parameters={"rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0, "original_max_position_embeddings": 16},
                           **small)
    q2y = Qwen2ForCausalLM(yarn_cfg)
    q2y.load_state_dict(q2.state_dict())
    _finish(os.path.join(root, "qwen2_yarn"), q2y, tokens)
    _peft_adapter(os.path.join(root, "qwen2_peft"), q2, tokens)

    # minimind-3 is Qwen3: its weights load into Qwen3ForCausalLM unchanged (upstream's convert_model.py does the same).
    sd = torch.load(os.path.join(shared, "mm3_tiny", "base.pth"), map_location="cpu", weights_only=True)
    mm3 = json.load(open(os.path.join(shared, "mm3_tiny", "config.json")))
    q3 = Qwen3ForCausalLM(Qwen3Config(
        vocab_size=mm3["vocab_size"], hidden_size=mm3["hidden_size"], intermediate_size=mm3["intermediate_size"],
        num_hidden_layers=mm3["num_hidden_layers"], num_attention_heads=mm3["num_attention_heads"],
        num_key_value_heads=mm3["num_key_value_heads"], head_dim=mm3["head_dim"], rms_norm_eps=mm3["rms_norm_eps"],
        rope_theta=mm3["rope_theta"], max_position_embeddings=mm3["max_position_embeddings"], tie_word_embeddings=True,
        attn_implementation="eager"))
    missing, unexpected = q3.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
    assert not unexpected and all(k == "lm_head.weight" for k in missing), (missing, unexpected)
    q3.tie_weights()
    mm3_tokens = torch.from_numpy(np.load(os.path.join(shared, "mm3_tiny", "tokens.npy")))
    _finish(os.path.join(root, "qwen3_mm3"), q3, mm3_tokens, half=True)  # the weights were float16 already

    torch.manual_seed(42)
    moe_cfg = Qwen3MoeConfig(intermediate_size=96, moe_intermediate_size=32, head_dim=16, num_experts=4,
                             num_experts_per_tok=2, norm_topk_prob=False, mlp_only_layers=[1], decoder_sparse_step=1,
                             rope_theta=1e6, attn_implementation="eager", **small)
    moe = Qwen3MoeForCausalLM(moe_cfg)
    with torch.no_grad():  # spread the router so top-2 choices are not near ties
        for name, p in moe.named_parameters():
            if name.endswith("mlp.gate.weight"):
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(43)) * 0.5)
    _finish(os.path.join(root, "qwen3_moe"), moe, tokens)
    _finish(os.path.join(root, "qwen3_moe_fused"), moe, tokens, fused_state=moe.state_dict())

    torch.manual_seed(44)
    llama = LlamaForCausalLM(LlamaConfig(
        intermediate_size=96, attn_implementation="eager",
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
        **small))
    _finish(os.path.join(root, "llama3"), llama, tokens)
