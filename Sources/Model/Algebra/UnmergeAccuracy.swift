import PthReader

/// How far an unmerge (`W = W' − s·B·A`, rounded into the stored dtype) can be from the true base.
///
/// A merged weight `W'` was rounded once: `|W' − (W + Δ)| ≤ ½·ulp(W')`. Unmerging rounds again:
/// `|round(W' − Δ) − (W' − Δ)| ≤ ½·ulp(result)`. So every restored element is within
/// `½·ulp(W') + ½·ulp(result)` of the base, which is one step of the result's dtype unless `Δ`
/// carried `W'` into a coarser binade than the restored value. This assumes the merge computed
/// `W + Δ` exactly and rounded once (as `loratool merge` and PEFT do; upstream MiniMind's float16
/// `merge_lora` rounds `B·A` too, which adds its own error).
public struct UnmergeAccuracy: Codable, Sendable, Equatable {
    /// The dtype of the restored tensors.
    public var dtype: String
    /// Elements of the unmerged tensors.
    public var elements: Int
    /// The largest bound over all elements, in steps of the dtype at the coarser of the merged and
    /// restored values (`max(ulp(W'), ulp(W))`): at most 1 by the argument above.
    public var maxSteps: Double
    /// The largest bound in steps of the restored value's own ulp (large where `Δ` dwarfs `W`).
    public var maxStepsOfResult: Double
    /// Elements whose bound exceeds one step of their own ulp.
    public var elementsBeyondOneStep: Int

    enum CodingKeys: String, CodingKey {
        case dtype, elements, maxSteps = "max_steps", maxStepsOfResult = "max_steps_of_result", elementsBeyondOneStep = "elements_beyond_one_step"
    }

    /// The spacing of `dtype` values around `x` (the size of one rounding step).
    public static func ulp(_ x: Float, in dtype: DType) -> Double {
        let (mantissa, minExponent): (Int, Int)
        switch dtype {
        case .float16: (mantissa, minExponent) = (10, -14)
        case .bfloat16: (mantissa, minExponent) = (7, -126)
        case .float64: (mantissa, minExponent) = (52, -1022)
        default: (mantissa, minExponent) = (23, -126)
        }
        let exponent = x == 0 || !x.isFinite ? minExponent : max(Int(x.exponent), minExponent)
        return Double(sign: .plus, exponent: exponent - mantissa, significand: 1)
    }

    /// The bound for every low-rank layer of `adapter` unmerged from `merged` into `outputDType`
    /// (nil keeps each tensor's dtype). Reads each merged weight once.
    public static func bound(merged: Checkpoint, adapter: BoundAdapter, outputDType: DType?) throws -> UnmergeAccuracy {
        var result = UnmergeAccuracy(dtype: "", elements: 0, maxSteps: 0, maxStepsOfResult: 0, elementsBeyondOneStep: 0)
        var dtypes = Set<String>()
        for layer in adapter.layers {
            let mergedDType = layer.weight.dtype
            let outDType = outputDType ?? mergedDType
            dtypes.insert(outDType.rawValue)
            let stored = try merged.floats(of: layer.weight)
            var restored = stored
            try layer.delta.remove(from: &restored, module: layer.module)
            let rounded = DType.roundTrip(restored, through: outDType)
            for i in stored.indices {
                let step = ulp(rounded[i], in: outDType), mergedStep = ulp(stored[i], in: mergedDType)
                let bound = 0.5 * mergedStep + 0.5 * step
                result.maxSteps = max(result.maxSteps, bound / max(step, mergedStep))
                result.maxStepsOfResult = max(result.maxStepsOfResult, bound / step)
                if bound > step { result.elementsBeyondOneStep += 1 }
            }
            result.elements += stored.count
        }
        result.dtype = dtypes.sorted().joined(separator: ",")
        return result
    }
}

extension DType {
    /// `values` rounded into this dtype and widened back to float32.
    static func roundTrip(_ values: [Float], through dtype: DType) -> [Float] {
        switch dtype {
        case .float16: return values.map { Float(Float16($0)) }
        case .bfloat16:
            return values.map { v in
                guard v.isFinite else { return v }
                let bits = v.bitPattern
                let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
                return Float(bitPattern: rounded)
            }
        default: return values
        }
    }
}
