import COpenBLAS

/// The merge math: `ΔW = scale · B · A`, added to a float32 weight with sgemm.
extension LoRAPair {
    /// `scale · B · A` as a `[out, in]` float32 tensor.
    public func delta() -> Tensor {
        var out = [Float](repeating: 0, count: outFeatures * inFeatures)
        out.withUnsafeMutableBufferPointer { addScaledProduct(rows: 0..<outFeatures, into: $0.baseAddress!, transposed: false, scale: scale) }
        return Tensor(shape: [outFeatures, inFeatures], data: out)
    }

    /// Adds `scale · B·A` to a row-major float32 weight in place (`beta = 1`).
    ///
    /// `weight` is `[out, in]` (an `nn.Linear` weight), or `[in, out]` when `transposed` (a Conv1D
    /// weight, PEFT's `fan_in_fan_out`). Throws when the buffer has the wrong number of values.
    public func merge(into weight: inout [Float], transposed: Bool = false, module: String = "") throws {
        guard weight.count == outFeatures * inFeatures else {
            throw LoRAError.weightSize(module: module, expected: outFeatures * inFeatures, got: weight.count)
        }
        let rows = transposed ? inFeatures : outFeatures
        weight.withUnsafeMutableBufferPointer { addScaledProduct(rows: 0..<rows, into: $0.baseAddress!, transposed: transposed, scale: scale) }
    }

    /// Adds `scale · (B·A)` for the weight rows `rows` to `block`, which holds exactly those rows.
    ///
    /// Rows are of `W [out, in]`, or of `Wᵀ [in, out]` when `transposed`; `block` has
    /// `rows.count · in` (or `· out`) floats. One `cblas_sgemm` with `beta = 1`.
    func addScaledProduct(rows: Range<Int>, into block: UnsafeMutablePointer<Float>, transposed: Bool, scale: Float) {
        let r = rank, nIn = inFeatures, nOut = outFeatures
        guard r > 0, nIn > 0, nOut > 0, !rows.isEmpty else { return }
        a.data.withUnsafeBufferPointer { aBuf in
            b.data.withUnsafeBufferPointer { bBuf in
                if transposed {
                    // Wᵀ[rows, out] += scale · Aᵀ[rows, r] · Bᵀ[r, out]
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans,
                                Int32(rows.count), Int32(nOut), Int32(r),
                                scale, aBuf.baseAddress! + rows.lowerBound, Int32(nIn),
                                bBuf.baseAddress, Int32(r),
                                1, block, Int32(nOut))
                } else {
                    // W[rows, in] += scale · B[rows, r] · A[r, in]
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                Int32(rows.count), Int32(nIn), Int32(r),
                                scale, bBuf.baseAddress! + rows.lowerBound * r, Int32(r),
                                aBuf.baseAddress, Int32(nIn),
                                1, block, Int32(nIn))
                }
            }
        }
    }
}
