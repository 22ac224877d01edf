import ArgumentParser
import Model

/// Sampling flags shared by `generate` (and anything else that samples).
struct SamplingOptions: ParsableArguments {
    @Option(help: "Sampling temperature; 0 is greedy (default 0.85, as MiniMind's eval_llm.py).")
    var temperature: Double?

    @Option(help: "Nucleus sampling: keep the most likely tokens up to this probability mass (default 0.85; 1 = off).")
    var topP: Double?

    @Option(help: "Keep only the K most likely tokens (default 0 = off).")
    var topK: Int?

    @Option(help: "Penalise tokens already in the prompt or reply (default 1 = off; transformers' rule).")
    var repetitionPenalty: Double?

    @Option(help: "Seed of the sampling stream (default 42); the same seed gives the same text.")
    var seed: UInt64?

    func validate() throws {
        if let temperature, !(temperature >= 0 && temperature.isFinite) { throw ValidationError("--temperature must be 0 or more") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if let topK, topK < 0 { throw ValidationError("--top-k must not be negative") }
        if let repetitionPenalty, !(repetitionPenalty > 0 && repetitionPenalty.isFinite) { throw ValidationError("--repetition-penalty must be positive") }
    }

    func parameters() throws -> SamplingParameters {
        SamplingParameters(temperature: temperature ?? 0.85, topP: topP ?? 0.85, topK: topK ?? 0,
                           repetitionPenalty: repetitionPenalty ?? 1, seed: seed ?? 42)
    }

    /// One line saying which values were used and which were defaults.
    func summary(_ p: SamplingParameters) -> String {
        if p.isGreedy { return "greedy (temperature 0)" + (p.repetitionPenalty != 1 ? ", repetition penalty \(p.repetitionPenalty)" : "") }
        func mark(_ given: Bool) -> String { given ? "" : " (default)" }
        return "temperature \(p.temperature)\(mark(temperature != nil)), top-p \(p.topP)\(mark(topP != nil)), top-k \(p.topK)\(mark(topK != nil)), "
            + "repetition penalty \(p.repetitionPenalty)\(mark(repetitionPenalty != nil)), seed \(p.seed)\(mark(seed != nil))"
    }
}
