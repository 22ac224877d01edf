import ArgumentParser
import Foundation
import Model
import PthReader

/// Where `merge`/`convert` hand a model to another ecosystem: a Hugging Face directory (`--format hf`)
/// or a GGUF file (`-o X.gguf` or `--format gguf`).
enum ExportTarget {
    case huggingFace
    case gguf
}

extension OutputOptions {
    /// The export the options ask for, or nil for a plain checkpoint file.
    var exportTarget: ExportTarget? {
        get throws {
            switch formatName?.lowercased() {
            case "hf", "huggingface", "hugging-face": return .huggingFace
            case "gguf": return .gguf
            case nil: return output.lowercased().hasSuffix(".gguf") ? .gguf : nil
            case "safetensors", "torch-zip", "peft", "minimind": return nil
            case let other?: throw ValidationError("--format \(other): expected hf, gguf, safetensors, torch-zip, peft or minimind")
            }
        }
    }

    /// The `--max-shard-size` in bytes: a number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB; HF's decimal/binary convention).
    var maxShardBytes: Int {
        get throws {
            let text = maxShardSize.trimmingCharacters(in: .whitespaces).uppercased()
            let units: [(String, Double)] = [("GIB", 0x1p30), ("MIB", 0x1p20), ("KIB", 0x1p10), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("B", 1)]
            var number = Substring(text), factor = 1.0
            for (suffix, value) in units where text.hasSuffix(suffix) {
                number = text.dropLast(suffix.count)
                factor = value
                break
            }
            guard let value = Double(number.trimmingCharacters(in: .whitespaces)), value > 0, (value * factor) < 0x1p62 else {
                throw ValidationError("--max-shard-size \(maxShardSize): expected a positive size such as 5GB, 500MB or 2GiB")
            }
            return max(1, Int(value * factor))
        }
    }

    /// The export's `--dtype` (nil: keep the source's).
    var exportDType: DType? {
        get throws {
            guard let dtype else { return nil }
            let parsed = try Self.parseDType(dtype)
            guard [.float32, .float16, .bfloat16].contains(parsed) else {
                throw ValidationError("--dtype \(dtype): a Hugging Face directory holds float32, float16 or bfloat16")
            }
            return parsed
        }
    }

    func validateExport(_ target: ExportTarget) throws {
        if dryRun { throw ValidationError("--dry-run applies to checkpoint files, not to --format hf or .gguf") }
        switch target {
        case .huggingFace:
            _ = try maxShardBytes
            _ = try exportDType
        case .gguf:
            _ = try ggufType
        }
    }

    /// The GGUF weight type `--dtype` asks for (f32, f16, bf16, q8_0, or a float dtype alias); nil: the source's.
    var ggufType: GGUFTensorType? {
        get throws {
            guard let dtype else { return nil }
            if let type = GGUFTensorType(name: dtype.replacingOccurrences(of: "q8-0", with: "q8_0")) { return type }
            switch try? Self.parseDType(dtype) {
            case .float32?: return .f32
            case .float16?: return .f16
            case .bfloat16?: return .bf16
            default: throw ValidationError("--dtype \(dtype): a GGUF file holds f32, f16, bf16 or q8_0")
            }
        }
    }

    /// Checks the output before any work: a directory for `--format hf`, else a file.
    func prepare(for target: ExportTarget?, notOver inputs: [String]) throws {
        if case .huggingFace? = target { try prepareExport(notOver: inputs) } else { try prepare(notOver: inputs) }
    }

    /// Checks the output directory before any work: not an input, not a file, not an existing
    /// non-empty directory unless `--force`; creates missing parent directories.
    func prepareExport(notOver inputs: [String]) throws {
        try MergeError.checkOutput(output, notOver: inputs)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) {
            let empty = isDirectory.boolValue && ((try? FileManager.default.contentsOfDirectory(atPath: output))?.isEmpty ?? false)
            if !isDirectory.boolValue || (!empty && !force) { throw CLIError.outputExists(path: output) }
        }
        let parent = URL(fileURLWithPath: output).standardizedFileURL.deletingLastPathComponent().path
        guard !FileManager.default.fileExists(atPath: parent) else { return }
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw CLIError.cannotCreateDirectory(path: parent, reason: (error as NSError).localizedDescription)
        }
    }

    /// Writes `checkpoint` (with `adapter` folded in) to the export target, printing a summary.
    func export<C: JSONReporting>(_ target: ExportTarget, checkpoint: Checkpoint, adapter: BoundAdapter?, multiplier: Float,
                                  input: String, label: String, for command: C) throws {
        let start = Date()
        let model = try ExportModel(checkpoint: checkpoint, adapter: adapter, multiplier: multiplier)
        if !model.assumptions.isEmpty {
            for line in model.assumptions { Output.note(line) }
        }
        let tokenizerFiles = try TokenizerFiles.locate(explicit: tokenizer, besideModel: input)
        if tokenizerFiles == nil {
            Output.note("no tokenizer.json beside \(input); the output has no tokenizer (give --tokenizer FILE|DIR)")
        }
        let bar = ProgressBar(label: label)
        if case .gguf = target {
            return try exportGGUF(model: model, tokenizer: tokenizerFiles, adapter: adapter, bar: bar, start: start, for: command)
        }
        let dtypeChoice = try exportDType
        let writer = try HFDirectoryWriter(model: model, dtype: dtypeChoice, maxShardSize: try maxShardBytes, tokenizer: tokenizerFiles)
        let files = try writer.write(to: output, progress: bar.update)
        bar.finish()
        let summary = ExportSummary(output: output, format: "hf", family: model.family.rawValue, dtype: writer.dtype.rawValue,
                                    tensors: model.tensors.count, files: files, mergedTensors: adapter.map { $0.layers.map(\.weightName) },
                                    seconds: Date().timeIntervalSince(start))
        if json {
            try Output.printJSON(summary, for: command)
        } else {
            Output.say("wrote \(output) (Hugging Face directory, \(model.family.rawValue) as \(HFClassName.of(model.family)), \(writer.dtype.rawValue), \(files.joined(separator: ", "))) in \(String(format: "%.2f", summary.seconds)) s")
        }
    }
}

/// The transformers class named in `config.json`, for the summary line.
enum HFClassName {
    static func of(_ family: ExportFamily) -> String {
        switch family {
        case .miniMindV1, .llama: return "LlamaForCausalLM"
        case .qwen3: return "Qwen3ForCausalLM"
        case .qwen3Moe: return "Qwen3MoeForCausalLM"
        case .qwen2: return "Qwen2ForCausalLM"
        }
    }
}

/// `--json` summary of an export.
struct ExportSummary: Codable {
    var output: String
    var format: String
    var family: String
    var dtype: String
    var tensors: Int
    var files: [String]
    /// The base weights an adapter was folded into (merge only; absent for convert, as in every writer's JSON).
    var mergedTensors: [String]?
    var seconds: Double

    enum CodingKeys: String, CodingKey {
        case output, format, family, dtype, tensors, files, seconds, mergedTensors = "merged_tensors"
    }
}
