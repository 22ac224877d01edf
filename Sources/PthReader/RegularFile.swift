import Foundation

/// The file-type policy for every input: regular files only, reached directly or through symlinks.
///
/// FIFOs, devices, sockets and directories are refused before anything could block on them (a
/// FIFO opened for reading blocks until a writer appears). Symlinks are followed wherever they
/// point, because Hugging Face cache snapshots are made of links into `../../blobs/`; what they
/// resolve to must be a regular file. docs/security.md describes the policy.
package enum RegularFile {
    /// What `path` is, as a phrase for an error, or nil when it is a regular file.
    static func refusal(forMode mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "is a directory, not a regular file"
        case S_IFIFO: return "is a FIFO (named pipe), not a regular file"
        case S_IFCHR: return "is a character device, not a regular file"
        case S_IFBLK: return "is a block device, not a regular file"
        case S_IFSOCK: return "is a socket, not a regular file"
        default: return "is not a regular file"
        }
    }

    /// The reason `stat` failed, in the user's terms.
    static func reason(forErrno code: Int32) -> String {
        switch code {
        case ENOENT: return "no such file or directory"
        case ELOOP: return "too many levels of symbolic links (a symlink loop?)"
        case EACCES: return "permission denied"
        case ENOTDIR: return "a component of the path is not a directory"
        case ENAMETOOLONG: return "the path is too long"
        default: return String(cString: strerror(code))
        }
    }

    /// `stat` of `path` following symlinks, or nil when nothing is there (a dangling link included).
    package static func status(_ path: String) throws -> stat? {
        var info = stat()
        if stat(path, &info) == 0 { return info }
        let code = errno
        if code == ENOENT { return nil }
        throw PthReaderError.unreadable(path: path, reason: reason(forErrno: code))
    }

    /// Opens `path` read-only after checking it is a regular file; never blocks on a FIFO.
    package static func open(_ path: String) throws -> (fd: Int32, size: Int) {
        guard let info = try status(path) else { throw PthReaderError.unreadable(path: path, reason: "no such file or directory") }
        if let refusal = refusal(forMode: info.st_mode) { throw PthReaderError.unreadable(path: path, reason: refusal) }
        // O_NONBLOCK: if the path was swapped for a FIFO since the stat, open still returns at once.
        let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw PthReaderError.unreadable(path: path, reason: reason(forErrno: errno)) }
        var opened = stat()
        guard fstat(fd, &opened) == 0 else {
            let code = errno
            close(fd)
            throw PthReaderError.unreadable(path: path, reason: reason(forErrno: code))
        }
        if let refusal = refusal(forMode: opened.st_mode) {
            close(fd)
            throw PthReaderError.unreadable(path: path, reason: refusal)
        }
        return (fd, Int(opened.st_size))
    }

    /// Reads a whole regular file of at most `limit` bytes (JSON configs, tokenizer files, indexes).
    package static func read(_ path: String, limit: Int = 256 << 20) throws -> Data {
        let (fd, size) = try open(path)
        defer { close(fd) }
        guard size <= limit else {
            throw PthReaderError.exceedsLimit(path: path, entry: nil, reason: "file of \(size) bytes is larger than the \(limit)-byte limit for this kind of file")
        }
        var data = Data(count: size)
        var done = 0
        try data.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) in
            while done < size {
                let n = pread(fd, buffer.baseAddress! + done, size - done, off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw PthReaderError.unreadable(path: path, reason: reason(forErrno: errno))
                }
                if n == 0 { break }
                done += n
            }
        }
        return data.prefix(done)
    }

    /// Whether `name` is a plain file name: not empty, `.` or `..`, and without `/` or NUL.
    package static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.utf8.contains(UInt8(ascii: "/")) && !name.utf8.contains(0)
    }
}
