import Foundation

/// How a model scales its rotary frequencies for long contexts, computed exactly as its own code does.
///
/// Two YaRN variants exist and differ in detail: upstream MiniMind's `precompute_freqs_cis`
/// (ramp clamped to `dim/2 − 1`, frequencies `f·(1 − γ + γ/s)`, applied only when
/// `max_position_embeddings / original_max_position_embeddings > 1`) and transformers'
/// `_compute_yarn_parameters` (ramp clamped to `dim − 1`, a blend of interpolated and extrapolated
/// frequencies, attention factor `0.1·ln(s) + 1` by default). Every table is computed in float32
/// like torch, with the correction range in double like Python.
public struct RopeScaling: Codable, Equatable, Sendable {
    /// The scaling rule.
    public enum Kind: String, Codable, Sendable {
        /// transformers' `linear`: every frequency divided by `factor`.
        case linear
        /// transformers' `yarn`.
        case yarn
        /// Upstream MiniMind's YaRN (`inference_rope_scaling`).
        case miniMindYaRN = "minimind-yarn"
        /// transformers' `llama3`.
        case llama3
    }

    public var kind: Kind
    public var factor: Double
    public var originalMaxPositionEmbeddings: Int?
    public var betaFast: Double?
    public var betaSlow: Double?
    /// The factor applied to cos and sin; nil derives it as each implementation does.
    public var attentionFactor: Double?
    public var mscale: Double?
    public var mscaleAllDim: Double?
    /// transformers' YaRN `truncate` (default true).
    public var truncate: Bool?
    public var lowFreqFactor: Double?
    public var highFreqFactor: Double?
    /// The model's `max_position_embeddings` (MiniMind applies YaRN only when it exceeds the original length).
    public var maxPositionEmbeddings: Int?

    public init(kind: Kind, factor: Double, originalMaxPositionEmbeddings: Int? = nil, betaFast: Double? = nil, betaSlow: Double? = nil,
                attentionFactor: Double? = nil, mscale: Double? = nil, mscaleAllDim: Double? = nil, truncate: Bool? = nil,
                lowFreqFactor: Double? = nil, highFreqFactor: Double? = nil, maxPositionEmbeddings: Int? = nil) {
        self.kind = kind
        self.factor = factor
        self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
        self.betaFast = betaFast
        self.betaSlow = betaSlow
        self.attentionFactor = attentionFactor
        self.mscale = mscale
        self.mscaleAllDim = mscaleAllDim
        self.truncate = truncate
        self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor
        self.maxPositionEmbeddings = maxPositionEmbeddings
    }

    enum CodingKeys: String, CodingKey {
        case kind = "type", factor
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
        case betaFast = "beta_fast", betaSlow = "beta_slow", attentionFactor = "attention_factor"
        case mscale, mscaleAllDim = "mscale_all_dim", truncate
        case lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
        case maxPositionEmbeddings = "max_position_embeddings"
    }

    /// `1 / theta^(2i / headDim)` in float32 as torch computes `1.0 / (base ** (arange(0, d, 2).float() / d))`.
    static func defaultInverseFrequencies(headDim: Int, theta: Double) -> [Float] {
        powers(headDim: headDim, theta: theta).map { 1 / $0 }
    }

    /// `theta^(2i / headDim)` in float32 (`base ** (arange(0, d, 2).float() / d)`).
    static func powers(headDim: Int, theta: Double) -> [Float] {
        let base = Double(Float(theta))
        return (0..<(headDim / 2)).map { i in
            Float(pow(base, Double(Float(2 * i) / Float(headDim))))
        }
    }

    /// The inverse frequencies and the cos/sin factor for heads of `headDim` and base `theta`.
    func inverseFrequencies(headDim: Int, theta: Double) throws -> (frequencies: [Float], attentionScaling: Float) {
        let base = Self.defaultInverseFrequencies(headDim: headDim, theta: theta)
        let half = headDim / 2
        switch kind {
        case .linear:
            let f = Float(factor)
            return (base.map { $0 / f }, 1)
        case .miniMindYaRN:
            let attention = Float(attentionFactor ?? 1)
            let original = Double(try required(originalMaxPositionEmbeddings, "original_max_position_embeddings"))
            let end = Double(maxPositionEmbeddings ?? Int(original))
            guard end / original > 1 else { return (base, attention) }
            let fast = betaFast ?? 32, slow = betaSlow ?? 1
            let dim = Double(headDim)
            func inverseDim(_ b: Double) -> Double { (dim * log(original / (b * 2 * Double.pi))) / (2 * log(theta)) }
            let low = max(Int(floor(inverseDim(fast))), 0), high = min(Int(ceil(inverseDim(slow))), half - 1)
            let span = Float(max(Double(high - low), 0.001))
            let s = Float(factor)
            let scaled = (0..<half).map { i -> Float in
                let ramp = Swift.min(Swift.max((Float(i) - Float(low)) / span, 0), 1)
                return base[i] * ((1 - ramp) + ramp / s)
            }
            return (scaled, attention)
        case .yarn:
            let original = Double(try required(originalMaxPositionEmbeddings, "original_max_position_embeddings"))
            let attention: Double
            func mscaleOf(_ scale: Double, _ m: Double = 1) -> Double { scale <= 1 ? 1 : 0.1 * m * log(scale) + 1 }
            if let attentionFactor {
                attention = attentionFactor
            } else if let mscale, let mscaleAllDim, mscale != 0, mscaleAllDim != 0 {
                attention = mscaleOf(factor, mscale) / mscaleOf(factor, mscaleAllDim)
            } else {
                attention = mscaleOf(factor)
            }
            let fast = (betaFast ?? 0) == 0 ? 32 : betaFast!, slow = (betaSlow ?? 0) == 0 ? 1 : betaSlow!
            let dim = Double(headDim)
            func correction(_ rotations: Double) -> Double { (dim * log(original / (rotations * 2 * Double.pi))) / (2 * log(theta)) }
            var low = correction(fast), high = correction(slow)
            if truncate ?? true { low = floor(low); high = ceil(high) }
            low = max(low, 0); high = min(high, dim - 1)
            if low == high { high += 0.001 }
            let s = Float(factor)
            let powers = Self.powers(headDim: headDim, theta: theta)
            let scaled = (0..<half).map { i -> Float in
                let ramp = Swift.min(Swift.max((Float(i) - Float(low)) / Float(high - low), 0), 1)
                let extrapolationFactor = 1 - ramp
                let extrapolated = 1 / powers[i], interpolated = 1 / (s * powers[i])
                return interpolated * (1 - extrapolationFactor) + extrapolated * extrapolationFactor
            }
            return (scaled, Float(attention))
        case .llama3:
            let original = Float(try required(originalMaxPositionEmbeddings, "original_max_position_embeddings"))
            let lowFactor = Float(try required(lowFreqFactor, "low_freq_factor"))
            let highFactor = Float(try required(highFreqFactor, "high_freq_factor"))
            let s = Float(factor)
            let lowWavelength = original / lowFactor, highWavelength = original / highFactor
            let scaled = base.map { f -> Float in
                let wavelength = Float(2 * Double.pi) / f  // torch: float32(2π); Swift's Float.pi is rounded down
                let divided = wavelength > lowWavelength ? f / s : f
                let smooth = (original / wavelength - lowFactor) / (highFactor - lowFactor)
                let smoothed = (1 - smooth) * divided / s + smooth * divided
                let medium = !(wavelength < highWavelength) && !(wavelength > lowWavelength)
                return medium ? smoothed : divided
            }
            return (scaled, 1)
        }
    }

    private func required<T>(_ value: T?, _ key: String) throws -> T {
        guard let value else { throw InferenceError.inconsistentConfiguration("rope scaling '\(kind.rawValue)' needs '\(key)'") }
        return value
    }
}
