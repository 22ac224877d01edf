// Qwen3 dense (`Qwen3ForCausalLM`): the Llama names plus per-head `self_attn.q_norm` / `k_norm`
// RMSNorm(head_dim) applied before rotate-half RoPE; `head_dim` explicit (fixed by q_norm's size).
// No biases (`attention_bias: false`). Hyper-parameters: `Qwen3Config`.

extension Architecture {
    public static let qwen3 = Architecture(
        name: "qwen3",
        naming: .llama,
        modelTypes: ["qwen3"],
        matchesWithoutModelType: false,
        signature: ["self_attn.q_norm.weight"],
        queryKeyNorm: true,
        routing: nil,
        ropeConvention: .huggingFace,
        defaults: Defaults(heads: nil, normEps: 1e-6, ropeTheta: 1e6, expertsPerToken: nil, normTopkProb: false, maxPositionEmbeddings: 40960))
}
