// MiniMind2 of the Hugging Face era (`MiniMindForCausalLM`, model/model_minimind.py before minimind-3):
// the Llama names of `Llama.swift`, rotate-half RoPE, no q/k norm, no biases; MoE layers with
// `mlp.gate` router, `mlp.experts.E.*` and optional `mlp.shared_experts.K.*`.
//
// Recognised by config.json `model_type: minimind` (or no config) and the absence of
// `self_attn.q_norm` (which makes it minimind-3) and of q/k/v biases.

extension Architecture {
    /// MiniMind2 with Hugging Face-style names; defaults are upstream's `MiniMindConfig` of that era.
    public static let miniMind2 = Architecture(
        name: "minimind2",
        naming: .llama,
        modelTypes: ["minimind"],
        matchesWithoutModelType: true,
        excludes: ["self_attn.q_norm.weight", "self_attn.q_proj.bias"],
        routing: .miniMind2,
        ropeConvention: .miniMind,
        defaults: Defaults(heads: 8, normEps: 1e-5, ropeTheta: 1e6, expertsPerToken: 2, normTopkProb: true, maxPositionEmbeddings: 32768))
}
