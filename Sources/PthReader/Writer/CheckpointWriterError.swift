/// Everything that can go wrong writing a checkpoint, naming the output file.
///
/// An error thrown by the caller's byte provider is passed through unchanged instead.
public enum CheckpointWriterError: Error, CustomStringConvertible, Equatable {
    /// The path's extension names no format the writer knows.
    case unsupportedExtension(path: String)
    /// The provider returned a different number of bytes than the tensor's dtype and shape need.
    case wrongByteCount(path: String, tensor: String, expected: Int, got: Int)
    /// A tensor entry that cannot be written (negative size, too many elements, ...).
    case invalidTensor(path: String, tensor: String, reason: String)
    /// Two tensors (or metadata values) would get the same safetensors name.
    case duplicateName(path: String, name: String)
    /// A value the format cannot hold.
    case unsupportedValue(path: String, reason: String)
    /// A file-system operation failed (`operation` is e.g. "create", "write", "rename").
    case io(path: String, operation: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedExtension(let path):
            return "\(path): cannot choose an output format from the extension (use .pth, .pt, .bin or .safetensors)"
        case .wrongByteCount(let path, let tensor, let expected, let got):
            return "\(path): tensor '\(tensor)': the data provided has \(got) bytes but its dtype and shape need \(expected); nothing was written"
        case .invalidTensor(let path, let tensor, let reason):
            return "\(path): tensor '\(tensor)': \(reason)"
        case .duplicateName(let path, let name):
            return "\(path): the name '\(name)' occurs twice; safetensors needs unique names"
        case .unsupportedValue(let path, let reason):
            return "\(path): \(reason)"
        case .io(let path, let operation, let reason):
            return "\(path): cannot \(operation): \(reason)"
        }
    }
}
