// Hugging Face Llama (1, 2 and 3: `LlamaForCausalLM`) and the names every Hugging Face-style family
// here shares (MiniMind2, minimind-3, Qwen2, Qwen3 add their parts in their own files).
//
//   model.embed_tokens.weight                                   [vocab, hidden]
//   model.layers.N.input_layernorm.weight                       [hidden]
//   model.layers.N.self_attn.q_proj / k_proj / v_proj / o_proj  [heads·hd, hidden] [kv·hd, hidden] ... [hidden, heads·hd]
//   model.layers.N.post_attention_layernorm.weight              [hidden]
//   model.layers.N.mlp.gate_proj / up_proj / down_proj          [ffn, hidden] [ffn, hidden] [hidden, ffn]
//   MoE instead of the three projections:
//   model.layers.N.mlp.gate.weight                              router [experts, hidden]
//   model.layers.N.mlp.experts.E.gate_proj/up_proj/down_proj    routed experts
//   model.layers.N.mlp.shared_experts.K.gate_proj/...           shared experts
//   model.norm.weight                                           [hidden]
//   lm_head.weight                                              [vocab, hidden]; absent when tied (HF drops it)
//
// Rotary embedding uses ROTATE-HALF: cos/sin of cat(freqs, freqs), pairing x[i] with x[i + hd/2].

extension CheckpointNaming {
    /// Hugging Face Llama names (`model.embed_tokens`, `model.layers.N.self_attn.q_proj`, `mlp.gate_proj`, `lm_head`).
    public static let llama = CheckpointNaming(
        architecture: "llama",
        embedding: "model.embed_tokens",
        layers: "model.layers",
        attentionNorm: "input_layernorm",
        attention: "self_attn",
        query: "q_proj",
        key: "k_proj",
        value: "v_proj",
        output: "o_proj",
        feedForwardNorm: "post_attention_layernorm",
        feedForward: "mlp",
        gate: "gate_proj",
        up: "up_proj",
        down: "down_proj",
        router: "gate",
        experts: "experts",
        sharedExperts: "shared_experts",
        finalNorm: "model.norm",
        head: "lm_head",
        rotary: .rotateHalf
    )
}

extension Architecture {
    /// Llama 1/2/3; `rope_scaling` / `rope_parameters` of type `llama3` (and linear, yarn) as transformers
    /// computes them. Checkpoints with `attention_bias` (q/k/v/o biases) are refused by their unused bias tensors.
    public static let llama = Architecture(
        name: "llama",
        naming: .llama,
        modelTypes: ["llama"],
        matchesWithoutModelType: false,
        routing: nil,
        ropeConvention: .huggingFace,
        defaults: Defaults(heads: nil, normEps: 1e-6, ropeTheta: 10000, expertsPerToken: nil, normTopkProb: false, maxPositionEmbeddings: 2048))
}
