// Today's upstream MiniMind, "minimind-3" (`MiniMindForCausalLM` in model/model_minimind.py),
// aligned with Qwen3: the Llama names plus per-head `self_attn.q_norm` / `k_norm` RMSNorm(head_dim)
// applied before rotate-half RoPE, an explicit `head_dim`, and in the MoE variant Qwen3-MoE experts
// (`mlp.gate` router, `mlp.experts.E.gate_proj/up_proj/down_proj`, no shared expert).
//
//   model.layers.N.self_attn.q_norm.weight   [head_dim]
//   model.layers.N.self_attn.k_norm.weight   [head_dim]
//
// Hyper-parameters: upstream `MiniMindConfig` keys; `inference_rope_scaling: true` turns on
// upstream's own YaRN (`precompute_freqs_cis`: factor 16, original 2048, beta 32/1, attention 1).
// Recognised by `model_type: minimind` (or no config) and `q_norm` in layer 0.

extension Architecture {
    /// minimind-3, dense and MoE; defaults are upstream `MiniMindConfig`'s.
    public static let miniMind3 = Architecture(
        name: "minimind-3",
        naming: .llama,
        modelTypes: ["minimind"],
        matchesWithoutModelType: true,
        signature: ["self_attn.q_norm.weight"],
        queryKeyNorm: true,
        routing: .qwen3,
        ropeConvention: .miniMind,
        defaults: Defaults(heads: 8, normEps: 1e-6, ropeTheta: 1e6, expertsPerToken: 1, normTopkProb: true, maxPositionEmbeddings: 32768))
}
