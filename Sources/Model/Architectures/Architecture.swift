/// One architecture family as data: its tensor names, the optional parts it has, how a checkpoint
/// is recognised as it, and the defaults for what neither the weights nor config.json say.
///
/// Each family lives in one file of this folder and is listed once in `Architecture.all`; the
/// loader (`TransformerModel.load`), the hyper-parameter resolver and `inspect`/`targets` read
/// only this description. See docs/extending.md.
public struct Architecture: Sendable, Equatable {
    /// Whether a family has a part: never, always, or when the checkpoint holds it.
    public enum Presence: String, Sendable, Equatable, Codable {
        case never, always, optional
    }

    /// How a mixture-of-experts layer weighs its top-k experts.
    public enum Routing: String, Sendable, Equatable, Codable {
        /// MiniMind2: softmax, top-k, renormalised (with `norm_topk_prob`) only when k > 1, plus shared experts.
        case miniMind2 = "minimind2"
        /// Qwen3-MoE and minimind-3: softmax, top-k, renormalised whenever `norm_topk_prob`, no shared experts.
        case qwen3
    }

    /// Which code's conventions config.json's rotary settings follow.
    public enum RopeConvention: String, Sendable, Equatable, Codable {
        /// No scaling exists for this family (MiniMind v1's `precompute_pos_cis`); a scaling setting is refused.
        case plainOnly = "plain-only"
        /// Upstream MiniMind: `inference_rope_scaling: true` turns on its own YaRN.
        case miniMind = "minimind"
        /// transformers: `rope_parameters` (v5) or `rope_scaling` (v4) with `rope_type` default/linear/yarn/llama3.
        case huggingFace = "huggingface"
    }

    /// Values assumed when config.json and the weights do not say (each assumption is reported).
    public struct Defaults: Sendable, Equatable {
        /// nil: there is no sensible default; the user must say (`--heads`).
        public var heads: Int?
        public var normEps: Float
        public var ropeTheta: Double
        public var expertsPerToken: Int?
        public var normTopkProb: Bool
        public var maxPositionEmbeddings: Int?

        public init(heads: Int?, normEps: Float, ropeTheta: Double, expertsPerToken: Int?, normTopkProb: Bool, maxPositionEmbeddings: Int?) {
            self.heads = heads
            self.normEps = normEps
            self.ropeTheta = ropeTheta
            self.expertsPerToken = expertsPerToken
            self.normTopkProb = normTopkProb
            self.maxPositionEmbeddings = maxPositionEmbeddings
        }
    }

    /// A short name for reports and `--json` (`minimind-v1`, `qwen3-moe`).
    public var name: String
    public var naming: CheckpointNaming
    /// config.json `model_type` values this family claims.
    public var modelTypes: Set<String>
    /// Whether a checkpoint without a `model_type` (no config.json) may be this family.
    public var matchesWithoutModelType: Bool
    /// Parameters of layer 0 (relative to the layer, e.g. `self_attn.q_norm.weight`) that must be present.
    public var signature: [String]
    /// Parameters of layer 0 that must be absent.
    public var excludes: [String]
    /// Bias on the q/k/v projections.
    public var attentionBias: Presence
    /// Per-head RMSNorm on queries and keys before the rotary embedding.
    public var queryKeyNorm: Bool
    /// How MoE layers route tokens; nil for families without MoE (a router is then an unused tensor).
    public var routing: Routing?
    public var ropeConvention: RopeConvention
    public var defaults: Defaults

    public init(name: String, naming: CheckpointNaming, modelTypes: Set<String>, matchesWithoutModelType: Bool,
                signature: [String] = [], excludes: [String] = [], attentionBias: Presence = .never, queryKeyNorm: Bool = false,
                routing: Routing?, ropeConvention: RopeConvention, defaults: Defaults) {
        self.name = name
        self.naming = naming
        self.modelTypes = modelTypes
        self.matchesWithoutModelType = matchesWithoutModelType
        self.signature = signature
        self.excludes = excludes
        self.attentionBias = attentionBias
        self.queryKeyNorm = queryKeyNorm
        self.routing = routing
        self.ropeConvention = ropeConvention
        self.defaults = defaults
    }

    /// Whether a state dict (looked up through `has`, names without prefix) with this `model_type` is this family.
    func matches(modelType: String?, has: (String) -> Bool) -> Bool {
        guard has(naming.layer(0, naming.attention, naming.query) + ".weight") else { return false }
        if let modelType { guard modelTypes.contains(modelType) else { return false } } else if !matchesWithoutModelType { return false }
        let layer0 = naming.layer(0)
        return signature.allSatisfy { has(layer0 + "." + $0) } && !excludes.contains { has(layer0 + "." + $0) }
    }
}
