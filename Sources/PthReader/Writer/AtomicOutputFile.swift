import CCleanup
import Foundation

/// A temporary file beside the target that replaces the target only when everything was written.
///
/// The temporary file lives in the target's directory (same file system, so the final `rename`
/// is atomic) under a hidden name `.<name>.tmp-<pid>-<random>`. `commit()` gives it the target's
/// permissions and renames it over the target. If the object goes away uncommitted (an error was
/// thrown), the temporary file is removed, so the target is either the old file (or absent) or the
/// complete new one. SIGINT, SIGTERM and SIGHUP remove it too, see `CCleanup`; after a SIGKILL the
/// next write to the same target removes temporary files whose process is gone, and says so on
/// stderr (`TemporaryName`, shared with `AtomicOutputDirectory`). The temporary name stays within
/// 255 bytes by shortening the target's name in it. Like `torch.save` and `cp`, it does not `fsync`: a crash or interruption of
/// this process never leaves a partial file, but a power loss right after a write may lose it
/// (measured: the sync alone cost about a third of a 50 MB merge).
package final class AtomicOutputFile {
    /// The final path.
    let target: String
    /// Where the bytes go until `commit()`.
    let temporaryPath: String
    /// The open descriptor once `openForWriting()` created the file; -1 before and after.
    private(set) var descriptor: Int32 = -1
    private var committed = false
    /// This file's slot in the signal handler's list (`CCleanup`), -1 when not registered.
    private(set) var cleanupSlot: Int32 = -1

    package init(target: String) throws {
        self.target = target
        let url = URL(fileURLWithPath: target)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointWriterError.io(path: target, operation: "create the output file", reason: "directory '\(directory)' does not exist")
        }
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue {
            throw CheckpointWriterError.io(path: target, operation: "create the output file", reason: "it is a directory")
        }
        try TemporaryOutputs.checkNotInterrupted(target)
        temporaryPath = TemporaryName.fresh(for: url)
        lt_cleanup_install()
        cleanupSlot = lt_cleanup_register(temporaryPath)
        TemporaryOutputs.register(temporaryPath, directory: false)
    }

    deinit {
        if !committed { discard() }
        lt_cleanup_unregister(cleanupSlot)
    }

    /// Creates the temporary file (mode 0666 less the umask) and returns its descriptor.
    package func openForWriting() throws -> Int32 {
        try TemporaryOutputs.checkNotInterrupted(target)
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw error("create a temporary file '\(temporaryPath)'") }
        descriptor = fd
        return fd
    }

    /// Writes all of `buffer` to the open descriptor, retrying short writes.
    package func write(_ buffer: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = Glibc.write(descriptor, buffer.baseAddress! + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw error("write")
            }
            done += n
        }
    }

    /// Gives the temporary file the replaced target's permissions (a new file keeps 0666 less the
    /// umask from its creation) and renames it over the target.
    ///
    /// Every writer writes through `openForWriting()`/`write(_:)`; committing a file that was never
    /// opened is an error, not an empty file.
    package func commit() throws {
        guard descriptor >= 0 else {
            throw CheckpointWriterError.io(path: target, operation: "commit the output", reason: "nothing was written (the temporary file was never opened)")
        }
        var info = stat()
        if stat(target, &info) == 0 { _ = fchmod(descriptor, info.st_mode & 0o7777) }
        close(descriptor)
        descriptor = -1
        guard rename(temporaryPath, target) == 0 else { throw error("rename the temporary file over the target") }
        committed = true
        TemporaryOutputs.unregister(temporaryPath)
        lt_cleanup_unregister(cleanupSlot)
        cleanupSlot = -1
    }

    /// Closes and removes the temporary file if it exists.
    func discard() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
        unlink(temporaryPath)
        TemporaryOutputs.unregister(temporaryPath)
    }

    private func error(_ operation: String) -> CheckpointWriterError {
        .io(path: target, operation: operation, reason: String(cString: strerror(errno)))
    }
}
