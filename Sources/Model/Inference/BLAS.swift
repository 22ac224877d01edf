import COpenBLAS

/// Thin wrappers over OpenBLAS single-precision routines, row-major, with Swift `Int` sizes.
enum BLAS {
    /// `C = alpha · A · Bᵀ + beta · C` with `A` `[m, k]` (row stride `lda`), `B` `[n, k]` (row stride `ldb`), `C` `[m, n]` (row stride `ldc`).
    ///
    /// The shape of `y = x Wᵀ` for a torch `Linear` whose weight `W` is `[out, in]`.
    @inline(__always)
    static func gemmTransposedB(m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                b: UnsafePointer<Float>, ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 1 {
            // One row: y = alpha · B · x + beta · y, a matrix-vector product.
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), a, 1, beta, c, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                        alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }

    /// `C = alpha · A · B + beta · C` with `A` `[m, k]`, `B` `[k, n]`, `C` `[m, n]`, each with its row stride.
    @inline(__always)
    static func gemm(m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                     b: UnsafePointer<Float>, ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 1 {
            // One row: yᵀ = alpha · Bᵀ · x + beta · yᵀ.
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb), a, 1, beta, c, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                        alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }
}
