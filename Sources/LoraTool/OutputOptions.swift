import ArgumentParser
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
}
