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

/// A metadata value as `GGUFWriter` writes it: a value held in memory, or an array whose elements
/// are produced one at a time while the header is written (a tokenizer's tokens, types and merges),
/// so that no second copy of a large array is built.
public enum GGUFMetadataValue {
    case value(GGUFValue)
    case strings(count: Int, element: (Int) throws -> String)
    case int32s(count: Int, element: (Int) throws -> Int32)

    /// The value of a `.value`, nil for a produced array.
    public var value: GGUFValue? {
        if case .value(let v) = self { return v }
        return nil
    }
}

/// One tensor's bytes as `GGUFWriter` asks for them: held in memory, or produced piece by piece
/// (each piece written and dropped) so that no whole encoded copy of a large tensor is built.
public enum GGUFTensorData {
    case bytes([UInt8])
    /// Calls its argument with consecutive pieces of the tensor's bytes, in order.
    case pieces((_ emit: ([UInt8]) throws -> Void) throws -> Void)
}

/// Writes GGUF version 3 files (little-endian): header, metadata, tensor infos, then every tensor's
/// data at a multiple of the alignment (32 bytes unless `general.alignment` says otherwise).
///
/// Streams: the header goes to the file in 512 KiB pieces as it is encoded (`ChunkedOutput`), arrays
/// given as `GGUFMetadataValue.strings`/`.int32s` element by element; tensor bytes are asked for one
/// at a time, written and dropped. Atomic: the file is written beside the target and renamed over it
/// only when complete (`AtomicOutputFile`, which also removes temporaries a killed run left).
public enum GGUFWriter {
    public static let magic: [UInt8] = Array("GGUF".utf8)
    public static let version: UInt32 = 3
    public static let defaultAlignment = 32

    /// Writes `metadata` and `tensors` to `path`; `provide(i)` returns tensor `i`'s bytes in its type
    /// (exactly `tensors[i].byteCount` of them, checked).
    public static func write(to path: String, metadata: [(key: String, value: GGUFValue)], tensors: [GGUFTensorInfo],
                             progress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                             provide: (Int) throws -> [UInt8]) throws {
        try write(to: path, entries: metadata.map { ($0.key, GGUFMetadataValue.value($0.value)) }, tensors: tensors,
                  progress: progress, provide: provide)
    }

    /// Writes `entries` (values or produced arrays) and `tensors` to `path`, as `write(to:metadata:...)`.
    public static func write(to path: String, entries metadata: [(key: String, value: GGUFMetadataValue)], tensors: [GGUFTensorInfo],
                             progress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                             provide: (Int) throws -> [UInt8]) throws {
        try write(to: path, entries: metadata, tensors: tensors, progress: progress, provideData: { .bytes(try provide($0)) })
    }

    /// Writes `entries` and `tensors` to `path`; `provideData(i)` gives tensor `i`'s bytes in memory
    /// or in pieces (exactly `tensors[i].byteCount` of them in all, checked as they come).
    public static func write(to path: String, entries metadata: [(key: String, value: GGUFMetadataValue)], tensors: [GGUFTensorInfo],
                             progress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                             provideData: (Int) throws -> GGUFTensorData) throws {
        var alignment = defaultAlignment
        if let value = metadata.first(where: { $0.key == "general.alignment" })?.value.value?.intValue {
            guard value > 0, value % 8 == 0 else {
                throw CheckpointWriterError.unsupportedValue(path: path, reason: "general.alignment \(value) must be a positive multiple of 8")
            }
            alignment = value
        }
        for (key, entry) in metadata {
            if let value = entry.value, !value.isWellTyped {
                throw CheckpointWriterError.unsupportedValue(path: path, reason: "metadata '\(key)': an array holds values of another type than it declares")
            }
        }
        var keys = Set<String>()
        for (key, _) in metadata where !keys.insert(key).inserted { throw CheckpointWriterError.duplicateName(path: path, name: key) }
        var names = Set<String>()
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
            // Checked: a caller's shape may not fit `Int` (`elementCount` and `byteCount` would trap).
            var elements = 1, overflow = false
            for size in t.shape where !overflow { (elements, overflow) = elements.multipliedReportingOverflow(by: size) }
            let (bytes, o1) = (elements / t.type.blockSize).multipliedReportingOverflow(by: t.type.blockBytes)
            let (end, o2) = offset.addingReportingOverflow(bytes)
            let (padded, o3) = end.addingReportingOverflow(alignment - 1)
            guard !(overflow || o1 || o2 || o3) else {
                throw CheckpointWriterError.invalidTensor(path: path, tensor: t.name, reason: "the tensors up to this one hold more than 2^63 bytes")
            }
            offsets.append(offset)
            offset = padded - padded % alignment
        }

        let output = try AtomicOutputFile(target: path)
        let out = try ChunkedOutput(file: output)
        // The tensor data; the header's size is not known before it is encoded.
        try out.reserve(offset)
        let header = GGUFEncoder(out: out)
        try header.append(magic)
        try header.append(version)
        try header.append(UInt64(tensors.count))
        try header.append(UInt64(metadata.count))
        for (key, entry) in metadata {
            try header.append(string: key)
            switch entry {
            case .value(let value):
                try header.append(value.type.rawValue)
                try header.append(value: value)
            case .strings(let count, let element):
                try header.append(GGUFValueType.array.rawValue)
                try header.append(GGUFValueType.string.rawValue)
                try header.append(UInt64(count))
                for i in 0..<count { try header.append(string: try element(i)) }
            case .int32s(let count, let element):
                try header.append(GGUFValueType.array.rawValue)
                try header.append(GGUFValueType.int32.rawValue)
                try header.append(UInt64(count))
                for i in 0..<count { try header.append(try element(i)) }
            }
        }
        for (t, offset) in zip(tensors, offsets) {
            try header.append(string: t.name)
            try header.append(UInt32(t.shape.count))
            for size in t.shape.reversed() { try header.append(UInt64(size)) }
            try header.append(t.type.rawValue)
            try header.append(UInt64(offset))
        }
        let zeros = [UInt8](repeating: 0, count: alignment)
        func pad(_ count: Int) throws {
            let pad = (alignment - count % alignment) % alignment
            if pad > 0 { try zeros.withUnsafeBytes { try out.write(UnsafeRawBufferPointer(rebasing: $0[..<pad])) } }
        }
        try pad(out.offset)
        for (i, t) in tensors.enumerated() {
            var written = 0
            switch try provideData(i) {
            case .bytes(let bytes):
                guard bytes.count == t.byteCount else {
                    throw CheckpointWriterError.wrongByteCount(path: path, tensor: t.name, expected: t.byteCount, got: bytes.count)
                }
                try out.write(bytes)
                written = bytes.count
            case .pieces(let produce):
                try produce { piece in
                    guard written + piece.count <= t.byteCount else {
                        throw CheckpointWriterError.wrongByteCount(path: path, tensor: t.name, expected: t.byteCount, got: written + piece.count)
                    }
                    try out.write(piece)
                    written += piece.count
                }
                guard written == t.byteCount else {
                    throw CheckpointWriterError.wrongByteCount(path: path, tensor: t.name, expected: t.byteCount, got: written)
                }
            }
            try pad(written)
            progress?(i + 1, tensors.count)
        }
        try out.commit()
    }
}

/// Little-endian GGUF encoding straight into the output.
struct GGUFEncoder {
    let out: ChunkedOutput

    func append(_ raw: [UInt8]) throws { try out.write(raw) }

    func append<T: FixedWidthInteger>(_ value: T) throws {
        try withUnsafeBytes(of: value.littleEndian) { try out.write($0) }
    }

    func append(string: String) throws {
        var text = string
        try text.withUTF8 { utf8 in
            try append(UInt64(utf8.count))
            try out.write(UnsafeRawBufferPointer(utf8))
        }
    }

    func append(value: GGUFValue) throws {
        switch value {
        case .uint8(let v): try append(v)
        case .int8(let v): try append(v)
        case .uint16(let v): try append(v)
        case .int16(let v): try append(v)
        case .uint32(let v): try append(v)
        case .int32(let v): try append(v)
        case .float32(let v): try append(v.bitPattern)
        case .bool(let v): try append(UInt8(v ? 1 : 0))
        case .string(let s): try append(string: s)
        case .array(let type, let items):
            try append(type.rawValue)
            try append(UInt64(items.count))
            for item in items { try append(value: item) }
        case .uint64(let v): try append(v)
        case .int64(let v): try append(v)
        case .float64(let v): try append(v.bitPattern)
        }
    }
}
