import Foundation

// The building blocks shared by every architecture in this folder: linear layers (with an
// optional unmerged LoRA adapter), RMSNorm, rotary embeddings, grouped-query causal attention,
// SwiGLU feed-forward and the MoE feed-forward. Activations are row-major `[tokens, features]`
// float32 buffers; every matrix product goes through OpenBLAS.

/// Row-major float32 weight rows shared by several linear layers that read the same input
/// (q/k/v, gate/up), so they run as one matrix product.
final class WeightStorage: @unchecked Sendable {
    var data: [Float]
    let columns: Int

    init(data: [Float], columns: Int) {
        self.data = data
        self.columns = columns
    }

    /// Stacks the rows of several `[out_i, columns]` matrices.
    init(stacking parts: [[Float]], columns: Int) {
        var data: [Float] = []
        data.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for part in parts { data += part }
        self.data = data
        self.columns = columns
    }

    var rows: Int { data.count / columns }
}

/// A torch `nn.Linear` without bias: `y = x Wᵀ`, plus `scale · (x Aᵀ) Bᵀ` when an adapter is attached unmerged.
///
/// The weight `[out, in]` is rows `rowOffset ..< rowOffset + out` of a `WeightStorage`, which it may
/// share with sibling layers of the same input (see `LinearGroup`).
public final class LinearLayer: @unchecked Sendable {
    public let inFeatures: Int
    public let outFeatures: Int
    let storage: WeightStorage
    let rowOffset: Int
    /// The adapter applied beside the weight (unmerged), if any.
    public private(set) var adapter: LoRAPair?

    init(weight: [Float], outFeatures: Int, inFeatures: Int) {
        self.storage = WeightStorage(data: weight, columns: inFeatures)
        self.rowOffset = 0
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
    }

    init(storage: WeightStorage, rowOffset: Int, outFeatures: Int) {
        self.storage = storage
        self.rowOffset = rowOffset
        self.outFeatures = outFeatures
        self.inFeatures = storage.columns
    }

    /// The weight `[out, in]`, row-major, as torch stores it (a copy).
    public var weight: [Float] {
        Array(storage.data[(rowOffset * inFeatures)..<((rowOffset + outFeatures) * inFeatures)])
    }

    /// Attaches an adapter to run unmerged: `W x + scale · B (A x)`.
    func attach(_ pair: LoRAPair) {
        adapter = pair
    }

    /// Stops applying the attached adapter (the layer is the base layer again); returns it.
    @discardableResult
    func detachAdapter() -> LoRAPair? {
        defer { adapter = nil }
        return adapter
    }

    /// Folds an adapter into the weight: `W' = W + scale · B·A` (float32).
    func merge(_ pair: LoRAPair) {
        let r = pair.rank
        let offset = rowOffset * inFeatures
        pair.b.data.withUnsafeBufferPointer { b in
            pair.a.data.withUnsafeBufferPointer { a in
                storage.data.withUnsafeMutableBufferPointer { w in
                    // W[out, in] += scale · B[out, r] · A[r, in]
                    BLAS.gemm(m: outFeatures, n: inFeatures, k: r, alpha: pair.scale, a: b.baseAddress!, lda: r,
                              b: a.baseAddress!, ldb: inFeatures, beta: 1, c: w.baseAddress! + offset, ldc: inFeatures)
                }
            }
        }
    }

    /// Adds `scale · (x Aᵀ) Bᵀ` to `y` (row stride `ldy`) when an adapter is attached.
    func addAdapter(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        guard let pair = adapter else { return }
        let r = pair.rank
        var t = [Float](repeating: 0, count: rows * r)
        t.withUnsafeMutableBufferPointer { t in
            pair.a.data.withUnsafeBufferPointer { a in
                BLAS.gemmTransposedB(m: rows, n: r, k: inFeatures, a: x, lda: inFeatures,
                                     b: a.baseAddress!, ldb: inFeatures, c: t.baseAddress!, ldc: r)
            }
            pair.b.data.withUnsafeBufferPointer { b in
                BLAS.gemmTransposedB(m: rows, n: outFeatures, k: r, alpha: pair.scale, a: UnsafePointer(t.baseAddress!), lda: r,
                                     b: b.baseAddress!, ldb: r, beta: 1, c: y, ldc: ldy)
            }
        }
    }

    /// `y[rows, out] = x[rows, in] Wᵀ (+ adapter)`.
    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        let offset = rowOffset * inFeatures
        storage.data.withUnsafeBufferPointer { w in
            BLAS.gemmTransposedB(m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
                                 b: w.baseAddress! + offset, ldb: inFeatures, c: y, ldc: outFeatures)
        }
        addAdapter(x, rows: rows, into: y, ldy: outFeatures)
    }

    /// `x[rows, in] Wᵀ` as a new buffer.
    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: rows * outFeatures) { y, n in
            x.withUnsafeBufferPointer { apply($0.baseAddress!, rows: rows, into: y.baseAddress!) }
            n = rows * outFeatures
        }
    }
}

/// Linear layers of one input whose weights are consecutive rows of one storage (q/k/v, gate/up):
/// one matrix product gives all their outputs side by side, `[rows, Σ out_i]`.
struct LinearGroup {
    let layers: [LinearLayer]
    let storage: WeightStorage

    /// Stacks the weights of `parts` (`[out_i, in]` each) into one storage and makes a layer per part.
    init(parts: [(weight: [Float], out: Int)], inFeatures: Int) {
        let storage = WeightStorage(stacking: parts.map(\.weight), columns: inFeatures)
        var offset = 0
        var layers: [LinearLayer] = []
        for part in parts {
            layers.append(LinearLayer(storage: storage, rowOffset: offset, outFeatures: part.out))
            offset += part.out
        }
        self.layers = layers
        self.storage = storage
    }

    var width: Int { storage.rows }

    /// `[rows, width]`: every layer's output, adapters included, in column blocks.
    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        let width = self.width, k = storage.columns
        return [Float](unsafeUninitializedCapacity: rows * width) { y, n in
            x.withUnsafeBufferPointer { x in
                storage.data.withUnsafeBufferPointer { w in
                    BLAS.gemmTransposedB(m: rows, n: width, k: k, a: x.baseAddress!, lda: k,
                                         b: w.baseAddress!, ldb: k, c: y.baseAddress!, ldc: width)
                }
                for layer in layers where layer.adapter != nil {
                    layer.addAdapter(x.baseAddress!, rows: rows, into: y.baseAddress! + layer.rowOffset, ldy: width)
                }
            }
            n = rows * width
        }
    }
}

/// Root-mean-square normalisation with a learned gain, as MiniMind computes it in float32.
struct RMSNorm {
    let weight: [Float]
    let eps: Float

    /// Normalises each of `rows` rows of `x` (width `weight.count`).
    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        let d = weight.count
        return [Float](unsafeUninitializedCapacity: rows * d) { out, n in
            x.withUnsafeBufferPointer { x in
                weight.withUnsafeBufferPointer { w in
                    for r in 0..<rows {
                        let row = x.baseAddress! + r * d
                        var sum: Double = 0
                        for i in 0..<d { sum += Double(row[i]) * Double(row[i]) }
                        let inv = 1 / (Float(sum / Double(d)) + eps).squareRoot()
                        let o = out.baseAddress! + r * d
                        for i in 0..<d { o[i] = w[i] * (row[i] * inv) }
                    }
                }
            }
            n = rows * d
        }
    }
}

/// How rotary position embeddings pair up the features of a head.
public enum RotaryStyle: String, Sendable {
    /// MiniMind2: complex numbers from adjacent pairs `(x[2i], x[2i+1])`.
    case adjacentPairs = "adjacent-pairs"
    /// Llama / later MiniMind: `rotate_half`, pairing `x[i]` with `x[i + d/2]`.
    case rotateHalf = "rotate-half"
}

/// Precomputed cos/sin tables of rotary embeddings, grown on demand.
final class RotaryEmbedding: @unchecked Sendable {
    let headDim: Int
    let style: RotaryStyle
    /// `1 / theta^(2i / headDim)` for `i < headDim / 2`, rounded to float32 like torch.
    private let frequencies: [Float]
    private var cosTable: [Float] = []
    private var sinTable: [Float] = []
    private var positions = 0
    private let lock = NSLock()

    init(headDim: Int, theta: Double, style: RotaryStyle) {
        self.headDim = headDim
        self.style = style
        frequencies = (0..<(headDim / 2)).map { i in
            let exponent = Float(2 * i) / Float(headDim)
            return Float(1.0 / pow(theta, Double(exponent)))
        }
    }

    /// The tables covering at least positions `0..<count` (a snapshot, safe to read while another thread grows them).
    private func tables(covering count: Int) -> (cos: [Float], sin: [Float]) {
        lock.lock(); defer { lock.unlock() }
        if count > positions { grow(count) }
        return (cosTable, sinTable)
    }

    /// Extends the tables to at least `count` positions; called with the lock held.
    private func grow(_ count: Int) {
        let newCount = max(count, positions * 2, 64)
        let half = headDim / 2
        cosTable.reserveCapacity(newCount * half)
        sinTable.reserveCapacity(newCount * half)
        for p in positions..<newCount {
            for f in frequencies {
                let angle = Float(p) * f // float32 product, as torch.outer on float32 tensors
                cosTable.append(Float(cos(Double(angle))))
                sinTable.append(Float(sin(Double(angle))))
            }
        }
        positions = newCount
    }

    /// Rotates `heads` heads in each of `rows` rows of `x`, starting at column `column` of rows of
    /// `rowStride` values; row `r` is at position `start + r`.
    func apply(_ x: inout [Float], rows: Int, heads: Int, column: Int, rowStride: Int, start: Int) {
        let (cosTable, sinTable) = tables(covering: start + rows)
        let half = headDim / 2
        let width = rowStride
        cosTable.withUnsafeBufferPointer { cosT in
            sinTable.withUnsafeBufferPointer { sinT in
                x.withUnsafeMutableBufferPointer { whole in
                    let x = UnsafeMutableBufferPointer(rebasing: whole[column...])
                    for r in 0..<rows {
                        let c = cosT.baseAddress! + (start + r) * half
                        let s = sinT.baseAddress! + (start + r) * half
                        for h in 0..<heads {
                            let v = x.baseAddress! + r * width + h * headDim
                            switch style {
                            case .adjacentPairs:
                                for i in 0..<half {
                                    let a = v[2 * i], b = v[2 * i + 1]
                                    v[2 * i] = a * c[i] - b * s[i]
                                    v[2 * i + 1] = a * s[i] + b * c[i]
                                }
                            case .rotateHalf:
                                for i in 0..<half {
                                    let a = v[i], b = v[i + half]
                                    v[i] = a * c[i] - b * s[i]
                                    v[i + half] = b * c[i] + a * s[i]
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Grouped-query causal self-attention with rotary embeddings; q, k and v are one fused product.
final class Attention: @unchecked Sendable {
    let qkv: LinearGroup
    let output: LinearLayer
    let heads: Int, kvHeads: Int, headDim: Int

    var query: LinearLayer { qkv.layers[0] }
    var key: LinearLayer { qkv.layers[1] }
    var value: LinearLayer { qkv.layers[2] }

    init(qkv: LinearGroup, output: LinearLayer, heads: Int, kvHeads: Int, headDim: Int) {
        self.qkv = qkv
        self.output = output
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
    }

    /// Attends `rows` new tokens (already normalised) to themselves and to what `cache` holds; appends their keys and values.
    func callAsFunction(_ x: [Float], rows: Int, rope: RotaryEmbedding, cache: LayerKVCache) -> [Float] {
        let start = cache.count
        let qWidth = heads * headDim
        let kvWidth = kvHeads * headDim
        let width = qWidth + 2 * kvWidth
        // [rows, q | k | v]
        var fused = qkv(x, rows: rows)
        rope.apply(&fused, rows: rows, heads: heads, column: 0, rowStride: width, start: start)
        rope.apply(&fused, rows: rows, heads: kvHeads, column: qWidth, rowStride: width, start: start)
        fused.withUnsafeBufferPointer { f in
            cache.append(keys: f.baseAddress! + qWidth, values: f.baseAddress! + qWidth + kvWidth, rowStride: width, rows: rows)
        }

        let total = cache.count
        let group = heads / kvHeads
        let scale = 1 / Float(headDim).squareRoot()
        var context = [Float](repeating: 0, count: rows * qWidth)
        if rows == 1 {
            attendOneRowPerHead(fused, width: width, start: start, total: total, group: group, scale: scale, cache: cache, into: &context)
        } else {
            attendGrouped(fused, rows: rows, width: width, start: start, total: total, group: group, scale: scale, cache: cache, into: &context)
        }
        return output(context, rows: rows)
    }
}

extension Attention {
    /// Decoding one token: each head's scores against its key/value group (matrix-vector products).
    private func attendOneRowPerHead(_ fused: [Float], width: Int, start: Int, total: Int, group: Int, scale: Float,
                                     cache: LayerKVCache, into context: inout [Float]) {
        let qWidth = heads * headDim, kvWidth = kvHeads * headDim
        var scores = [Float](repeating: 0, count: total)
        fused.withUnsafeBufferPointer { q in
            cache.keys.withUnsafeBufferPointer { keys in
                cache.values.withUnsafeBufferPointer { values in
                    context.withUnsafeMutableBufferPointer { ctx in
                        scores.withUnsafeMutableBufferPointer { sc in
                            for h in 0..<heads {
                                let g = h / group
                                BLAS.gemmTransposedB(m: 1, n: total, k: headDim, alpha: scale,
                                                     a: q.baseAddress! + h * headDim, lda: width,
                                                     b: keys.baseAddress! + g * headDim, ldb: kvWidth,
                                                     c: sc.baseAddress!, ldc: total)
                                Softmax.causalRow(sc.baseAddress!, valid: start + 1, width: total)
                                BLAS.gemm(m: 1, n: headDim, k: total,
                                          a: sc.baseAddress!, lda: total,
                                          b: values.baseAddress! + g * headDim, ldb: kvWidth,
                                          c: ctx.baseAddress! + h * headDim, ldc: qWidth)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Tokens per block of the causal attention products in `attendGrouped`.
    static let chunkRows = 64

    /// Several tokens: the `group` query heads that share one key/value head are stacked into one
    /// `[rows · group, headDim]` matrix, so each group costs two large products instead of
    /// `2 · group` small ones. Stacked row `r · group + j` is token `r`, head `g · group + j`.
    private func attendGrouped(_ fused: [Float], rows: Int, width: Int, start: Int, total: Int, group: Int, scale: Float,
                               cache: LayerKVCache, into context: inout [Float]) {
        let qWidth = heads * headDim, kvWidth = kvHeads * headDim
        let stacked = rows * group
        let block = group * headDim
        var queries = [Float](repeating: 0, count: stacked * headDim)
        var scores = [Float](repeating: 0, count: stacked * total)
        var outputs = [Float](repeating: 0, count: stacked * headDim)
        fused.withUnsafeBufferPointer { q in
            cache.keys.withUnsafeBufferPointer { keys in
                cache.values.withUnsafeBufferPointer { values in
                    context.withUnsafeMutableBufferPointer { ctx in
                        queries.withUnsafeMutableBufferPointer { qs in
                            scores.withUnsafeMutableBufferPointer { sc in
                                outputs.withUnsafeMutableBufferPointer { out in
                                    for g in 0..<kvHeads {
                                        for r in 0..<rows {
                                            (qs.baseAddress! + r * block).update(from: q.baseAddress! + r * width + g * block, count: block)
                                        }
                                        // Causal: tokens of chunk [r0, r1) see keys [0, start + r1) only,
                                        // so later chunks get wider products and none computes masked scores.
                                        var r0 = 0
                                        while r0 < rows {
                                            let r1 = Swift.min(rows, r0 + Self.chunkRows)
                                            let seen = start + r1
                                            let firstRow = r0 * group, chunkRows = (r1 - r0) * group
                                            BLAS.gemmTransposedB(m: chunkRows, n: seen, k: headDim, alpha: scale,
                                                                 a: qs.baseAddress! + firstRow * headDim, lda: headDim,
                                                                 b: keys.baseAddress! + g * headDim, ldb: kvWidth,
                                                                 c: sc.baseAddress! + firstRow * total, ldc: total)
                                            for i in firstRow..<(firstRow + chunkRows) {
                                                Softmax.causalRow(sc.baseAddress! + i * total, valid: start + i / group + 1, width: seen)
                                            }
                                            BLAS.gemm(m: chunkRows, n: headDim, k: seen,
                                                      a: sc.baseAddress! + firstRow * total, lda: total,
                                                      b: values.baseAddress! + g * headDim, ldb: kvWidth,
                                                      c: out.baseAddress! + firstRow * headDim, ldc: headDim)
                                            r0 = r1
                                        }
                                        for r in 0..<rows {
                                            (ctx.baseAddress! + r * qWidth + g * block).update(from: out.baseAddress! + r * block, count: block)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Row-wise softmax helpers.
enum Softmax {
    /// Softmax over the first `valid` entries of a row of `width`; the rest (future tokens) become 0.
    @inline(__always)
    static func causalRow(_ row: UnsafeMutablePointer<Float>, valid: Int, width: Int) {
        var maxValue = -Float.infinity
        for j in 0..<valid where row[j] > maxValue { maxValue = row[j] }
        let sum = VectorMath.expShifted(row, count: valid, shift: maxValue)
        let inv = 1 / sum
        for j in 0..<valid { row[j] *= inv }
        for j in valid..<width { row[j] = 0 }
    }
}

/// The SwiGLU feed-forward `down(silu(gate x) · up x)` (MiniMind's `w2(silu(w1 x) * w3 x)`); gate and up are one fused product.
final class FeedForward: @unchecked Sendable {
    let gateUp: LinearGroup
    let down: LinearLayer

    var gate: LinearLayer { gateUp.layers[0] }
    var up: LinearLayer { gateUp.layers[1] }

    init(gateUp: LinearGroup, down: LinearLayer) {
        self.gateUp = gateUp
        self.down = down
    }

    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        let hidden = gate.outFeatures
        let both = gateUp(x, rows: rows) // [rows, gate | up]
        let h = [Float](unsafeUninitializedCapacity: rows * hidden) { h, n in
            both.withUnsafeBufferPointer { b in
                for r in 0..<rows {
                    let g = b.baseAddress! + r * 2 * hidden
                    VectorMath.swiGLU(gate: g, up: g + hidden, into: h.baseAddress! + r * hidden, count: hidden)
                }
            }
            n = rows * hidden
        }
        return down(h, rows: rows)
    }
}

/// MiniMind's mixture-of-experts feed-forward: softmax router, top-k routed experts with
/// renormalised weights, plus shared experts applied to every token.
final class MoEFeedForward: @unchecked Sendable {
    /// Router weight `[experts, hidden]`.
    let router: LinearLayer
    let experts: [FeedForward]
    let sharedExperts: [FeedForward]
    let topK: Int
    let normTopkProb: Bool

    init(router: LinearLayer, experts: [FeedForward], sharedExperts: [FeedForward], topK: Int, normTopkProb: Bool) {
        self.router = router
        self.experts = experts
        self.sharedExperts = sharedExperts
        self.topK = topK
        self.normTopkProb = normTopkProb
    }

    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        let hidden = router.inFeatures
        let e = experts.count
        var logits = router(x, rows: rows)
        // Per token: softmax over experts, top-k, optional renormalisation.
        var assigned = [[(row: Int, weight: Float)]](repeating: [], count: e)
        logits.withUnsafeMutableBufferPointer { lg in
            for r in 0..<rows {
                let p = lg.baseAddress! + r * e
                Softmax.causalRow(p, valid: e, width: e)
                var chosen: [(Int, Float)] = []
                chosen.reserveCapacity(topK)
                var taken = [Bool](repeating: false, count: e)
                for _ in 0..<topK {
                    var best = -1
                    for j in 0..<e where !taken[j] && (best < 0 || p[j] > p[best]) { best = j }
                    taken[best] = true
                    chosen.append((best, p[best]))
                }
                var total: Float = 1
                if topK > 1 && normTopkProb { total = chosen.reduce(0) { $0 + $1.1 } + 1e-20 }
                for (j, w) in chosen { assigned[j].append((r, w / total)) }
            }
        }
        var y = [Float](repeating: 0, count: rows * hidden)
        for (j, routes) in assigned.enumerated() where !routes.isEmpty {
            // Gather the rows routed to expert j, run it once on all of them, scatter back weighted.
            var gathered = [Float](repeating: 0, count: routes.count * hidden)
            gathered.withUnsafeMutableBufferPointer { gt in
                x.withUnsafeBufferPointer { x in
                    for (i, route) in routes.enumerated() {
                        (gt.baseAddress! + i * hidden).update(from: x.baseAddress! + route.row * hidden, count: hidden)
                    }
                }
            }
            let out = experts[j](gathered, rows: routes.count)
            y.withUnsafeMutableBufferPointer { y in
                out.withUnsafeBufferPointer { out in
                    for (i, route) in routes.enumerated() {
                        let dst = y.baseAddress! + route.row * hidden
                        let src = out.baseAddress! + i * hidden
                        for c in 0..<hidden { dst[c] += src[c] * route.weight }
                    }
                }
            }
        }
        for shared in sharedExperts {
            let s = shared(x, rows: rows)
            y.withUnsafeMutableBufferPointer { y in
                s.withUnsafeBufferPointer { s in
                    for i in 0..<y.count { y[i] += s[i] }
                }
            }
        }
        return y
    }
}

/// The feed-forward of one block: dense SwiGLU or mixture of experts.
enum FeedForwardKind: @unchecked Sendable {
    case dense(FeedForward)
    case mixture(MoEFeedForward)

    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        switch self {
        case .dense(let f): return f(x, rows: rows)
        case .mixture(let m): return m(x, rows: rows)
        }
    }
}

/// One pre-norm transformer block: `h = x + attn(norm₁ x)`, `out = h + ffn(norm₂ h)`.
final class TransformerBlock: @unchecked Sendable {
    let attentionNorm: RMSNorm
    let attention: Attention
    let feedForwardNorm: RMSNorm
    let feedForward: FeedForwardKind

    init(attentionNorm: RMSNorm, attention: Attention, feedForwardNorm: RMSNorm, feedForward: FeedForwardKind) {
        self.attentionNorm = attentionNorm
        self.attention = attention
        self.feedForwardNorm = feedForwardNorm
        self.feedForward = feedForward
    }

    func callAsFunction(_ x: inout [Float], rows: Int, rope: RotaryEmbedding, cache: LayerKVCache) {
        let a = attention(attentionNorm(x, rows: rows), rows: rows, rope: rope, cache: cache)
        Self.addInPlace(&x, a)
        let f = feedForward(feedForwardNorm(x, rows: rows), rows: rows)
        Self.addInPlace(&x, f)
    }

    @inline(__always)
    static func addInPlace(_ x: inout [Float], _ y: [Float]) {
        x.withUnsafeMutableBufferPointer { x in
            y.withUnsafeBufferPointer { y in
                for i in 0..<x.count { x[i] += y[i] }
            }
        }
    }
}
