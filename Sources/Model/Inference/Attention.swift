import Foundation

/// Grouped-query causal self-attention with rotary embeddings; q, k and v are one fused product.
///
/// With `queryNorm` / `keyNorm` (Qwen3, minimind-3) each query and key head is RMS-normalised
/// before the rotary embedding.
final class Attention: @unchecked Sendable {
    let qkv: LinearGroup
    let output: LinearLayer
    let heads: Int, kvHeads: Int, headDim: Int
    let queryNorm: RMSNorm?
    let keyNorm: RMSNorm?

    var query: LinearLayer { qkv.layers[0] }
    var key: LinearLayer { qkv.layers[1] }
    var value: LinearLayer { qkv.layers[2] }

    init(qkv: LinearGroup, output: LinearLayer, heads: Int, kvHeads: Int, headDim: Int, queryNorm: RMSNorm? = nil, keyNorm: RMSNorm? = nil) {
        self.queryNorm = queryNorm
        self.keyNorm = keyNorm
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
        queryNorm?.applyPerHead(&fused, rows: rows, heads: heads, column: 0, rowStride: width)
        keyNorm?.applyPerHead(&fused, rows: rows, heads: kvHeads, column: qWidth, rowStride: width)
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
