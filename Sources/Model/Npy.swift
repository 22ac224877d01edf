import Foundation
import PthReader

/// Errors reading or writing NumPy `.npy` files; each names the file.
public enum NpyError: Error, CustomStringConvertible, Equatable {
    /// The file does not start with the `\x93NUMPY` magic string.
    case notNpy(path: String)
    /// The header is cut short or is not the dictionary NumPy writes.
    case malformedHeader(path: String, reason: String)
    /// The array's element type is not one this reader handles.
    case unsupportedDType(path: String, descr: String)
    /// Fortran (column-major) order is not supported.
    case fortranOrder(path: String)
    /// The data section is shorter than the shape requires.
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    /// The array holds a different element type than the caller asked for.
    case wrongKind(path: String, expected: String, found: String)
    /// Reading or writing the file failed.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .notNpy(let path): return "\(path): not a NumPy .npy file (missing \\x93NUMPY magic)"
        case .malformedHeader(let path, let reason): return "\(path): malformed .npy header: \(reason)"
        case .unsupportedDType(let path, let descr): return "\(path): unsupported .npy dtype '\(descr)' (expected <f4, <f8, <i8 or <i4)"
        case .fortranOrder(let path): return "\(path): Fortran-ordered .npy arrays are not supported"
        case .truncated(let path, let expected, let actual): return "\(path): .npy data is truncated: need \(expected) bytes, found \(actual)"
        case .wrongKind(let path, let expected, let found): return "\(path): expected \(expected) values, found \(found) values"
        case .io(let path, let reason): return "\(path): \(reason)"
        }
    }
}

/// A small reader and writer for NumPy `.npy` files holding float32 or int64 arrays (C order, little-endian).
///
/// Reading also accepts `<f8` (narrowed to float32) and `<i4` (widened to int64), which NumPy
/// produces by default on some platforms. Writing always produces format version 1.0.
public enum Npy {
    /// One array read from a `.npy` file.
    public enum Array: Equatable, Sendable {
        case float32(shape: [Int], values: [Float])
        case int64(shape: [Int], values: [Int64])

        /// The array's dimensions.
        public var shape: [Int] {
            switch self {
            case .float32(let shape, _), .int64(let shape, _): return shape
            }
        }
    }

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] // \x93NUMPY

    // MARK: Reading

    /// Reads a `.npy` file.
    public static func read(path: String) throws -> Array {
        let data: Data
        do { data = try RegularFile.read(path, limit: Int.max) } catch {
            throw NpyError.io(path: path, reason: "cannot read file (\(error))")
        }
        return try decode([UInt8](data), path: path)
    }

    /// Reads a float32 (or float64) `.npy` file as a `Tensor`.
    public static func readTensor(path: String) throws -> Tensor {
        switch try read(path: path) {
        case .float32(let shape, let values): return Tensor(shape: shape, data: values)
        case .int64: throw NpyError.wrongKind(path: path, expected: "float", found: "integer")
        }
    }

    /// Reads an integer `.npy` file (any shape) as a flat list of values.
    public static func readInt64(path: String) throws -> (shape: [Int], values: [Int64]) {
        switch try read(path: path) {
        case .int64(let shape, let values): return (shape, values)
        case .float32: throw NpyError.wrongKind(path: path, expected: "integer", found: "float")
        }
    }

    /// A `.npy` array of any little-endian element type, its data kept as raw bytes.
    public struct RawArray: Equatable, Sendable {
        /// NumPy's type string (`<f2`, `|b1`, ...).
        public var descr: String
        public var shape: [Int]
        /// The row-major element bytes.
        public var bytes: [UInt8]

        /// The checkpoint dtype with the same element layout, nil when there is none.
        public var dtype: DType? {
            switch descr {
            case "<f4", "|f4": return .float32
            case "<f2": return .float16
            case "<f8": return .float64
            case "<i8": return .int64
            case "<i4": return .int32
            case "<i2": return .int16
            case "|i1": return .int8
            case "|u1": return .uint8
            case "|b1": return .bool
            default: return nil
            }
        }
    }

    /// Decodes a `.npy` file's header and returns its data bytes as they are.
    public static func decodeRaw(_ bytes: [UInt8], path: String = "<memory>") throws -> RawArray {
        let (descr, shape, count, dataStart) = try header(of: bytes, path: path)
        guard let dtype = RawArray(descr: descr, shape: shape, bytes: []).dtype else {
            throw NpyError.unsupportedDType(path: path, descr: descr)
        }
        let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
        guard !overflow else { throw NpyError.malformedHeader(path: path, reason: "shape \(shape) is too large") }
        guard bytes.count - dataStart >= needed else { throw NpyError.truncated(path: path, expectedBytes: needed, actualBytes: bytes.count - dataStart) }
        return RawArray(descr: descr, shape: shape, bytes: Swift.Array(bytes[dataStart..<(dataStart + needed)]))
    }

    /// Parses the magic, version and header dict: the type string, shape, element count and data offset.
    private static func header(of bytes: [UInt8], path: String) throws -> (descr: String, shape: [Int], count: Int, dataStart: Int) {
        guard bytes.count >= 10, Swift.Array(bytes[0..<6]) == magic else { throw NpyError.notNpy(path: path) }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw NpyError.malformedHeader(path: path, reason: "file ends inside the header length") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw NpyError.malformedHeader(path: path, reason: "unknown format version \(major)")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw NpyError.malformedHeader(path: path, reason: "header length \(headerLength) runs past the end of the file")
        }
        guard let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw NpyError.malformedHeader(path: path, reason: "header is not text")
        }
        let parsed = try parseHeader(header, path: path)
        if parsed.fortranOrder { throw NpyError.fortranOrder(path: path) }
        return (parsed.descr, parsed.shape, try elementCount(parsed.shape, path: path), headerStart + headerLength)
    }

    /// Decodes the bytes of a float (`<f4`, `<f8`) or integer (`<i8`, `<i4`) `.npy` file; `path` is used only in error messages.
    public static func decode(_ bytes: [UInt8], path: String = "<memory>") throws -> Array {
        let raw = try decodeRaw(bytes, path: path)
        guard let dtype = raw.dtype, [.float32, .float64, .int64, .int32].contains(dtype) else {
            throw NpyError.unsupportedDType(path: path, descr: raw.descr)
        }
        let count = raw.bytes.count / dtype.itemSize
        if dtype.isFloatingPoint {
            var values = [Float](repeating: 0, count: count)
            if count > 0 { raw.bytes.withUnsafeBytes { dtype.decodeFloats(from: $0.baseAddress!, count: count, into: &values) } }
            return .float32(shape: raw.shape, values: values)
        }
        let values: [Int64] = raw.bytes.withUnsafeBytes { src in
            (0..<count).map { i in
                dtype == .int64 ? Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                                : Int64(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
            }
        }
        return .int64(shape: raw.shape, values: values)
    }

    private static func elementCount(_ shape: [Int], path: String) throws -> Int {
        var count = 1
        for d in shape {
            guard d >= 0 else { throw NpyError.malformedHeader(path: path, reason: "negative dimension in shape \(shape)") }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw NpyError.malformedHeader(path: path, reason: "shape \(shape) is too large") }
            count = p
        }
        return count
    }

    /// Parses the Python dict literal NumPy writes: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    static func parseHeader(_ header: String, path: String) throws -> (descr: String, fortranOrder: Bool, shape: [Int]) {
        func value(after key: String) throws -> Substring {
            guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else {
                throw NpyError.malformedHeader(path: path, reason: "no '\(key)' entry")
            }
            guard let colon = header[keyRange.upperBound...].firstIndex(of: ":") else {
                throw NpyError.malformedHeader(path: path, reason: "no value for '\(key)'")
            }
            return header[header.index(after: colon)...].drop(while: { $0 == " " })
        }
        let descrText = try value(after: "descr")
        guard let quote = descrText.first, quote == "'" || quote == "\"",
              let end = descrText.dropFirst().firstIndex(of: quote) else {
            throw NpyError.malformedHeader(path: path, reason: "'descr' is not a string")
        }
        let descr = String(descrText[descrText.index(after: descrText.startIndex)..<end])
        let fortranText = try value(after: "fortran_order")
        let fortran: Bool
        if fortranText.hasPrefix("False") { fortran = false } else if fortranText.hasPrefix("True") { fortran = true } else {
            throw NpyError.malformedHeader(path: path, reason: "'fortran_order' is not True or False")
        }
        let shapeText = try value(after: "shape")
        guard shapeText.first == "(", let close = shapeText.firstIndex(of: ")") else {
            throw NpyError.malformedHeader(path: path, reason: "'shape' is not a tuple")
        }
        let inner = shapeText[shapeText.index(after: shapeText.startIndex)..<close]
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "L"))
            if trimmed.isEmpty { continue }
            guard let d = Int(trimmed) else { throw NpyError.malformedHeader(path: path, reason: "bad dimension '\(trimmed)' in shape") }
            shape.append(d)
        }
        return (descr, fortran, shape)
    }

    // MARK: Writing

    /// Encodes a float32 array as `.npy` bytes (`<f4`, C order, format 1.0).
    public static func encode(shape: [Int], float32 values: [Float]) -> [UInt8] {
        var out = header(descr: "<f4", shape: shape)
        out.reserveCapacity(out.count + 4 * values.count)
        for v in values {
            let bits = v.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { out.append(contentsOf: $0) }
        }
        return out
    }

    /// Encodes an int64 array as `.npy` bytes (`<i8`, C order, format 1.0).
    public static func encode(shape: [Int], int64 values: [Int64]) -> [UInt8] {
        var out = header(descr: "<i8", shape: shape)
        out.reserveCapacity(out.count + 8 * values.count)
        for v in values {
            withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
        }
        return out
    }

    /// Writes a tensor as a float32 `.npy` file.
    public static func write(_ tensor: Tensor, to path: String) throws {
        try save(encode(shape: tensor.shape, float32: tensor.data), to: path)
    }

    /// Writes integers as an int64 `.npy` file.
    public static func write(int64 values: [Int64], shape: [Int], to path: String) throws {
        try save(encode(shape: shape, int64: values), to: path)
    }

    private static func save(_ bytes: [UInt8], to path: String) throws {
        // Through the atomic writer: a full disk or an interruption leaves the old file intact.
        do {
            let file = try AtomicOutputFile(target: path)
            _ = try file.openForWriting()
            try bytes.withUnsafeBytes { try file.write($0) }
            try file.commit()
        } catch let error as CheckpointWriterError {
            throw NpyError.io(path: path, reason: "cannot write file (\(error))")
        }
    }

    /// The magic, version, length and padded dict, so that the data starts on a 64-byte boundary.
    private static func header(descr: String, shape: [Int]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let length = dict.utf8.count
        return magic + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Swift.Array(dict.utf8)
    }
}
