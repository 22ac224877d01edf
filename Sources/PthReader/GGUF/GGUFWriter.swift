import Foundation

/// One tensor to write into a GGUF file: its name, torch-order shape and element type.
public struct GGUFTensorInfo: Sendable, Equatable {
    public var name: String
    /// Torch-order shape (`[rows, columns]`); the file stores it reversed (ggml's `ne`, innermost first).
    public var shape: [Int]
    public var type: GGUFTensorType
    /// Offset of the data from the start of the data section (set by the reader; the writer computes it).
    public var offset: Int

    public init(name: String, shape: [Int], type: GGUFTensorType, offset: Int = 0) {
        self.name = name
        self.shape = shape
        self.type = type
        self.offset = offset
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { type.byteCount(elements: elementCount) }
}

/// Writes GGUF version 3 files (little-endian): header, metadata, tensor infos, then every tensor's
/// data at a multiple of the alignment (32 bytes unless `general.alignment` says otherwise).
///
/// Streams: tensor bytes are asked for one at a time, written and dropped. Atomic: the file is
/// written beside the target and renamed over it only when complete.
public enum GGUFWriter {
    public static let magic: [UInt8] = Array("GGUF".utf8)
    public static let version: UInt32 = 3
    public static let defaultAlignment = 32

    /// Writes `metadata` and `tensors` to `path`; `provide(i)` returns tensor `i`'s bytes in its type
    /// (exactly `tensors[i].byteCount` of them, checked).
    public static func write(to path: String, metadata: [(key: String, value: GGUFValue)], tensors: [GGUFTensorInfo],
                             progress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                             provide: (Int) throws -> [UInt8]) throws {
        var alignment = defaultAlignment
        if let value = metadata.first(where: { $0.key == "general.alignment" })?.value.intValue {
            guard value > 0, value % 8 == 0 else {
                throw CheckpointWriterError.unsupportedValue(path: path, reason: "general.alignment \(value) must be a positive multiple of 8")
            }
            alignment = value
        }
        for (key, value) in metadata where !value.isWellTyped {
            throw CheckpointWriterError.unsupportedValue(path: path, reason: "metadata '\(key)': an array holds values of another type than it declares")
        }
        var keys = Set<String>()
        for (key, _) in metadata where !keys.insert(key).inserted { throw CheckpointWriterError.duplicateName(path: path, name: key) }
        var names = Set<String>()
        var header = ByteBuffer()
        header.append(magic)
        header.append(version)
        header.append(UInt64(tensors.count))
        header.append(UInt64(metadata.count))
        for (key, value) in metadata {
            header.append(string: key)
            header.append(value.type.rawValue)
            header.append(value: value)
        }
        var offsets: [Int] = []
        var offset = 0
        for t in tensors {
            guard names.insert(t.name).inserted else { throw CheckpointWriterError.duplicateName(path: path, name: t.name) }
            guard !t.shape.isEmpty, t.shape.count <= 4, t.shape.allSatisfy({ $0 > 0 }) else {
                throw CheckpointWriterError.invalidTensor(path: path, tensor: t.name, reason: "GGUF holds 1 to 4 dimensions of positive size, not \(t.shape)")
            }
            guard t.shape.last! % t.type.blockSize == 0 else {
                throw CheckpointWriterError.invalidTensor(path: path, tensor: t.name, reason: "rows of \(t.shape.last!) are not whole \(t.type.name) blocks of \(t.type.blockSize)")
            }
            header.append(string: t.name)
            header.append(UInt32(t.shape.count))
            for size in t.shape.reversed() { header.append(UInt64(size)) }
            header.append(t.type.rawValue)
            header.append(UInt64(offset))
            offsets.append(offset)
            offset += t.byteCount
            offset += (alignment - offset % alignment) % alignment
        }
        header.pad(to: alignment)

        let output = try AtomicOutputFile(target: path)
        _ = try output.openForWriting()
        try header.bytes.withUnsafeBytes { try output.write($0) }
        let zeros = [UInt8](repeating: 0, count: alignment)
        for (i, t) in tensors.enumerated() {
            let bytes = try provide(i)
            guard bytes.count == t.byteCount else {
                throw CheckpointWriterError.wrongByteCount(path: path, tensor: t.name, expected: t.byteCount, got: bytes.count)
            }
            try bytes.withUnsafeBytes { try output.write($0) }
            let pad = (alignment - bytes.count % alignment) % alignment
            if pad > 0 { try zeros.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[..<pad])) } }
            progress?(i + 1, tensors.count)
        }
        try output.commit()
    }
}

/// A growing little-endian byte buffer for the GGUF header.
struct ByteBuffer {
    var bytes: [UInt8] = []

    mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(string: String) {
        let utf8 = Array(string.utf8)
        append(UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func append(value: GGUFValue) {
        switch value {
        case .uint8(let v): append(v)
        case .int8(let v): append(v)
        case .uint16(let v): append(v)
        case .int16(let v): append(v)
        case .uint32(let v): append(v)
        case .int32(let v): append(v)
        case .float32(let v): append(v.bitPattern)
        case .bool(let v): append(UInt8(v ? 1 : 0))
        case .string(let s): append(string: s)
        case .array(let type, let items):
            append(type.rawValue)
            append(UInt64(items.count))
            for item in items { append(value: item) }
        case .uint64(let v): append(v)
        case .int64(let v): append(v)
        case .float64(let v): append(v.bitPattern)
        }
    }

    mutating func pad(to alignment: Int) {
        let pad = (alignment - bytes.count % alignment) % alignment
        bytes.append(contentsOf: [UInt8](repeating: 0, count: pad))
    }
}
