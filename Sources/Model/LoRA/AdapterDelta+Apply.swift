/// The one merge kernel: folds any `AdapterDelta` into a float32 weight, or takes a LoRA back out.
extension AdapterDelta {
    /// Applies the delta to a row-major float32 weight in place (the merged weight, not rounded).
    ///
    /// LoRA adds `s·B·A` (one sgemm, `LoRAPair.merge`); DoRA adds it and then scales every output
    /// feature by `m / ‖W + s·B·A‖` as PEFT's `DoraLinearVariant.merge` does; a replacement copies
    /// its values. Throws `LoRAError.weightSize` when the buffer does not fit.
    public func apply(to weight: inout [Float], module: String = "") throws {
        switch self {
        case .lora(let pair, let layout):
            try pair.merge(into: &weight, transposed: layout.isTransposed, module: module)
        case .dora(let pair, let magnitude, let layout):
            try pair.merge(into: &weight, transposed: layout.isTransposed, module: module)
            let norms = Self.outputNorms(weight, outFeatures: pair.outFeatures, inFeatures: pair.inFeatures, transposed: layout.isTransposed)
            let factors = (0..<pair.outFeatures).map { magnitude[$0] / norms[$0] }
            Self.scaleOutputs(&weight, by: factors, inFeatures: pair.inFeatures, transposed: layout.isTransposed)
        case .replacement(let tensor):
            guard weight.count == tensor.count else {
                throw LoRAError.weightSize(module: module, expected: tensor.count, got: weight.count)
            }
            weight = tensor.data
        }
    }

    /// Removes a LoRA delta from a merged weight: `W = W' − s·B·A` (what `unmerge` and `merge --scale -1` compute).
    ///
    /// DoRA and replacements cannot be taken back out of a merged weight (the pre-merge row norms and
    /// the replaced values are gone), so they throw `LoRAError.notScalable`.
    public func remove(from weight: inout [Float], module: String = "") throws {
        try scaled(by: -1, module: module).apply(to: &weight, module: module)
    }

    /// The float32 delta `W' − W` for a low-rank LoRA, laid out like the stored weight.
    public func lowRankDelta() -> Tensor? {
        guard case .lora(let pair, let layout) = self else { return nil }
        var out = [Float](repeating: 0, count: pair.outFeatures * pair.inFeatures)
        try? pair.merge(into: &out, transposed: layout.isTransposed)
        return Tensor(shape: weightShape, data: out)
    }

    /// L2 norm of each output feature's weights (`torch.linalg.norm(W, dim=1)` of the `[out, in]` view).
    static func outputNorms(_ weight: [Float], outFeatures: Int, inFeatures: Int, transposed: Bool) -> [Float] {
        var sums = [Double](repeating: 0, count: outFeatures)
        weight.withUnsafeBufferPointer { w in
            if transposed {
                for i in 0..<inFeatures {
                    let row = i * outFeatures
                    for o in 0..<outFeatures { let v = Double(w[row + o]); sums[o] += v * v }
                }
            } else {
                for o in 0..<outFeatures {
                    let row = o * inFeatures
                    var s = 0.0
                    for i in 0..<inFeatures { let v = Double(w[row + i]); s += v * v }
                    sums[o] = s
                }
            }
        }
        return sums.map { Float($0.squareRoot()) }
    }

    /// Multiplies each output feature's weights by its factor.
    static func scaleOutputs(_ weight: inout [Float], by factors: [Float], inFeatures: Int, transposed: Bool) {
        let outFeatures = factors.count
        weight.withUnsafeMutableBufferPointer { w in
            if transposed {
                for i in 0..<inFeatures {
                    let row = i * outFeatures
                    for o in 0..<outFeatures { w[row + o] *= factors[o] }
                }
            } else {
                for o in 0..<outFeatures {
                    let row = o * inFeatures
                    for i in 0..<inFeatures { w[row + i] *= factors[o] }
                }
            }
        }
    }

    /// The per-output-feature factor DoRA multiplies the wrapped output by: `m / ‖W + s·B·A‖_row`.
    ///
    /// `base` is the unmerged weight. Used by the unmerged forward (`verify`, `logits --adapter`),
    /// where PEFT computes `(factor − 1)·W x + factor·s·B(A x)` beside the base output.
    public func doraFactors(base: [Float]) throws -> [Float]? {
        guard case .dora(let pair, let magnitude, let layout) = self else { return nil }
        var merged = base
        try pair.merge(into: &merged, transposed: layout.isTransposed)
        let norms = Self.outputNorms(merged, outFeatures: pair.outFeatures, inFeatures: pair.inFeatures, transposed: layout.isTransposed)
        return (0..<pair.outFeatures).map { magnitude[$0] / norms[$0] }
    }
}
