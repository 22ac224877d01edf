import COpenBLAS
import Foundation

/// Thin wrappers over OpenBLAS single-precision routines, row-major, with Swift `Int` sizes.
///
/// A product with `beta = 0` zeroes `C` here and asks OpenBLAS for `beta = 1`: OpenBLAS would
/// otherwise clear `C` with its own scalar loop (`sgemm_beta`), which took ~6 % of a prefill. The
/// bits are the same: OpenBLAS adds every block of the product to the zeroed `C` either way.
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
            if beta == 0 { zero(c, rows: m, columns: n, stride: ldc) }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                        alpha, a, Int32(lda), b, Int32(ldb), beta == 0 ? 1 : beta, c, Int32(ldc))
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
            if beta == 0 { zero(c, rows: m, columns: n, stride: ldc) }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                        alpha, a, Int32(lda), b, Int32(ldb), beta == 0 ? 1 : beta, c, Int32(ldc))
        }
    }

    /// Sets `rows` rows of `columns` floats, `stride` apart, to +0.
    @inline(__always)
    static func zero(_ c: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int) {
        if stride == columns {
            memset(c, 0, rows * columns * MemoryLayout<Float>.stride)
        } else {
            for r in 0..<rows { memset(c + r * stride, 0, columns * MemoryLayout<Float>.stride) }
        }
    }
}
