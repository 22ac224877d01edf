import CFileCopy
import CISAL
import Foundation
import Synchronization

/// Sequential output into an `AtomicOutputFile` in fixed 512 KiB `write` calls.
///
/// Measured on the target machine (2 cores, ext4): libzip's 4 KiB writes spent 44 % of a merge in
/// the kernel's write path, while whole-tensor writes (up to 20 MB) and even 1 MiB pieces were
/// sometimes slow with a cold page cache; 256–512 KiB was consistently fastest. Small writes are
/// gathered in a buffer; large ones go straight from the caller's memory in whole chunks.
final class ChunkedOutput {
    /// Bytes per `write` call.
    static let chunkSize = 512 << 10

    private let file: AtomicOutputFile
    private let buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    /// Bytes accepted so far: the file offset the next byte will land at.
    private(set) var offset = 0
    /// Whether `reserve` ran: the file may then be longer than what was written until `commit`
    /// trims it.
    private var reserved = false

    /// Opens `file` for writing (it must not be open yet).
    init(file: AtomicOutputFile) throws {
        _ = try file.openForWriting()
        self.file = file
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 4096)
    }

    deinit { buffer.deallocate() }

    /// Allocates disk for about `bytes` of output before the first write (`fallocate(2)`); the
    /// estimate may err either way, `commit` trims the file to what was written.
    ///
    /// On ext4 a buffered write into a block not yet allocated reserves it page by page (delayed
    /// allocation); into blocks allocated up front it does not. Measured here (2 cores, ext4,
    /// 751 MB copied in 256 KiB writes from `mmap`, 9 rounds): 450 → 368 ms. A disk without the
    /// room is refused before anything is written; a file system without `fallocate` just
    /// allocates as the writes come. A size the file system cannot hold (`EFBIG`) is refused too.
    func reserve(_ bytes: Int) throws {
        reserved = true
        let code = lt_preallocate(file.descriptor, Int64(bytes))
        if code == ENOSPC || code == EDQUOT || code == EFBIG {
            throw CheckpointWriterError.io(path: file.target, operation: "reserve \(ResourceLimits.describe(bytes)) on disk for the output",
                                           reason: String(cString: strerror(code)))
        }
    }

    /// Appends `bytes`.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var unused: UInt32 = 0
        try write(bytes, hashing: false, crc: &unused)
    }

    /// Appends `bytes`, continuing `crc` over them: each piece of at most one chunk is hashed right
    /// before it is copied into the buffer or written, while it is in cache (one read of the bytes
    /// from memory instead of two).
    func write(_ bytes: UnsafeRawBufferPointer, crc: inout UInt32) throws {
        try write(bytes, hashing: true, crc: &crc)
    }

    private func write(_ bytes: UnsafeRawBufferPointer, hashing: Bool, crc: inout UInt32) throws {
        var rest = bytes
        offset += bytes.count
        if used > 0 {
            let n = Swift.min(rest.count, buffer.count - used)
            if n > 0 {
                let piece = UnsafeRawBufferPointer(rebasing: rest[..<n])
                if hashing { crc = CRC32.update(crc, piece) }
                (buffer.baseAddress! + used).copyMemory(from: piece.baseAddress!, byteCount: n)
                used += n
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            }
            if used == buffer.count {
                try file.write(UnsafeRawBufferPointer(buffer))
                used = 0
            }
        }
        while rest.count >= Self.chunkSize {
            let piece = UnsafeRawBufferPointer(rebasing: rest[..<Self.chunkSize])
            if hashing { crc = CRC32.update(crc, piece) }
            try file.write(piece)
            rest = UnsafeRawBufferPointer(rebasing: rest[Self.chunkSize...])
        }
        if rest.count > 0 {
            if hashing { crc = CRC32.update(crc, rest) }
            (buffer.baseAddress! + used).copyMemory(from: rest.baseAddress!, byteCount: rest.count)
            used += rest.count
        }
    }

    /// Appends `bytes`.
    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Appends the bytes of `span` and returns their CRC-32 when it was computed: when `hashing`
    /// (a zip output stores it) or when the span is a zip record, whose CRC-32 is checked here.
    ///
    /// The bytes are read straight from the page cache through read-only `mmap` windows; each
    /// 256 KiB piece is hashed and then written from the mapping while it is still in cache
    /// (`lt_copy_mapped_range`), so every byte crosses memory once on the way in and once on the
    /// way out, as with `cp`, and checking the input costs no second read. (Checking every record
    /// first and copying it afterwards with `copy_file_range(2)` read each byte twice, and that
    /// copy slowed by half when input and output offsets differed modulo the page size, as they
    /// do in a safetensors output.) Where the input cannot be mapped the rest is read with
    /// `pread` into the buffer instead; the output is the same either way.
    ///
    /// A zip record whose bytes do not give its directory's CRC-32 throws the reader's `CRC-32
    /// mismatch` error naming the record, after its bytes went into the temporary file, which the
    /// failed write then removes. The input ending inside the span (the file was truncated
    /// meanwhile) is an error naming it.
    @discardableResult
    func copy(_ span: FileSpan, hashing: Bool) throws -> UInt32? {
        try flush()
        let hash = hashing || span.record != nil
        var crc: UInt32 = 0
        var done = 0
        if Self.mappedCopy.load(ordering: .relaxed) {
            var copied: Int64 = 0
            let result = lt_copy_mapped_range(span.descriptor, Int64(span.offset), Int64(span.count), file.descriptor,
                                              hash ? crc32_gzip_refl : nil, &crc, &copied)
            done = Int(copied)
            switch result {
            case 0: break
            case 1: throw Self.endedEarly(span)
            case -2: throw writeError(span, errno)
            default: break   // not mappable: the rest with pread
            }
        }
        while done < span.count {
            let n = pread(span.descriptor, buffer.baseAddress!, Swift.min(buffer.count, span.count - done), off_t(span.offset + done))
            if n < 0, errno == EINTR { continue }
            if n < 0 { throw PthReaderError.unreadable(path: span.path, reason: String(cString: strerror(errno))) }
            if n == 0 { throw Self.endedEarly(span) }
            let piece = UnsafeRawBufferPointer(rebasing: buffer[..<n])
            if hash { crc = CRC32.update(crc, piece) }
            try file.write(piece)
            done += n
        }
        offset += span.count
        if let record = span.record, crc != record.crc {
            throw ZipArchive.mismatch(path: span.path, record: record.name, got: crc, recorded: record.crc)
        }
        return hash ? crc : nil
    }

    /// Whether `copy` reads through `mmap` first (tests turn it off to compare with the `pread`
    /// path; either way the output bytes are the same).
    package static let mappedCopy = Atomic<Bool>(true)

    private static func endedEarly(_ span: FileSpan) -> PthReaderError {
        if let record = span.record {
            return .malformed(path: span.path, entry: record.name, reason: "file ends inside the record (was it truncated meanwhile?)")
        }
        return .malformed(path: span.path, entry: nil, reason: "the file ends inside bytes \(span.offset)..<\(span.offset + span.count) it held when opened (was it truncated meanwhile?)")
    }

    private func writeError(_ span: FileSpan, _ code: Int32) -> CheckpointWriterError {
        .io(path: file.target, operation: "copy \(span.count) bytes from '\(span.path)'", reason: String(cString: strerror(code)))
    }

    /// Writes out whatever is buffered.
    func flush() throws {
        if used > 0 {
            try file.write(UnsafeRawBufferPointer(rebasing: buffer[..<used]))
            used = 0
        }
    }

    /// Flushes, trims what `reserve` allocated beyond the end, and renames the file over its target.
    func commit() throws {
        try flush()
        if reserved, ftruncate(file.descriptor, off_t(offset)) != 0 {
            throw CheckpointWriterError.io(path: file.target, operation: "trim the output to its \(offset) bytes", reason: String(cString: strerror(errno)))
        }
        try file.commit()
    }
}
