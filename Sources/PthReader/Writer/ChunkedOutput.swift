import CFileCopy
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

    /// Opens `file` for writing (it must not be open yet).
    init(file: AtomicOutputFile) throws {
        _ = try file.openForWriting()
        self.file = file
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 4096)
    }

    deinit { buffer.deallocate() }

    /// Appends `bytes`.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        offset += bytes.count
        if used > 0 {
            let n = Swift.min(rest.count, buffer.count - used)
            if n > 0 {
                (buffer.baseAddress! + used).copyMemory(from: rest.baseAddress!, byteCount: n)
                used += n
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            }
            if used == buffer.count {
                try file.write(UnsafeRawBufferPointer(buffer))
                used = 0
            }
        }
        while rest.count >= Self.chunkSize {
            try file.write(UnsafeRawBufferPointer(rebasing: rest[..<Self.chunkSize]))
            rest = UnsafeRawBufferPointer(rebasing: rest[Self.chunkSize...])
        }
        if rest.count > 0 {
            (buffer.baseAddress! + used).copyMemory(from: rest.baseAddress!, byteCount: rest.count)
            used += rest.count
        }
    }

    /// Appends `bytes`.
    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Appends the bytes of `span`, copied inside the kernel with `copy_file_range` (page cache
    /// to page cache, no copy through user memory: what `cp` does), in pieces of at most 16 MiB.
    ///
    /// Where the kernel cannot copy between these two files (`EXDEV`, `ENOSYS`, `EINVAL`,
    /// `EOPNOTSUPP`, `EBADF`: other file systems, old kernels) the rest is read with `pread` and
    /// written through the buffer instead. The span was verified when it was made; the input
    /// ending before the span does (the file was truncated meanwhile) is an error naming it.
    func copy(_ span: FileSpan) throws {
        try flush()
        var position = Int64(span.offset)
        var done = 0
        while done < span.count, Self.kernelCopy.load(ordering: .relaxed) {
            let n = lt_copy_file_range(span.descriptor, &position, file.descriptor, Swift.min(span.count - done, 16 << 20))
            if n > 0 { done += n; continue }
            if n == 0 { throw Self.endedEarly(span) }
            let code = errno
            if code == EINTR { continue }
            if [EXDEV, ENOSYS, EINVAL, EOPNOTSUPP, EBADF].contains(code) { break }
            throw CheckpointWriterError.io(path: file.target, operation: "copy \(span.count) bytes from '\(span.path)'",
                                           reason: String(cString: strerror(code)))
        }
        while done < span.count {
            let n = pread(span.descriptor, buffer.baseAddress!, Swift.min(buffer.count, span.count - done), off_t(span.offset + done))
            if n < 0, errno == EINTR { continue }
            if n < 0 { throw PthReaderError.unreadable(path: span.path, reason: String(cString: strerror(errno))) }
            if n == 0 { throw Self.endedEarly(span) }
            try file.write(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            done += n
        }
        offset += span.count
    }

    /// Whether `copy` tries `copy_file_range` first (tests turn it off to compare both paths;
    /// either way the output bytes are the same).
    package static let kernelCopy = Atomic<Bool>(true)

    private static func endedEarly(_ span: FileSpan) -> PthReaderError {
        .malformed(path: span.path, entry: nil, reason: "the file ends inside bytes \(span.offset)..<\(span.offset + span.count) it held when opened (was it truncated meanwhile?)")
    }

    /// Writes out whatever is buffered.
    func flush() throws {
        if used > 0 {
            try file.write(UnsafeRawBufferPointer(rebasing: buffer[..<used]))
            used = 0
        }
    }

    /// Flushes and renames the file over its target.
    func commit() throws {
        try flush()
        try file.commit()
    }
}
