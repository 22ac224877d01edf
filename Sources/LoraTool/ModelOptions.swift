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

    @Option(help: "Number of attention heads (default: config, else 8).")
    var heads: Int?

    @Option(help: "Number of key/value heads; checked against the key projection's shape.")
    var kvHeads: Int?

    @Option(help: "Rotary embedding base theta (default: config, else 1e6).")
    var ropeTheta: Double?

    @Option(help: "RMSNorm epsilon (default: config, else 1e-5).")
    var normEps: Float?

    @Option(help: "Experts per token for MoE models (default: config, else 2).")
    var expertsPerToken: Int?

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
        if let heads, heads <= 0 { throw ValidationError("--heads must be positive") }
        if let kvHeads, kvHeads <= 0 { throw ValidationError("--kv-heads must be positive") }
        if let ropeTheta, !(ropeTheta > 0) { throw ValidationError("--rope-theta must be positive") }
        if let normEps, !(normEps >= 0) { throw ValidationError("--norm-eps must not be negative") }
        if let expertsPerToken, expertsPerToken <= 0 { throw ValidationError("--experts-per-token must be positive") }
    }
}

/// The token sequence options shared by `logits` and `verify`: ids, an `.npy` file, or a prompt.
struct TokenOptions: ParsableArguments {
    @Option(help: "Token ids: comma-separated (1,2,3) or an int64 .npy file.")
    var tokens: String?

    @Option(help: "Text to tokenize instead of --tokens (needs a tokenizer).")
    var prompt: String?

    @Option(help: "tokenizer.json for --prompt, and for the text that logits --top/--decode show (default: tokenizer.json beside the model).")
    var tokenizer: String?

    func validate() throws {
        if tokens != nil && prompt != nil { throw ValidationError("give either --tokens or --prompt, not both") }
    }

    /// The ids to run, or nil when neither `--tokens` nor `--prompt` was given.
    func resolve(modelPath: String) throws -> [Int]? {
        if let tokens { return try Self.parse(tokens) }
        guard let prompt else { return nil }
        let ids = try Self.tokenizer(tokenizer, modelPath: modelPath, purpose: "--prompt").encode(prompt)
        guard !ids.isEmpty else { throw ValidationError("--prompt encodes to no tokens") }
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
        guard let found = CompanionFile.beside(modelPath, named: "tokenizer.json") else {
            throw ValidationError("\(purpose) needs --tokenizer tokenizer.json (none found beside \(modelPath))")
        }
        return try BPETokenizer(contentsOf: found)
    }

    /// `1,2,3` (commas and/or spaces) or the path of an integer `.npy` file.
    static func parse(_ text: String) throws -> [Int] {
        if text.hasSuffix(".npy") || FileManager.default.fileExists(atPath: text) {
            let ids = try Npy.readInt64(path: text).values.map { Int($0) }
            guard !ids.isEmpty else { throw ValidationError("--tokens \(text): the file holds no token ids") }
            return ids
        }
        let parts = text.split(whereSeparator: { $0 == "," || $0 == " " })
        var ids: [Int] = []
        for part in parts {
            guard let id = Int(part), id >= 0 else { throw ValidationError("--tokens: '\(part)' is not a token id (expected e.g. 1,2,3 or a .npy file)") }
            ids.append(id)
        }
        guard !ids.isEmpty else { throw ValidationError("--tokens: no token ids given") }
        return ids
    }
}
