import Foundation
import PthReader

/// Hyper-parameters of a MiniMind / Llama-style model that the weight shapes do not reveal.
///
/// Decodes both MiniMind v1 `LMConfig` keys (`dim`, `n_heads`, `n_kv_heads`, `norm_eps`, ...) and
/// Hugging Face keys (`hidden_size`, `num_attention_heads`, `num_key_value_heads`, `rms_norm_eps`, ...).
/// Every field is optional: `nil` means "not given"; `resolve` fills the gaps from the weights and
/// from MiniMind's defaults (8 heads, rope theta 1e6, eps 1e-5, 2 experts per token).
public struct ModelConfiguration: Codable, Equatable, Sendable {
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

    /// MiniMind's defaults for what shapes cannot tell.
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

    /// Hugging Face keys first, then MiniMind v1 `LMConfig` aliases.
    enum CodingKeys: String, CodingKey {
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
        // MiniMind v1 (LMConfig) spellings.
        case dim = "dim"
        case nHeads = "n_heads"
        case nKVHeads = "n_kv_heads"
        case nLayers = "n_layers"
        case hiddenDim = "hidden_dim"
        case normEps = "norm_eps"
        // Read only to refuse what the forward pass does not implement.
        case ropeScaling = "rope_scaling"
        case hiddenAct = "hidden_act"
        case scoringFunc = "scoring_func"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func int(_ keys: CodingKeys...) throws -> Int? {
            for key in keys { if let v = try c.decodeIfPresent(Int.self, forKey: key) { return v } }
            return nil
        }
        hiddenSize = try int(.hiddenSize, .dim)
        numAttentionHeads = try int(.numAttentionHeads, .nHeads)
        numKeyValueHeads = try int(.numKeyValueHeads, .nKVHeads)
        headDim = try int(.headDim)
        numHiddenLayers = try int(.numHiddenLayers, .nLayers)
        intermediateSize = try int(.intermediateSize, .hiddenDim)
        vocabSize = try int(.vocabSize)
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? c.decodeIfPresent(Float.self, forKey: .normEps)
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
        numExpertsPerTok = try int(.numExpertsPerTok)
        normTopkProb = try c.decodeIfPresent(Bool.self, forKey: .normTopkProb)
        // Settings that would change the computation in ways this forward pass does not follow:
        // refused, so that logits are never silently wrong.
        if c.contains(.ropeScaling), try !c.decodeNil(forKey: .ropeScaling) {
            throw DecodingError.dataCorruptedError(forKey: .ropeScaling, in: c, debugDescription: "rotary scaling (YaRN and the like) is not supported; only plain RoPE is")
        }
        if let act = try c.decodeIfPresent(String.self, forKey: .hiddenAct), act != "silu" {
            throw DecodingError.dataCorruptedError(forKey: .hiddenAct, in: c, debugDescription: "activation '\(act)' is not supported; only silu (SwiGLU) is")
        }
        if let scoring = try c.decodeIfPresent(String.self, forKey: .scoringFunc), scoring != "softmax" {
            throw DecodingError.dataCorruptedError(forKey: .scoringFunc, in: c, debugDescription: "MoE scoring '\(scoring)' is not supported; only softmax is")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
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
    }

    /// Parses `config.json` bytes; `path` names the file in errors.
    public static func decode(_ data: Data, path: String) throws -> ModelConfiguration {
        do { return try JSONDecoder().decode(ModelConfiguration.self, from: data) } catch let error as DecodingError {
            let reason: String
            switch error {
            case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .keyNotFound(_, let ctx), .dataCorrupted(let ctx):
                let key = ctx.codingPath.map(\.stringValue).joined(separator: ".")
                reason = key.isEmpty ? ctx.debugDescription : "'\(key)': \(ctx.debugDescription)"
            @unknown default:
                reason = "\(error)"
            }
            throw InferenceError.badConfiguration(path: path, reason: reason)
        }
    }

    /// Reads a `config.json` file.
    public static func load(path: String) throws -> ModelConfiguration {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw InferenceError.badConfiguration(path: path, reason: "cannot read file")
        }
        return try decode(data, path: path)
    }

    /// This configuration with every field `other` sets taken from `other`.
    public func overridden(by other: ModelConfiguration) -> ModelConfiguration {
        var r = self
        r.hiddenSize = other.hiddenSize ?? hiddenSize
        r.numAttentionHeads = other.numAttentionHeads ?? numAttentionHeads
        r.numKeyValueHeads = other.numKeyValueHeads ?? numKeyValueHeads
        r.headDim = other.headDim ?? headDim
        r.numHiddenLayers = other.numHiddenLayers ?? numHiddenLayers
        r.intermediateSize = other.intermediateSize ?? intermediateSize
        r.vocabSize = other.vocabSize ?? vocabSize
        r.rmsNormEps = other.rmsNormEps ?? rmsNormEps
        r.ropeTheta = other.ropeTheta ?? ropeTheta
        r.numExpertsPerTok = other.numExpertsPerTok ?? numExpertsPerTok
        r.normTopkProb = other.normTopkProb ?? normTopkProb
        return r
    }
}

/// The complete, checked hyper-parameters a loaded model runs with.
public struct ResolvedModelConfiguration: Equatable, Sendable {
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var vocabSize: Int
    public var normEps: Float
    public var ropeTheta: Double
    /// Experts per token for MoE layers (unused by dense models).
    public var expertsPerToken: Int
    public var normTopkProb: Bool
}

extension ModelConfiguration {
    /// The `config.json` that belongs to a checkpoint: the one inside a Hugging Face directory, else
    /// `config.json` in the same directory as the weights file; `nil` when there is none.
    public static func discovered(for checkpoint: Checkpoint) throws -> ModelConfiguration? {
        if let data = checkpoint.configJSON {
            return try decode(data, path: URL(fileURLWithPath: checkpoint.path).appendingPathComponent("config.json").path)
        }
        let url = URL(fileURLWithPath: checkpoint.path)
        var isDirectory: ObjCBool = false
        let directory = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? url : url.deletingLastPathComponent()
        let candidate = directory.appendingPathComponent("config.json").path
        guard FileManager.default.fileExists(atPath: candidate) else { return nil }
        return try load(path: candidate)
    }
}
