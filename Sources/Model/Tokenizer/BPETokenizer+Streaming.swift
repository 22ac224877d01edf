extension BPETokenizer {
    /// The raw bytes one id stands for; empty for unknown ids and, with `skippingSpecialTokens`,
    /// for special added tokens (as `tokenizers`' `decode(skip_special_tokens=True)`).
    public func bytes(for id: Int, skippingSpecialTokens: Bool) -> [UInt8] {
        if let added = addedByID[id] {
            if skippingSpecialTokens && added.special { return [] }
            return ByteLevel.decode(added.content)
        }
        if let token = tokensByID[id] { return ByteLevel.decode(token) }
        return []
    }

    /// Whether `id` is a special added token.
    public func isSpecial(_ id: Int) -> Bool { addedByID[id]?.special ?? false }
}

/// Turns token ids into text one id at a time, printing a multi-byte character only once all its
/// bytes have arrived (byte-level BPE often splits one UTF-8 character over two tokens).
///
/// The concatenation of everything `append` and `finish` return equals
/// `tokenizer.decode(allIDs, skippingSpecialTokens:)`, which is `tokenizers`' decode: bytes that
/// never form valid UTF-8 become U+FFFD exactly as there.
public struct StreamingDecoder: Sendable {
    public let tokenizer: BPETokenizer
    public let skippingSpecialTokens: Bool
    /// Bytes received but not yet returned: a trailing, still-incomplete UTF-8 sequence.
    private var pending: [UInt8] = []

    public init(tokenizer: BPETokenizer, skippingSpecialTokens: Bool = true) {
        self.tokenizer = tokenizer
        self.skippingSpecialTokens = skippingSpecialTokens
    }

    /// The text that `id` completes (possibly empty while a character is still incomplete).
    public mutating func append(_ id: Int) -> String {
        pending += tokenizer.bytes(for: id, skippingSpecialTokens: skippingSpecialTokens)
        let cut = Self.completePrefixLength(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Whatever is still held back, decoded as it is (an incomplete sequence becomes U+FFFD).
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// The length of `bytes` without a trailing sequence that could still become a valid character:
    /// a lead byte followed by fewer continuation bytes than it announces.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let count = bytes.count
        var index = count - 1
        var continuations = 0
        while index >= 0 && continuations < 3 && bytes[index] & 0xC0 == 0x80 {
            continuations += 1
            index -= 1
        }
        guard index >= 0 else { return count }
        let lead = bytes[index]
        let needed: Int
        switch lead {
        case 0xC2...0xDF: needed = 1
        case 0xE0...0xEF: needed = 2
        case 0xF0...0xF4: needed = 3
        default: return count // ASCII, a stray continuation run or an invalid byte: nothing to wait for
        }
        return continuations < needed ? index : count
    }
}
