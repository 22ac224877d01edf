import Foundation

/// A tensor's bytes as a range of an input file, which a writer copies straight from the page
/// cache (`ChunkedOutput.copy`) instead of reading them into a buffer and writing them back.
///
/// A span is made only by `Checkpoint.span(of:)`, which checks the range's bounds but reads none
/// of its bytes. When the range is a whole STORED zip record, `record` names it and carries the
/// CRC-32 the zip directory records: the copy computes the CRC-32 of the bytes as it goes, each
/// piece just before writing it, and throws the reader's `CRC-32 mismatch` error naming the
/// record unless they agree, so a span never carries an unchecked byte into a finished output
/// (a failed write leaves nothing behind). Inputs without checksums (safetensors, legacy) give a
/// span without `record`; a writer that needs their CRC-32 (a zip output) gets it from the copy.
package struct FileSpan: Sendable {
    /// What owns `descriptor`: keeps it open for as long as the span lives.
    let owner: any ByteSource
    /// An open descriptor of the input file, read with `mmap`/`pread` only.
    package let descriptor: Int32
    /// The input file's path, for errors.
    package let path: String
    /// Where the bytes start in the input file.
    package let offset: Int
    /// How many bytes.
    package let count: Int
    /// The zip record these bytes are, whose CRC-32 the copy must check, or nil.
    package let record: ZipRecord?

    /// A STORED zip record's name and the CRC-32 its zip directory records.
    package struct ZipRecord: Sendable, Equatable {
        package let name: String
        package let crc: UInt32
    }
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
    /// A span of `count` bytes at `offset`, or nil when these bytes cannot be copied as they are
    /// in the file (the default: compressed, dequantised or only part of a record).
    func span(offset: Int, count: Int, context: String) throws -> FileSpan? { nil }
}

extension Checkpoint {
    /// The tensor's bytes as a range of its input file, for a writer to copy straight from the
    /// page cache; nil when the tensor must be read into memory instead (a non-contiguous view, a
    /// compressed or partial zip record, a GGUF quantised tensor, an empty tensor).
    ///
    /// The bounds are checked here; the bytes are not read. A STORED torch zip record's span
    /// carries the record's name and directory CRC-32, which the copy checks (see `FileSpan`).
    package func span(of t: TensorEntry) throws -> FileSpan? {
        try validate(t)
        guard t.isContiguous, t.elementCount > 0, let storage = storages[t.storageKey] else { return nil }
        let offset = storage.offset + t.storageOffset * t.dtype.itemSize
        return try storage.source.span(offset: offset, count: t.byteCount, context: t.name)
    }
}
