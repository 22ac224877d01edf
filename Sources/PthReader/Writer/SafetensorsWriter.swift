import Foundation

/// Writes the safetensors format: an 8-byte little-endian header length, a JSON header padded
/// with spaces so that the data starts at a multiple of 64 bytes (the spec's 8, and a cache
/// line), then every tensor's bytes back to back, written through `ChunkedOutput` (512 KiB writes
/// into the atomic temporary file; a `FileSpan` of an input file is copied from the page cache,
/// its zip record's CRC-32 checked on the way).
///
/// Like the `safetensors` library, tensors are laid out by decreasing element size, then by name,
/// so every tensor's data is aligned to its element size; header keys are in UTF-8 byte order
/// (`SafetensorsHeader`). Non-tensor leaves go into `__metadata__` as text, by dotted name, with
/// `"format": "pt"` added (what `safetensors.torch.save_file` callers and `transformers` expect)
/// unless a leaf is named `format`.
enum SafetensorsWriter {
    /// Where the data section starts: a multiple of this many bytes.
    static let dataAlignment = 64

    struct Item {
        var name: String
        var entry: TensorEntry
    }

    /// How the reader names a safetensors file's metadata entries (`__metadata__.format`).
    static let metadataPrefix = "__metadata__."

    /// The tensors in the order their data is laid out (and asked for), and the metadata.
    static func plan(root: Node, path: String) throws -> (items: [Item], metadata: [(key: String, value: String)]) {
        var items: [Item] = []
        var metadata: [(key: String, value: String)] = []
        var keys = Set<String>()
        var names = Set<String>()
        try CheckpointWriter.forEachLeaf(root) { leafPath, node in
            if case .tensor(let entry) = node {
                let name = entry.name.isEmpty ? leafPath : entry.name
                try CheckpointWriter.validate(entry, name: name, path: path)
                guard name != "__metadata__", names.insert(name).inserted else {
                    throw CheckpointWriterError.duplicateName(path: path, name: name)
                }
                items.append(Item(name: name, entry: entry))
            } else {
                // A safetensors file read back names its metadata `__metadata__.<key>`: write it under
                // `<key>` again, so that a round trip keeps the keys (and `safetensors.torch.load_model`
                // still finds what it stored there).
                let key = leafPath.hasPrefix(metadataPrefix) ? String(leafPath.dropFirst(metadataPrefix.count)) : leafPath
                guard keys.insert(key).inserted else { throw CheckpointWriterError.duplicateName(path: path, name: key) }
                metadata.append((key, text(of: node)))
            }
        }
        if keys.insert("format").inserted { metadata.append(("format", "pt")) }
        // Stable order: larger elements first, then by name (the safetensors library's layout).
        items.sort { ($0.entry.dtype.itemSize, $1.name) > ($1.entry.dtype.itemSize, $0.name) }
        return (items, metadata)
    }

    static func write(root: Node, to path: String, progress: ((Int, Int) -> Void)?,
                      provide: (TensorEntry) throws -> TensorData) throws {
        let (items, metadata) = try plan(root: root, path: path)

        var tensors: [SafetensorsHeader.Tensor] = []
        tensors.reserveCapacity(items.count)
        var offset = 0
        for item in items {
            let (end, overflow) = offset.addingReportingOverflow(item.entry.byteCount)
            guard !overflow else {
                throw CheckpointWriterError.invalidTensor(path: path, tensor: item.name, reason: "the tensors up to this one hold more than 2^63 bytes")
            }
            tensors.append(.init(name: item.name, dtype: item.entry.dtype.safetensorsName, shape: item.entry.shape, start: offset, end: end))
            offset = end
        }
        var json = SafetensorsHeader.json(metadata: metadata, tensors: tensors)
        // Spaces up to a data start at a multiple of 64 (the spec asks for 8): the tensors copied
        // from a torch zip, whose records start at multiples of 64, then keep their place in a
        // cache line, and the kernel's copy into the page cache runs at full speed. With source
        // and destination 8 or 16 bytes apart modulo 64 it took 1.7-2x as long (751 MB, this
        // machine; docs/PERFORMANCE.md, "Where the output's bytes land").
        while (8 + json.count) % Self.dataAlignment != 0 { json.append(0x20) }

        let file = try AtomicOutputFile(target: path)
        let output = try ChunkedOutput(file: file)
        try output.reserve(offset.addingReportingOverflow(8 + json.count).overflow ? Int.max : offset + 8 + json.count)
        try withUnsafeBytes(of: UInt64(json.count).littleEndian) { try output.write($0) }
        try json.withUnsafeBytes { try output.write($0) }
        for (i, item) in items.enumerated() {
            switch try CheckpointWriter.data(of: item.entry, name: item.name, path: path, provide: provide) {
            case .bytes(let bytes): try bytes.withUnsafeBytes { try output.write($0) }
            case .span(let span): try output.copy(span, hashing: false)
            }
            progress?(i + 1, items.count)
        }
        try output.commit()
    }

    /// A metadata value as text, the way Python's `str` shows it.
    static func text(of node: Node) -> String {
        switch node {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bigInt(let s): return s
        case .double(let d):
            if d.isNaN { return "nan" }
            if d.isInfinite { return d < 0 ? "-inf" : "inf" }
            return String(d)
        case .bool(let b): return b ? "True" : "False"
        case .none: return "None"
        case .dtype(let d): return "torch." + d.rawValue
        case .device(let s): return s
        case .size(let dims): return "torch.Size([" + dims.map(String.init).joined(separator: ", ") + "])"
        case .bytes(let raw):
            return "b'" + raw.map { byte -> String in
                switch byte {
                case 0x5C: return "\\\\"
                case 0x27: return "\\'"
                case 0x20..<0x7F: return String(UnicodeScalar(byte))
                default: return "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
                }
            }.joined() + "'"
        case .dict(let items, _) where items.isEmpty: return "{}"
        case .list(let items) where items.isEmpty: return "[]"
        case .tuple(let items) where items.isEmpty: return "()"
        default: return ""
        }
    }
}
