import Foundation
import PthReader

/// A Hugging Face byte-level BPE tokenizer as llama.cpp's `tokenizer.ggml.*` metadata, and back.
///
/// Written: `tokenizer.ggml.model = gpt2`, `pre` (the pre-tokenizer llama.cpp must apply), `tokens`
/// by id, `token_type` (1 normal, 3 control = special added token, 4 user-defined = other added
/// token, 5 unused = padding up to the embedding's rows), `merges`, the special ids and add_bos/eos,
/// and `tokenizer.chat_template`.
enum GGUFTokenizer {
    /// Token types (llama.cpp's `llama_token_type`).
    static let normal: Int32 = 1, control: Int32 = 3, userDefined: Int32 = 4, unused: Int32 = 5

    /// The llama.cpp pre-tokenizer that splits text exactly like this tokenizer's, or a refusal naming it.
    ///
    /// A ByteLevel pre-tokenizer with `use_regex` applies GPT-2's split pattern
    /// (`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`), which is
    /// llama.cpp's `gpt-2` pre-tokenizer (checked by scripts/llama_cpp_check.py on mixed texts).
    static func preTokenizer(_ tokenizer: [String: Any], path: String) throws -> String {
        if let normalizer = tokenizer["normalizer"], !(normalizer is NSNull) {
            throw ExportError.tokenizer(path: path, reason: "a normalizer (\((normalizer as? [String: Any])?["type"] ?? "?")) has no llama.cpp gpt2 equivalent")
        }
        guard let pre = tokenizer["pre_tokenizer"] as? [String: Any], pre["type"] as? String == "ByteLevel",
              pre["use_regex"] as? Bool ?? true, !(pre["add_prefix_space"] as? Bool ?? false) else {
            let kind = (tokenizer["pre_tokenizer"] as? [String: Any])?["type"] as? String ?? "none"
            throw ExportError.tokenizer(path: path, reason: "pre-tokenizer '\(kind)' is not one whose llama.cpp equivalent loratool knows (only ByteLevel with GPT-2's split pattern, llama.cpp 'gpt-2')")
        }
        return "gpt-2"
    }

    /// The `tokenizer.*` metadata for a model whose embedding has `rows` rows; the tokens, their types
    /// and the merges are produced one at a time as the writer writes them (no GGUF copy of the vocabulary).
    static func metadata(_ files: TokenizerFiles, rows: Int) throws -> [(key: String, value: GGUFMetadataValue)] {
        let path = files.tokenizerJSON.path
        let tokenizer = try files.tokenizerObject()
        guard let model = tokenizer["model"] as? [String: Any], model["type"] as? String == "BPE",
              let vocab = model["vocab"] as? [String: Int] else {
            throw ExportError.tokenizer(path: path, reason: "not a BPE tokenizer with a vocab (llama.cpp's gpt2 model needs one)")
        }
        if model["byte_fallback"] as? Bool == true { throw ExportError.tokenizer(path: path, reason: "byte_fallback BPE is not gpt2-style") }
        let pre = try preTokenizer(tokenizer, path: path)
        var byID: [Int: (String, Int32)] = [:]
        for (token, id) in vocab { byID[id] = (token, normal) }
        for added in tokenizer["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = added["id"] as? Int, let content = added["content"] as? String else { continue }
            byID[id] = (content, (added["special"] as? Bool ?? false) ? control : userDefined)
        }
        let size = (byID.keys.max() ?? -1) + 1
        guard size <= rows else {
            throw ExportError.tokenizer(path: path, reason: "\(size) tokens but the embedding has only \(rows) rows")
        }
        let merges = model["merges"] as? [Any] ?? []
        for (index, merge) in merges.enumerated() {
            guard merge is String || (merge as? [String])?.count == 2 else {
                throw ExportError.tokenizer(path: path, reason: "merge \(index) is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        var out: [(String, GGUFMetadataValue)] = [
            ("tokenizer.ggml.model", .value(.string("gpt2"))),
            ("tokenizer.ggml.pre", .value(.string(pre))),
            ("tokenizer.ggml.tokens", .strings(count: rows) { id in byID[id]?.0 ?? "[PAD\(id)]" }),
            ("tokenizer.ggml.token_type", .int32s(count: rows) { id in byID[id]?.1 ?? unused }),
            ("tokenizer.ggml.merges", .strings(count: merges.count) { i in
                if let text = merges[i] as? String { return text }
                let pair = merges[i] as! [String]  // checked above
                return pair[0] + " " + pair[1]
            }),
        ]
        for (key, field) in [("bos_token", "bos_token_id"), ("eos_token", "eos_token_id"), ("unk_token", "unknown_token_id"), ("pad_token", "padding_token_id")] {
            if let id = try files.specialTokenID(key) { out.append(("tokenizer.ggml." + field, .value(.uint32(UInt32(id))))) }
        }
        let config = try files.configObject()
        out.append(("tokenizer.ggml.add_bos_token", .value(.bool(config["add_bos_token"] as? Bool ?? false))))
        out.append(("tokenizer.ggml.add_eos_token", .value(.bool(config["add_eos_token"] as? Bool ?? false))))
        if let template = try files.chatTemplate() { out.append(("tokenizer.chat_template", .value(.string(template)))) }
        return out
    }

    /// A `tokenizer.json` rebuilt from a GGUF file's gpt2 tokenizer metadata (for `--prompt` on a GGUF model).
    static func tokenizerJSON(from gguf: GGUFFile) throws -> Data? {
        guard gguf.value("tokenizer.ggml.model")?.stringValue == "gpt2",
              let tokens = gguf.value("tokenizer.ggml.tokens")?.arrayValue?.compactMap(\.stringValue) else { return nil }
        guard gguf.value("tokenizer.ggml.pre")?.stringValue == "gpt-2" else {
            throw ExportError.tokenizer(path: gguf.path, reason: "pre-tokenizer '\(gguf.value("tokenizer.ggml.pre")?.stringValue ?? "none")' is not one loratool runs (only gpt-2)")
        }
        let types = gguf.value("tokenizer.ggml.token_type")?.arrayValue?.map { $0.intValue ?? 1 } ?? []
        var vocab: [String: Int] = [:]
        var added: [[String: Any]] = []
        for (id, token) in tokens.enumerated() {
            let type = id < types.count ? types[id] : 1
            if type == Int(control) || type == Int(userDefined) {
                added.append(["id": id, "content": token, "single_word": false, "lstrip": false, "rstrip": false,
                              "normalized": type == Int(userDefined), "special": type == Int(control)])
            }
            if type != Int(unused) { vocab[token] = id }
        }
        let merges = gguf.value("tokenizer.ggml.merges")?.arrayValue?.compactMap(\.stringValue) ?? []
        let object: [String: Any] = [
            "version": "1.0",
            "added_tokens": added,
            "normalizer": NSNull(),
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "vocab": vocab, "merges": merges, "byte_fallback": false, "fuse_unk": false, "ignore_merges": false],
        ]
        return try JSONSerialization.data(withJSONObject: object)
    }
}
