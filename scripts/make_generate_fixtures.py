#!/usr/bin/env python3
"""Truth for `loratool generate`, written by transformers / tokenizers / torch (pinned venv).

Writes, under Tests/Fixtures/generate/:

* ``chat_renders.json``: for every chat template we render natively (the tokenizer_config.json files in
  Tests/Fixtures/chat_templates/ plus the shared MiniMind one), several conversations rendered by
  ``tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)``.
* ``greedy_architectures.json``: greedy ids (no text: their vocabularies have no tokenizer) from
  ``AutoModelForCausalLM.generate(do_sample=False)`` for every transformers-written model in
  Tests/Fixtures/hf_models (Llama 3, Qwen2 with biases, + PEFT adapter, + YaRN, Qwen3, Qwen3-MoE, fused),
  so generation is checked on every architecture the forward pass supports.
* ``greedy.json``: greedy generations on the shared tiny models, for the base model, the adapter-wrapped
  model and the merged file, with the prompt ids (tokenizers' encode of the rendered chat prompt), the
  generated ids and ``tokenizers``' ``decode(ids, skip_special_tokens=True)``. References:
  - ``hf_tiny_peft``: transformers ``LlamaForCausalLM.generate(do_sample=False)`` on ``base_hf/``,
    ``PeftModel.from_pretrained(.., adapter/)`` for the wrapped model, ``merged_ref.pth`` for the merged one;
  - ``mm3_tiny`` (minimind-3, Qwen3-aligned): transformers ``Qwen3ForCausalLM.generate(do_sample=False)``;
    the MiniMind adapter is applied unmerged by forward hooks (``W x + B(A x)``);
  - ``v1_tiny`` (MiniMind2 era, no transformers class): ``scripts/minimind_ref.py``'s cached greedy loop.

Run with the pinned venv: ``.venv-interop/bin/python scripts/make_generate_fixtures.py``. Rerunning it
leaves git clean (deterministic, key-sorted JSON).
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "fixtures")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "generate")
TEMPLATES = os.path.join(ROOT, "Tests", "Fixtures", "chat_templates")
sys.path.insert(0, os.path.join(ROOT, "scripts"))

NEW_TOKENS = 24
EOS = 2  # <|im_end|>: eos_token of the MiniMind tokenizer config and eos_token_id of the models

CONVERSATIONS = [
    [{"role": "user", "content": "你好，请介绍一下你自己。"}],
    [{"role": "system", "content": "You are a terse assistant."}, {"role": "user", "content": "What is LoRA?"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Tell me a joke.\nA short one."}],
    [{"role": "system", "content": "系统提示"}, {"role": "user", "content": "1+1=?"},
     {"role": "assistant", "content": "<think>\nsimple sum\n</think>\n\n2"}, {"role": "user", "content": "2+2=?"}],
    [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "\n\n<think>r1</think>a1\n"},
     {"role": "system", "content": "late system"}, {"role": "user", "content": "q2"},
     {"role": "assistant", "content": "<think>\n\nr2\n\n</think>\n\n\na2"}],
    [{"role": "user", "content": "call it"}, {"role": "assistant", "content": "<think>plan</think>calling"},
     {"role": "user", "content": "<tool_response>42</tool_response>"}],
    [{"role": "user", "content": "  spaces  \r\nand tabs\t"}, {"role": "assistant", "content": "no think here"},
     {"role": "user", "content": "again"}],
]

GREEDY_PROMPTS = ["你好，请介绍一下你自己。", "What is LoRA? Answer briefly."]


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")


def template_configs():
    """(name, config path) for every template fixture, the shared minimind-3 config first."""
    configs = [("minimind-3", os.path.join(SHARED, "tokenizer_config.json"))]
    for name in sorted(os.listdir(TEMPLATES)):
        path = os.path.join(TEMPLATES, name, "tokenizer_config.json")
        if os.path.exists(path):
            configs.append((name, path))
    return configs


def make_renders(tokenizer_file):
    from transformers import PreTrainedTokenizerFast
    tok = PreTrainedTokenizerFast(tokenizer_file=tokenizer_file)
    cases = []
    for name, path in template_configs():
        with open(path, encoding="utf-8") as f:
            template = json.load(f)["chat_template"]
        for index, messages in enumerate(CONVERSATIONS):
            rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, chat_template=template)
            cases.append({"template": name, "config": os.path.relpath(path, ROOT), "conversation": index,
                          "messages": messages, "rendered": rendered})
    write_json(os.path.join(OUT, "chat_renders.json"), {"cases": cases})
    print(f"chat_renders.json: {len(cases)} renders over {len(template_configs())} templates")


def greedy_hf(model, prompt_ids):
    """transformers generate(do_sample=False): generated ids and the smallest top-1/top-2 logit gap."""
    inputs = torch.tensor([prompt_ids])
    with torch.no_grad():
        out = model.generate(inputs, attention_mask=torch.ones_like(inputs), do_sample=False, max_new_tokens=NEW_TOKENS,
                             eos_token_id=EOS, pad_token_id=0, output_scores=True, return_dict_in_generate=True)
    ids = out.sequences[0, len(prompt_ids):].tolist()
    gap = min(float((s[0].topk(2).values[0] - s[0].topk(2).values[1])) for s in out.scores)
    return ids, gap


def greedy_ref(model, prompt_ids):
    """minimind_ref's cached greedy loop, stopped at EOS like generate; the smallest top-1/top-2 gap."""
    import minimind_ref as ref
    ids = ref.generate_greedy(model, prompt_ids, NEW_TOKENS)
    if EOS in ids:
        ids = ids[:ids.index(EOS) + 1]
    full = ref.logits(model, prompt_ids + ids[:-1])[len(prompt_ids) - 1:]
    assert full.argmax(-1).tolist() == ids, "cached decode disagrees with the full forward"
    top2 = full.topk(2, dim=-1).values
    return ids, float((top2[:, 0] - top2[:, 1]).min())


def hook_adapter(model, adapter):
    """Applies a MiniMind adapter unmerged: each target's output gets B(A x) added (scale 1)."""
    modules = dict(model.named_modules())
    handles = []
    for key, a in adapter.items():
        if not key.endswith(".lora.A.weight"):
            continue
        name = key[: -len(".lora.A.weight")]
        a32, b32 = a.float(), adapter[name + ".lora.B.weight"].float()
        handles.append(modules[name].register_forward_hook(
            lambda m, inp, out, a32=a32, b32=b32: out + F.linear(F.linear(inp[0], a32), b32)))
    assert handles, "no adapter pairs"
    return handles


def make_greedy(tokenizer_file):
    from tokenizers import Tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM
    from peft import PeftModel
    from safetensors.torch import load_file
    import minimind_ref as ref

    tok = Tokenizer.from_file(tokenizer_file)
    chat = PreTrainedTokenizerFast(tokenizer_file=tokenizer_file)
    with open(os.path.join(SHARED, "tokenizer_config.json"), encoding="utf-8") as f:
        template = json.load(f)["chat_template"]
    prompts = []
    for text in GREEDY_PROMPTS:
        rendered = chat.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                            add_generation_prompt=True, chat_template=template)
        prompts.append((text, rendered, tok.encode(rendered, add_special_tokens=False).ids))

    def hf_tiny():
        c = json.load(open(os.path.join(SHARED, "hf_tiny_peft", "base_hf", "config.json")))
        cfg = LlamaConfig(hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
                          num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
                          num_key_value_heads=c["num_key_value_heads"], rms_norm_eps=c["rms_norm_eps"],
                          rope_theta=c["rope_theta"], vocab_size=c["vocab_size"], tie_word_embeddings=True,
                          max_position_embeddings=c["max_position_embeddings"], attention_bias=False, mlp_bias=False)

        def llama(state):
            m = LlamaForCausalLM(cfg).eval()
            m.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
            return m
        base = llama(load_file(os.path.join(SHARED, "hf_tiny_peft", "base_hf", "model.safetensors")))
        wrapped = PeftModel.from_pretrained(llama(load_file(os.path.join(SHARED, "hf_tiny_peft", "base_hf", "model.safetensors"))),
                                            os.path.join(SHARED, "hf_tiny_peft", "adapter")).eval()
        merged = llama(torch.load(os.path.join(SHARED, "hf_tiny_peft", "merged_ref.pth"), weights_only=True))
        args = {"model": "hf_tiny_peft/base_hf", "lora": "hf_tiny_peft/adapter", "merged": "hf_tiny_peft/merged_ref.pth"}
        return args, "transformers LlamaForCausalLM.generate(do_sample=False); PEFT PeftModel for lora", \
            [("base", base), ("lora", wrapped), ("merged", merged)], greedy_hf

    def mm3_tiny():
        c = json.load(open(os.path.join(SHARED, "mm3_tiny", "config.json")))
        cfg = Qwen3Config(hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
                          num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
                          num_key_value_heads=c["num_key_value_heads"], head_dim=c["head_dim"], rms_norm_eps=c["rms_norm_eps"],
                          rope_theta=c["rope_theta"], vocab_size=c["vocab_size"], tie_word_embeddings=True,
                          max_position_embeddings=c["max_position_embeddings"], attention_bias=False)

        def qwen3(path):
            m = Qwen3ForCausalLM(cfg).eval()
            state = torch.load(os.path.join(SHARED, "mm3_tiny", path), weights_only=True)
            missing, unexpected = m.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
            assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
            return m
        wrapped = qwen3("base.pth")
        hook_adapter(wrapped, torch.load(os.path.join(SHARED, "mm3_tiny", "lora.pth"), weights_only=True))
        args = {"model": "mm3_tiny/base.pth", "lora": "mm3_tiny/lora.pth", "merged": "mm3_tiny/merged_ref.pth"}
        return args, "transformers Qwen3ForCausalLM.generate(do_sample=False); MiniMind adapter by forward hooks", \
            [("base", qwen3("base.pth")), ("lora", wrapped), ("merged", qwen3("merged_ref.pth"))], greedy_hf

    def v1_tiny():
        def load(path):
            return torch.load(os.path.join(SHARED, "v1_tiny", path), weights_only=True)
        base = ref.load_model(load("base.pth"))
        wrapped = ref.load_model(load("base.pth"))
        ref.apply_adapter_dict(wrapped, load("lora.pth"))
        merged = ref.load_model(load("merged_ref.pth"))
        args = {"model": "v1_tiny/base.pth", "lora": "v1_tiny/lora.pth", "merged": "v1_tiny/merged_ref.pth"}
        return args, "scripts/minimind_ref.py MiniMindLM (no transformers class for the MiniMind2-era model)", \
            [("base", base), ("lora", wrapped), ("merged", merged)], greedy_ref

    cases = []
    for family in (hf_tiny, mm3_tiny, v1_tiny):
        args, reference, models, greedy = family()
        for text, rendered, prompt_ids in prompts:
            runs = []
            for label, model in models:
                ids, gap = greedy(model, prompt_ids)
                runs.append({"label": label, "ids": ids, "text": tok.decode(ids, skip_special_tokens=True),
                             "min_top1_top2_logit_gap": round(gap, 6)})
                assert gap > 1e-4, f"{family.__name__} {label}: greedy too close to a tie ({gap})"
            cases.append({**args, "reference": reference, "prompt": text, "rendered": rendered,
                          "prompt_ids": prompt_ids, "max_tokens": NEW_TOKENS, "runs": runs})
            print(f"{args['model']}: {[r['ids'][:6] for r in runs]} gaps {[r['min_top1_top2_logit_gap'] for r in runs]}")
    write_json(os.path.join(OUT, "greedy.json"), {"cases": cases})


def make_architectures():
    import numpy as np
    from transformers import AutoModelForCausalLM
    from peft import PeftModel
    models = os.path.join(ROOT, "Tests", "Fixtures", "hf_models")
    cases = []
    for name in sorted(os.listdir(models)):
        path = os.path.join(models, name)
        if not os.path.exists(os.path.join(path, "config.json")):
            continue
        tokens = np.load(os.path.join(path, "tokens.npy")).tolist()
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        variants = [("base", None, model)]
        if os.path.isdir(path + "_peft"):
            wrapped = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), path + "_peft").eval()
            variants.append(("lora", os.path.relpath(path + "_peft", ROOT), wrapped))
        # The first prompt length whose greedy path keeps clear of near ties in every variant.
        for length in (12, 8, 16, 6, 20, 4):
            prompt, runs = tokens[:length], []
            for label, adapter, m in variants:
                inputs = torch.tensor([prompt])
                with torch.no_grad():
                    out = m.generate(inputs, attention_mask=torch.ones_like(inputs), do_sample=False, max_new_tokens=NEW_TOKENS,
                                     min_new_tokens=NEW_TOKENS, eos_token_id=None, pad_token_id=0, output_scores=True,
                                     return_dict_in_generate=True)
                gap = min(float((sc[0].topk(2).values[0] - sc[0].topk(2).values[1])) for sc in out.scores)
                runs.append({"label": label, "adapter": adapter, "ids": out.sequences[0, len(prompt):].tolist(),
                             "min_top1_top2_logit_gap": round(gap, 6)})
            if min(r["min_top1_top2_logit_gap"] for r in runs) > 1e-3:
                break
        else:
            raise AssertionError(f"{name}: every prompt length leads to a near tie")
        cases.append({"model": os.path.relpath(path, ROOT), "model_type": model.config.model_type,
                      "reference": "transformers AutoModelForCausalLM.generate(do_sample=False)" + (", PEFT PeftModel" if len(runs) > 1 else ""),
                      "prompt_ids": prompt, "max_tokens": NEW_TOKENS, "runs": runs})
        print(f"{name}: {[r['ids'][:6] for r in runs]} gaps {[r['min_top1_top2_logit_gap'] for r in runs]}")
    write_json(os.path.join(OUT, "greedy_architectures.json"), {"cases": cases})


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    tokenizer_file = os.path.join(SHARED, "tokenizer.json")
    if not os.path.exists(tokenizer_file):
        print("shared fixtures not found; nothing written")
        return
    make_renders(tokenizer_file)
    make_greedy(tokenizer_file)
    make_architectures()


if __name__ == "__main__":
    main()
