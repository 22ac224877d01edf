import ArgumentParser
import Foundation
import Model
import PthReader

/// One failure as the command line reports it: wording, exit status and the JSON `error` object.
///
/// This is the only place that turns a library error into CLI wording (flags), an exit status and
/// JSON; the libraries describe errors in their own terms (files, entries, config keys).
struct ErrorReport: Encodable, Equatable {
    /// A stable snake_case name for scripts, e.g. `malformed`, `adapter_mismatch`, `output_exists`.
    var kind: String
    /// The one-line message printed after `error: ` on stderr.
    var message: String
    /// The file the error is about, when there is one.
    var file: String?
    /// The archive entry, tensor or key inside `file`, when there is one.
    var entry: String?
    /// The process exit status.
    var status: ExitStatus

    enum CodingKeys: String, CodingKey { case kind, message, file, entry, exitStatus = "exit_status" }

    init(kind: String, message: String, file: String? = nil, entry: String? = nil, status: ExitStatus) {
        self.kind = kind
        // One line: a newline inside a value (a path, a token) is shown escaped, never cuts the message.
        self.message = Output.oneLine(message.trimmingCharacters(in: .whitespacesAndNewlines))
        self.file = file
        self.entry = entry
        self.status = status
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(message, forKey: .message)
        try c.encode(file, forKey: .file) // null rather than absent: every key is always there
        try c.encode(entry, forKey: .entry)
        try c.encode(status.rawValue, forKey: .exitStatus)
    }

    /// A usage error reported by the argument parser (unknown flag, missing argument, `validate()`).
    static func usage(_ message: String, command: String?) -> ErrorReport {
        let hint = " (see 'loratool\(command.map { " " + $0 } ?? "") --help')"
        // The argument parser may append its own `Help:`/`Usage:` lines after the message: drop
        // those, and escape a newline inside a value (init) rather than cutting the message there.
        var text = message
        for marker in ["\nHelp:", "\nUsage:"] {
            if let range = text.range(of: marker) { text = String(text[..<range.lowerBound]) }
        }
        return ErrorReport(kind: "usage", message: text.trimmingCharacters(in: .whitespacesAndNewlines) + hint, status: .usage)
    }

    /// Maps any error thrown while a command runs.
    init(_ error: any Error) {
        switch error {
        case let e as PthReaderError: self = Self.reader(e)
        case let e as LoRAError: self = Self.lora(e)
        case let e as InferenceError: self = Self.inference(e)
        case let e as MergeError: self = Self.merge(e)
        case let e as CheckpointWriterError: self = Self.writer(e)
        case let e as NpyError: self = Self.npy(e)
        case let e as TokenizerError: self = Self.tokenizer(e)
        case let e as ExportError: self = Self.export(e)
        case let e as CLIError: self = Self.cli(e)
        case let e as ValidationError: self = Self.usage(e.message, command: nil)
        default: self = ErrorReport(kind: "error", message: String(describing: error), status: .badInput)
        }
    }

    /// The command line's own failures.
    static func cli(_ e: CLIError) -> ErrorReport {
        switch e {
        case .outputExists(let path):
            return ErrorReport(kind: "output_exists", message: "\(path) already exists; pass --force to overwrite it", file: path, status: .badInput)
        case .outputIsDirectory(let path):
            return ErrorReport(kind: "output_is_directory", message: "-o \(path): names a directory; give a file name such as \(path.hasSuffix("/") ? path : path + "/")out.safetensors", file: path, status: .usage)
        case .cannotCreateDirectory(let path, let reason):
            return ErrorReport(kind: "io", message: "\(path): cannot create the output directory: \(reason)", file: path, status: .outputFailure)
        case .badInput(let file, let flag, let reason):
            let subject = [flag, file].compactMap { $0 }.joined(separator: " ")
            return ErrorReport(kind: "bad_input", message: subject.isEmpty ? reason : "\(subject): \(reason)", file: file, status: .badInput)
        case .adapterGivenAsModel(let path, let format):
            return ErrorReport(kind: "adapter_given_as_model", message: "\(path) is a LoRA adapter (\(format)), not a model; give the base model here (the adapter goes to merge/verify as ADAPTER or to logits --lora)", file: path, status: .badInput)
        case .outputFailed(let path, let reason):
            return ErrorReport(kind: "io", message: "\(path): \(reason)", file: path, status: .outputFailure)
        }
    }
}
