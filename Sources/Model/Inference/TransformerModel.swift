import Foundation
import PthReader

/// How adapter deltas given to `TransformerModel.load` are applied.
public enum AdapterMode: Sendable {
    /// Beside the weights, as PEFT's wrapped model runs them: each adapted linear computes
    /// `W x + scale · B (A x)` (DoRA: rescaled per output feature), an embedding LoRA adds
    /// `scale · Aᵀ[token] Bᵀ` to the looked-up row; `modules_to_save` tensors replace the base ones.
    case unmerged
    /// Folded into the weights in float32 by `AdapterDelta.apply` (the kernel `merge` uses).
    case merged
}

/// A decoder-only transformer (MiniMind, Llama, Qwen2, Qwen3 and their MoE variants) computing in
/// float32 over weights kept in their stored width (float16/bfloat16 widened inside the products).
///
/// Built from a checkpoint's tensors with strict loading (every needed tensor present with the right
/// shape, no tensor left unused), optionally with adapter deltas keyed by base tensor name.
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

    /// The token embedding `[vocab, hidden]`, in its stored width; a tied head shares its elements (copy on write).
    let embedding: WeightStorage
    /// An embedding LoRA run unmerged (`AdapterDelta.lora(_, layout: .embedding)`), added to looked-up rows.
    private(set) var embeddingAdapter: AdapterDelta?
    let blocks: [TransformerBlock]
    let finalNorm: RMSNorm
    let head: LinearLayer
    /// Whether the head is the embedding matrix (tied and stored once), so merging an embedding LoRA changes it too.
    let headIsTied: Bool
    let rope: RotaryEmbedding

    init(configuration: ResolvedModelConfiguration, architecture: Architecture, linearModulePaths: [String], weightDType: DType,
         isMixtureOfExperts: Bool, embedding: WeightStorage, embeddingAdapter: AdapterDelta?, blocks: [TransformerBlock], finalNorm: RMSNorm,
         head: LinearLayer, headIsTied: Bool, rope: RotaryEmbedding) {
        self.configuration = configuration
        self.architecture = architecture
        self.linearModulePaths = linearModulePaths
        self.weightDType = weightDType
        self.isMixtureOfExperts = isMixtureOfExperts
        self.embedding = embedding
        self.embeddingAdapter = embeddingAdapter
        self.blocks = blocks
        self.finalNorm = finalNorm
        self.head = head
        self.headIsTied = headIsTied
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
            for (r, t) in tokens.enumerated() { embedding.copyRow(t, to: out.baseAddress! + r * dim) }
            n = rows * dim
        }
        if let embeddingAdapter { addEmbeddingAdapter(embeddingAdapter, tokens: tokens, into: &x) }
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

    /// The unmerged deltas of a model, detached from it (see `detachAdapters`).
    struct DetachedAdapters {
        /// One per `linearLayers` entry, nil where none.
        var linear: [AdapterDelta?]
        var embedding: AdapterDelta?
    }

    /// Detaches every unmerged low-rank delta (the model computes the base again, except for
    /// `modules_to_save` tensors, which were put in place at load) and returns them.
    func detachAdapters() -> DetachedAdapters {
        defer { embeddingAdapter = nil }
        return DetachedAdapters(linear: linearLayers.map { $0.detachAdapter() }, embedding: embeddingAdapter)
    }

    /// Merges detached deltas into the weights in float32 with `AdapterDelta.apply`, as `merge` does
    /// (a merged embedding LoRA also changes a head tied to the embedding and stored once).
    func mergeAdapters(_ detached: DetachedAdapters) throws {
        for (layer, delta) in zip(linearLayers, detached.linear) {
            if let delta { try layer.merge(delta, module: "") }
        }
        if let delta = detached.embedding {
            var merged = embedding.floats(rows: 0, count: embedding.rows)
            try delta.apply(to: &merged, module: "embedding")
            embedding.replace(with: .float32(merged))
            if headIsTied { head.storage.replace(with: .float32(merged)) }
        }
    }
}

extension TransformerModel {
    /// Adds PEFT's unmerged embedding LoRA to the looked-up rows: `x[t] += s · Aᵀ[token] · Bᵀ`, with
    /// `A = lora_embedding_A [r, vocab]` and `B = lora_embedding_B [dim, r]` (`lora.Embedding.forward`).
    func addEmbeddingAdapter(_ delta: AdapterDelta, tokens: [Int], into x: inout [Float]) {
        guard case .lora(let pair, .embedding) = delta else { return }
        let r = pair.rank, vocab = pair.inFeatures, dim = pair.outFeatures
        var after = [Float](repeating: 0, count: r)
        pair.a.data.withUnsafeBufferPointer { a in
            pair.b.data.withUnsafeBufferPointer { b in
                x.withUnsafeMutableBufferPointer { x in
                    for (row, token) in tokens.enumerated() {
                        for k in 0..<r { after[k] = a[k * vocab + token] }
                        let out = x.baseAddress! + row * dim
                        for d in 0..<dim {
                            var sum: Float = 0
                            for k in 0..<r { sum += b[d * r + k] * after[k] }
                            out[d] += pair.scale * sum
                        }
                    }
                }
            }
        }
    }
}
