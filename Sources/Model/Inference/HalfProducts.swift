import CHalfKernels

/// Products of float32 activations with float16/bfloat16 weight rows, accumulated in float32.
///
/// One activation row (decoding) reads the 16-bit rows directly (`half_matvec`, split across the
/// threads of `ForwardThreads`), so a token costs half the memory traffic of float32 weights.
/// Several rows (prefill) widen the weight a chunk of rows at a time and hand each chunk to
/// `sgemm`, each chunk on one thread, so that the widening, which reads the weights from memory,
/// runs on every core too.
enum HalfProducts {
    /// `y[r] = W[r] · x` for `rows` rows of `columns` 16-bit elements at `w`.
    static func matvec(_ w: UnsafePointer<UInt16>, kind: half_kind, rows: Int, columns: Int,
                       x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        half_matvec_parallel(w, kind, columns, columns, rows, x, y, Int32(ForwardThreads.count))
    }

    /// `y[m, rows] = x[m, columns] · Wᵀ` (row stride `ldy`), `W` widened chunk by chunk.
    static func widenedGemm(_ w: UnsafePointer<UInt16>, kind: half_kind, rows: Int, columns: Int,
                            x: UnsafePointer<Float>, m: Int, y: UnsafeMutablePointer<Float>, ldy: Int) {
        ForwardThreads.forEachRowChunk(rows: rows, columns: columns) { first, n in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: n * columns) { block in
                half_widen(w + first * columns, kind, block.baseAddress!, n * columns)
                BLAS.gemmTransposedB(m: m, n: n, k: columns, a: x, lda: columns, b: block.baseAddress!, ldb: columns,
                                     c: y + first, ldc: ldy)
            }
        }
    }
}
