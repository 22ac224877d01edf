import CHalfKernels
import COpenBLAS

/// Products of float32 activations with float16/bfloat16 weight rows, accumulated in float32.
///
/// One activation row (decoding) reads the 16-bit rows directly (`half_matvec`, split across as
/// many threads as OpenBLAS uses), so a token costs half the memory traffic of float32 weights.
/// Several rows (prefill) widen the weight in blocks of rows and hand each block to `sgemm`.
enum HalfProducts {
    /// float32 bytes widened per `sgemm` call in `widenedGemm` (see docs/PERFORMANCE.md for the
    /// measurement that chose it).
    static let blockBytes = 1 << 20

    /// Threads for one product: OpenBLAS's count (`OPENBLAS_NUM_THREADS`), so that both kinds of
    /// weights run on the same number of cores.
    /// Read per call: a merge may have set OpenBLAS to one thread (`BLASRuntime.useSingleThread`).
    static var threads: Int32 { max(1, openblas_get_num_threads()) }

    /// `y[r] = W[r] · x` for `rows` rows of `columns` 16-bit elements at `w`.
    static func matvec(_ w: UnsafePointer<UInt16>, kind: half_kind, rows: Int, columns: Int,
                       x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        half_matvec_parallel(w, kind, columns, columns, rows, x, y, threads)
    }

    /// `y[m, rows] = x[m, columns] · Wᵀ` (row stride `ldy`), `W` widened block by block.
    static func widenedGemm(_ w: UnsafePointer<UInt16>, kind: half_kind, rows: Int, columns: Int,
                            x: UnsafePointer<Float>, m: Int, y: UnsafeMutablePointer<Float>, ldy: Int) {
        let blockRows = max(1, min(rows, blockBytes / (4 * max(1, columns))))
        withUnsafeTemporaryAllocation(of: Float.self, capacity: blockRows * columns) { block in
            var first = 0
            while first < rows {
                let n = min(blockRows, rows - first)
                half_widen(w + first * columns, kind, block.baseAddress!, n * columns)
                BLAS.gemmTransposedB(m: m, n: n, k: columns, a: x, lda: columns, b: block.baseAddress!, ldb: columns,
                                     c: y + first, ldc: ldy)
                first += n
            }
        }
    }
}
