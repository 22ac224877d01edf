import Foundation
import Model
import PthReader

/// The mapping of each library's errors to kinds, exit statuses and flag wording.
extension ErrorReport {
    static func reader(_ e: PthReaderError) -> ErrorReport {
        let m = e.description
        switch e {
        case .unreadable(let path, _): return ErrorReport(kind: "unreadable", message: m, file: path, status: .badInput)
        case .unrecognizedFormat(let path, _): return ErrorReport(kind: "unrecognized_format", message: m, file: path, status: .badInput)
        case .malformed(let path, let entry, _): return ErrorReport(kind: "malformed", message: m, file: path, entry: entry, status: .badInput)
        case .pickle(let path, let entry, _, _): return ErrorReport(kind: "malformed_pickle", message: m, file: path, entry: entry, status: .badInput)
        case .forbiddenGlobal(let path, let entry, _, _): return ErrorReport(kind: "forbidden_global", message: m, file: path, entry: entry, status: .badInput)
        case .torchScript(let path): return ErrorReport(kind: "unsupported", message: m, file: path, status: .badInput)
        case .unsupportedDType(let path, let entry, _): return ErrorReport(kind: "unsupported", message: m, file: path, entry: entry, status: .badInput)
        case .exceedsLimit(let path, let entry, _): return ErrorReport(kind: "too_large", message: m, file: path, entry: entry, status: .badInput)
        @unknown default: return ErrorReport(kind: "bad_input", message: m, status: .badInput)
        }
    }

    static func lora(_ e: LoRAError) -> ErrorReport {
        let m = e.description
        switch e {
        case .notAnAdapter(let path, _): return ErrorReport(kind: "not_an_adapter", message: m, file: path, status: .badInput)
        case .badConfig(let path, _): return ErrorReport(kind: "bad_adapter_config", message: m, file: path, status: .badInput)
        case .unsupported(let path, _): return ErrorReport(kind: "unsupported", message: m, file: path, status: .badInput)
        case .mismatch(let adapter, _, let problems):
            return ErrorReport(kind: "adapter_mismatch", message: m, file: adapter, entry: problems.first?.key, status: .doesNotFit)
        case .weightSize(let module, _, _): return ErrorReport(kind: "adapter_mismatch", message: m, entry: module, status: .doesNotFit)
        case .noTargets(let path, let selector, let linears):
            let names = Array(Set(linears.map { $0.split(separator: ".").last.map(String.init) ?? $0 })).sorted()
            let available = names.isEmpty ? "the model has no Linear modules" : "Linear names here: " + names.joined(separator: ", ")
            let message = selector == .squareLinear
                ? "\(path): no square Linear module (in_features == out_features, the default rule); choose modules with --modules (\(available))"
                : "\(path): no Linear module matches --modules \(selector.description) (\(available))"
            return ErrorReport(kind: "no_targets", message: message, file: path, status: .doesNotFit)
        case .badRank(_, let rank):
            return ErrorReport(kind: "usage", message: "--rank \(rank): the rank must be a positive integer", status: .usage)
        case .notScalable(let module, _, _): return ErrorReport(kind: "unsupported", message: m, entry: module, status: .badInput)
        @unknown default: return ErrorReport(kind: "bad_input", message: m, status: .badInput)
        }
    }

    static func inference(_ e: InferenceError) -> ErrorReport {
        let m = e.description
        switch e {
        case .unknownArchitecture(let path, _): return ErrorReport(kind: "unknown_architecture", message: m, file: path, status: .badInput)
        case .missingTensor(let path, let name): return ErrorReport(kind: "missing_tensor", message: m, file: path, entry: name, status: .badInput)
        case .wrongShape(let path, let name, _, _): return ErrorReport(kind: "wrong_shape", message: m, file: path, entry: name, status: .badInput)
        case .notFloatingPoint(let path, let name, _): return ErrorReport(kind: "wrong_dtype", message: m, file: path, entry: name, status: .badInput)
        case .unusedTensors(let path, let names): return ErrorReport(kind: "unused_tensors", message: m, file: path, entry: names.first, status: .badInput)
        case .inconsistentConfiguration(let reason):
            return ErrorReport(kind: "configuration_mismatch", message: m + hyperParameterHint(reason), status: .doesNotFit)
        case .badConfiguration(let path, _): return ErrorReport(kind: "bad_configuration", message: m, file: path, status: .badInput)
        case .adapterMismatch: return ErrorReport(kind: "adapter_mismatch", message: m, status: .doesNotFit)
        case .unsupportedAdapter(let module, _, _): return ErrorReport(kind: "unsupported", message: m, entry: module, status: .badInput)
        case .tokenOutOfRange: return ErrorReport(kind: "token_out_of_range", message: m + " (check --tokens / --prompt)", status: .badInput)
        case .noTokens: return ErrorReport(kind: "bad_input", message: m + " (give --tokens or --prompt)", status: .badInput)
        case .cacheMismatch: return ErrorReport(kind: "internal", message: m, status: .badInput)
        @unknown default: return ErrorReport(kind: "bad_input", message: m, status: .badInput)
        }
    }

    /// The flags and config keys that set each hyper-parameter the model checks.
    static let hyperParameters: [(key: String, words: [String], flag: String?)] = [
        ("num_key_value_heads", ["key/value heads", "kv heads"], "--kv-heads"),
        ("num_attention_heads", ["attention heads", " heads"], "--heads"),
        ("rope_theta", [], "--rope-theta"),
        ("rms_norm_eps", [], "--norm-eps"),
        ("num_experts_per_tok", [], "--experts-per-token"),
        ("hidden_size", [], nil), ("vocab_size", [], nil), ("intermediate_size", [], nil),
        ("num_hidden_layers", [], nil), ("head_dim", [], nil),
    ]

    /// " (set it with --heads or num_attention_heads in --config FILE)" for the first hyper-parameter a
    /// configuration error names by config key or in words; "" when it names none.
    static func hyperParameterHint(_ reason: String) -> String {
        let byKey = hyperParameters.first { reason.contains($0.key) }
        guard let hit = byKey ?? hyperParameters.first(where: { $0.words.contains { reason.contains($0) } }) else {
            return " (check the config.json given with --config or found beside the checkpoint)"
        }
        if let flag = hit.flag { return " (set it with \(flag) or '\(hit.key)' in the config.json, --config FILE)" }
        return " (fix '\(hit.key)' in the config.json, --config FILE)"
    }

    static func merge(_ e: MergeError) -> ErrorReport {
        let m = e.description
        switch e {
        case .unsupportedOutputDType(let name):
            return ErrorReport(kind: "usage", message: "--dtype \(name): \(OutputOptions.dtypeChoices)", status: .usage)
        case .outputIsInput(let output, let input):
            return ErrorReport(kind: "output_is_input", message: m, file: output, entry: input, status: .badInput)
        case .notRepresentable(let path, let tensor, _, _, _):
            return ErrorReport(kind: "not_representable", message: m + " (check the adapter for NaN/Inf, a wrong --scale, or choose a wider --dtype)", file: path, entry: tensor, status: .doesNotFit)
        case .internalInconsistency: return ErrorReport(kind: "internal", message: m, status: .badInput)
        case .selectionNotFound(let path, let key, _):
            return ErrorReport(kind: "bad_input", message: "--select \(key): " + m, file: path, entry: key, status: .badInput)
        @unknown default: return ErrorReport(kind: "bad_input", message: m, status: .badInput)
        }
    }

    static func writer(_ e: CheckpointWriterError) -> ErrorReport {
        let m = e.description
        switch e {
        case .unsupportedExtension(let path):
            return ErrorReport(kind: "usage", message: "-o \(path): the extension must be .pth, .pt, .bin or .safetensors", file: path, status: .usage)
        case .io(let path, _, _): return ErrorReport(kind: "io", message: m, file: path, status: .outputFailure)
        case .wrongByteCount(let path, let tensor, _, _), .invalidTensor(let path, let tensor, _):
            return ErrorReport(kind: "unwritable", message: m, file: path, entry: tensor, status: .badInput)
        case .duplicateName(let path, let name): return ErrorReport(kind: "unwritable", message: m, file: path, entry: name, status: .badInput)
        case .unsupportedValue(let path, _): return ErrorReport(kind: "unwritable", message: m, file: path, status: .badInput)
        @unknown default: return ErrorReport(kind: "io", message: m, status: .outputFailure)
        }
    }

    static func npy(_ e: NpyError) -> ErrorReport {
        let m = e.description
        switch e {
        case .notNpy(let path), .fortranOrder(let path), .malformedHeader(let path, _), .unsupportedDType(let path, _),
             .truncated(let path, _, _), .wrongKind(let path, _, _):
            return ErrorReport(kind: "malformed", message: m, file: path, status: .badInput)
        case .io(let path, _): return ErrorReport(kind: "unreadable", message: m, file: path, status: .badInput)
        @unknown default: return ErrorReport(kind: "bad_input", message: m, status: .badInput)
        }
    }

    static func tokenizer(_ e: TokenizerError) -> ErrorReport {
        let file: String
        switch e {
        case .unreadable(let f, _), .malformedJSON(let f, _), .missingField(let f, _), .unsupportedModel(let f, _),
             .unsupportedComponent(let f, _, _), .invalidMerge(let f, _, _):
            file = f
        case .unsupportedChatTemplate(let f, _):
            return ErrorReport(kind: "unsupported_chat_template", message: e.description + "; pass --raw to send the prompt as it is",
                               file: f, entry: "chat_template", status: .badInput)
        case .unsupportedMessages:
            return ErrorReport(kind: "bad_input", message: e.description, status: .badInput)
        @unknown default: return ErrorReport(kind: "bad_input", message: e.description, status: .badInput)
        }
        return ErrorReport(kind: "bad_tokenizer", message: e.description, file: file, status: .badInput)
    }
}
