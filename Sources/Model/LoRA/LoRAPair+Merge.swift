import COpenBLAS

/// The merge math: `ΔW = scale · B · A`, added to a float32 weight with one sgemm.
extension LoRAPair {
    /// `scale · B · A` as a `[out, in]` float32 tensor.
    public func delta() -> Tensor {
        var out = [Float](repeating: 0, count: outFeatures * inFeatures)
        addScaledProduct(into: &out, transposed: false)
        return Tensor(shape: [outFeatures, inFeatures], data: out)
    }

    /// Adds `scale · B · A` to a row-major float32 weight in place (`beta = 1`).
    ///
    /// `weight` is `[out, in]` (an `nn.Linear` weight), or `[in, out]` when `transposed` (a Conv1D
    /// weight, PEFT's `fan_in_fan_out`). Throws when the buffer has the wrong number of values.
    public func merge(into weight: inout [Float], transposed: Bool = false, module: String = "") throws {
        guard weight.count == outFeatures * inFeatures else {
            throw LoRAError.weightSize(module: module, expected: outFeatures * inFeatures, got: weight.count)
        }
        addScaledProduct(into: &weight, transposed: transposed)
    }

    /// `W += scale · B·A` (or its transpose) via `cblas_sgemm`; `weight.count` must be `out · in`.
    private func addScaledProduct(into weight: inout [Float], transposed: Bool) {
        let r = rank, nIn = inFeatures, nOut = outFeatures
        guard r > 0, nIn > 0, nOut > 0 else { return }
        a.data.withUnsafeBufferPointer { aBuf in
            b.data.withUnsafeBufferPointer { bBuf in
                weight.withUnsafeMutableBufferPointer { wBuf in
                    if transposed {
                        // W^T [in, out] += scale · A^T [in, r] · B^T [r, out]
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans,
                                    Int32(nIn), Int32(nOut), Int32(r),
                                    scale, aBuf.baseAddress, Int32(nIn),
                                    bBuf.baseAddress, Int32(r),
                                    1, wBuf.baseAddress, Int32(nOut))
                    } else {
                        // W [out, in] += scale · B [out, r] · A [r, in]
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                    Int32(nOut), Int32(nIn), Int32(r),
                                    scale, bBuf.baseAddress, Int32(r),
                                    aBuf.baseAddress, Int32(nIn),
                                    1, wBuf.baseAddress, Int32(nIn))
                    }
                }
            }
        }
    }
}
