import Foundation

/// One finished generation: the prompt, the new ids, their text and the timing.
public struct GenerationResult: Sendable, Codable, Equatable {
    /// The ids fed to the model.
    public var promptIDs: [Int]
    /// The generated ids only (an end-of-sequence token included when one ended the run).
    public var ids: [Int]
    /// The generated text: special tokens skipped, cut before a stop string.
    public var text: String
    /// Why the run ended.
    public var stopReason: StopCondition.Reason
    /// Wall time of the prefill (the prompt's forward pass), in seconds.
    public var prefillSeconds: Double
    /// Wall time from the first to the last generated token, in seconds.
    public var decodeSeconds: Double

    /// Generated tokens per second over the whole run (prefill included), 0 for no tokens.
    public var tokensPerSecond: Double {
        let total = prefillSeconds + decodeSeconds
        return total > 0 ? Double(ids.count) / total : 0
    }
}

/// Generates text with a model through its KV cache: prefill, then one token at a time.
///
/// `onText` is called with each piece of text as soon as it is known (whole UTF-8 characters only,
/// never part of a stop string), so a caller can stream it.
public struct TextGenerator {
    public let model: TransformerModel
    public let tokenizer: BPETokenizer
    public var sampling: SamplingParameters
    public var stop: StopCondition

    public init(model: TransformerModel, tokenizer: BPETokenizer, sampling: SamplingParameters, stop: StopCondition) {
        self.model = model
        self.tokenizer = tokenizer
        self.sampling = sampling
        self.stop = stop
    }

    /// Runs one generation from `promptIDs`.
    public func generate(promptIDs: [Int], onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        var sampler = Sampler(sampling)
        var decoder = StreamingDecoder(tokenizer: tokenizer, skippingSpecialTokens: true)
        var filter = StopStringFilter(stop.stopStrings)
        var text = ""
        func emit(_ piece: String) {
            guard !piece.isEmpty else { return }
            text += piece
            onText(piece)
        }

        let vocab = model.configuration.vocabSize
        let clock = ContinuousClock()
        let start = clock.now
        let cache = model.makeCache()
        var logits = try model.forward(promptIDs, cache: cache).data
        var row = logits.count / vocab - 1
        let prefillEnd = clock.now
        var history = promptIDs
        var ids: [Int] = []
        var reason = StopCondition.Reason.maxTokens
        while ids.count < stop.maxTokens {
            let next = sampler.next(logits: logits[(row * vocab)..<((row + 1) * vocab)], history: history)
            ids.append(next)
            history.append(next)
            if stop.endTokenIDs.contains(next) { reason = .endOfSequence; break }
            emit(filter.push(decoder.append(next)))
            if filter.stopped { reason = .stopString; break }
            if ids.count == stop.maxTokens { break }
            logits = try model.forward([next], cache: cache).data
            row = 0
        }
        if reason != .stopString { emit(filter.push(decoder.finish())) }
        emit(filter.flush())
        let end = clock.now
        return GenerationResult(promptIDs: promptIDs, ids: ids, text: text, stopReason: reason,
                                prefillSeconds: Self.seconds(prefillEnd - start), decodeSeconds: Self.seconds(end - prefillEnd))
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
