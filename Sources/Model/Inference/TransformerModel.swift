import Foundation
import PthReader

/// How adapter pairs given to `TransformerModel.load` are applied.
public enum AdapterMode: Sendable {
    /// Beside the weights: each adapted linear computes `W x + scale · B (A x)`.
    case unmerged
    /// Folded into the weights in float32: `W' = W + scale · B·A`.
    case merged
}

/// A decoder-only transformer (MiniMind, Llama, Qwen2, Qwen3 and their MoE variants) running in float32.
///
/// Built from a checkpoint's tensors with strict loading (every needed tensor present with the right
/// shape, no tensor left unused), optionally with LoRA adapters keyed by module path.
public final class TransformerModel: @unchecked Sendable {
    public let configuration: ResolvedModelConfiguration
    /// The family the checkpoint was recognised as.
    public let architecture: Architecture
    public var naming: CheckpointNaming { architecture.naming }
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

    init(configuration: ResolvedModelConfiguration, architecture: Architecture, linearModulePaths: [String], weightDType: DType,
         isMixtureOfExperts: Bool, embedding: [Float], blocks: [TransformerBlock], finalNorm: RMSNorm, head: LinearLayer, rope: RotaryEmbedding) {
        self.configuration = configuration
        self.architecture = architecture
        self.linearModulePaths = linearModulePaths
        self.weightDType = weightDType
        self.isMixtureOfExperts = isMixtureOfExperts
        self.embedding = embedding
        self.blocks = blocks
        self.finalNorm = finalNorm
        self.head = head
        self.rope = rope
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
}
