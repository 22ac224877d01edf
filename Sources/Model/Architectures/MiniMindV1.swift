// MiniMind2-era `MiniMindLM` (model/model.py of MiniMind 2025-02), dense and MoE.
//
//   tok_embeddings.weight                         [vocab, dim]
//   layers.N.attention_norm.weight                [dim]
//   layers.N.attention.wq / wk / wv / wo.weight   [heads·hd, dim] [kv·hd, dim] [kv·hd, dim] [dim, heads·hd]
//   layers.N.ffn_norm.weight                      [dim]
//   layers.N.feed_forward.w1 / w3 / w2.weight     gate [ffn, dim], up [ffn, dim], down [dim, ffn]
//   MoE instead of w1/w2/w3:
//   layers.N.feed_forward.gate.weight             router [experts, dim]
//   layers.N.feed_forward.experts.E.w1/w2/w3      routed experts
//   layers.N.feed_forward.shared_experts.w1/...   shared expert (or shared_experts.K.w1 for several)
//   norm.weight                                   [dim]
//   output.weight                                 [vocab, dim], tied to tok_embeddings
//
// Rotary embedding rotates ADJACENT PAIRS: MiniMind2 views `x.reshape(..., -1, 2)` as complex numbers.

extension CheckpointNaming {
    /// MiniMind2's names (`tok_embeddings`, `layers.N.attention.wq`, `feed_forward.w1`, `output`).
    public static let miniMind = CheckpointNaming(
        architecture: "minimind",
        embedding: "tok_embeddings",
        layers: "layers",
        attentionNorm: "attention_norm",
        attention: "attention",
        query: "wq",
        key: "wk",
        value: "wv",
        output: "wo",
        feedForwardNorm: "ffn_norm",
        feedForward: "feed_forward",
        gate: "w1",
        up: "w3",
        down: "w2",
        router: "gate",
        experts: "experts",
        sharedExperts: "shared_experts",
        finalNorm: "norm",
        head: "output",
        rotary: .adjacentPairs
    )
}

extension Architecture {
    /// MiniMind2-era `MiniMindLM` (the project's "MiniMind v1" names): adjacent-pair RoPE, no scaling,
    /// MoE with MiniMind2 routing and shared experts. Defaults are `LMConfig`'s.
    public static let miniMindV1 = Architecture(
        name: "minimind-v1",
        naming: .miniMind,
        modelTypes: ["minimind"],
        matchesWithoutModelType: true,
        routing: .miniMind2,
        ropeConvention: .plainOnly,
        defaults: Defaults(heads: 8, normEps: 1e-5, ropeTheta: 1e6, expertsPerToken: 2, normTopkProb: true, maxPositionEmbeddings: nil))
}
