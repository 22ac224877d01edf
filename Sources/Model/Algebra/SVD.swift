import Foundation
import CLapack
import COpenBLAS

/// A (possibly truncated) singular value decomposition `A ≈ U·diag(s)·Vᵀ` of a row-major float32 matrix.
public struct SVDResult: Sendable {
    public var rows: Int
    public var cols: Int
    /// `[rows, k]`, row-major, orthonormal columns.
    public var u: [Float]
    /// The `k` singular values, largest first.
    public var s: [Float]
    /// `[k, cols]`, row-major, orthonormal rows.
    public var vt: [Float]

    public var rank: Int { s.count }

    /// The leading `k` triplets.
    public func truncated(to k: Int) -> SVDResult {
        let k = min(k, rank)
        if k == rank { return self }
        var u2 = [Float](repeating: 0, count: rows * k)
        for i in 0..<rows { for j in 0..<k { u2[i * k + j] = u[i * rank + j] } }
        return SVDResult(rows: rows, cols: cols, u: u2, s: Array(s[0..<k]), vt: Array(vt[0..<(k * cols)]))
    }
}

/// How a truncated SVD is computed.
public enum SVDMethod: String, Sendable, Codable, CaseIterable {
    /// LAPACK `sgesdd` (divide and conquer) on the whole matrix: exact to float32 rounding.
    case exact
    /// Halko–Martinsson–Tropp randomized range finder with power iterations, then an exact SVD of
    /// the small projected matrix: far cheaper when the rank is much smaller than the matrix.
    case randomized
}

/// Errors of the dense linear algebra.
public enum LinearAlgebraError: Error, CustomStringConvertible, Equatable {
    /// LAPACK reported failure (`info` ≠ 0) in `routine`.
    case lapack(routine: String, info: Int, context: String)
    /// A matrix holds NaN or infinity.
    case notFinite(context: String)

    public var description: String {
        switch self {
        case .lapack(let routine, let info, let context):
            return "\(context): LAPACK \(routine) failed (info \(info))" + (info > 0 ? ": the SVD did not converge" : "")
        case .notFinite(let context):
            return "\(context): the matrix holds NaN or infinity; its SVD is undefined"
        }
    }
}

public enum SVD {
    /// The thin SVD of a row-major `[rows, cols]` matrix with LAPACK `sgesdd` (k = min(rows, cols)).
    public static func exact(_ a: [Float], rows: Int, cols: Int, context: String = "matrix") throws -> SVDResult {
        guard a.allSatisfy({ $0.isFinite }) else { throw LinearAlgebraError.notFinite(context: context) }
        // Row-major A is column-major Aᵀ [cols, rows]: its SVD Aᵀ = V·S·Uᵀ hands back Vᵀ (row-major)
        // where LAPACK writes "U" and U (row-major) where it writes "Vᵀ".
        let k = min(rows, cols)
        guard k > 0 else { return SVDResult(rows: rows, cols: cols, u: [], s: [], vt: []) }
        var work = a
        var s = [Float](repeating: 0, count: k)
        var vt = [Float](repeating: 0, count: k * cols)
        var u = [Float](repeating: 0, count: rows * k)
        try gesdd(&work, m: cols, n: rows, s: &s, u: &vt, ldu: cols, vt: &u, ldvt: k, context: context)
        return SVDResult(rows: rows, cols: cols, u: u, s: s, vt: vt)
    }

    /// The leading `rank` singular triplets by a randomized range finder (`oversample` extra columns,
    /// `powerIterations` rounds of re-orthonormalised `(A Aᵀ)` products), seeded for reproducibility.
    public static func randomized(_ a: [Float], rows m: Int, cols n: Int, rank: Int, oversample: Int = 10,
                                  powerIterations: Int = 2, seed: UInt64 = 0x5EED, context: String = "matrix") throws -> SVDResult {
        guard a.allSatisfy({ $0.isFinite }) else { throw LinearAlgebraError.notFinite(context: context) }
        let l = min(rank + oversample, min(m, n))
        if l >= min(m, n) { return try exact(a, rows: m, cols: n, context: context).truncated(to: rank) }
        // Column-major throughout: A (row-major [m, n]) is the column-major [n, m] matrix Aᵀ.
        var omega = gaussian(count: n * l, seed: seed)          // [n, l]
        var y = [Float](repeating: 0, count: m * l)               // [m, l] = A Ω
        var z = [Float](repeating: 0, count: n * l)               // [n, l] = Aᵀ Q
        a.withUnsafeBufferPointer { ap in
            cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, Int32(m), Int32(l), Int32(n), 1, ap.baseAddress, Int32(n), omega, Int32(n), 0, &y, Int32(m))
        }
        omega = []
        try orthonormalize(&y, rows: m, cols: l, context: context)
        for _ in 0..<powerIterations {
            a.withUnsafeBufferPointer { ap in
                cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(l), Int32(m), 1, ap.baseAddress, Int32(n), y, Int32(m), 0, &z, Int32(n))
            }
            try orthonormalize(&z, rows: n, cols: l, context: context)
            a.withUnsafeBufferPointer { ap in
                cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, Int32(m), Int32(l), Int32(n), 1, ap.baseAddress, Int32(n), z, Int32(n), 0, &y, Int32(m))
            }
            try orthonormalize(&y, rows: m, cols: l, context: context)
        }
        // B = Qᵀ A, [l, n] column-major.
        var b = [Float](repeating: 0, count: l * n)
        a.withUnsafeBufferPointer { ap in
            cblas_sgemm(CblasColMajor, CblasTrans, CblasTrans, Int32(l), Int32(n), Int32(m), 1, y, Int32(m), ap.baseAddress, Int32(n), 0, &b, Int32(l))
        }
        var s = [Float](repeating: 0, count: l)
        var ub = [Float](repeating: 0, count: l * l)              // [l, l]
        var vtb = [Float](repeating: 0, count: l * n)             // [l, n], ldvt l
        try gesdd(&b, m: l, n: n, s: &s, u: &ub, ldu: l, vt: &vtb, ldvt: l, context: context)
        var uc = [Float](repeating: 0, count: m * l)              // Q·Ub, [m, l]
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(l), Int32(l), 1, y, Int32(m), ub, Int32(l), 0, &uc, Int32(m))
        let k = min(rank, l)
        var u = [Float](repeating: 0, count: m * k)
        var vt = [Float](repeating: 0, count: k * n)
        for j in 0..<k {
            for i in 0..<m { u[i * k + j] = uc[j * m + i] }
            for c in 0..<n { vt[j * n + c] = vtb[c * l + j] }
        }
        return SVDResult(rows: m, cols: n, u: u, s: Array(s[0..<k]), vt: vt)
    }

    /// `sgesdd` with jobz "S" on a column-major `[m, n]` matrix (destroyed).
    static func gesdd(_ a: inout [Float], m: Int, n: Int, s: inout [Float], u: inout [Float], ldu: Int,
                      vt: inout [Float], ldvt: Int, context: String) throws {
        var jobz: CChar = CChar(UInt8(ascii: "S"))
        var mm = Int32(m), nn = Int32(n), lda = Int32(m), lu = Int32(ldu), lvt = Int32(ldvt), info: Int32 = 0
        var iwork = [Int32](repeating: 0, count: 8 * min(m, n))
        var query: Float = 0
        var lwork: Int32 = -1
        sgesdd_(&jobz, &mm, &nn, &a, &lda, &s, &u, &lu, &vt, &lvt, &query, &lwork, &iwork, &info, 1)
        guard info == 0 else { throw LinearAlgebraError.lapack(routine: "sgesdd", info: Int(info), context: context) }
        lwork = Int32(query.rounded(.up)) + 1
        var work = [Float](repeating: 0, count: Int(lwork))
        sgesdd_(&jobz, &mm, &nn, &a, &lda, &s, &u, &lu, &vt, &lvt, &work, &lwork, &iwork, &info, 1)
        guard info == 0 else { throw LinearAlgebraError.lapack(routine: "sgesdd", info: Int(info), context: context) }
    }

    /// Replaces a column-major `[rows, cols]` matrix (rows ≥ cols) by an orthonormal basis of its columns (QR).
    static func orthonormalize(_ a: inout [Float], rows: Int, cols: Int, context: String) throws {
        var m = Int32(rows), n = Int32(cols), lda = Int32(rows), info: Int32 = 0
        var tau = [Float](repeating: 0, count: cols)
        var query: Float = 0
        var lwork: Int32 = -1
        sgeqrf_(&m, &n, &a, &lda, &tau, &query, &lwork, &info)
        lwork = max(Int32(query.rounded(.up)), n)
        var work = [Float](repeating: 0, count: Int(lwork))
        sgeqrf_(&m, &n, &a, &lda, &tau, &work, &lwork, &info)
        guard info == 0 else { throw LinearAlgebraError.lapack(routine: "sgeqrf", info: Int(info), context: context) }
        var k = n
        lwork = -1
        sorgqr_(&m, &n, &k, &a, &lda, &tau, &query, &lwork, &info)
        lwork = max(Int32(query.rounded(.up)), n)
        work = [Float](repeating: 0, count: Int(lwork))
        sorgqr_(&m, &n, &k, &a, &lda, &tau, &work, &lwork, &info)
        guard info == 0 else { throw LinearAlgebraError.lapack(routine: "sorgqr", info: Int(info), context: context) }
    }

    /// Standard normal samples from a seeded xorshift generator (Box–Muller).
    static func gaussian(count: Int, seed: UInt64) -> [Float] {
        var state = seed | 1
        func next() -> Double {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return (Double(state >> 11) + 0.5) / Double(1 << 53)
        }
        var out = [Float](repeating: 0, count: count)
        var i = 0
        while i < count {
            let r = (-2 * Foundation.log(next())).squareRoot(), t = 2 * Double.pi * next()
            out[i] = Float(r * Foundation.cos(t))
            if i + 1 < count { out[i + 1] = Float(r * Foundation.sin(t)) }
            i += 2
        }
        return out
    }
}
