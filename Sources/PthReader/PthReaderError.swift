/// Everything that can go wrong reading a checkpoint, with the file and place it went wrong.
public enum PthReaderError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened or read at all.
    case unreadable(path: String, reason: String)
    /// The bytes are not any checkpoint format this reader knows.
    case unrecognizedFormat(path: String, reason: String)
    /// The structure is damaged or inconsistent; `entry` names the archive entry or tensor.
    case malformed(path: String, entry: String?, reason: String)
    /// The pickle stream is broken at `offset` of `entry`.
    case pickle(path: String, entry: String, offset: Int, reason: String)
    /// The pickle names a global outside the allowlist; nothing was executed.
    case forbiddenGlobal(path: String, entry: String, module: String, name: String)
    /// A TorchScript archive (`torch.jit.save`), which holds code rather than a state dict.
    case torchScript(path: String)
    /// A storage or tensor type this reader does not support.
    case unsupportedDType(path: String, entry: String, type: String)
    /// A valid input that is too large to process on this machine (memory, disk, `Int` range).
    case exceedsLimit(path: String, entry: String?, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "\(path): cannot read: \(reason)"
        case .unrecognizedFormat(let path, let reason):
            return "\(path): not a PyTorch or safetensors checkpoint: \(reason)"
        case .malformed(let path, let entry, let reason):
            return entry.map { "\(path): \($0): \(reason)" } ?? "\(path): \(reason)"
        case .pickle(let path, let entry, let offset, let reason):
            return "\(path): \(entry): pickle byte \(offset): \(reason)"
        case .forbiddenGlobal(let path, let entry, let module, let name):
            return "\(path): \(entry): refused global '\(module).\(name)': not on the allowlist of tensor-rebuilding globals (nothing was executed)"
        case .torchScript(let path):
            return "\(path): a TorchScript archive (torch.jit.save), not a state dict; load it in Python and save model.state_dict() instead"
        case .exceedsLimit(let path, let entry, let reason):
            return entry.map { "\(path): \($0): \(reason)" } ?? "\(path): \(reason)"
        case .unsupportedDType(let path, let entry, let type):
            return "\(path): \(entry): unsupported tensor type '\(type)' (supported: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))"
        }
    }
}
