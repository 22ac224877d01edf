import Foundation

/// How the next token is chosen from the logits: greedy, or sampled with temperature, top-k and top-p.
public struct SamplingParameters: Sendable, Equatable, Codable {
    /// 0 means greedy (the most likely token, the first on ties, as `torch.argmax`).
    public var temperature: Double
    /// Keep the smallest set of most likely tokens whose probabilities sum to at least this (1 = off).
    public var topP: Double
    /// Keep only the `topK` most likely tokens (0 = off).
    public var topK: Int
    /// Divide positive logits / multiply negative ones of already-seen tokens by this (1 = off), as
    /// `transformers`' `RepetitionPenaltyLogitsProcessor` does over the prompt and the generated tokens.
    public var repetitionPenalty: Double
    /// The seed of the sampling stream.
    public var seed: UInt64

    public init(temperature: Double = 0, topP: Double = 1, topK: Int = 0, repetitionPenalty: Double = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }

    /// Greedy decoding: temperature 0.
    public var isGreedy: Bool { temperature == 0 }
}

/// Chooses tokens from logits under `SamplingParameters`, with its own seeded random stream.
///
/// Order of the steps, as in `transformers`' `generate`: repetition penalty, then temperature,
/// top-k, top-p, then a draw from the renormalised distribution (or the argmax when greedy).
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var random: SeededGenerator

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        self.random = SeededGenerator(seed: parameters.seed)
    }

    /// The next token for one row of logits; `history` is every token so far (prompt and generated).
    public mutating func next(logits: ArraySlice<Float>, history: [Int]) -> Int {
        var scores = Array(logits)
        if parameters.repetitionPenalty != 1 {
            let penalty = Float(parameters.repetitionPenalty)
            for token in Set(history) where token >= 0 && token < scores.count {
                let s = scores[token]
                scores[token] = s < 0 ? s * penalty : s / penalty
            }
        }
        if parameters.isGreedy { return Self.argmax(scores) }

        // Candidates in decreasing score order (lower id first on ties, so the order is deterministic).
        let temperature = parameters.temperature
        var order = Self.descendingOrder(scores)
        if parameters.topK > 0 && parameters.topK < order.count {
            // Ties with the k-th score are kept, as transformers' `TopKLogitsWarper` does (score < kth is removed).
            let kth = scores[order[parameters.topK - 1]]
            var end = parameters.topK
            while end < order.count && scores[order[end]] >= kth { end += 1 }
            order.removeSubrange(end...)
        }
        let maxScore = Double(scores[order[0]]) / temperature
        var weights = order.map { exp(Double(scores[$0]) / temperature - maxScore) }
        var total = weights.reduce(0, +)
        if parameters.topP < 1 {
            // Keep the most likely tokens until their mass reaches top-p (at least one).
            var mass = 0.0
            var keep = 0
            while keep < weights.count {
                mass += weights[keep] / total
                keep += 1
                if mass >= parameters.topP { break }
            }
            weights.removeSubrange(keep...)
            order.removeSubrange(keep...)
            total = weights.reduce(0, +)
        }
        let draw = random.nextUnit() * total
        var cumulative = 0.0
        for (index, weight) in weights.enumerated() {
            cumulative += weight
            if draw < cumulative { return order[index] }
        }
        return order[weights.count - 1]
    }

    /// Indices by decreasing score, lower index first among equals: one sort of packed integer keys
    /// (the score's bits mapped to an order-preserving unsigned integer, then the index).
    static func descendingOrder(_ scores: [Float]) -> [Int] {
        var keys = [UInt64](repeating: 0, count: scores.count)
        for (index, score) in scores.enumerated() {
            let bits = (score == 0 ? Float(0) : score).bitPattern // -0 and +0 tie, as they compare equal
            let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
            keys[index] = UInt64(~ascending) << 32 | UInt64(index)
        }
        keys.sort()
        return keys.map { Int($0 & 0xFFFF_FFFF) }
    }

    /// Index of the largest score, the first on ties (`torch.argmax`).
    static func argmax(_ scores: [Float]) -> Int {
        var best = 0
        for j in 1..<scores.count where scores[j] > scores[best] { best = j }
        return best
    }
}
