import Foundation

extension BPETokenizer {
    /// Loads a `tokenizer.json`; `url` may also be a directory holding one.
    ///
    /// Throws `TokenizerError` for unreadable or malformed files and for anything this
    /// implementation does not reproduce exactly (a model other than BPE, a normalizer, other
    /// pre-tokenizers or decoders, added tokens with `lstrip`/`rstrip`/`single_word`, ...).
    public init(contentsOf url: URL) throws {
        var fileURL = url
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            fileURL = url.appendingPathComponent("tokenizer.json")
        }
        let data: Data
        do {
            data = try CompanionFile.contents(of: fileURL)
        } catch {
            let reason = CompanionFile.reason(error)
            throw TokenizerError.unreadable(file: fileURL.path, reason: fileURL == url ? reason : "\(reason) (looked for tokenizer.json in the directory \(url.path))")
        }
        try self.init(jsonData: data, source: fileURL.path)
    }

    /// Builds a tokenizer from the bytes of a `tokenizer.json`; `source` names it in errors.
    public init(jsonData: Data, source: String = "tokenizer.json") throws {
        let file = source
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: jsonData)
        } catch {
            throw TokenizerError.malformedJSON(file: file, reason: "invalid JSON")
        }
        guard let root = parsed as? [String: Any] else {
            throw TokenizerError.malformedJSON(file: file, reason: "top level is not a JSON object")
        }

        // Model.
        guard let model = root["model"] as? [String: Any] else {
            throw TokenizerError.missingField(file: file, field: "model")
        }
        let modelType = model["type"] as? String ?? (model["merges"] != nil ? "BPE" : "unknown")
        guard modelType == "BPE" else { throw TokenizerError.unsupportedModel(file: file, type: modelType) }
        if let dropout = model["dropout"], !Self.isNull(dropout) {
            guard let value = (dropout as? NSNumber)?.doubleValue, value == 0 else {
                throw TokenizerError.unsupportedComponent(file: file, component: "BPE option", detail: "dropout \(dropout)")
            }
        }
        for option in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = model[option], !Self.isNull(value), (value as? String) != "" {
                throw TokenizerError.unsupportedComponent(file: file, component: "BPE option", detail: "\(option) \(value)")
            }
        }
        if Self.flag(model["byte_fallback"]) {
            throw TokenizerError.unsupportedComponent(file: file, component: "BPE option", detail: "byte_fallback true")
        }
        guard let rawVocabulary = model["vocab"] as? [String: Any] else {
            throw TokenizerError.missingField(file: file, field: "model.vocab")
        }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(rawVocabulary.count)
        var tokensByID: [Int: String] = [:]
        for (token, value) in rawVocabulary {
            guard let id = Self.integer(value), id >= 0, id <= Int(Int32.max) else {
                throw TokenizerError.missingField(file: file, field: "model.vocab[\(token)]")
            }
            vocabulary[token] = id
            tokensByID[id] = token
        }
        guard let rawMerges = model["merges"] as? [Any] else {
            throw TokenizerError.missingField(file: file, field: "model.merges")
        }
        var merges = MergeTable()
        for (rank, entry) in rawMerges.enumerated() {
            let parts: [String]
            if let line = entry as? String {
                parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else if let pair = entry as? [Any] {
                parts = pair.compactMap { $0 as? String }
                guard parts.count == pair.count else {
                    throw TokenizerError.invalidMerge(file: file, index: rank, detail: "pair holds non-strings")
                }
            } else {
                throw TokenizerError.invalidMerge(file: file, index: rank, detail: "neither \"a b\" nor [\"a\", \"b\"]")
            }
            guard parts.count == 2 else {
                throw TokenizerError.invalidMerge(file: file, index: rank, detail: "expected two tokens, got \(parts.count)")
            }
            guard let left = vocabulary[parts[0]], let right = vocabulary[parts[1]] else {
                throw TokenizerError.invalidMerge(file: file, index: rank, detail: "token not in vocabulary: \(parts)")
            }
            guard let merged = vocabulary[parts[0] + parts[1]] else {
                throw TokenizerError.invalidMerge(file: file, index: rank, detail: "merged token \(parts[0] + parts[1]) not in vocabulary")
            }
            merges.add(left: Int32(left), right: Int32(right), rank: Int32(rank), id: Int32(merged))
        }
        var unknownID: Int32? = nil
        if let unk = model["unk_token"], !Self.isNull(unk) {
            guard let name = unk as? String, let id = vocabulary[name] else {
                throw TokenizerError.unsupportedComponent(file: file, component: "BPE option", detail: "unk_token \(unk) not in vocabulary")
            }
            unknownID = Int32(id)
        }

        // Normalizer: none.
        if let normalizer = root["normalizer"], !Self.isNull(normalizer) {
            let type = (normalizer as? [String: Any])?["type"] as? String ?? "\(normalizer)"
            throw TokenizerError.unsupportedComponent(file: file, component: "normalizer", detail: type)
        }

        // Pre-tokenizer: ByteLevel.
        guard let preTokenizer = root["pre_tokenizer"] as? [String: Any] else {
            throw TokenizerError.unsupportedComponent(file: file, component: "pre_tokenizer", detail: "none (expected ByteLevel)")
        }
        let preType = preTokenizer["type"] as? String ?? "?"
        guard preType == "ByteLevel" else {
            throw TokenizerError.unsupportedComponent(file: file, component: "pre_tokenizer", detail: preType)
        }
        let addPrefixSpace = Self.flag(preTokenizer["add_prefix_space"])
        let useRegex = preTokenizer["use_regex"].map { Self.flag($0) } ?? true

        // Decoder: ByteLevel. Post-processor: none or ByteLevel (offsets only).
        let decoderType = (root["decoder"] as? [String: Any])?["type"] as? String ?? "none"
        guard decoderType == "ByteLevel" else {
            throw TokenizerError.unsupportedComponent(file: file, component: "decoder", detail: "\(decoderType) (expected ByteLevel)")
        }
        if let post = root["post_processor"], !Self.isNull(post) {
            let type = (post as? [String: Any])?["type"] as? String ?? "?"
            guard type == "ByteLevel" else {
                throw TokenizerError.unsupportedComponent(file: file, component: "post_processor", detail: type)
            }
        }

        // Added tokens.
        var addedByID: [Int: AddedToken] = [:]
        if let rawAdded = root["added_tokens"], !Self.isNull(rawAdded) {
            guard let list = rawAdded as? [[String: Any]] else {
                throw TokenizerError.missingField(file: file, field: "added_tokens")
            }
            for (index, item) in list.enumerated() {
                guard let id = Self.integer(item["id"]), id >= 0, let content = item["content"] as? String else {
                    throw TokenizerError.missingField(file: file, field: "added_tokens[\(index)]")
                }
                for option in ["lstrip", "rstrip", "single_word"] where Self.flag(item[option]) {
                    throw TokenizerError.unsupportedComponent(file: file, component: "added token option", detail: "\(option) on \(content)")
                }
                addedByID[id] = AddedToken(id: id, content: content, special: Self.flag(item["special"]),
                                           normalized: item["normalized"].map { Self.flag($0) } ?? true)
            }
        }
        let added = addedByID.values.sorted { $0.id < $1.id }

        var byteIDs = [Int32?](repeating: nil, count: 256)
        for byte in 0..<256 {
            if let id = vocabulary[String(Character(ByteLevel.scalars[byte]))] { byteIDs[byte] = Int32(id) }
        }

        self.vocabulary = vocabulary
        self.tokensByID = tokensByID
        self.addedByID = addedByID
        self.byteIDs = byteIDs
        self.merges = merges
        self.rawMatcher = AddedTokenMatcher(added.filter { !$0.normalized })
        self.normalizedMatcher = AddedTokenMatcher(added.filter(\.normalized))
        self.addPrefixSpace = addPrefixSpace
        self.useRegex = useRegex
        self.unknownID = unknownID
        self.fuseUnknown = Self.flag(model["fuse_unk"])
        self.ignoreMerges = Self.flag(model["ignore_merges"])
        self.vocabularySize = Set(tokensByID.keys).union(addedByID.keys).count
    }

    private static func isNull(_ value: Any) -> Bool { value is NSNull }

    /// A JSON boolean (absent or null is false).
    private static func flag(_ value: Any?) -> Bool {
        guard let value, !(value is NSNull) else { return false }
        if let bool = value as? Bool { return bool }
        return (value as? NSNumber)?.boolValue ?? false
    }

    /// A JSON integer, rejecting fractions and non-numbers.
    private static func integer(_ value: Any?) -> Int? {
        guard let number = value as? NSNumber else { return nil }
        let double = number.doubleValue
        guard double == double.rounded(), abs(double) < 9e15 else { return nil }
        return number.intValue
    }
}
