/// The container a checkpoint is written as.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// What `torch.save` writes (a zip archive with `data.pkl`); extensions `.pth`, `.pt`, `.bin`.
    case torchZip = "torch-zip"
    /// The `safetensors` format; extension `.safetensors`.
    case safetensors = "safetensors"

    /// Chooses the format from the path's extension (case-insensitive).
    ///
    /// `.pth`, `.pt`, `.bin` → `.torchZip`; `.safetensors` → `.safetensors`; anything else throws
    /// `CheckpointWriterError.unsupportedExtension`.
    public init(path: String) throws {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else {
            throw CheckpointWriterError.unsupportedExtension(path: path)
        }
        switch name[name.index(after: dot)...].lowercased() {
        case "pth", "pt", "bin": self = .torchZip
        case "safetensors": self = .safetensors
        default: throw CheckpointWriterError.unsupportedExtension(path: path)
        }
    }
}
