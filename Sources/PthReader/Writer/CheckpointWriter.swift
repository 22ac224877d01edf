/// Writes checkpoints: torch zip files that `torch.load(weights_only=True)` reads, and safetensors.
///
/// Writing streams: tensor bytes are asked for one storage at a time, written, and dropped, so
/// peak memory stays near the largest tensor. Output is atomic: everything goes to a temporary
/// file in the target's directory that is renamed over `path` only at the very end.
public enum CheckpointWriter {
    /// Writes `root` to `path` in `format`.
    ///
    /// - Parameters:
    ///   - root: the object tree to write. Its `.tensor` leaves carry the OUTPUT dtype and shape;
    ///     the data written for each is contiguous (row-major) whatever its `strides` say.
    ///   - path: the target file; its directory must exist. An existing file is replaced
    ///     (keeping its permissions) only when the new one is complete.
    ///   - format: the container (see `OutputFormat(path:)`).
    ///   - progress: called after each storage's bytes are written, with the number of storages
    ///     written so far and the total.
    ///   - provide: returns one tensor's contiguous little-endian bytes in `entry.dtype`, exactly
    ///     `entry.byteCount` bytes (checked: anything else is `CheckpointWriterError.wrongByteCount`).
    ///     It receives the entry exactly as it appears in `root`. For torch zip output it is called
    ///     once per distinct storage: tensors that are exact aliases (same non-empty `storageKey`,
    ///     `storageOffset`, `shape`, `strides` and `dtype`, e.g. tied embedding and head weights)
    ///     are written once and stay tied (share one storage after `torch.load`); every other tensor
    ///     gets its own storage. Safetensors has no aliasing, so there it is called once per tensor.
    ///     An error it throws aborts the write and is rethrown unchanged.
    /// - Throws: `CheckpointWriterError` or the provider's error. On any error nothing is left at
    ///   `path` (an old file there is untouched) and the temporary file is removed.
    public static func write(root: Node, to path: String, format: OutputFormat,
                             progress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                             provide: (TensorEntry) throws -> [UInt8]) throws {
        try write(root: root, to: path, format: format, progress: progress, provideData: { .bytes(try provide($0)) })
    }

    /// Writes `root` like `write(root:to:format:progress:provide:)`, with each tensor's bytes in
    /// memory or as a span of an input file (`Checkpoint.span(of:)`), copied from the page cache
    /// with its zip record's CRC-32 checked on the way (a mismatch throws the reader's error).
    package static func write(root: Node, to path: String, format: OutputFormat,
                              progress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                              provideData: (TensorEntry) throws -> TensorData) throws {
        switch format {
        case .torchZip:
            try TorchZipWriter.write(root: root, to: path, progress: progress, provide: provideData)
        case .safetensors:
            try SafetensorsWriter.write(root: root, to: path, progress: progress, provide: provideData)
        }
    }

    /// The entries `write(root:to:format:progress:provide:)` will pass to `provide`, in the order
    /// it will pass them (one per storage record for torch zip, one per tensor for safetensors),
    /// so that a caller can prepare them ahead (the pipelined merge does).
    public static func provisionOrder(root: Node, path: String, format: OutputFormat) throws -> [TensorEntry] {
        switch format {
        case .torchZip: return try TorchZipWriter.plan(root: root, path: path).storages.map(\.entry)
        case .safetensors: return try SafetensorsWriter.plan(root: root, path: path).items.map(\.entry)
        }
    }

    /// Writes `root` to `path` in the format its extension names (see `OutputFormat(path:)`).
    public static func write(root: Node, to path: String,
                             progress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                             provide: (TensorEntry) throws -> [UInt8]) throws {
        try write(root: root, to: path, format: OutputFormat(path: path), progress: progress, provide: provide)
    }

    /// Re-writes an opened checkpoint unchanged (same tree, dtypes and values) as `format`.
    ///
    /// Non-contiguous views become contiguous storages; exact aliases stay tied in torch zip output.
    public static func write(_ checkpoint: Checkpoint, to path: String, format: OutputFormat,
                             progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws {
        try write(root: checkpoint.root, to: path, format: format, progress: progress) { entry in
            try checkpoint.bytes(of: entry)
        }
    }

    /// Checks a tensor leaf can be written: non-negative sizes, element and byte counts that fit.
    static func validate(_ entry: TensorEntry, name: String, path: String) throws {
        guard entry.shape.allSatisfy({ $0 >= 0 }) else {
            throw CheckpointWriterError.invalidTensor(path: path, tensor: name, reason: "negative size in shape \(entry.shape)")
        }
        var count = 1
        for size in entry.shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw CheckpointWriterError.invalidTensor(path: path, tensor: name, reason: "shape \(entry.shape) has too many elements")
            }
            count = product
        }
        guard !count.multipliedReportingOverflow(by: entry.dtype.itemSize).overflow else {
            throw CheckpointWriterError.invalidTensor(path: path, tensor: name, reason: "shape \(entry.shape) has too many bytes")
        }
    }

    /// Calls the provider and checks the byte count.
    static func data(of entry: TensorEntry, name: String, path: String,
                     provide: (TensorEntry) throws -> TensorData) throws -> TensorData {
        let bytes = try provide(entry)
        guard bytes.count == entry.byteCount else {
            throw CheckpointWriterError.wrongByteCount(path: path, tensor: name, expected: entry.byteCount, got: bytes.count)
        }
        return bytes
    }

    /// Depth-first walk of the tree's leaves with dotted paths, as the reader names them.
    static func forEachLeaf(_ node: Node, prefix: String = "", _ body: (String, Node) throws -> Void) rethrows {
        func join(_ component: String) -> String { prefix.isEmpty ? component : prefix + "." + component }
        switch node {
        case .dict(let items, _):
            for item in items { try forEachLeaf(item.value, prefix: join(item.key.pathComponent), body) }
        case .list(let items), .tuple(let items):
            for (i, item) in items.enumerated() { try forEachLeaf(item, prefix: join(String(i)), body) }
        default:
            try body(prefix, node)
        }
    }
}
