"""Reference MiniMind models in PyTorch, written for loratool's fixtures and benchmarks.

Two architecture eras are modelled, following MiniMind's published design:

* ``MiniMindLM`` (MiniMind2 era, ``model/model.py``): names ``tok_embeddings``,
  ``layers.N.attention.wq/wk/wv/wo``, ``attention_norm``, ``ffn_norm``,
  ``feed_forward.w1/w2/w3`` (dense) or ``feed_forward.gate.weight``,
  ``feed_forward.experts.E.w1/w2/w3``, ``feed_forward.shared_experts.w1/w2/w3``
  (MoE), ``norm``, ``output`` (tied to ``tok_embeddings``). Rotary embedding on
  adjacent pairs via complex multiplication.
* ``MiniMindForCausalLM`` (later, Llama-style names ``model.layers.N.self_attn.q_proj``,
  ``mlp.gate_proj``, ``input_layernorm``, ``lm_head``), rotate-half rotary embedding.

LoRA follows the MiniMind seed: ``apply_lora`` attaches ``module.lora`` (``A``:
in->r, ``B``: r->out) to every square ``nn.Linear`` and adds ``B(A x)`` to its
output; ``save_lora`` keys are ``<module>.lora.A.weight`` / ``.lora.B.weight``.
``apply_adapter_dict`` attaches an arbitrary adapter (MiniMind or PEFT keys) with a
scale so the "wrapped" (unmerged) logits can be computed.

Run as a script to check the reference against the shared fixtures:
``python scripts/minimind_ref.py [path/to/shared/fixtures]``.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, asdict
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------- config

@dataclass
class MiniMindConfig:
    """Hyper-parameters shared by both eras (MiniMind2 names)."""

    dim: int = 512
    n_layers: int = 8
    n_heads: int = 8
    n_kv_heads: int = 2
    vocab_size: int = 6400
    hidden_dim: Optional[int] = None
    multiple_of: int = 64
    norm_eps: float = 1e-5
    rope_theta: float = 1e6
    max_seq_len: int = 8192
    use_moe: bool = False
    n_routed_experts: int = 4
    num_experts_per_tok: int = 2
    n_shared_experts: int = 1
    norm_topk_prob: bool = True

    def resolved_hidden_dim(self) -> int:
        """The SwiGLU hidden size: MiniMind's 4*dim*2/3 rounded up to multiple_of."""
        if self.hidden_dim is not None:
            return self.hidden_dim
        hidden = int(2 * (4 * self.dim) / 3)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)

    def to_json_dict(self) -> dict:
        """The config.json written next to fixtures (hidden_dim resolved)."""
        d = asdict(self)
        d["hidden_dim"] = self.resolved_hidden_dim()
        return d


# --------------------------------------------------------------------------- shared parts

class RMSNorm(nn.Module):
    """x * rsqrt(mean(x^2) + eps) * weight, computed in float32."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return self.weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x)


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """[b, s, kv, d] -> [b, s, kv*n_rep, d], each kv head repeated n_rep times in place."""
    if n_rep == 1:
        return x
    b, s, kv, d = x.shape
    return x[:, :, :, None, :].expand(b, s, kv, n_rep, d).reshape(b, s, kv * n_rep, d)


def attention_core(xq, xk, xv, n_rep: int, causal_offset: int) -> torch.Tensor:
    """Softmax attention of xq [b,s,h,d] over xk/xv [b,t,kv,d]; query i sees keys <= i+offset."""
    b, s, h, d = xq.shape
    t = xk.shape[1]
    q = xq.transpose(1, 2)
    k = repeat_kv(xk, n_rep).transpose(1, 2)
    v = repeat_kv(xv, n_rep).transpose(1, 2)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(d)
    if s > 1:
        qpos = torch.arange(s).unsqueeze(1) + causal_offset
        kpos = torch.arange(t).unsqueeze(0)
        scores = scores.masked_fill(kpos > qpos, float("-inf"))
    probs = F.softmax(scores.float(), dim=-1).type_as(q)
    out = probs @ v
    return out.transpose(1, 2).reshape(b, s, h * d)


# --------------------------------------------------------------------------- MiniMind2 era

def precompute_pos_cis(head_dim: int, end: int, theta: float) -> torch.Tensor:
    """Complex rotations e^{i t f_j}, f_j = theta^(-2j/head_dim): [end, head_dim/2]."""
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    t = torch.arange(end, dtype=torch.float32)
    angles = torch.outer(t, freqs).float()
    return torch.polar(torch.ones_like(angles), angles)


def apply_rotary_pairs(x: torch.Tensor, pos_cis: torch.Tensor) -> torch.Tensor:
    """Rotates adjacent pairs (x0,x1),(x2,x3).. of x [b,s,h,d] by pos_cis [s, d/2]."""
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    rot = pos_cis.view(1, xc.shape[1], 1, xc.shape[-1])
    return torch.view_as_real(xc * rot).flatten(3).type_as(x)


class Attention(nn.Module):
    """GQA attention with wq/wk/wv/wo and an optional KV cache."""

    def __init__(self, cfg: MiniMindConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.n_kv_heads = cfg.n_kv_heads
        self.n_rep = cfg.n_heads // cfg.n_kv_heads
        self.head_dim = cfg.dim // cfg.n_heads
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_heads * self.head_dim, cfg.dim, bias=False)

    def forward(self, x, pos_cis, past=None):
        b, s, _ = x.shape
        xq = self.wq(x).view(b, s, self.n_heads, self.head_dim)
        xk = self.wk(x).view(b, s, self.n_kv_heads, self.head_dim)
        xv = self.wv(x).view(b, s, self.n_kv_heads, self.head_dim)
        xq = apply_rotary_pairs(xq, pos_cis)
        xk = apply_rotary_pairs(xk, pos_cis)
        offset = 0
        if past is not None:
            offset = past[0].shape[1]
            xk = torch.cat([past[0], xk], dim=1)
            xv = torch.cat([past[1], xv], dim=1)
        out = attention_core(xq, xk, xv, self.n_rep, offset)
        return self.wo(out), (xk, xv)


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, cfg: MiniMindConfig):
        super().__init__()
        hidden = cfg.resolved_hidden_dim()
        self.w1 = nn.Linear(cfg.dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, cfg.dim, bias=False)
        self.w3 = nn.Linear(cfg.dim, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class MoEGate(nn.Module):
    """Softmax router: top-k experts per token, weights renormalised when norm_topk_prob."""

    def __init__(self, cfg: MiniMindConfig):
        super().__init__()
        self.top_k = cfg.num_experts_per_tok
        self.norm_topk_prob = cfg.norm_topk_prob
        self.weight = nn.Parameter(torch.empty(cfg.n_routed_experts, cfg.dim))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x):
        flat = x.reshape(-1, x.shape[-1])
        scores = F.linear(flat, self.weight).softmax(dim=-1)
        weight, idx = torch.topk(scores, k=self.top_k, dim=-1, sorted=False)
        if self.top_k > 1 and self.norm_topk_prob:
            weight = weight / (weight.sum(dim=-1, keepdim=True) + 1e-20)
        return idx, weight


class MOEFeedForward(nn.Module):
    """Routed experts (inference path: sum_k weight_k * expert_k(x)) plus the shared expert."""

    def __init__(self, cfg: MiniMindConfig):
        super().__init__()
        self.experts = nn.ModuleList([FeedForward(cfg) for _ in range(cfg.n_routed_experts)])
        self.gate = MoEGate(cfg)
        self.shared_experts = FeedForward(cfg) if cfg.n_shared_experts else None

    def forward(self, x):
        shape = x.shape
        idx, weight = self.gate(x)
        flat = x.reshape(-1, shape[-1])
        y = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            rows, slot = (idx == e).nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            out = expert(flat[rows]) * weight[rows, slot].unsqueeze(-1)
            y.index_add_(0, rows, out)
        y = y.view(shape)
        if self.shared_experts is not None:
            y = y + self.shared_experts(x)
        return y


class MiniMindBlock(nn.Module):
    def __init__(self, cfg: MiniMindConfig):
        super().__init__()
        self.attention = Attention(cfg)
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.feed_forward = MOEFeedForward(cfg) if cfg.use_moe else FeedForward(cfg)

    def forward(self, x, pos_cis, past=None):
        h_attn, kv = self.attention(self.attention_norm(x), pos_cis, past)
        h = x + h_attn
        return h + self.feed_forward(self.ffn_norm(h)), kv


class MiniMindLM(nn.Module):
    """MiniMind2-era causal LM; output.weight is tok_embeddings.weight."""

    def __init__(self, cfg: MiniMindConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList([MiniMindBlock(cfg) for _ in range(cfg.n_layers)])
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.tok_embeddings.weight = self.output.weight
        self.register_buffer(
            "pos_cis",
            precompute_pos_cis(cfg.dim // cfg.n_heads, cfg.max_seq_len, cfg.rope_theta),
            persistent=False,
        )

    def forward(self, tokens: torch.Tensor, past=None, start_pos: int = 0):
        """tokens [b, s] -> (logits [b, s, vocab], new per-layer (k, v) cache)."""
        h = self.tok_embeddings(tokens)
        pos_cis = self.pos_cis[start_pos : start_pos + tokens.shape[1]]
        cache = []
        for i, layer in enumerate(self.layers):
            h, kv = layer(h, pos_cis, None if past is None else past[i])
            cache.append(kv)
        return self.output(self.norm(h)), cache


# --------------------------------------------------------------------------- later (HF) era

def precompute_cos_sin(head_dim: int, end: int, theta: float) -> Tuple[torch.Tensor, torch.Tensor]:
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    angles = torch.outer(torch.arange(end, dtype=torch.float32), freqs).float()
    cos = torch.cat([angles.cos(), angles.cos()], dim=-1)
    sin = torch.cat([angles.sin(), angles.sin()], dim=-1)
    return cos, sin


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class HFAttention(nn.Module):
    def __init__(self, cfg: MiniMindConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads = cfg.n_heads, cfg.n_kv_heads
        self.n_rep = cfg.n_heads // cfg.n_kv_heads
        self.head_dim = cfg.dim // cfg.n_heads
        self.q_proj = nn.Linear(cfg.dim, cfg.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.dim, cfg.n_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.dim, cfg.n_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.n_heads * self.head_dim, cfg.dim, bias=False)

    def forward(self, x, cos, sin, past=None):
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, self.n_heads, self.head_dim)
        k = self.k_proj(x).view(b, s, self.n_kv_heads, self.head_dim)
        v = self.v_proj(x).view(b, s, self.n_kv_heads, self.head_dim)
        c, sn = cos.unsqueeze(1), sin.unsqueeze(1)  # [s, 1, d]
        q = q * c + rotate_half(q) * sn
        k = k * c + rotate_half(k) * sn
        offset = 0
        if past is not None:
            offset = past[0].shape[1]
            k = torch.cat([past[0], k], dim=1)
            v = torch.cat([past[1], v], dim=1)
        return self.o_proj(attention_core(q, k, v, self.n_rep, offset)), (k, v)


class HFMLP(nn.Module):
    def __init__(self, cfg: MiniMindConfig):
        super().__init__()
        hidden = cfg.resolved_hidden_dim()
        self.gate_proj = nn.Linear(cfg.dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, cfg.dim, bias=False)
        self.up_proj = nn.Linear(cfg.dim, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class HFBlock(nn.Module):
    def __init__(self, cfg: MiniMindConfig):
        super().__init__()
        self.self_attn = HFAttention(cfg)
        self.input_layernorm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.mlp = HFMLP(cfg)

    def forward(self, x, cos, sin, past=None):
        a, kv = self.self_attn(self.input_layernorm(x), cos, sin, past)
        h = x + a
        return h + self.mlp(self.post_attention_layernorm(h)), kv


class HFModel(nn.Module):
    def __init__(self, cfg: MiniMindConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList([HFBlock(cfg) for _ in range(cfg.n_layers)])
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)


class MiniMindForCausalLM(nn.Module):
    """Later MiniMind (Llama-style names, rotate-half RoPE, dense MLP); lm_head tied."""

    def __init__(self, cfg: MiniMindConfig):
        super().__init__()
        self.cfg = cfg
        self.model = HFModel(cfg)
        self.lm_head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.model.embed_tokens.weight = self.lm_head.weight
        cos, sin = precompute_cos_sin(cfg.dim // cfg.n_heads, cfg.max_seq_len, cfg.rope_theta)
        self.register_buffer("freqs_cos", cos, persistent=False)
        self.register_buffer("freqs_sin", sin, persistent=False)

    def forward(self, tokens, past=None, start_pos: int = 0):
        h = self.model.embed_tokens(tokens)
        s = tokens.shape[1]
        cos = self.freqs_cos[start_pos : start_pos + s]
        sin = self.freqs_sin[start_pos : start_pos + s]
        cache = []
        for i, layer in enumerate(self.model.layers):
            h, kv = layer(h, cos, sin, None if past is None else past[i])
            cache.append(kv)
        return self.lm_head(self.model.norm(h)), cache


# --------------------------------------------------------------------------- LoRA (MiniMind seed style)

class LoRA(nn.Module):
    """B(A x) * scale; A: in->rank (normal std 0.02), B: rank->out (zero unless told)."""

    def __init__(self, in_features: int, out_features: int, rank: int, scale: float = 1.0):
        super().__init__()
        self.scale = scale
        self.A = nn.Linear(in_features, rank, bias=False)
        self.B = nn.Linear(rank, out_features, bias=False)
        self.A.weight.data.normal_(mean=0.0, std=0.02)
        self.B.weight.data.zero_()

    def forward(self, x):
        return self.B(self.A(x)) * self.scale


def _attach(module: nn.Linear, lora: LoRA) -> None:
    setattr(module, "lora", lora)
    original = module.forward

    def forward_with_lora(x, layer1=original, layer2=lora):
        return layer1(x) + layer2(x)

    module.forward = forward_with_lora


def apply_lora(model: nn.Module, rank: int = 16) -> List[str]:
    """Attaches a LoRA to every square nn.Linear (MiniMind's rule); returns the module names."""
    names = []
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and module.weight.shape[0] == module.weight.shape[1]:
            _attach(module, LoRA(module.weight.shape[1], module.weight.shape[0], rank))
            names.append(name)
    return names


def lora_state_dict(model: nn.Module) -> Dict[str, torch.Tensor]:
    """MiniMind save_lora's dict: {'<module>.lora.A.weight': .., '<module>.lora.B.weight': ..}."""
    out = {}
    for name, module in model.named_modules():
        if hasattr(module, "lora"):
            for k, v in module.lora.state_dict().items():
                out[f"{name}.lora.{k}"] = v
    return out


def adapter_pairs(adapter: Dict[str, torch.Tensor]) -> Dict[str, Tuple[torch.Tensor, torch.Tensor]]:
    """Groups adapter tensors by module: MiniMind (`X.lora.A.weight`), DDP (`module.` prefix)
    and PEFT (`base_model.model.X.lora_A.weight`) keys -> {module: (A, B)}."""
    pairs: Dict[str, Dict[str, torch.Tensor]] = {}
    for key, value in adapter.items():
        name = key
        if name.startswith("module."):
            name = name[len("module."):]
        if name.startswith("base_model.model."):
            name = name[len("base_model.model."):]
        for a_suffix, b_suffix in ((".lora.A.weight", ".lora.B.weight"), (".lora_A.weight", ".lora_B.weight"),
                                   (".lora_A.default.weight", ".lora_B.default.weight")):
            if name.endswith(a_suffix):
                pairs.setdefault(name[: -len(a_suffix)], {})["A"] = value
            elif name.endswith(b_suffix):
                pairs.setdefault(name[: -len(b_suffix)], {})["B"] = value
    return {m: (p["A"], p["B"]) for m, p in pairs.items() if "A" in p and "B" in p}


def apply_adapter_dict(model: nn.Module, adapter: Dict[str, torch.Tensor], scale: float = 1.0) -> List[str]:
    """Attaches the given adapter weights (float32) unmerged: y = W x + scale * B(A x)."""
    modules = dict(model.named_modules())
    names = []
    for name, (a, b) in sorted(adapter_pairs(adapter).items()):
        if name not in modules:
            raise KeyError(f"adapter targets unknown module {name}")
        lora = LoRA(a.shape[1], b.shape[0], a.shape[0], scale)
        lora.A.weight.data.copy_(a.float())
        lora.B.weight.data.copy_(b.float())
        _attach(modules[name], lora)
        names.append(name)
    return names


# --------------------------------------------------------------------------- loading helpers

def config_from_state_dict(sd: Dict[str, torch.Tensor], n_heads: int = 8, n_kv_heads: Optional[int] = None,
                           **overrides) -> MiniMindConfig:
    """Infers dim / layers / vocab / hidden / experts from tensor shapes (either era)."""
    hf = "model.embed_tokens.weight" in sd or "lm_head.weight" in sd
    emb = sd["model.embed_tokens.weight"] if "model.embed_tokens.weight" in sd else (
        sd["lm_head.weight"] if hf else sd["tok_embeddings.weight"])
    vocab, dim = emb.shape
    layers = 1 + max(int(k.split(".")[2 if hf else 1]) for k in sd if ".layers." in "." + k)
    head_dim = dim // n_heads
    wk = sd["model.layers.0.self_attn.k_proj.weight"] if hf else sd["layers.0.attention.wk.weight"]
    kv = n_kv_heads or wk.shape[0] // head_dim
    use_moe = any(".experts." in k for k in sd)
    if hf:
        hidden = sd["model.layers.0.mlp.gate_proj.weight"].shape[0]
    elif use_moe:
        hidden = sd["layers.0.feed_forward.experts.0.w1.weight"].shape[0]
    else:
        hidden = sd["layers.0.feed_forward.w1.weight"].shape[0]
    experts = len({k.split(".experts.")[1].split(".")[0] for k in sd if ".experts." in k and k.startswith("layers.0.")})
    cfg = MiniMindConfig(dim=dim, n_layers=layers, n_heads=n_heads, n_kv_heads=kv, vocab_size=vocab,
                         hidden_dim=hidden, use_moe=use_moe, n_routed_experts=max(experts, 1),
                         n_shared_experts=1 if any(".shared_experts." in k for k in sd) else 0)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def load_model(sd: Dict[str, torch.Tensor], cfg: Optional[MiniMindConfig] = None, max_seq_len: int = 2048):
    """Builds the right-era model from a state_dict, widened to float32, in eval mode."""
    cfg = cfg or config_from_state_dict(sd)
    cfg.max_seq_len = max(cfg.max_seq_len if cfg.max_seq_len else 0, max_seq_len)
    hf = any(k.startswith("model.") or k == "lm_head.weight" for k in sd)
    model = MiniMindForCausalLM(cfg) if hf else MiniMindLM(cfg)
    sd32 = {k: v.float() for k, v in sd.items()}
    if hf and "lm_head.weight" not in sd32:
        sd32["lm_head.weight"] = sd32["model.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(sd32, strict=False)
    missing = [m for m in missing if m not in ("tok_embeddings.weight", "model.embed_tokens.weight")]
    if missing or unexpected:
        raise KeyError(f"state_dict mismatch: missing {missing}, unexpected {unexpected}")
    return model.eval()


@torch.no_grad()
def logits(model: nn.Module, tokens) -> torch.Tensor:
    """Float32 logits [seq, vocab] for one sequence of token ids."""
    t = torch.as_tensor(tokens, dtype=torch.long).reshape(1, -1)
    return model(t)[0][0]


@torch.no_grad()
def generate_greedy(model: nn.Module, prompt, n_new: int) -> List[int]:
    """MiniMind-style decode loop with a KV cache: prefill the prompt, then one token at a time."""
    t = torch.as_tensor(prompt, dtype=torch.long).reshape(1, -1)
    out, cache = model(t)
    pos = t.shape[1]
    nxt = int(out[0, -1].argmax())
    generated = [nxt]
    for _ in range(n_new - 1):
        out, cache = model(torch.tensor([[nxt]]), past=cache, start_pos=pos)
        pos += 1
        nxt = int(out[0, -1].argmax())
        generated.append(nxt)
    return generated


# --------------------------------------------------------------------------- self-check

def _check_against_shared(root: str) -> int:
    import numpy as np

    failures = 0

    def report(name, got, want):
        nonlocal failures
        diff = float(np.abs(got - want).max())
        ok = diff <= 1e-5
        failures += 0 if ok else 1
        print(f"{'ok  ' if ok else 'FAIL'} {name}: max |diff| = {diff:.3g}")

    for case in ("v1_tiny", "v1_tiny_legacy_f32"):
        d = os.path.join(root, case)
        sd = torch.load(os.path.join(d, "base.pth"), weights_only=True)
        tokens = np.load(os.path.join(d, "tokens.npy"))
        model = load_model(sd)
        report(f"{case} logits_base", logits(model, tokens).numpy(), np.load(os.path.join(d, "logits_base.npy")))
        apply_adapter_dict(model, torch.load(os.path.join(d, "lora.pth"), weights_only=True), 1.0)
        report(f"{case} logits_wrapped", logits(model, tokens).numpy(), np.load(os.path.join(d, "logits_wrapped.npy")))
        merged = load_model(torch.load(os.path.join(d, "merged_ref.pth"), weights_only=True))
        report(f"{case} logits_merged_ref", logits(merged, tokens).numpy(),
               np.load(os.path.join(d, "logits_merged_ref.npy")))

    d = os.path.join(root, "hf_tiny_peft")
    sd = torch.load(os.path.join(d, "base.pth"), weights_only=True)
    tokens = np.load(os.path.join(d, "tokens.npy"))
    model = load_model(sd)
    report("hf_tiny_peft logits_base", logits(model, tokens).numpy(), np.load(os.path.join(d, "logits_base.npy")))
    from safetensors.torch import load_file

    acfg = json.load(open(os.path.join(d, "adapter", "adapter_config.json")))
    apply_adapter_dict(model, load_file(os.path.join(d, "adapter", "adapter_model.safetensors")),
                       acfg["lora_alpha"] / acfg["r"])
    report("hf_tiny_peft logits_wrapped", logits(model, tokens).numpy(), np.load(os.path.join(d, "logits_wrapped.npy")))
    merged = load_model(torch.load(os.path.join(d, "merged_ref.pth"), weights_only=True))
    report("hf_tiny_peft logits_merged_ref", logits(merged, tokens).numpy(),
           np.load(os.path.join(d, "logits_merged_ref.npy")))
    return failures


if __name__ == "__main__":
    torch.set_num_threads(1)
    here = os.path.dirname(os.path.abspath(__file__))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "shared", "fixtures")
    sys.exit(1 if _check_against_shared(root) else 0)
