import ArgumentParser
import Foundation
import Model
import PthReader

/// The model hyper-parameter flags shared by `logits` and `verify`.
///
/// Precedence: a flag given here, then `--config FILE` (or the `config.json` belonging to the
/// checkpoint when `--config` is absent), then MiniMind's defaults; kv heads and head size come
/// from the weight shapes and are checked against whatever is given.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("config.json with the model's hyper-parameters (MiniMind or Hugging Face keys).",
                               discussion: "Default: config.json inside a Hugging Face directory or beside the checkpoint file."))
    var config: String?

    @Option(parsing: .unconditional, help: "Number of attention heads (default: config, else 8).")
    var heads: Int?

    @Option(parsing: .unconditional, help: "Number of key/value heads; checked against the key projection's shape.")
    var kvHeads: Int?

    @Option(parsing: .unconditional, help: "Rotary embedding base theta (default: config, else 1e6).")
    var ropeTheta: Double?

    @Option(parsing: .unconditional, help: "RMSNorm epsilon (default: config, else 1e-5).")
    var normEps: Float?

    @Option(parsing: .unconditional, help: "Experts per token for MoE models (default: config, else 2).")
    var expertsPerToken: Int?

    /// Upper bound of the head and expert counts: far above any real model, far below overflow.
    static let maxCount = 1 << 16

    /// The flags that were given, as overrides.
    var overrides: ModelConfiguration {
        ModelConfiguration(numAttentionHeads: heads, numKeyValueHeads: kvHeads, rmsNormEps: normEps,
                           ropeTheta: ropeTheta, numExpertsPerTok: expertsPerToken)
    }

    /// The hyper-parameters for a checkpoint: `--config` or its own config.json, then the flags.
    ///
    /// A flag that contradicts the config file is an error naming both (a 6-head model's config
    /// with `--heads 3` would silently compute another model).
    func configuration(for checkpoint: Checkpoint) throws -> ModelConfiguration {
        let file: ModelConfiguration?
        if let config { file = try ModelConfiguration.load(path: config) } else { file = try ModelConfiguration.discovered(for: checkpoint) }
        if let file, let clash = file.contradictions(by: overrides).first {
            let flag = Self.flags[clash.key] ?? clash.key
            throw CLIError.badInput(file: config ?? checkpoint.path, flag: nil,
                                    reason: "\(flag) \(clash.given) contradicts \(clash.key) = \(clash.file) in \(config ?? "the config.json beside it"); drop \(flag) or fix the file")
        }
        return (file ?? ModelConfiguration()).overridden(by: overrides)
    }

    /// The flag that sets each config.json key.
    static let flags = ["num_attention_heads": "--heads", "num_key_value_heads": "--kv-heads", "rope_theta": "--rope-theta",
                        "rms_norm_eps": "--norm-eps", "num_experts_per_tok": "--experts-per-token"]

    /// Prints each hyper-parameter the model had to assume as a `note:` line on stderr.
    static func reportAssumptions(_ configuration: ResolvedModelConfiguration) {
        for line in configuration.assumed { Output.note(line) }
    }

    func validate() throws {
        if let heads, !(1...Self.maxCount).contains(heads) { throw ValidationError("--heads \(heads): must be between 1 and \(Self.maxCount)") }
        if let kvHeads, !(1...Self.maxCount).contains(kvHeads) { throw ValidationError("--kv-heads \(kvHeads): must be between 1 and \(Self.maxCount)") }
        if let ropeTheta, !(ropeTheta > 0 && ropeTheta.isFinite) { throw ValidationError("--rope-theta \(ropeTheta): must be a positive finite number") }
        if let normEps, !(normEps >= 0 && normEps.isFinite) { throw ValidationError("--norm-eps \(normEps): must be a finite number, not negative") }
        if let expertsPerToken, !(1...Self.maxCount).contains(expertsPerToken) { throw ValidationError("--experts-per-token \(expertsPerToken): must be between 1 and \(Self.maxCount)") }
    }
}

/// The token sequence options shared by `logits` and `verify`: ids, a file of ids, or a prompt.
///
/// `--tokens` is always a list of ids, except that `--tokens @FILE` and a value ending in `.npy`
/// name a file; `--tokens-file FILE` names one explicitly. A value is never taken for a path
/// just because a file of that name happens to exist.
struct TokenOptions: ParsableArguments {
    @Option(help: "Token ids, comma-separated (1,2,3); @FILE or FILE.npy reads them from a file.")
    var tokens: String?

    @Option(help: "A file of token ids: an int64 .npy file, or text with ids separated by commas or whitespace.")
    var tokensFile: String?

    @Option(help: "Text to tokenize instead of --tokens (needs a tokenizer).")
    var prompt: String?

    @Option(help: "tokenizer.json for --prompt, and for the text that logits --top/--decode show (default: tokenizer.json beside the model).")
    var tokenizer: String?

    /// Most token ids accepted: far beyond any context window, far below overflow in sizes.
    static let maxTokens = 1 << 24

    func validate() throws {
        if [tokens, tokensFile, prompt].compactMap({ $0 }).count > 1 { throw ValidationError("give one of --tokens, --tokens-file or --prompt") }
    }

    /// Whether any input was given.
    var isGiven: Bool { tokens != nil || tokensFile != nil || prompt != nil }

    /// The files the token options read (to refuse an output over one of them).
    var inputFiles: [String] {
        [tokensFile, tokens.flatMap(Self.filePath), tokenizer].compactMap { $0 }
    }

    /// The path `--tokens` names, if it names one (`@FILE` or `FILE.npy`).
    static func filePath(_ text: String) -> String? {
        if text.hasPrefix("@") { return String(text.dropFirst()) }
        return text.hasSuffix(".npy") ? text : nil
    }

    /// The ids to run, or nil when no input was given.
    func resolve(modelPath: String) throws -> [Int]? {
        if let tokensFile { return try Self.read(file: tokensFile, flag: "--tokens-file") }
        if let tokens {
            if let path = Self.filePath(tokens) { return try Self.read(file: path, flag: "--tokens") }
            return try Self.parse(tokens, flag: "--tokens")
        }
        guard let prompt else { return nil }
        let ids = try Self.tokenizer(tokenizer, modelPath: modelPath, purpose: "--prompt").encode(prompt)
        guard !ids.isEmpty else { throw ValidationError("--prompt encodes to no tokens") }
        guard ids.count <= Self.maxTokens else { throw ValidationError("--prompt encodes to \(ids.count) tokens, more than the \(Self.maxTokens) accepted") }
        return ids
    }

    /// The tokenizer for showing text: `--tokenizer`, else the tokenizer.json beside the model, else nil.
    func optionalTokenizer(modelPath: String) throws -> BPETokenizer? {
        if let tokenizer { return try BPETokenizer(contentsOf: URL(fileURLWithPath: tokenizer)) }
        return try CompanionFile.beside(modelPath, named: "tokenizer.json").map { try BPETokenizer(contentsOf: $0) }
    }

    /// The tokenizer from `--tokenizer` (a tokenizer.json or its directory), else the tokenizer.json
    /// belonging to the model; `purpose` names what needs it in the error.
    static func tokenizer(_ given: String?, modelPath: String, purpose: String) throws -> BPETokenizer {
        if let given { return try BPETokenizer(contentsOf: URL(fileURLWithPath: given)) }
        if modelPath.lowercased().hasSuffix(".gguf"), let embedded = try GGUFImport.tokenizer(Checkpoint.open(path: modelPath)) {
            return embedded
        }
        guard let found = CompanionFile.beside(modelPath, named: "tokenizer.json") else {
            throw ValidationError("\(purpose) needs --tokenizer tokenizer.json (none found beside \(modelPath))")
        }
        return try BPETokenizer(contentsOf: found)
    }

    /// Ids from a file: an int64 `.npy` (by its magic bytes), else text ids.
    static func read(file path: String, flag: String) throws -> [Int] {
        let data = try RegularFile.read(path, limit: 64 << 20)
        if data.starts(with: [0x93] + Array("NUMPY".utf8)) {
            let ids = try Npy.readInt64(path: path).values
            guard !ids.isEmpty else { throw ValidationError("\(flag) \(path): the file holds no token ids") }
            guard ids.count <= maxTokens else { throw ValidationError("\(flag) \(path): \(ids.count) token ids, more than the \(maxTokens) accepted") }
            guard let bad = ids.first(where: { $0 < 0 }) else { return ids.map { Int($0) } }
            throw ValidationError("\(flag) \(path): token id \(bad) is negative")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("\(flag) \(path): neither an int64 .npy file nor text") }
        return try parse(text, flag: "\(flag) \(path)")
    }

    /// `1,2,3` (commas and/or whitespace).
    static func parse(_ text: String, flag: String = "--tokens") throws -> [Int] {
        let parts = text.split(whereSeparator: { $0 == "," || $0.isWhitespace })
        guard parts.count <= maxTokens else { throw ValidationError("\(flag): \(parts.count) token ids, more than the \(maxTokens) accepted") }
        var ids: [Int] = []
        for part in parts {
            guard let id = Int(part), id >= 0 else {
                throw ValidationError("\(flag): '\(part.prefix(40))' is not a token id (expected e.g. 1,2,3, @ids.txt or ids.npy)")
            }
            ids.append(id)
        }
        guard !ids.isEmpty else { throw ValidationError("\(flag): no token ids given") }
        return ids
    }
}
