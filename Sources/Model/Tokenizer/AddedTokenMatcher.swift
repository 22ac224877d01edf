/// An added (usually special) token: matched literally in the input before any BPE work.
public struct AddedToken: Sendable, Equatable {
    /// The token's id in the vocabulary.
    public var id: Int
    /// The literal text the token stands for, such as `<|im_start|>`.
    public var content: String
    /// Whether it is a special token (dropped when decoding with `skippingSpecialTokens`).
    public var special: Bool
    /// Whether `tokenizers` matches it on normalized text (a second pass after the non-normalized ones).
    public var normalized: Bool
}

/// Finds added tokens in UTF-8 text, leftmost first and longest at a position, as `tokenizers` does.
struct AddedTokenMatcher: Sendable {
    /// A trie over the tokens' UTF-8 bytes; `tokens[node]` is the token id ending at that node.
    private var children: [[UInt8: Int]] = [[:]]
    private var tokens: [Int?] = [nil]

    var isEmpty: Bool { children.count == 1 }

    init(_ entries: [AddedToken]) {
        for entry in entries where !entry.content.isEmpty {
            var node = 0
            for byte in entry.content.utf8 {
                if let child = children[node][byte] {
                    node = child
                } else {
                    children.append([:])
                    tokens.append(nil)
                    children[node][byte] = children.count - 1
                    node = children.count - 1
                }
            }
            if tokens[node] == nil { tokens[node] = entry.id }
        }
    }

    /// One piece of the input: either plain text (a byte range) or a matched added token.
    enum Segment: Equatable {
        case text(Range<Int>)
        case token(id: Int, range: Range<Int>)
    }

    /// Splits `bytes[range]` into plain-text ranges and added-token matches, in order.
    func split(_ bytes: [UInt8], range: Range<Int>) -> [Segment] {
        guard !isEmpty else { return range.isEmpty ? [] : [.text(range)] }
        var segments: [Segment] = []
        var textStart = range.lowerBound
        var position = range.lowerBound
        while position < range.upperBound {
            // The longest token starting here.
            var node = 0
            var best: (id: Int, end: Int)? = nil
            var cursor = position
            while cursor < range.upperBound, let child = children[node][bytes[cursor]] {
                node = child
                cursor += 1
                if let id = tokens[node] { best = (id, cursor) }
            }
            if let best {
                if textStart < position { segments.append(.text(textStart..<position)) }
                segments.append(.token(id: best.id, range: position..<best.end))
                position = best.end
                textStart = position
            } else {
                position += 1
            }
        }
        if textStart < range.upperBound { segments.append(.text(textStart..<range.upperBound)) }
        return segments
    }
}
