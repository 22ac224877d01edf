import ArgumentParser
import Foundation
import Model
import PthReader

/// Options shared by the commands that write a checkpoint (`merge`, `convert`).
struct OutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Output file: .pth/.pt/.bin (torch zip) or .safetensors.")
    var output: String

    @Option(help: "Output dtype of floating-point tensors: float32, float16, bfloat16 or float64 (default: keep).")
    var dtype: String?

    @Flag(help: "Print a JSON summary on stdout.")
    var json = false

    /// The container the output extension names.
    var format: OutputFormat {
        get throws { try OutputFormat(path: output) }
    }

    /// The parsed `--dtype`, nil to keep each tensor's dtype.
    var outputDType: DType? {
        get throws {
            guard let dtype else { return nil }
            guard let parsed = DType(torchName: dtype), parsed.isFloatingPoint else {
                throw ValidationError("--dtype \(dtype): expected float32, float16, bfloat16 or float64")
            }
            return parsed
        }
    }

    func validate() throws {
        _ = try outputDType
        do { _ = try format } catch {
            throw ValidationError("-o \(output): the extension must be .pth, .pt, .bin or .safetensors")
        }
    }

    /// Runs a rewrite to the output path with a progress bar, then prints its summary.
    ///
    /// `done` is the human line's opening words, e.g. "merged 4 adapter layers into".
    func write(_ rewriter: CheckpointRewriter, label: String, done: (CheckpointRewriter.Summary) -> String) throws {
        let bar = ProgressBar(label: label)
        let summary = try rewriter.write(to: output, format: format, progress: bar.update)
        bar.finish()
        if json {
            try Output.printJSON(summary)
        } else {
            let seconds = String(format: "%.2f", summary.seconds)
            print("\(done(summary)) \(summary.output) (\(summary.format), \(summary.tensors) tensors, \(Output.byteSize(summary.outputBytes))) in \(seconds) s")
        }
    }
}
