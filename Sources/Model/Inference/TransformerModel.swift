import Foundation
import PthReader

/// How adapter pairs given to `TransformerModel.load` are applied.
public enum AdapterMode: Sendable {
    /// Beside the weights: each adapted linear computes `W x + scale · B (A x)`.
    case unmerged
    /// Folded into the weights in float32: `W' = W + scale · B·A`.
    case merged
}

/// A decoder-only transformer of the MiniMind / Llama family running in float32.
///
/// Built from a checkpoint's tensors with strict loading (every needed tensor present with the right
/// shape, no tensor left unused), optionally with LoRA adapters keyed by module path.
public final class TransformerModel: @unchecked Sendable {
    public let configuration: ResolvedModelConfiguration
    public let naming: CheckpointNaming
    /// Module paths of every linear layer, in load order (what adapters may target).
    public let linearModulePaths: [String]
    /// The floating-point dtype most of the checkpoint's weights are stored in.
    public let weightDType: DType
    /// Whether any layer uses a mixture of experts.
    public let isMixtureOfExperts: Bool

    let embedding: [Float]
    let blocks: [TransformerBlock]
    let finalNorm: RMSNorm
    let head: LinearLayer
    let rope: RotaryEmbedding

    private init(configuration: ResolvedModelConfiguration, naming: CheckpointNaming, linearModulePaths: [String], weightDType: DType,
                 isMixtureOfExperts: Bool, embedding: [Float], blocks: [TransformerBlock], finalNorm: RMSNorm, head: LinearLayer) {
        self.configuration = configuration
        self.naming = naming
        self.linearModulePaths = linearModulePaths
        self.weightDType = weightDType
        self.isMixtureOfExperts = isMixtureOfExperts
        self.embedding = embedding
        self.blocks = blocks
        self.finalNorm = finalNorm
        self.head = head
        self.rope = RotaryEmbedding(headDim: configuration.headDim, theta: configuration.ropeTheta, style: naming.rotary)
    }

    // MARK: Running

    /// Logits `[tokens.count, vocab]` for a whole sequence in one pass (prefill).
    public func logits(for tokens: [Int]) throws -> Tensor {
        try forward(tokens, cache: makeCache())
    }

    /// Logits computed token by token through the KV cache (the decoding path); same values as `logits(for:)`.
    public func logitsDecoding(_ tokens: [Int]) throws -> Tensor {
        let cache = makeCache()
        var data: [Float] = []
        data.reserveCapacity(tokens.count * configuration.vocabSize)
        for t in tokens { data += try forward([t], cache: cache).data }
        return Tensor(shape: [tokens.count, configuration.vocabSize], data: data)
    }

    /// An empty KV cache for this model.
    public func makeCache() -> KVCache {
        let width = configuration.kvHeadCount * configuration.headDim
        return KVCache(layers: blocks.map { _ in LayerKVCache(width: width) }, model: ObjectIdentifier(self))
    }

    /// Runs `tokens` after what `cache` holds (positions continue from `cache.count`), appends them
    /// to the cache and returns their logits `[tokens.count, vocab]`.
    public func forward(_ tokens: [Int], cache: KVCache) throws -> Tensor {
        guard !tokens.isEmpty else { throw InferenceError.noTokens }
        guard cache.modelIdentifier == ObjectIdentifier(self) else { throw InferenceError.cacheMismatch }
        let dim = configuration.hiddenSize, vocab = configuration.vocabSize, rows = tokens.count
        for t in tokens where t < 0 || t >= vocab { throw InferenceError.tokenOutOfRange(token: t, vocabularySize: vocab) }
        var x = [Float](unsafeUninitializedCapacity: rows * dim) { out, n in
            embedding.withUnsafeBufferPointer { e in
                for (r, t) in tokens.enumerated() {
                    (out.baseAddress! + r * dim).initialize(from: e.baseAddress! + t * dim, count: dim)
                }
            }
            n = rows * dim
        }
        for (block, layerCache) in zip(blocks, cache.layers) {
            block(&x, rows: rows, rope: rope, cache: layerCache)
        }
        let normed = finalNorm(x, rows: rows)
        return Tensor(shape: [rows, vocab], data: head(normed, rows: rows))
    }

    /// Every linear layer (attention, feed-forward, experts, router, head).
    var linearLayers: [LinearLayer] {
        var layers: [LinearLayer] = []
        for block in blocks {
            let a = block.attention
            layers += [a.query, a.key, a.value, a.output]
            switch block.feedForward {
            case .dense(let f): layers += [f.gate, f.up, f.down]
            case .mixture(let m):
                layers.append(m.router)
                for f in m.experts + m.sharedExperts { layers += [f.gate, f.up, f.down] }
            }
        }
        layers.append(head)
        return layers
    }

    /// Detaches every unmerged adapter and returns them, in `linearLayers` order (nil where none).
    func detachAdapters() -> [LoRAPair?] {
        linearLayers.map { $0.detachAdapter() }
    }

    /// Merges `pairs` (from `detachAdapters`) into the weights in float32.
    func mergeAdapters(_ pairs: [LoRAPair?]) {
        for (layer, pair) in zip(linearLayers, pairs) {
            if let pair { layer.merge(pair) }
        }
    }

    // MARK: Loading

    /// Opens a checkpoint and builds the model.
    ///
    /// `configuration` `nil` uses the `config.json` belonging to the checkpoint (`ModelConfiguration.discovered`),
    /// if any; `overrides` then replace single fields; the rest comes from the shapes and MiniMind's defaults.
    public static func load(path: String, configuration: ModelConfiguration? = nil, overrides: ModelConfiguration = ModelConfiguration(),
                            adapters: [String: LoRAPair] = [:], mode: AdapterMode = .unmerged) throws -> TransformerModel {
        let checkpoint = try Checkpoint.open(path: path)
        let file = try configuration ?? ModelConfiguration.discovered(for: checkpoint) ?? ModelConfiguration()
        return try load(checkpoint, configuration: file.overridden(by: overrides), adapters: adapters, mode: mode)
    }

    /// Builds the model from a checkpoint's tensors, applying `adapters` (keyed by module path) as `mode` says.
    public static func load(_ checkpoint: Checkpoint, configuration given: ModelConfiguration = ModelConfiguration(),
                            adapters: [String: LoRAPair] = [:], mode: AdapterMode = .unmerged) throws -> TransformerModel {
        let (naming, prefix) = try detect(checkpoint)
        let loader = WeightLoader(checkpoint: checkpoint, prefix: prefix)
        let config = try resolve(given, naming: naming, loader: loader)
        var remaining = adapters
        var linearPaths: [String] = []
        let dim = config.hiddenSize

        /// Attaches or merges the adapter for `path`, if one was given.
        func adapt(_ layer: LinearLayer, path: String) throws {
            linearPaths.append(path)
            guard let pair = remaining.removeValue(forKey: path) ?? (prefix.isEmpty ? nil : remaining.removeValue(forKey: prefix + path)) else { return }
            guard pair.inFeatures == layer.inFeatures, pair.outFeatures == layer.outFeatures else {
                throw InferenceError.adapterMismatch("'\(path)' is [\(layer.outFeatures), \(layer.inFeatures)] but the adapter pair is [\(pair.outFeatures), \(pair.inFeatures)] (rank \(pair.rank))")
            }
            switch mode {
            case .unmerged: layer.attach(pair)
            case .merged: layer.merge(pair)
            }
        }
        func linear(_ path: String, out: Int, in inFeatures: Int) throws -> LinearLayer {
            let layer = LinearLayer(weight: try loader.take(path + ".weight", shape: [out, inFeatures]), outFeatures: out, inFeatures: inFeatures)
            try adapt(layer, path: path)
            return layer
        }
        /// Layers of one input whose weights are stacked for a single product.
        func group(_ parts: [(path: String, out: Int)], in inFeatures: Int) throws -> LinearGroup {
            let weights = try parts.map { (weight: try loader.take($0.path + ".weight", shape: [$0.out, inFeatures]), out: $0.out) }
            let group = LinearGroup(parts: weights, inFeatures: inFeatures)
            for (layer, part) in zip(group.layers, parts) { try adapt(layer, path: part.path) }
            return group
        }
        func mlp(_ path: String) throws -> FeedForward {
            let hidden = try loader.shape(path + "." + naming.gate + ".weight").first ?? 0
            let gateUp = try group([(path + "." + naming.gate, hidden), (path + "." + naming.up, hidden)], in: dim)
            return FeedForward(gateUp: gateUp, down: try linear(path + "." + naming.down, out: dim, in: hidden))
        }

        // Tied weights may be stored once under either name: Hugging Face's safetensors keeps only `lm_head`.
        let embeddingName = loader.has(naming.embedding + ".weight") || !loader.has(naming.head + ".weight") ? naming.embedding : naming.head
        let embedding = try loader.take(embeddingName + ".weight", shape: [config.vocabSize, dim])
        var blocks: [TransformerBlock] = []
        var anyMoE = false
        let qOut = config.headCount * config.headDim, kvOut = config.kvHeadCount * config.headDim
        for i in 0..<config.layerCount {
            let attention = Attention(
                qkv: try group([(naming.layer(i, naming.attention, naming.query), qOut),
                                (naming.layer(i, naming.attention, naming.key), kvOut),
                                (naming.layer(i, naming.attention, naming.value), kvOut)], in: dim),
                output: try linear(naming.layer(i, naming.attention, naming.output), out: dim, in: qOut),
                heads: config.headCount, kvHeads: config.kvHeadCount, headDim: config.headDim)
            let ffnPath = naming.layer(i, naming.feedForward)
            let feedForward: FeedForwardKind
            if loader.has(ffnPath + "." + naming.router + ".weight") {
                anyMoE = true
                let routerShape = try loader.shape(ffnPath + "." + naming.router + ".weight")
                let expertCount = routerShape.first ?? 0
                let router = try linear(ffnPath + "." + naming.router, out: expertCount, in: dim)
                var experts: [FeedForward] = []
                for e in 0..<expertCount { experts.append(try mlp(ffnPath + "." + naming.experts + ".\(e)")) }
                var shared: [FeedForward] = []
                let sharedPath = ffnPath + "." + naming.sharedExperts
                if loader.has(sharedPath + "." + naming.gate + ".weight") {
                    shared.append(try mlp(sharedPath))
                } else {
                    var k = 0
                    while loader.has(sharedPath + ".\(k)." + naming.gate + ".weight") {
                        shared.append(try mlp(sharedPath + ".\(k)"))
                        k += 1
                    }
                }
                guard config.expertsPerToken >= 1, config.expertsPerToken <= expertCount else {
                    throw InferenceError.inconsistentConfiguration("num_experts_per_tok = \(config.expertsPerToken) but layer \(i) has \(expertCount) experts")
                }
                feedForward = .mixture(MoEFeedForward(router: router, experts: experts, sharedExperts: shared,
                                                      topK: config.expertsPerToken, normTopkProb: config.normTopkProb))
            } else {
                let f = try mlp(ffnPath)
                if let expected = given.intermediateSize, expected != f.gate.outFeatures {
                    throw InferenceError.inconsistentConfiguration("intermediate_size = \(expected) but '\(ffnPath).\(naming.gate).weight' has \(f.gate.outFeatures) rows")
                }
                feedForward = .dense(f)
            }
            blocks.append(TransformerBlock(
                attentionNorm: RMSNorm(weight: try loader.take(naming.layer(i, naming.attentionNorm) + ".weight", shape: [dim]), eps: config.normEps),
                attention: attention,
                feedForwardNorm: RMSNorm(weight: try loader.take(naming.layer(i, naming.feedForwardNorm) + ".weight", shape: [dim]), eps: config.normEps),
                feedForward: feedForward))
        }
        let finalNorm = RMSNorm(weight: try loader.take(naming.finalNorm + ".weight", shape: [dim]), eps: config.normEps)
        let head: LinearLayer
        if embeddingName != naming.head && loader.has(naming.head + ".weight") {
            head = try linear(naming.head, out: config.vocabSize, in: dim)
        } else {
            // A tied head stored once: the embedding matrix is the head.
            head = LinearLayer(weight: embedding, outFeatures: config.vocabSize, inFeatures: dim)
            linearPaths.append(naming.head)
            if let pair = remaining.removeValue(forKey: naming.head) {
                guard pair.inFeatures == dim, pair.outFeatures == config.vocabSize else {
                    throw InferenceError.adapterMismatch("'\(naming.head)' is [\(config.vocabSize), \(dim)] but the adapter pair is [\(pair.outFeatures), \(pair.inFeatures)]")
                }
                switch mode {
                case .unmerged: head.attach(pair)
                case .merged: head.merge(pair)
                }
            }
        }
        try loader.finish()
        if !remaining.isEmpty {
            let names = remaining.keys.sorted()
            throw InferenceError.adapterMismatch("no linear layer named \(names.prefix(5).map { "'\($0)'" }.joined(separator: ", "))\(names.count > 5 ? ", ..." : "") in this \(naming.architecture) model (it has e.g. '\(linearPaths.first ?? "")')")
        }
        return TransformerModel(configuration: config, naming: naming, linearModulePaths: linearPaths, weightDType: loader.dominantDType,
                                isMixtureOfExperts: anyMoE, embedding: embedding, blocks: blocks, finalNorm: finalNorm, head: head)
    }

    /// Finds the model's state dict (`StateDictLocator`: a training checkpoint's `model.`, a `module.` /
    /// `_orig_mod.` wrapper) and the naming whose first query projection it has.
    static func detect(_ checkpoint: Checkpoint) throws -> (CheckpointNaming, String) {
        let located = StateDictLocator.prefix(of: checkpoint)
        for prefix in Set([located, ""]).sorted(by: { $0.count > $1.count }) {
            for naming in CheckpointNaming.all where checkpoint.tensor(named: prefix + naming.layer(0, naming.attention, naming.query) + ".weight") != nil {
                return (naming, prefix)
            }
        }
        throw InferenceError.unknownArchitecture(path: checkpoint.path, sample: Array(checkpoint.tensors.prefix(4).map(\.name)))
    }

    /// Completes the hyper-parameters from the weight shapes and MiniMind's defaults, checking they agree.
    static func resolve(_ given: ModelConfiguration, naming: CheckpointNaming, loader: WeightLoader) throws -> ResolvedModelConfiguration {
        let embeddingName = loader.has(naming.embedding + ".weight") || !loader.has(naming.head + ".weight") ? naming.embedding : naming.head
        let embeddingShape = try loader.shape(embeddingName + ".weight")
        guard embeddingShape.count == 2 else {
            throw InferenceError.wrongShape(path: loader.path, name: embeddingName + ".weight", expected: [-1, -1], found: embeddingShape)
        }
        let (vocab, dim) = (embeddingShape[0], embeddingShape[1])
        if let h = given.hiddenSize, h != dim {
            throw InferenceError.inconsistentConfiguration("hidden_size = \(h) but '\(embeddingName).weight' is \(embeddingShape)")
        }
        if let v = given.vocabSize, v != vocab {
            throw InferenceError.inconsistentConfiguration("vocab_size = \(v) but '\(embeddingName).weight' is \(embeddingShape)")
        }
        // Layers: one past the highest index any tensor name carries; missing pieces surface as missing tensors.
        let layerPrefix = loader.prefix + naming.layers + "."
        var layerCount = 0
        for t in loader.checkpoint.tensors where t.name.hasPrefix(layerPrefix) {
            if let index = Int(t.name.dropFirst(layerPrefix.count).prefix { $0 != "." }) { layerCount = max(layerCount, index + 1) }
        }
        guard layerCount > 0 else { throw InferenceError.missingTensor(path: loader.path, name: loader.prefix + naming.layer(0, naming.attention, naming.query) + ".weight") }
        if let n = given.numHiddenLayers, n != layerCount {
            throw InferenceError.inconsistentConfiguration("num_hidden_layers = \(n) but the checkpoint has \(layerCount) layers")
        }
        let qName = naming.layer(0, naming.attention, naming.query) + ".weight"
        let kName = naming.layer(0, naming.attention, naming.key) + ".weight"
        let qShape = try loader.shape(qName), kShape = try loader.shape(kName)
        guard qShape.count == 2, qShape[1] == dim else { throw InferenceError.wrongShape(path: loader.path, name: qName, expected: [-1, dim], found: qShape) }
        guard kShape.count == 2, kShape[1] == dim else { throw InferenceError.wrongShape(path: loader.path, name: kName, expected: [-1, dim], found: kShape) }
        let heads = given.numAttentionHeads ?? ModelConfiguration.defaultHeads
        guard heads > 0 else { throw InferenceError.inconsistentConfiguration("num_attention_heads = \(heads) must be positive") }
        let headDim: Int
        if let d = given.headDim {
            guard d > 0, d * heads == qShape[0] else {
                throw InferenceError.inconsistentConfiguration("\(heads) heads × head_dim \(d) ≠ \(qShape[0]) rows of '\(qName)'")
            }
            headDim = d
        } else {
            guard qShape[0] % heads == 0 else {
                throw InferenceError.inconsistentConfiguration("\(heads) attention heads do not divide the \(qShape[0]) rows of '\(qName)'")
            }
            headDim = qShape[0] / heads
        }
        guard headDim % 2 == 0 else {
            throw InferenceError.inconsistentConfiguration("head size \(headDim) (\(qShape[0]) / \(heads) heads) is odd; rotary embedding needs it even")
        }
        guard kShape[0] % headDim == 0 else {
            throw InferenceError.inconsistentConfiguration("head size \(headDim) does not divide the \(kShape[0]) rows of '\(kName)'")
        }
        let kvHeads = kShape[0] / headDim
        if let kv = given.numKeyValueHeads, kv != kvHeads {
            throw InferenceError.inconsistentConfiguration("num_key_value_heads = \(kv) but '\(kName)' has \(kShape[0]) rows = \(kvHeads) heads of size \(headDim)")
        }
        guard kvHeads > 0, heads % kvHeads == 0 else {
            throw InferenceError.inconsistentConfiguration("\(heads) attention heads are not a multiple of \(kvHeads) key/value heads")
        }
        let eps = given.rmsNormEps ?? ModelConfiguration.defaultNormEps
        let theta = given.ropeTheta ?? ModelConfiguration.defaultRopeTheta
        guard eps >= 0, eps.isFinite else { throw InferenceError.inconsistentConfiguration("rms_norm_eps = \(eps) must be a non-negative number") }
        guard theta > 0, theta.isFinite else { throw InferenceError.inconsistentConfiguration("rope_theta = \(theta) must be positive") }
        return ResolvedModelConfiguration(
            hiddenSize: dim, layerCount: layerCount, headCount: heads, kvHeadCount: kvHeads, headDim: headDim,
            vocabSize: vocab, normEps: eps, ropeTheta: theta,
            expertsPerToken: given.numExpertsPerTok ?? ModelConfiguration.defaultExpertsPerToken,
            normTopkProb: given.normTopkProb ?? true)
    }
}
