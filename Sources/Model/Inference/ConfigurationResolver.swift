import Foundation
import PthReader

/// Completes a model's hyper-parameters: what the weights fix is read from their shapes (and any
/// given value checked against it), the rest comes from config.json / flags, and what nobody says
/// is the architecture's default, reported in `assumed`.
struct ConfigurationResolver {
    let given: ModelConfiguration
    let architecture: Architecture
    let loader: WeightLoader
    var assumed: [String] = []

    init(given: ModelConfiguration, architecture: Architecture, loader: WeightLoader) {
        self.given = given
        self.architecture = architecture
        self.loader = loader
    }

    private var naming: CheckpointNaming { architecture.naming }

    /// The name of the embedding matrix: tied weights may be stored once under either name
    /// (Hugging Face's safetensors keeps only `lm_head`).
    static func embeddingName(_ naming: CheckpointNaming, loader: WeightLoader) -> String {
        loader.has(naming.embedding + ".weight") || !loader.has(naming.head + ".weight") ? naming.embedding : naming.head
    }

    mutating func assume<T>(_ key: String, _ value: T, _ how: String) -> T {
        assumed.append("assumed \(key) = \(value) (\(how))")
        return value
    }

    private func contradiction(_ message: String) -> InferenceError { .inconsistentConfiguration(message) }

    mutating func resolve() throws -> ResolvedModelConfiguration {
        let embeddingName = Self.embeddingName(naming, loader: loader)
        let embeddingShape = try loader.shape(embeddingName + ".weight")
        guard embeddingShape.count == 2 else {
            throw InferenceError.wrongShape(path: loader.path, name: embeddingName + ".weight", expected: [-1, -1], found: embeddingShape)
        }
        let (vocab, dim) = (embeddingShape[0], embeddingShape[1])
        if let h = given.hiddenSize, h != dim {
            throw contradiction("hidden_size = \(h) but '\(embeddingName).weight' is \(embeddingShape)")
        }
        if let v = given.vocabSize, v != vocab {
            throw contradiction("vocab_size = \(v) but '\(embeddingName).weight' is \(embeddingShape)")
        }
        let layerCount = try countLayers()
        let (heads, kvHeads, headDim) = try resolveHeads(dim: dim)
        let eps = given.rmsNormEps ?? assume("rms_norm_eps", architecture.defaults.normEps, "\(architecture.name) default; pass --norm-eps to change")
        guard eps >= 0, eps.isFinite else { throw contradiction("rms_norm_eps = \(eps) must be a non-negative number") }
        var theta = given.ropeTheta ?? 0
        if given.ropeTheta == nil {
            theta = assume("rope_theta", architecture.defaults.ropeTheta, "\(architecture.name) default; pass --rope-theta to change")
        }
        guard theta > 0, theta.isFinite else { throw contradiction("rope_theta = \(theta) must be positive") }
        let scaling = try resolveRopeScaling()
        if let scaling { _ = try scaling.inverseFrequencies(headDim: headDim, theta: theta) }

        var topK = given.numExpertsPerTok ?? 1
        var normTopk = given.normTopkProb ?? architecture.defaults.normTopkProb
        if try isMixtureOfExperts(layerCount: layerCount) {
            if given.numExpertsPerTok == nil {
                guard let k = architecture.defaults.expertsPerToken else {
                    throw contradiction("num_experts_per_tok is not given and \(architecture.name) has no default: pass --experts-per-token N (or --config with num_experts_per_tok)")
                }
                topK = assume("num_experts_per_tok", k, "\(architecture.name) default; pass --experts-per-token to change")
            }
            if given.normTopkProb == nil { normTopk = assume("norm_topk_prob", normTopk, "\(architecture.name) default") }
        } else if given.useMoe == true {
            throw contradiction("use_moe = true but layer 0 has no router '\(naming.layer(0, naming.feedForward, naming.router)).weight'")
        }
        return ResolvedModelConfiguration(
            architecture: architecture.name, hiddenSize: dim, layerCount: layerCount, headCount: heads, kvHeadCount: kvHeads, headDim: headDim,
            vocabSize: vocab, normEps: eps, ropeTheta: theta, ropeScaling: scaling, expertsPerToken: topK, normTopkProb: normTopk,
            maxPositionEmbeddings: given.maxPositionEmbeddings ?? architecture.defaults.maxPositionEmbeddings, assumed: assumed)
    }

    /// Layers: one past the highest index any tensor name carries; missing pieces surface as missing tensors.
    private func countLayers() throws -> Int {
        let layerPrefix = loader.prefix + naming.layers + "."
        var layerCount = 0
        for t in loader.checkpoint.tensors where t.name.hasPrefix(layerPrefix) {
            if let index = Int(t.name.dropFirst(layerPrefix.count).prefix { $0 != "." }) {
                // Each layer needs tensors of its own: an index past the tensor count cannot be a real layer.
                guard index >= 0, index < loader.checkpoint.tensors.count else {
                    throw InferenceError.inconsistentConfiguration("tensor '\(t.name)' has layer index \(index), but the checkpoint holds only \(loader.checkpoint.tensors.count) tensors, too few for that many layers")
                }
                layerCount = max(layerCount, index + 1)
            }
        }
        guard layerCount > 0 else { throw InferenceError.missingTensor(path: loader.path, name: loader.prefix + naming.layer(0, naming.attention, naming.query) + ".weight") }
        if let n = given.numHiddenLayers, n != layerCount {
            throw contradiction("num_hidden_layers = \(n) but the checkpoint has \(layerCount) layers")
        }
        return layerCount
    }

    private func isMixtureOfExperts(layerCount: Int) throws -> Bool {
        guard architecture.routing != nil else { return false }
        return (0..<layerCount).contains { loader.has(naming.layer($0, naming.feedForward, naming.router) + ".weight") }
    }

    /// Heads, kv heads and head size: the head size is fixed by `q_norm` when the family has it,
    /// the head count then by the query rows; otherwise the head count comes from config / flags.
    private mutating func resolveHeads(dim: Int) throws -> (Int, Int, Int) {
        let qName = naming.layer(0, naming.attention, naming.query) + ".weight"
        let kName = naming.layer(0, naming.attention, naming.key) + ".weight"
        let qShape = try loader.shape(qName), kShape = try loader.shape(kName)
        guard qShape.count == 2, qShape[1] == dim else { throw InferenceError.wrongShape(path: loader.path, name: qName, expected: [-1, dim], found: qShape) }
        guard kShape.count == 2, kShape[1] == dim else { throw InferenceError.wrongShape(path: loader.path, name: kName, expected: [-1, dim], found: kShape) }
        let qRows = qShape[0], kRows = kShape[0]
        var headDim: Int?
        if architecture.queryKeyNorm {
            let normName = naming.layer(0, naming.attention, naming.queryNorm) + ".weight"
            let normShape = try loader.shape(normName)
            guard normShape.count == 1, normShape[0] > 0 else { throw InferenceError.wrongShape(path: loader.path, name: normName, expected: [-1], found: normShape) }
            if let d = given.headDim, d != normShape[0] {
                throw contradiction("head_dim = \(d) but '\(normName)' has \(normShape[0]) entries (the head size)")
            }
            headDim = normShape[0]
        } else if let d = given.headDim {
            guard d > 0 else { throw contradiction("head_dim = \(d) must be positive") }
            headDim = d
        }
        let heads: Int
        var headsAssumed = false
        if let h = given.numAttentionHeads {
            guard h > 0 else { throw contradiction("num_attention_heads = \(h) must be positive") }
            heads = h
        } else if let d = headDim {
            guard qRows % d == 0 else { throw contradiction("head_dim \(d) does not divide the \(qRows) rows of '\(qName)'") }
            heads = qRows / d
        } else if let h = architecture.defaults.heads {
            heads = assume("num_attention_heads", h, "\(architecture.name) default; pass --heads N if the model has another count")
            headsAssumed = true
        } else {
            throw contradiction("the number of attention heads of this \(architecture.name) model is not known (no num_attention_heads in config.json): pass --heads N")
        }
        let fix = headsAssumed ? " (\(heads) heads were assumed: pass --heads N with the model's head count)" : " (fix num_attention_heads / --heads)"
        let resolvedHeadDim: Int
        if let d = headDim {
            guard d * heads == qRows else {
                throw contradiction("\(heads) attention heads × head_dim \(d) ≠ \(qRows) rows of '\(qName)'\(fix)")
            }
            resolvedHeadDim = d
        } else {
            guard qRows % heads == 0 else {
                throw contradiction("\(heads) attention heads do not divide the \(qRows) rows of '\(qName)'\(fix)")
            }
            resolvedHeadDim = qRows / heads
        }
        guard resolvedHeadDim % 2 == 0 else {
            throw contradiction("head size \(resolvedHeadDim) (\(qRows) / \(heads) heads) is odd; rotary embedding needs it even\(fix)")
        }
        guard kRows % resolvedHeadDim == 0 else {
            throw contradiction("head size \(resolvedHeadDim) does not divide the \(kRows) rows of '\(kName)'\(fix)")
        }
        let kvHeads = kRows / resolvedHeadDim
        if let kv = given.numKeyValueHeads, kv != kvHeads {
            throw contradiction("num_key_value_heads = \(kv) but '\(kName)' has \(kRows) rows = \(kvHeads) heads of size \(resolvedHeadDim)")
        }
        guard kvHeads > 0, heads % kvHeads == 0 else {
            throw contradiction("\(heads) attention heads are not a multiple of \(kvHeads) key/value heads\(fix)")
        }
        return (heads, kvHeads, resolvedHeadDim)
    }
}
