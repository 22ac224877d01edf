import Model

/// `--json` output of `generate` (docs/generate.md).
struct GenerateReport: Encodable {
    struct Run: Encodable {
        var label: String
        var prompt_ids: [Int]
        var ids: [Int]
        var text: String
        var tokens_per_second: Double
        var prefill_seconds: Double
        var decode_seconds: Double
        var stop_reason: String
    }
    struct Divergence: Encodable {
        /// Index into the generated ids of the first position where the runs differ; nil when none.
        var index: Int?
        /// Each run's token at that position (nil for a run that had ended).
        var tokens: [String: Int?]
        /// For each pair of runs ("base/lora", "base/merged", "lora/merged"), where those two first differ (nil: never).
        var pairs: [String: Int?]
    }
    var prompt: String
    var sampling: SamplingParameters
    var runs: [Run]
    var divergence: Divergence?

    init(prompt: String, parameters: SamplingParameters, runs: [(label: String, result: GenerationResult)], divergence: Int?, compared: Bool) {
        self.prompt = prompt
        self.sampling = parameters
        self.runs = runs.map { Run(label: $0.label, prompt_ids: $0.result.promptIDs, ids: $0.result.ids, text: $0.result.text,
                                   tokens_per_second: $0.result.tokensPerSecond, prefill_seconds: $0.result.prefillSeconds,
                                   decode_seconds: $0.result.decodeSeconds, stop_reason: $0.result.stopReason.rawValue) }
        if compared {
            var tokens: [String: Int?] = [:]
            for run in runs { tokens[run.label] = divergence.flatMap { $0 < run.result.ids.count ? run.result.ids[$0] : nil } }
            var pairs: [String: Int?] = [:]
            for pair in GenerationComparison.pairwise(runs.map(\.label), runs.map(\.result.ids)) { pairs["\(pair.first)/\(pair.second)"] = pair.index }
            self.divergence = Divergence(index: divergence, tokens: divergence == nil ? [:] : tokens, pairs: pairs)
        }
    }
}
