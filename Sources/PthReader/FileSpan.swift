import Foundation

/// A tensor's bytes as a range of an input file, already verified, that a writer copies inside
/// the kernel (`copy_file_range`) instead of reading them into memory and writing them back.
///
/// A span is made only by `Checkpoint.span(of:withCRC:)`, after every byte of the range was read
/// and its zip record's CRC-32 compared with the directory's (torch zip input), so the copy
/// carries no unchecked byte. `crc` is the CRC-32 of the range when it is known: a verified zip
/// record's own, or one computed on request for inputs without checksums (safetensors, legacy).
package struct FileSpan: Sendable {
    /// What owns `descriptor`: keeps it open for as long as the span lives.
    let owner: any ByteSource
    /// An open descriptor of the input file, read with `pread`/`copy_file_range` only.
    package let descriptor: Int32
    /// The input file's path, for errors.
    package let path: String
    /// Where the bytes start in the input file.
    package let offset: Int
    /// How many bytes.
    package let count: Int
    /// CRC-32 of the bytes, when known.
    package let crc: UInt32?
}

/// One tensor's contiguous little-endian bytes for a writer: in memory, or a verified file range.
package enum TensorData: Sendable {
    case bytes([UInt8])
    case span(FileSpan)

    /// The number of bytes.
    package var count: Int {
        switch self {
        case .bytes(let b): return b.count
        case .span(let s): return s.count
        }
    }
}

extension ByteSource {
    /// A verified span of `count` bytes at `offset`, or nil when these bytes cannot be copied as
    /// they are in the file (the default: compressed, dequantised or only part of a record).
    func span(offset: Int, count: Int, withCRC: Bool, context: String) throws -> FileSpan? { nil }
}

extension Checkpoint {
    /// The tensor's bytes as a verified range of its input file, for a writer to copy in the
    /// kernel; nil when the tensor must be read into memory instead (a non-contiguous view, a
    /// compressed or partial zip record, a GGUF quantised tensor, an empty tensor).
    ///
    /// For a STORED torch zip record, every byte is read and the CRC-32 compared with the zip
    /// directory's before this returns (a mismatch throws, naming the record), and the span
    /// carries that CRC. For inputs without checksums the bounds are checked and, when `withCRC`,
    /// the CRC-32 is computed from the bytes (a `.pth` output needs it for its own directory).
    package func span(of t: TensorEntry, withCRC: Bool) throws -> FileSpan? {
        try validate(t)
        guard t.isContiguous, t.elementCount > 0, let storage = storages[t.storageKey] else { return nil }
        let offset = storage.offset + t.storageOffset * t.dtype.itemSize
        return try storage.source.span(offset: offset, count: t.byteCount, withCRC: withCRC, context: t.name)
    }
}
