// Qwen3-MoE (`Qwen3MoeForCausalLM`): Qwen3's attention (q_norm / k_norm) with sparse MoE layers:
//
//   model.layers.N.mlp.gate.weight                          router [experts, hidden]
//   model.layers.N.mlp.experts.E.gate_proj/up_proj/down_proj.weight   per-expert (transformers 4)
//   model.layers.N.mlp.experts.gate_up_proj                 [E, 2·I, hidden], gate rows first (transformers 5)
//   model.layers.N.mlp.experts.down_proj                    [E, hidden, I]                     (transformers 5)
//
// Softmax router, top-k `num_experts_per_tok`, renormalised when `norm_topk_prob` (default false),
// no shared expert. Layers listed in `mlp_only_layers` (or off the `decoder_sparse_step`) are dense.

extension Architecture {
    public static let qwen3MoE = Architecture(
        name: "qwen3-moe",
        naming: .llama,
        modelTypes: ["qwen3_moe"],
        matchesWithoutModelType: false,
        signature: ["self_attn.q_norm.weight"],
        queryKeyNorm: true,
        routing: .qwen3,
        ropeConvention: .huggingFace,
        defaults: Defaults(heads: nil, normEps: 1e-6, ropeTheta: 1e6, expertsPerToken: nil, normTopkProb: false, maxPositionEmbeddings: 40960))
}
