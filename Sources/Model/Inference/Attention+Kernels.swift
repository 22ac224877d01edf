import Foundation

extension Attention {
    /// Decoding one token: each head's scores against its key/value group (matrix-vector products).
    func attendOneRowPerHead(_ fused: [Float], width: Int, start: Int, total: Int, group: Int, scale: Float,
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
    func attendGrouped(_ fused: [Float], rows: Int, width: Int, start: Int, total: Int, group: Int, scale: Float,
                               cache: LayerKVCache, into context: inout [Float]) {
        let qWidth = heads * headDim, kvWidth = kvHeads * headDim
        let stacked = rows * group
        let block = group * headDim
        var queries = [Float](repeating: 0, count: stacked * headDim)
        // Scores of one block of query rows only, so scratch memory grows linearly with the sequence.
        var scores = [Float](repeating: 0, count: Swift.min(rows, Self.chunkRows) * group * total)
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
                                                                 c: sc.baseAddress!, ldc: total)
                                            for i in 0..<chunkRows {
                                                Softmax.causalRow(sc.baseAddress! + i * total, valid: start + (firstRow + i) / group + 1, width: seen)
                                            }
                                            BLAS.gemm(m: chunkRows, n: headDim, k: seen,
                                                      a: sc.baseAddress!, lda: total,
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
