/// Where an architecture keeps each weight in a checkpoint: module path components, joined with `.`.
///
/// The concrete tables live next to their architecture: `MiniMind.swift` (MiniMind2 names) and
/// `Llama.swift` (Hugging Face / later MiniMind names). Module paths are what adapters are keyed by
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
    public var finalNorm: String
    /// The output projection; absent from the file when tied to the embedding.
    public var head: String
    public var rotary: RotaryStyle

    /// Every supported naming, tried in order.
    public static let all: [CheckpointNaming] = [.miniMind, .llama]

    /// The module path of layer `i`'s sub-module.
    func layer(_ i: Int, _ components: String...) -> String {
        ([layers, String(i)] + components).joined(separator: ".")
    }
}
