/// A forward-only reader over bytes in memory, with overflow-safe bounds checks on every read.
///
/// Reads throw `ByteCursor.OutOfBounds` instead of trapping; callers turn that into a
/// `PthReaderError` that names the file and entry.
struct ByteCursor {
    /// Thrown when a read would pass the end of the bytes.
    struct OutOfBounds: Error {
        let offset: Int
        let wanted: Int
    }

    /// Thrown when a text line runs past the line limit without a newline.
    struct LineTooLong: Error {
        let limit: Int
    }

    let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset >= bytes.count }

    private func check(_ length: Int) throws {
        guard length >= 0, length <= bytes.count - offset else { throw OutOfBounds(offset: offset, wanted: length) }
    }

    mutating func readByte() throws -> UInt8 {
        try check(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads a fixed-width little-endian integer.
    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        try check(size)
        let value = bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        offset += size
        return value
    }

    /// Reads a big-endian IEEE double (pickle's BINFLOAT).
    mutating func readBigEndianDouble() throws -> Double {
        try check(8)
        let bits = bytes.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        offset += 8
        return Double(bitPattern: bits)
    }

    mutating func readBytes(_ length: Int) throws -> ArraySlice<UInt8> {
        try check(length)
        defer { offset += length }
        return bytes[offset..<(offset + length)]
    }

    /// Reads bytes up to (not including) the next `\n`, consuming the newline.
    mutating func readLine(limit: Int = 4096) throws -> ArraySlice<UInt8> {
        let end = Swift.min(bytes.count, offset + limit)
        guard let newline = bytes[offset..<end].firstIndex(of: 0x0A) else {
            if end < bytes.count { throw LineTooLong(limit: limit) }
            throw OutOfBounds(offset: offset, wanted: limit)
        }
        defer { offset = newline + 1 }
        return bytes[offset..<newline]
    }

    mutating func skip(_ length: Int) throws {
        try check(length)
        offset += length
    }
}
