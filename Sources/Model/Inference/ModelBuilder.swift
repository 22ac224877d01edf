import PthReader

/// Builds a model's layers from a checkpoint as its `Architecture` describes, attaching or merging
/// the given adapter deltas (keyed by base tensor name) as it goes; strict: every delta must find its tensor.
struct ModelBuilder {
    let architecture: Architecture
    let config: ResolvedModelConfiguration
    let given: ModelConfiguration
    let loader: WeightLoader
    let mode: AdapterMode
    /// Deltas not yet used, keyed by base tensor name (with or without the checkpoint's prefix).
    var remaining: [String: AdapterDelta]
    /// Module paths of every linear layer built, in load order.
    var linearPaths: [String] = []
    private(set) var anyMixture = false

    init(architecture: Architecture, config: ResolvedModelConfiguration, given: ModelConfiguration, loader: WeightLoader,
         adapters: [String: AdapterDelta], mode: AdapterMode) {
        self.architecture = architecture
        self.config = config
        self.given = given
        self.loader = loader
        self.remaining = adapters
        self.mode = mode
    }

    private var naming: CheckpointNaming { architecture.naming }
    private var dim: Int { config.hiddenSize }

    mutating func linear(_ path: String, out: Int, in inFeatures: Int) throws -> LinearLayer {
        let layer = LinearLayer(weight: try weight(path + ".weight", shape: [out, inFeatures]), outFeatures: out, inFeatures: inFeatures)
        try adapt(layer, path: path)
        return layer
    }

    /// Layers of one input whose weights are stacked for a single product; biases as `bias` says.
    mutating func group(_ parts: [(path: String, out: Int)], in inFeatures: Int, bias: Architecture.Presence = .never) throws -> LinearGroup {
        let weights = try parts.map { part -> (weight: WeightElements, out: Int, bias: [Float]?) in
            let hasBias = bias == .always || (bias == .optional && loader.has(part.path + ".bias"))
            return (weight: try weight(part.path + ".weight", shape: [part.out, inFeatures]), out: part.out,
                    bias: hasBias ? try tensor(part.path + ".bias", shape: [part.out]) : nil)
        }
        let group = LinearGroup(parts: weights, inFeatures: inFeatures)
        for (layer, part) in zip(group.layers, parts) { try adapt(layer, path: part.path) }
        return group
    }

    /// A SwiGLU feed-forward under `path`; `expected` is the configured intermediate size and its key, if any.
    mutating func mlp(_ path: String, expected: (size: Int, key: String)? = nil) throws -> FeedForward {
        let gateName = path + "." + naming.gate + ".weight"
        let hidden = try loader.shape(gateName).first ?? 0
        if let expected, expected.size != hidden {
            throw InferenceError.inconsistentConfiguration("\(expected.key) = \(expected.size) but '\(gateName)' has \(hidden) rows")
        }
        let gateUp = try group([(path + "." + naming.gate, hidden), (path + "." + naming.up, hidden)], in: dim)
        return FeedForward(gateUp: gateUp, down: try linear(path + "." + naming.down, out: dim, in: hidden))
    }

    mutating func attention(_ i: Int) throws -> Attention {
        let qOut = config.headCount * config.headDim, kvOut = config.kvHeadCount * config.headDim
        func path(_ name: String) -> String { naming.layer(i, naming.attention, name) }
        let qkv = try group([(path(naming.query), qOut), (path(naming.key), kvOut), (path(naming.value), kvOut)], in: dim, bias: architecture.attentionBias)
        let output = try linear(path(naming.output), out: dim, in: qOut)
        var queryNorm: RMSNorm?, keyNorm: RMSNorm?
        if architecture.queryKeyNorm {
            queryNorm = RMSNorm(weight: try tensor(path(naming.queryNorm) + ".weight", shape: [config.headDim]), eps: config.normEps)
            keyNorm = RMSNorm(weight: try tensor(path(naming.keyNorm) + ".weight", shape: [config.headDim]), eps: config.normEps)
        }
        return Attention(qkv: qkv, output: output, heads: config.headCount, kvHeads: config.kvHeadCount, headDim: config.headDim,
                         queryNorm: queryNorm, keyNorm: keyNorm)
    }

    mutating func block(_ i: Int) throws -> TransformerBlock {
        let attention = try attention(i)
        return TransformerBlock(
            attentionNorm: RMSNorm(weight: try tensor(naming.layer(i, naming.attentionNorm) + ".weight", shape: [dim]), eps: config.normEps),
            attention: attention,
            feedForwardNorm: RMSNorm(weight: try tensor(naming.layer(i, naming.feedForwardNorm) + ".weight", shape: [dim]), eps: config.normEps),
            feedForward: try feedForward(i))
    }

    mutating func feedForward(_ i: Int) throws -> FeedForwardKind {
        let ffnPath = naming.layer(i, naming.feedForward)
        guard let routing = architecture.routing, loader.has(ffnPath + "." + naming.router + ".weight") else {
            return .dense(try mlp(ffnPath, expected: given.intermediateSize.map { ($0, "intermediate_size") }))
        }
        anyMixture = true
        let routerShape = try loader.shape(ffnPath + "." + naming.router + ".weight")
        let expertCount = routerShape.first ?? 0
        if let n = given.numExperts, n != expertCount {
            throw InferenceError.inconsistentConfiguration("num_experts = \(n) but '\(ffnPath).\(naming.router).weight' routes to \(expertCount) experts")
        }
        let router = try linear(ffnPath + "." + naming.router, out: expertCount, in: dim)
        let expertsPath = ffnPath + "." + naming.experts
        let expectedSize = given.moeIntermediateSize.map { ($0, "moe_intermediate_size") }
        let experts: [FeedForward]
        if loader.has(expertsPath + "." + naming.fusedGateUp) {
            experts = try fusedExperts(expertsPath, count: expertCount, expected: expectedSize)
        } else {
            experts = try (0..<expertCount).map { try mlp(expertsPath + ".\($0)", expected: expectedSize) }
        }
        var shared: [FeedForward] = []
        if routing == .miniMind2 {
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
        }
        guard config.expertsPerToken >= 1, config.expertsPerToken <= expertCount else {
            throw InferenceError.inconsistentConfiguration("num_experts_per_tok = \(config.expertsPerToken) but layer \(i) has \(expertCount) experts")
        }
        return .mixture(MoEFeedForward(router: router, experts: experts, sharedExperts: shared, topK: config.expertsPerToken,
                                       normTopkProb: config.normTopkProb, renormalizesSingleExpert: routing == .qwen3))
    }

    /// transformers 5's fused experts: `gate_up_proj` [E, 2·I, H] (gate rows, then up rows) and
    /// `down_proj` [E, H, I]. They are parameters, not Linear modules, so no adapter binds to them.
    mutating func fusedExperts(_ path: String, count: Int, expected: (size: Int, key: String)?) throws -> [FeedForward] {
        let gateUpName = path + "." + naming.fusedGateUp, downName = path + "." + naming.fusedDown
        let shape = try loader.shape(gateUpName)
        guard shape.count == 3, shape[0] == count, shape[2] == dim, shape[1] % 2 == 0 else {
            throw InferenceError.wrongShape(path: loader.path, name: loader.prefix + gateUpName, expected: [count, -1, dim], found: shape)
        }
        let hidden = shape[1] / 2
        if let expected, expected.size != hidden {
            throw InferenceError.inconsistentConfiguration("\(expected.key) = \(expected.size) but '\(gateUpName)' has \(shape[1]) = 2 × \(hidden) rows per expert")
        }
        let gateUp = try weight(gateUpName, shape: shape)
        let down = try weight(downName, shape: [count, dim, hidden])
        return (0..<count).map { e in
            let first = e * 2 * hidden * dim, half = hidden * dim
            let group = LinearGroup(parts: [(gateUp.slice(first..<(first + half)), hidden, nil),
                                            (gateUp.slice((first + half)..<(first + 2 * half)), hidden, nil)], inFeatures: dim)
            let d = down.slice((e * dim * hidden)..<((e + 1) * dim * hidden))
            return FeedForward(gateUp: group, down: LinearLayer(weight: d, outFeatures: dim, inFeatures: hidden))
        }
    }

    /// The output head: its own weight, or, tied and stored once, the embedding matrix `tied`
    /// (the base embedding, or the merged one after an embedding LoRA was folded into the shared
    /// tensor), or a `modules_to_save` head that replaces the tied one (as PEFT's wrapper does).
    mutating func head(tied: WeightElements, embeddingName: String) throws -> (layer: LinearLayer, isTied: Bool) {
        let vocab = config.vocabSize
        if embeddingName != naming.head && loader.has(naming.head + ".weight") {
            return (try linear(naming.head, out: vocab, in: dim), false)
        }
        if given.tieWordEmbeddings == false {
            throw InferenceError.inconsistentConfiguration("tie_word_embeddings = false but the checkpoint has no '\(naming.head).weight'")
        }
        let saved = try replacement(naming.head + ".weight", shape: [vocab, dim])
        let head = LinearLayer(weight: saved.map { .float32($0) } ?? tied, outFeatures: vocab, inFeatures: dim)
        try adapt(head, path: naming.head)
        return (head, saved == nil)
    }

    /// Throws when an adapter named a tensor this model does not have.
    func checkAllAdaptersUsed() throws {
        guard !remaining.isEmpty else { return }
        let names = remaining.keys.sorted()
        throw InferenceError.adapterMismatch("no tensor named \(names.prefix(5).map { "'\($0)'" }.joined(separator: ", "))\(names.count > 5 ? ", ..." : "") in this \(architecture.name) model that an adapter can change (it has e.g. '\(linearPaths.first ?? "").weight')")
    }
}
