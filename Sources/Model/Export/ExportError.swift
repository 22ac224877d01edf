/// What can stop an export to a Hugging Face directory or a GGUF file, naming the file concerned.
public enum ExportError: Error, CustomStringConvertible, Equatable {
    /// The model (or one of its settings) has no equivalent in the target ecosystem.
    case unsupported(path: String, reason: String)
    /// The tokenizer cannot be carried over.
    case tokenizer(path: String, reason: String)
    /// The output directory cannot be created or replaced.
    case output(path: String, reason: String)

    public var description: String {
        switch self {
        case .unsupported(let path, let reason): return "\(path): cannot export: \(reason)"
        case .tokenizer(let path, let reason): return "\(path): tokenizer: \(reason)"
        case .output(let path, let reason): return "\(path): \(reason)"
        }
    }
}
