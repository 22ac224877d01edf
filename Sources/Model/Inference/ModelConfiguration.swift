import Foundation
import PthReader

/// Hyper-parameters from a `config.json` (or flags) that the weight shapes do not reveal.
///
/// Decodes upstream MiniMind's keys (`MiniMindConfig` of MiniMind2 and minimind-3, and v1
/// `LMConfig`'s `dim`, `n_heads`, ...) and Hugging Face's `LlamaConfig`, `Qwen2Config`,
/// `Qwen3Config` and `Qwen3MoeConfig`, including transformers 5's `rope_parameters`. Every field
/// is optional: `nil` means "not given"; the resolver fills the gaps from the weights and from the
/// architecture's defaults, reporting each assumed value.
public struct ModelConfiguration: Codable, Equatable, Sendable {
    public var modelType: String?
    public var hiddenSize: Int?
    public var numAttentionHeads: Int?
    public var numKeyValueHeads: Int?
    public var headDim: Int?
    public var numHiddenLayers: Int?
    public var intermediateSize: Int?
    public var vocabSize: Int?
    public var rmsNormEps: Float?
    public var ropeTheta: Double?
    public var numExpertsPerTok: Int?
    public var normTopkProb: Bool?
    public var maxPositionEmbeddings: Int?
    public var tieWordEmbeddings: Bool?
    public var useMoe: Bool?
    /// `num_experts` (minimind-3; Qwen3-MoE's `num_local_experts` as transformers 5 writes it) or `n_routed_experts` (MiniMind2).
    public var numExperts: Int?
    public var moeIntermediateSize: Int?
    /// Layers that stay dense in a Qwen3-MoE model.
    public var mlpOnlyLayers: [Int]?
    public var decoderSparseStep: Int?
    /// Upstream MiniMind's switch for its own YaRN.
    public var inferenceRopeScaling: Bool?
    /// `rope_parameters` (transformers 5) or `rope_scaling` (transformers 4 / MiniMind), as written.
    public var ropeParameters: RopeParameters?

    /// The `rope_type` values whose frequencies `RopeScaling` computes.
    public static let supportedRopeTypes = ["default", "linear", "yarn", "llama3"]

    /// MiniMind's defaults for what shapes cannot tell (MiniMind v1 / MiniMind2; each family has its own in `Architecture.defaults`).
    public static let defaultHeads = 8
    public static let defaultRopeTheta = 1e6
    public static let defaultNormEps: Float = 1e-5
    public static let defaultExpertsPerToken = 2

    public init(hiddenSize: Int? = nil, numAttentionHeads: Int? = nil, numKeyValueHeads: Int? = nil, headDim: Int? = nil,
                numHiddenLayers: Int? = nil, intermediateSize: Int? = nil, vocabSize: Int? = nil, rmsNormEps: Float? = nil,
                ropeTheta: Double? = nil, numExpertsPerTok: Int? = nil, normTopkProb: Bool? = nil) {
        self.hiddenSize = hiddenSize
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim
        self.numHiddenLayers = numHiddenLayers
        self.intermediateSize = intermediateSize
        self.vocabSize = vocabSize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.numExpertsPerTok = numExpertsPerTok
        self.normTopkProb = normTopkProb
    }

    /// The rotary settings object as config.json writes it (`rope_parameters` / `rope_scaling`).
    public struct RopeParameters: Codable, Equatable, Sendable {
        public var ropeType: String?
        public var type: String?
        public var ropeTheta: Double?
        public var factor: Double?
        public var originalMaxPositionEmbeddings: Int?
        public var betaFast: Double?
        public var betaSlow: Double?
        public var attentionFactor: Double?
        public var mscale: Double?
        public var mscaleAllDim: Double?
        public var truncate: Bool?
        public var lowFreqFactor: Double?
        public var highFreqFactor: Double?
        public var partialRotaryFactor: Double?

        public init(ropeType: String? = nil, ropeTheta: Double? = nil, factor: Double? = nil) {
            self.ropeType = ropeType
            self.ropeTheta = ropeTheta
            self.factor = factor
        }

        enum CodingKeys: String, CodingKey {
            case ropeType = "rope_type", type, ropeTheta = "rope_theta", factor
            case originalMaxPositionEmbeddings = "original_max_position_embeddings"
            case betaFast = "beta_fast", betaSlow = "beta_slow", attentionFactor = "attention_factor"
            case mscale, mscaleAllDim = "mscale_all_dim", truncate
            case lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
            case partialRotaryFactor = "partial_rotary_factor"
        }

        /// `rope_type`, else the older `type`, else `default`.
        public var kind: String { ropeType ?? type ?? "default" }
    }

    /// Hugging Face keys first, then MiniMind v1 `LMConfig` aliases.
    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case hiddenSize = "hidden_size"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case numHiddenLayers = "num_hidden_layers"
        case intermediateSize = "intermediate_size"
        case vocabSize = "vocab_size"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case numExpertsPerTok = "num_experts_per_tok"
        case normTopkProb = "norm_topk_prob"
        case maxPositionEmbeddings = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings"
        case useMoe = "use_moe"
        case numExperts = "num_experts"
        case moeIntermediateSize = "moe_intermediate_size"
        case mlpOnlyLayers = "mlp_only_layers"
        case decoderSparseStep = "decoder_sparse_step"
        case inferenceRopeScaling = "inference_rope_scaling"
        case ropeParameters = "rope_parameters"
        case ropeScaling = "rope_scaling"
        // MiniMind v1 (LMConfig) and MiniMind2 spellings.
        case dim = "dim"
        case nHeads = "n_heads"
        case nKVHeads = "n_kv_heads"
        case nLayers = "n_layers"
        case hiddenDim = "hidden_dim"
        case normEps = "norm_eps"
        case nRoutedExperts = "n_routed_experts"
        case numLocalExperts = "num_local_experts"
        case maxSeqLen = "max_seq_len"
        // Read only to refuse what the forward pass does not implement.
        case hiddenAct = "hidden_act"
        case scoringFunc = "scoring_func"
        case attentionBias = "attention_bias"
        case mlpBias = "mlp_bias"
        case slidingWindow = "use_sliding_window"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func int(_ keys: CodingKeys...) throws -> Int? {
            for key in keys {
                guard let v = try c.decodeIfPresent(Int.self, forKey: key) else { continue }
                // Far above any real model and far below overflow in the sizes computed from them.
                guard (0...(1 << 24)).contains(v) else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(v) is out of range (0 to \(1 << 24))")
                }
                return v
            }
            return nil
        }
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType)
        hiddenSize = try int(.hiddenSize, .dim)
        numAttentionHeads = try int(.numAttentionHeads, .nHeads)
        numKeyValueHeads = try int(.numKeyValueHeads, .nKVHeads)
        headDim = try int(.headDim)
        numHiddenLayers = try int(.numHiddenLayers, .nLayers)
        intermediateSize = try int(.intermediateSize, .hiddenDim)
        vocabSize = try int(.vocabSize)
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? c.decodeIfPresent(Float.self, forKey: .normEps)
        numExpertsPerTok = try int(.numExpertsPerTok)
        normTopkProb = try c.decodeIfPresent(Bool.self, forKey: .normTopkProb)
        maxPositionEmbeddings = try int(.maxPositionEmbeddings, .maxSeqLen)
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings)
        useMoe = try c.decodeIfPresent(Bool.self, forKey: .useMoe)
        numExperts = try int(.numExperts, .numLocalExperts, .nRoutedExperts)
        moeIntermediateSize = try int(.moeIntermediateSize)
        mlpOnlyLayers = try c.decodeIfPresent([Int].self, forKey: .mlpOnlyLayers)
        decoderSparseStep = try int(.decoderSparseStep)
        inferenceRopeScaling = try c.decodeIfPresent(Bool.self, forKey: .inferenceRopeScaling)
        ropeParameters = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
            ?? c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        // transformers 5 moves rope_theta into rope_parameters.
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? ropeParameters?.ropeTheta
        // Settings that would change the computation in ways this forward pass does not follow:
        // refused, so that logits are never silently wrong.
        if let kind = ropeParameters?.kind, !Self.supportedRopeTypes.contains(kind) {
            let key: CodingKeys = c.contains(.ropeParameters) ? .ropeParameters : .ropeScaling
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "rotary scaling type '\(kind)' is not supported (supported: \(Self.supportedRopeTypes.joined(separator: ", ")))")
        }
        if let factor = ropeParameters?.partialRotaryFactor, factor != 1 {
            throw DecodingError.dataCorruptedError(forKey: .ropeParameters, in: c, debugDescription: "partial_rotary_factor \(factor) is not supported; only full-width RoPE is")
        }
        if let act = try c.decodeIfPresent(String.self, forKey: .hiddenAct), act != "silu" {
            throw DecodingError.dataCorruptedError(forKey: .hiddenAct, in: c, debugDescription: "activation '\(act)' is not supported; only silu (SwiGLU) is")
        }
        if let scoring = try c.decodeIfPresent(String.self, forKey: .scoringFunc), scoring != "softmax" {
            throw DecodingError.dataCorruptedError(forKey: .scoringFunc, in: c, debugDescription: "MoE scoring '\(scoring)' is not supported; only softmax is")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .mlpBias) == true {
            throw DecodingError.dataCorruptedError(forKey: .mlpBias, in: c, debugDescription: "MLP biases are not supported")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .slidingWindow) == true {
            throw DecodingError.dataCorruptedError(forKey: .slidingWindow, in: c, debugDescription: "sliding-window attention is not supported; only full causal attention is")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(modelType, forKey: .modelType)
        try c.encodeIfPresent(hiddenSize, forKey: .hiddenSize)
        try c.encodeIfPresent(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encodeIfPresent(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encodeIfPresent(headDim, forKey: .headDim)
        try c.encodeIfPresent(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encodeIfPresent(intermediateSize, forKey: .intermediateSize)
        try c.encodeIfPresent(vocabSize, forKey: .vocabSize)
        try c.encodeIfPresent(rmsNormEps, forKey: .rmsNormEps)
        try c.encodeIfPresent(ropeTheta, forKey: .ropeTheta)
        try c.encodeIfPresent(numExpertsPerTok, forKey: .numExpertsPerTok)
        try c.encodeIfPresent(normTopkProb, forKey: .normTopkProb)
        try c.encodeIfPresent(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encodeIfPresent(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encodeIfPresent(useMoe, forKey: .useMoe)
        try c.encodeIfPresent(numExperts, forKey: .numExperts)
        try c.encodeIfPresent(moeIntermediateSize, forKey: .moeIntermediateSize)
        try c.encodeIfPresent(mlpOnlyLayers, forKey: .mlpOnlyLayers)
        try c.encodeIfPresent(decoderSparseStep, forKey: .decoderSparseStep)
        try c.encodeIfPresent(inferenceRopeScaling, forKey: .inferenceRopeScaling)
        try c.encodeIfPresent(ropeParameters, forKey: .ropeParameters)
    }
}
