import ArgumentParser
import Foundation
import Model
import PthReader

/// Options shared by the commands that write a checkpoint (`merge`, `convert`).
struct OutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp(
        "Output file: .pth/.pt/.bin (torch zip), .safetensors or .gguf; a directory with --format hf.",
        discussion: "Missing parent directories are created. A directory (-o DIR/) is refused unless --format hf: name the file. An existing file (or model directory) is refused unless --force."))
    var output: String

    @Option(help: "Output dtype of floating-point tensors: float32 (fp32, f32), float16 (fp16, f16, half), bfloat16 (bf16) or float64 (fp64, f64) (default: keep); for .gguf f32, f16, bf16 or q8_0.")
    var dtype: String?

    @Option(name: .customLong("format"), help: "Output format when the extension does not say it: hf (a Hugging Face model directory), gguf, safetensors, torch-zip.")
    var formatName: String?

    @Option(help: "With --format hf: largest shard (e.g. 5GB, 500MB, 2GiB); a bigger model is written as shards plus an index.")
    var maxShardSize: String = "5GB"

    @Option(help: "With --format hf or .gguf: tokenizer.json or its directory (default: beside the input).")
    var tokenizer: String?

    @Flag(help: "Overwrite the output file if it exists.")
    var force = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors (and the JSON object with --json).")
    var quiet = false

    @Flag(help: "Print one JSON object on stdout (docs/json.md).")
    var json = false

    @Flag(help: "Bind the adapter, merge in memory and check shapes and dtype overflow; print what would be written, and write nothing.")
    var dryRun = false

    /// The container the output extension names.
    var format: OutputFormat {
        get throws {
            if let formatName, let named = OutputFormat(rawValue: formatName) { return named }
            return try OutputFormat(path: output)
        }
    }

    /// The dtype names `--dtype` accepts: torch's, and the short forms of Hugging Face and llama.cpp.
    static let dtypeAliases: [String: DType] = [
        "float32": .float32, "fp32": .float32, "f32": .float32, "float": .float32,
        "float16": .float16, "fp16": .float16, "f16": .float16, "half": .float16,
        "bfloat16": .bfloat16, "bf16": .bfloat16,
        "float64": .float64, "fp64": .float64, "f64": .float64, "double": .float64,
    ]

    /// The accepted `--dtype` values, for messages.
    static let dtypeChoices = "expected float32 (fp32, f32), float16 (fp16, f16, half), bfloat16 (bf16) or float64 (fp64, f64)"

    /// A `--dtype` value as a floating-point dtype (case-insensitive, `torch.` prefix allowed).
    static func parseDType(_ text: String) throws -> DType {
        var name = text.lowercased()
        if name.hasPrefix("torch.") { name.removeFirst(6) }
        guard let dtype = dtypeAliases[name] else { throw ValidationError("--dtype \(text): \(dtypeChoices)") }
        return dtype
    }

    /// The parsed `--dtype`, nil to keep each tensor's dtype.
    var outputDType: DType? {
        get throws { try dtype.map(Self.parseDType) }
    }

    func validate() throws {
        if ["peft", "minimind"].contains(formatName?.lowercased() ?? "") { _ = try outputDType; return } // adapter conversion (ConvertCommand+Adapter)
        if let target = try exportTarget {
            try validateExport(target)
            return
        }
        _ = try outputDType
        if output.hasSuffix("/") || OutputPath.isDirectory(output) { throw ValidationError(ErrorReport.cli(.outputIsDirectory(path: output)).message) }
        do { _ = try format } catch {
            throw ValidationError("-o \(output): the extension must be .pth, .pt, .bin or .safetensors (or give --format hf for a directory)")
        }
    }

    /// Checks the output path before any work: not one of `inputs`, not a directory, not an existing
    /// file unless `--force`; then creates its missing parent directories (unless `create` is false,
    /// as for a dry run).
    func prepare(notOver inputs: [String], create: Bool = true) throws {
        try OutputPath.prepare(output, notOver: inputs, force: force, create: create && !dryRun)
    }

    /// The options every writing command echoes in its JSON.
    var echoedOptions: [String: JSONValue] {
        ["output": .string(output), "dtype": .optional(try? outputDType?.rawValue), "force": .bool(force), "dry_run": .bool(dryRun)]
    }

    /// Runs a rewrite to the output path with a progress bar, then prints its summary.
    ///
    /// `done` is the human line's opening words, e.g. "merged 4 adapter layers into".
    func write<C: JSONReporting>(_ rewriter: CheckpointRewriter, label: String, for command: C, merging: Bool,
                                 done: (CheckpointRewriter.Summary) -> String) throws {
        if dryRun { return try dryRun(rewriter, for: command, merging: merging) }
        let bar = ProgressBar(label: label, totalBytes: rewriter.outputTensorBytes)
        let summary = try rewriter.write(to: output, format: format, progress: bar.update, bytes: bar.add)
        bar.finish()
        if json {
            try Output.printJSON(WriteReport(summary: summary, merging: merging), for: command)
        } else {
            let seconds = String(format: "%.2f", summary.seconds)
            Output.say("\(done(summary)) \(summary.output) (\(summary.format), \(summary.tensors) tensors, \(Output.byteSize(summary.outputBytes))) in \(seconds) s")
        }
    }
}

/// The JSON fields of a written checkpoint; `merged_tensors` only for merge.
struct WriteReport: Encodable {
    var summary: CheckpointRewriter.Summary
    var merging: Bool

    enum CodingKeys: String, CodingKey {
        case output, format, tensors, mergedTensors = "merged_tensors", outputBytes = "output_bytes", seconds
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(summary.output, forKey: .output)
        try c.encode(summary.format, forKey: .format)
        try c.encode(summary.tensors, forKey: .tensors)
        if merging { try c.encode(summary.mergedTensors, forKey: .mergedTensors) }
        try c.encode(summary.outputBytes, forKey: .outputBytes)
        try c.encode(summary.seconds, forKey: .seconds)
    }
}
