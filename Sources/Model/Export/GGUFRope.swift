import Foundation
import PthReader

/// Rotary scaling as llama.cpp reads it from a GGUF file.
///
/// - transformers' `llama3`: no metadata key; a 1-D f32 tensor `rope_freqs.weight` holds, per
///   feature pair, the divisor llama.cpp applies to that pair's frequency (`theta_i / factor_i`),
///   computed as llama.cpp's converter does (`LlamaModel.generate_extra_tensors`): 1 where the
///   wavelength is shorter than `original / high_freq_factor`, `factor` where it is longer than
///   `original / low_freq_factor`, and `1 / ((1 - smooth) / factor + smooth)` between, in float32.
/// - transformers' `yarn`: `<arch>.rope.scaling.type = yarn`, `.factor` and
///   `.original_context_length`; llama.cpp's YaRN (correction range floored/ceiled and clamped to
///   `[0, d - 1]`, the same ramp, attention factor `1 + 0.1 ln(factor)` on cos and sin) is
///   transformers' with its defaults (beta_fast 32, beta_slow 1, truncate), so any other setting
///   of those is refused by name.
enum GGUFRope {
    /// llama.cpp's name of the llama3 frequency factors.
    static let frequencyFactorsName = "rope_freqs.weight"

    /// The `rope_freqs` values of a model with llama3 scaling, nil for any other.
    static func frequencyFactors(_ model: ExportModel) -> [Float]? {
        guard let s = model.ropeScaling, s.kind == .llama3, let original = s.originalMaxPositionEmbeddings,
              let low = s.lowFreqFactor, let high = s.highFreqFactor else { return nil }
        let c = model.configuration
        let frequencies = RopeScaling.defaultInverseFrequencies(headDim: c.headDim, theta: c.ropeTheta)
        let factor = Float(s.factor), old = Float(original)
        // As torch computes them: float32 tensors against Python floats (compared in float32).
        let lowWavelength = Float(Double(original) / low), highWavelength = Float(Double(original) / high)
        return frequencies.map { f -> Float in
            let wavelength = Float(2 * Double.pi) / f  // torch: float32(2π); Swift's Float.pi is rounded down
            if wavelength < highWavelength { return 1 }
            if wavelength > lowWavelength { return factor }
            let smooth = (old / wavelength - Float(low)) / Float(high - low)
            return 1 / ((1 - smooth) / factor + smooth)
        }
    }

    /// The `<arch>.rope.scaling.*` keys (yarn only; llama3 is the `rope_freqs` tensor), or a refusal
    /// naming what llama.cpp would compute differently.
    static func metadata(_ model: ExportModel, architecture arch: String) throws -> [(key: String, value: GGUFValue)] {
        guard let s = model.ropeScaling, s.kind == .yarn else { return [] }
        var changed: [String] = []
        if let fast = s.betaFast, fast != 0, fast != 32 { changed.append("beta_fast") }
        if let slow = s.betaSlow, slow != 0, slow != 1 { changed.append("beta_slow") }
        if s.attentionFactor != nil { changed.append("attention_factor") }
        if s.mscale != nil { changed.append("mscale") }
        if s.mscaleAllDim != nil { changed.append("mscale_all_dim") }
        if s.truncate == false { changed.append("truncate") }
        guard changed.isEmpty else {
            throw ExportError.unsupported(path: model.checkpoint.path, reason: "yarn with \(changed.joined(separator: ", ")) set is not carried into GGUF (llama.cpp's yarn is transformers' with the defaults)")
        }
        guard let original = s.originalMaxPositionEmbeddings else {
            throw ExportError.unsupported(path: model.checkpoint.path, reason: "yarn without original_max_position_embeddings")
        }
        return [
            (arch + ".rope.scaling.type", .string("yarn")),
            (arch + ".rope.scaling.factor", .float32(Float(s.factor))),
            (arch + ".rope.scaling.original_context_length", .uint32(UInt32(original))),
        ]
    }
}
