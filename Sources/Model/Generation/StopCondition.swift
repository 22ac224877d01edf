/// When generation ends: an end-of-sequence token, a stop string in the text, or the token limit.
public struct StopCondition: Sendable, Equatable {
    /// Token ids that end generation (the tokenizer's EOS); the id itself is kept in the ids, as
    /// `transformers`' `generate` returns it, but contributes no text.
    public var endTokenIDs: Set<Int>
    /// Strings that end generation when they appear in the generated text; the text is cut before it.
    public var stopStrings: [String]
    /// The most tokens to generate.
    public var maxTokens: Int

    public init(endTokenIDs: Set<Int> = [], stopStrings: [String] = [], maxTokens: Int) {
        self.endTokenIDs = endTokenIDs
        self.stopStrings = stopStrings.filter { !$0.isEmpty }
        self.maxTokens = maxTokens
    }

    /// Why a run ended.
    public enum Reason: String, Sendable, Codable {
        case endOfSequence = "eos"
        case stopString = "stop_string"
        case maxTokens = "max_tokens"
    }
}

/// Holds back text that may be the start of a stop string, so a stop string is never printed.
struct StopStringFilter {
    let stopStrings: [String]
    /// Text generated but not yet released.
    private(set) var held = ""
    /// Set once a stop string has been seen.
    private(set) var stopped = false

    init(_ stopStrings: [String]) { self.stopStrings = stopStrings }

    /// Adds new text; returns what may be released now.
    mutating func push(_ text: String) -> String {
        guard !stopped else { return "" }
        held += text
        guard !stopStrings.isEmpty else { defer { held = "" }; return held }
        // The earliest stop string wins.
        var earliest: String.Index? = nil
        for stop in stopStrings {
            if let range = held.range(of: stop), earliest == nil || range.lowerBound < earliest! {
                earliest = range.lowerBound
            }
        }
        if let earliest {
            stopped = true
            let released = String(held[..<earliest])
            held = ""
            return released
        }
        // Keep the longest suffix that is a proper prefix of some stop string.
        var keep = 0
        for stop in stopStrings {
            for length in stride(from: min(stop.count - 1, held.count), to: 0, by: -1) where length > keep {
                if held.hasSuffix(stop.prefix(length)) { keep = length; break }
            }
        }
        let cut = held.index(held.endIndex, offsetBy: -keep)
        let released = String(held[..<cut])
        held = String(held[cut...])
        return released
    }

    /// Releases whatever is held (the run ended without a stop string).
    mutating func flush() -> String {
        defer { held = "" }
        return stopped ? "" : held
    }
}
