import Foundation

extension Attention {
    /// Decoding one token: each head's scores against its key/value group, as plain loops (a few
    /// dozen keys of `headDim` floats: a BLAS call per head would cost more than the arithmetic).
    func attendOneRowPerHead(_ fused: [Float], width: Int, start: Int, total: Int, group: Int, scale: Float,
                                     cache: LayerKVCache, into context: inout [Float]) {
        let kvWidth = kvHeads * headDim
        var scores = [Float](repeating: 0, count: total)
        fused.withUnsafeBufferPointer { q in
            cache.keys.withUnsafeBufferPointer { keys in
                cache.values.withUnsafeBufferPointer { values in
                    context.withUnsafeMutableBufferPointer { ctx in
                        scores.withUnsafeMutableBufferPointer { sc in
                            for h in 0..<heads {
                                let g = h / group
                                let query = q.baseAddress! + h * headDim
                                for t in 0..<total {
                                    sc[t] = scale * VectorMath.dot(query, keys.baseAddress! + t * kvWidth + g * headDim, count: headDim)
                                }
                                Softmax.causalRow(sc.baseAddress!, valid: start + 1, width: total)
                                let out = ctx.baseAddress! + h * headDim
                                out.update(repeating: 0, count: headDim)
                                for t in 0..<total {
                                    VectorMath.addScaled(sc[t], values.baseAddress! + t * kvWidth + g * headDim, to: out, count: headDim)
                                }
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
    /// Each (key/value head, block of `chunkRows` tokens) pair is one chunk of `ForwardThreads`,
    /// with scratch memory of its own that grows linearly with the sequence.
    func attendGrouped(_ fused: [Float], rows: Int, width: Int, start: Int, total: Int, group: Int, scale: Float,
                               cache: LayerKVCache, into context: inout [Float]) {
        let qWidth = heads * headDim, kvWidth = kvHeads * headDim
        let block = group * headDim
        let blocks = (rows + Self.chunkRows - 1) / Self.chunkRows
        let headDim = self.headDim
        fused.withUnsafeBufferPointer { q in
            cache.keys.withUnsafeBufferPointer { keys in
                cache.values.withUnsafeBufferPointer { values in
                    context.withUnsafeMutableBufferPointer { ctx in
                        let q = q.baseAddress!, keys = keys.baseAddress!, values = values.baseAddress!, ctx = ctx.baseAddress!
                        ForwardThreads.run(chunks: kvHeads * blocks) { chunk in
                            // Causal: tokens [r0, r1) see keys [0, start + r1) only, so later
                            // blocks get wider products and none computes masked scores. The
                            // widest blocks come first, so the threads end together.
                            let g = chunk % kvHeads
                            let r0 = (blocks - 1 - chunk / kvHeads) * Self.chunkRows
                            let r1 = Swift.min(rows, r0 + Self.chunkRows)
                            let seen = start + r1, stacked = (r1 - r0) * group
                            withUnsafeTemporaryAllocation(of: Float.self, capacity: stacked * (2 * headDim + seen)) { scratch in
                                let queries = scratch.baseAddress!, outputs = queries + stacked * headDim
                                let scores = outputs + stacked * headDim
                                for r in r0..<r1 {
                                    (queries + (r - r0) * block).update(from: q + r * width + g * block, count: block)
                                }
                                BLAS.gemmTransposedB(m: stacked, n: seen, k: headDim, alpha: scale,
                                                     a: queries, lda: headDim, b: keys + g * headDim, ldb: kvWidth,
                                                     c: scores, ldc: seen)
                                for i in 0..<stacked {
                                    Softmax.causalRow(scores + i * seen, valid: start + r0 + i / group + 1, width: seen)
                                }
                                BLAS.gemm(m: stacked, n: headDim, k: seen, a: scores, lda: seen,
                                          b: values + g * headDim, ldb: kvWidth, c: outputs, ldc: headDim)
                                for r in r0..<r1 {
                                    (ctx + r * qWidth + g * block).update(from: outputs + (r - r0) * block, count: block)
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
