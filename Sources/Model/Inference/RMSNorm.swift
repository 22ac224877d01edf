import Foundation

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
                    ForwardThreads.forEachRowBlock(rows) { block in
                        for r in block {
                            let row = x.baseAddress! + r * d
                            let sum = VectorMath.sumOfSquares(row, count: d)
                            let inv = 1 / (Float(sum / Double(d)) + eps).squareRoot()
                            let o = out.baseAddress! + r * d
                            for i in 0..<d { o[i] = w[i] * (row[i] * inv) }
                        }
                    }
                }
            }
            n = rows * d
        }
    }

    /// Normalises, in place, each `weight.count`-wide head of `heads` heads in each of `rows` rows of
    /// `x`, starting at column `column` of rows `rowStride` apart (Qwen3's per-head `q_norm` / `k_norm`).
    func applyPerHead(_ x: inout [Float], rows: Int, heads: Int, column: Int, rowStride: Int) {
        let d = weight.count
        x.withUnsafeMutableBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                ForwardThreads.forEachRowBlock(rows) { block in for r in block {
                    for h in 0..<heads {
                        let v = x.baseAddress! + r * rowStride + column + h * d
                        let sum = VectorMath.sumOfSquares(v, count: d)
                        let inv = 1 / (Float(sum / Double(d)) + eps).squareRoot()
                        for i in 0..<d { v[i] = w[i] * (v[i] * inv) }
                    }
                } }
            }
        }
    }
}
