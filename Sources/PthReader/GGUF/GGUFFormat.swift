import Foundation

/// A GGUF file's header: version, metadata and tensor table, with the data section's position.
public struct GGUFFile: Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [(key: String, value: GGUFValue)]
    /// Tensors in file order, shapes in torch order, offsets relative to `dataStart`.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute file offset of the data section.
    public let dataStart: Int

    /// The value of a metadata key.
    public func value(_ key: String) -> GGUFValue? { metadata.first { $0.key == key }?.value }
}

/// Reader for GGUF files (versions 2 and 3, little-endian): every count, length and offset is
/// checked against the file before it is used.
enum GGUFFormat {
    /// Whether the first bytes are GGUF's magic.
    static func matches(_ head: [UInt8]) -> Bool { head.starts(with: GGUFWriter.magic) }

    /// Parses the header of a GGUF file.
    static func parse(path: String, file: FileSource) throws -> GGUFFile {
        var cursor = Cursor(path: path, file: file)
        _ = try cursor.bytes(4)
        let version: UInt32 = try cursor.read()
        if version == 0x0300_0000 || version == 0x0200_0000 {
            throw PthReaderError.unrecognizedFormat(path: path, reason: "a big-endian GGUF file, which is not supported")
        }
        guard version == 2 || version == 3 else {
            throw PthReaderError.unrecognizedFormat(path: path, reason: "GGUF version \(version) (versions 2 and 3 are supported)")
        }
        let tensorCount = try cursor.count(minimumBytesEach: 24, what: "tensor count")
        let kvCount = try cursor.count(minimumBytesEach: 13, what: "metadata count")
        var metadata: [(String, GGUFValue)] = []
        for _ in 0..<kvCount {
            let key = try cursor.string()
            let raw: UInt32 = try cursor.read()
            guard let type = GGUFValueType(rawValue: raw) else {
                throw PthReaderError.malformed(path: path, entry: key, reason: "unknown metadata value type \(raw)")
            }
            metadata.append((key, try cursor.value(of: type, context: key, depth: 0)))
        }
        var alignment = GGUFWriter.defaultAlignment
        if let value = metadata.first(where: { $0.0 == "general.alignment" })?.1 {
            guard let a = value.intValue, a > 0, a & (a - 1) == 0, a <= 1 << 20 else {
                throw PthReaderError.malformed(path: path, entry: "general.alignment", reason: "alignment must be a power of two")
            }
            alignment = a
        }
        var tensors: [GGUFTensorInfo] = []
        var names = Set<String>()
        for _ in 0..<tensorCount {
            let name = try cursor.string()
            guard names.insert(name).inserted else { throw PthReaderError.malformed(path: path, entry: name, reason: "tensor name occurs twice") }
            let dimensions: UInt32 = try cursor.read()
            guard (1...4).contains(dimensions) else {
                throw PthReaderError.malformed(path: path, entry: name, reason: "\(dimensions) dimensions (GGUF has 1 to 4)")
            }
            var ne: [Int] = []
            for _ in 0..<dimensions {
                let size: UInt64 = try cursor.read()
                guard size > 0, size < 1 << 40 else { throw PthReaderError.malformed(path: path, entry: name, reason: "dimension of size \(size)") }
                ne.append(Int(size))
            }
            let rawType: UInt32 = try cursor.read()
            guard let type = GGUFTensorType(rawValue: rawType) else {
                throw PthReaderError.unsupportedDType(path: path, entry: name, type: GGUFTensorType.ggmlName(rawType))
            }
            let offset: UInt64 = try cursor.read()
            guard ne[0] % type.blockSize == 0 else {
                throw PthReaderError.malformed(path: path, entry: name, reason: "rows of \(ne[0]) are not whole \(type.name) blocks")
            }
            var count = 1
            for size in ne {
                let (product, overflow) = count.multipliedReportingOverflow(by: size)
                guard !overflow, product < 1 << 50 else { throw PthReaderError.malformed(path: path, entry: name, reason: "shape overflows") }
                count = product
            }
            guard offset % UInt64(alignment) == 0, offset < UInt64(file.size) else {
                throw PthReaderError.malformed(path: path, entry: name, reason: "data offset \(offset) is not aligned or lies past the file")
            }
            tensors.append(GGUFTensorInfo(name: name, shape: ne.reversed(), type: type, offset: Int(offset)))
        }
        let dataStart = (cursor.position + alignment - 1) / alignment * alignment
        for t in tensors {
            guard dataStart + t.offset + t.byteCount <= file.size else {
                throw PthReaderError.malformed(path: path, entry: t.name, reason: "data needs bytes up to \(dataStart + t.offset + t.byteCount) but the file has \(file.size)")
            }
        }
        return GGUFFile(path: path, version: version, metadata: metadata, tensors: tensors, alignment: alignment, dataStart: dataStart)
    }

    /// Opens a GGUF file as a checkpoint: one tensor per GGUF tensor under its GGUF name, shapes in
    /// torch order; f32/f16/bf16 as stored, q8_0 dequantized to float32 when read.
    static func read(path: String, file: FileSource) throws -> Checkpoint {
        let gguf = try parse(path: path, file: file)
        var items: [DictItem] = []
        var storages: [String: StorageLocation] = [:]
        for t in gguf.tensors {
            let key = t.name
            let start = gguf.dataStart + t.offset
            let dtype: DType
            if let plain = t.type.dtype {
                dtype = plain
                storages[key] = StorageLocation(source: file, offset: start, byteCount: t.byteCount, dtype: plain)
            } else {
                dtype = .float32
                storages[key] = StorageLocation(source: Q8_0Source(file: file, offset: start, blockCount: t.elementCount / Q8_0.blockSize),
                                                offset: 0, byteCount: t.elementCount * 4, dtype: .float32)
            }
            let entry = TensorEntry(name: t.name, dtype: dtype, shape: t.shape, strides: TensorEntry.contiguousStrides(for: t.shape),
                                    storageOffset: 0, storageKey: key)
            items.append(DictItem(key: .string(t.name), value: .tensor(entry)))
        }
        return try Checkpoint(path: path, format: .gguf, root: .dict(items, ordered: true), storages: storages, gguf: gguf)
    }

    /// Bounds-checked sequential reads of the header.
    struct Cursor {
        let path: String
        let file: FileSource
        var position = 0

        mutating func bytes(_ count: Int) throws -> [UInt8] {
            guard count >= 0, count <= file.size - position else {
                throw PthReaderError.malformed(path: path, entry: "header", reason: "needs \(count) bytes at \(position) but the file has \(file.size)")
            }
            let out = try file.bytes(offset: position, count: count, context: "GGUF header")
            position += count
            return out
        }

        mutating func read<T: FixedWidthInteger>() throws -> T {
            let raw = try bytes(MemoryLayout<T>.size)
            return raw.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(as: T.self)) }
        }

        /// A u64 count, refused when that many items of `minimumBytesEach` cannot fit in the rest of the file.
        mutating func count(minimumBytesEach: Int, what: String) throws -> Int {
            let n: UInt64 = try read()
            guard n <= UInt64((file.size - position) / max(1, minimumBytesEach)) else {
                throw PthReaderError.malformed(path: path, entry: "header", reason: "\(what) \(n) cannot fit in the \(file.size)-byte file")
            }
            return Int(n)
        }

        mutating func string() throws -> String {
            let length = try count(minimumBytesEach: 1, what: "string length")
            let raw = try bytes(length)
            // Tokens may hold any UTF-8 (NUL included); an invalid sequence is decoded with replacement.
            return String(validating: raw, as: UTF8.self) ?? String(decoding: raw, as: UTF8.self)
        }

        mutating func value(of type: GGUFValueType, context: String, depth: Int) throws -> GGUFValue {
            switch type {
            case .uint8: return .uint8(try read())
            case .int8: return .int8(try read())
            case .uint16: return .uint16(try read())
            case .int16: return .int16(try read())
            case .uint32: return .uint32(try read())
            case .int32: return .int32(try read())
            case .float32: return .float32(Float(bitPattern: try read()))
            case .bool:
                let b: UInt8 = try read()
                guard b <= 1 else { throw PthReaderError.malformed(path: path, entry: context, reason: "bool value \(b)") }
                return .bool(b == 1)
            case .string: return .string(try string())
            case .uint64: return .uint64(try read())
            case .int64: return .int64(try read())
            case .float64: return .float64(Double(bitPattern: try read()))
            case .array:
                guard depth < 4 else { throw PthReaderError.malformed(path: path, entry: context, reason: "arrays nested too deeply") }
                let raw: UInt32 = try read()
                guard let element = GGUFValueType(rawValue: raw) else {
                    throw PthReaderError.malformed(path: path, entry: context, reason: "unknown array element type \(raw)")
                }
                let n = try count(minimumBytesEach: element.fixedSize ?? 8, what: "array length")
                var items: [GGUFValue] = []
                items.reserveCapacity(n)
                for _ in 0..<n { items.append(try value(of: element, context: context, depth: depth + 1)) }
                return .array(element, items)
            }
        }
    }
}

/// q8_0 blocks in a file presented as float32 bytes: reading a range dequantizes the blocks it covers.
final class Q8_0Source: ByteSource, @unchecked Sendable {
    // Sendable: all stored properties are immutable after init; FileSource is itself Sendable.
    let file: FileSource
    let offset: Int
    let blockCount: Int

    init(file: FileSource, offset: Int, blockCount: Int) {
        self.file = file
        self.offset = offset
        self.blockCount = blockCount
    }

    func read(offset byteOffset: Int, into buffer: UnsafeMutableRawBufferPointer, context: String) throws {
        let total = blockCount * Q8_0.blockSize * 4
        guard byteOffset >= 0, buffer.count <= total - byteOffset else {
            throw PthReaderError.malformed(path: file.path, entry: context, reason: "read past the end of a q8_0 tensor")
        }
        guard buffer.count > 0 else { return }
        let firstElement = byteOffset / 4, endElement = (byteOffset + buffer.count + 3) / 4
        let firstBlock = firstElement / Q8_0.blockSize, endBlock = (endElement + Q8_0.blockSize - 1) / Q8_0.blockSize
        let raw = try file.bytes(offset: offset + firstBlock * Q8_0.blockBytes, count: (endBlock - firstBlock) * Q8_0.blockBytes, context: context)
        var floats = [Float](repeating: 0, count: (endBlock - firstBlock) * Q8_0.blockSize)
        raw.withUnsafeBytes { src in
            floats.withUnsafeMutableBufferPointer { Q8_0.dequantize(src.baseAddress!, blockCount: endBlock - firstBlock, into: $0.baseAddress!) }
        }
        floats.withUnsafeBytes { all in
            let start = byteOffset - firstBlock * Q8_0.blockSize * 4
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: all[start..<(start + buffer.count)]))
        }
    }

    /// The largest quantization step of the tensor and the root mean square of its steps.
    func steps() throws -> (largest: Float, rms: Float) {
        let raw = try file.bytes(offset: offset, count: blockCount * Q8_0.blockBytes, context: "q8_0 scales")
        return raw.withUnsafeBytes { Q8_0.steps($0.baseAddress!, blockCount: blockCount) }
    }
}
