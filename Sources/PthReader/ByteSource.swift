import Foundation

/// Random-access bytes behind one or more storages: a plain file, or an entry of a zip archive.
protocol ByteSource: AnyObject, Sendable {
    /// Fills `buffer` with the bytes at `offset`; throws when fewer are present.
    func read(offset: Int, into buffer: UnsafeMutableRawBufferPointer, context: String) throws
    /// A span of these bytes for a writer's copy, or nil (see `Checkpoint.span(of:)`).
    func span(offset: Int, count: Int, context: String) throws -> FileSpan?
}

/// Where one storage's bytes are: a source, a byte offset inside it, and a length.
struct StorageLocation: Sendable {
    let source: ByteSource
    let offset: Int
    let byteCount: Int
    /// The element type the file declares for the storage, when it declares one.
    let dtype: DType?
}

/// A regular file read with `pread`, closed when the last reference goes.
final class FileSource: ByteSource, @unchecked Sendable {
    let path: String
    let size: Int
    private let fd: Int32

    init(path: String) throws {
        (fd, size) = try RegularFile.open(path)
        self.path = path
    }

    deinit { close(fd) }

    func read(offset: Int, into buffer: UnsafeMutableRawBufferPointer, context: String) throws {
        guard offset >= 0, buffer.count <= size, offset <= size - buffer.count else {
            throw PthReaderError.malformed(path: path, entry: context, reason: "needs bytes \(offset)..<\(offset + buffer.count) but the file has \(size)")
        }
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw PthReaderError.unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { throw PthReaderError.malformed(path: path, entry: context, reason: "file ends early") }
            done += n
        }
    }

    /// The range itself, bounds-checked (no checksum to check: the file has none).
    func span(offset: Int, count: Int, context: String) throws -> FileSpan? {
        guard offset >= 0, count <= size, offset <= size - count else {
            throw PthReaderError.malformed(path: path, entry: context, reason: "needs bytes \(offset)..<\(offset + count) but the file has \(size)")
        }
        return FileSpan(owner: self, descriptor: fd, path: path, offset: offset, count: count, record: nil)
    }

    /// Reads `count` bytes at `offset` into a new array.
    func bytes(offset: Int, count: Int, context: String) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buf, n in
            try read(offset: offset, into: UnsafeMutableRawBufferPointer(buf), context: context)
            n = count
        }
    }
}
