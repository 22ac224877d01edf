/// Where an architecture keeps each weight in a checkpoint: module path components, joined with `.`.
///
/// The concrete tables live next to their architecture in this folder: `MiniMindV1.swift`
/// (`tok_embeddings`, `layers.N.attention.wq`) and `Llama.swift` (the Hugging Face names that
/// later MiniMind, Qwen2 and Qwen3 share). Module paths are what adapters are keyed by
/// (`layers.0.attention.wq`); the weight of a module is `path + ".weight"`.
public struct CheckpointNaming: Sendable, Equatable {
    /// A short name for reports: `minimind` or `llama`.
    public var architecture: String
    public var embedding: String
    public var layers: String
    public var attentionNorm: String
    public var attention: String
    public var query: String
    public var key: String
    public var value: String
    public var output: String
    /// Per-head RMSNorm of queries and keys (Qwen3), under `attention`.
    public var queryNorm: String = "q_norm"
    public var keyNorm: String = "k_norm"
    public var feedForwardNorm: String
    public var feedForward: String
    public var gate: String
    public var up: String
    public var down: String
    /// MoE router, under `feedForward`.
    public var router: String
    /// MoE routed experts, `feedForward.experts.E.gate`.
    public var experts: String
    /// MoE shared experts: `feedForward.shared_experts.gate` (one) or `feedForward.shared_experts.N.gate` (a list).
    public var sharedExperts: String
    /// transformers 5's fused expert tensors under `feedForward.experts`: `gate_up_proj` [E, 2·I, H]
    /// (gate rows first) and `down_proj` [E, H, I], parameters without `.weight`.
    public var fusedGateUp: String = "gate_up_proj"
    public var fusedDown: String = "down_proj"
    public var finalNorm: String
    /// The output projection; absent from the file when tied to the embedding.
    public var head: String
    public var rotary: RotaryStyle

    /// The module path of layer `i`'s sub-module.
    func layer(_ i: Int, _ components: String...) -> String {
        ([layers, String(i)] + components).joined(separator: ".")
    }
}
