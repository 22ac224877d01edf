import Foundation

/// A byte-level BPE tokenizer read from a Hugging Face `tokenizer.json` (GPT-2 / MiniMind style).
///
/// `encode` gives the same ids as `tokenizers`' `Tokenizer.encode(text, add_special_tokens=False)`:
/// added tokens such as `<|im_start|>` are matched literally first, the rest is split by the
/// ByteLevel pre-tokenizer, mapped to the byte alphabet and merged by rank. No BOS/EOS is added
/// (MiniMind writes them into the text itself, via its chat template or `bos_token + prompt`).
/// `decode` matches `Tokenizer.decode(ids, skip_special_tokens=False)`.
public struct BPETokenizer: Sendable {
    /// Token string (in the byte alphabet) → id.
    let vocabulary: [String: Int]
    /// Id → token string, for ids of the model vocabulary.
    let tokensByID: [Int: String]
    /// Added tokens by id.
    let addedByID: [Int: AddedToken]
    /// The id of each byte's single-scalar token, if the vocabulary has it.
    let byteIDs: [Int32?]
    let merges: MergeTable
    /// Added tokens with `normalized: false`, matched first; then those with `normalized: true`.
    let rawMatcher: AddedTokenMatcher
    let normalizedMatcher: AddedTokenMatcher
    /// ByteLevel pre-tokenizer options.
    let addPrefixSpace: Bool
    let useRegex: Bool
    /// BPE model options.
    let unknownID: Int32?
    let fuseUnknown: Bool
    let ignoreMerges: Bool
    let cache = WordCache(capacity: 10_000)

    /// The number of distinct token ids (model vocabulary plus added tokens outside it).
    public let vocabularySize: Int

    /// The added tokens (special and not), in id order.
    public var addedTokens: [AddedToken] { addedByID.values.sorted { $0.id < $1.id } }

    /// Ids of the special added tokens.
    public var specialTokenIDs: Set<Int> { Set(addedByID.values.filter(\.special).map(\.id)) }

    /// The id of a token given by its text: an added token's content, or a vocabulary entry
    /// spelled in the byte alphabet (`Ġthe`).
    public func tokenID(for token: String) -> Int? {
        if let added = addedByID.values.first(where: { $0.content == token }) { return added.id }
        return vocabulary[token]
    }

    /// The token text for an id (added token content or byte-alphabet vocabulary entry).
    public func token(for id: Int) -> String? {
        addedByID[id]?.content ?? tokensByID[id]
    }

    // MARK: Encoding

    /// Token ids for `text`, as `tokenizers` gives with `add_special_tokens=False`.
    public func encode(_ text: String) -> [Int] {
        let bytes = Array(text.utf8)
        var ids: [Int] = []
        ids.reserveCapacity(bytes.count / 2)
        for outer in rawMatcher.split(bytes, range: 0..<bytes.count) {
            switch outer {
            case let .token(id, _):
                ids.append(id)
            case let .text(range):
                for inner in normalizedMatcher.split(bytes, range: range) {
                    switch inner {
                    case let .token(id, _):
                        ids.append(id)
                    case let .text(range):
                        encodeOrdinary(bytes[range], into: &ids)
                    }
                }
            }
        }
        return ids
    }

    /// Pre-tokenizes and BPE-encodes text containing no added tokens.
    private func encodeOrdinary(_ utf8: ArraySlice<UInt8>, into ids: inout [Int]) {
        var scalars = Array(String(decoding: utf8, as: UTF8.self).unicodeScalars)
        if addPrefixSpace, scalars.first != " " { scalars.insert(" ", at: 0) }
        let pieces = useRegex ? GPT2Splitter.split(scalars) : (scalars.isEmpty ? [] : [0..<scalars.count])
        var word: [UInt8] = []
        for piece in pieces {
            word.removeAll(keepingCapacity: true)
            for scalar in scalars[piece] {
                UTF8.encode(scalar) { word.append($0) }
            }
            ids.append(contentsOf: encodeWord(word))
        }
    }

    /// BPE for one pre-tokenized word given as raw bytes, cached.
    func encodeWord(_ word: [UInt8]) -> [Int] {
        if let cached = cache.value(for: word) { return cached }
        let result = mergeWord(word)
        if word.count < 256 { cache.store(result, for: word) }
        return result
    }

    private func mergeWord(_ word: [UInt8]) -> [Int] {
        if ignoreMerges, let whole = vocabulary[ByteLevel.encode(word)] { return [whole] }
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.count)
        var previousWasUnknown = false
        for byte in word {
            if let id = byteIDs[Int(byte)] {
                symbols.append(id)
                previousWasUnknown = false
            } else if let unknownID {
                if !(fuseUnknown && previousWasUnknown) { symbols.append(unknownID) }
                previousWasUnknown = true
            }
            // With no unknown token, `tokenizers` silently drops a byte missing from the vocabulary.
        }
        return merges.apply(to: symbols).map(Int.init)
    }

    // MARK: Decoding

    /// Text for token ids, keeping special tokens (`skip_special_tokens=False`).
    ///
    /// Byte sequences that are not valid UTF-8 (a character cut between tokens) become U+FFFD.
    /// Unknown ids are skipped.
    public func decode(_ ids: [Int]) -> String {
        decode(ids, skippingSpecialTokens: false)
    }

    /// Text for token ids; with `skippingSpecialTokens`, special added tokens are left out, as
    /// MiniMind does when printing generated text (`skip_special_tokens=True`).
    public func decode(_ ids: [Int], skippingSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            if let added = addedByID[id] {
                if skippingSpecialTokens && added.special { continue }
                bytes.append(contentsOf: ByteLevel.decode(added.content))
            } else if let token = tokensByID[id] {
                bytes.append(contentsOf: ByteLevel.decode(token))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
