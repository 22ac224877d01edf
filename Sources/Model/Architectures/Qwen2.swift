// Qwen2 / Qwen2.5 (`Qwen2ForCausalLM`): the Llama names of `Llama.swift` with a bias on the
// q, k and v projections (not on o_proj or the MLP).
//
//   model.layers.N.self_attn.q_proj.bias / k_proj.bias / v_proj.bias   [heads·hd] [kv·hd] [kv·hd]
//
// Hyper-parameters: `Qwen2Config` (rotary settings in transformers 5's `rope_parameters`).
// This file is the whole of the family: the loader, resolver, inspect and targets read it.

extension Architecture {
    public static let qwen2 = Architecture(
        name: "qwen2",
        naming: .llama,
        modelTypes: ["qwen2"],
        matchesWithoutModelType: true,
        signature: ["self_attn.q_proj.bias"],
        attentionBias: .always,
        routing: nil,
        ropeConvention: .huggingFace,
        defaults: Defaults(heads: nil, normEps: 1e-6, ropeTheta: 1e6, expertsPerToken: nil, normTopkProb: false, maxPositionEmbeddings: 32768))
}
