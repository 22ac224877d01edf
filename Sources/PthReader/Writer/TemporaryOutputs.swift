import Foundation

/// Temporary outputs being written, removed when the process is interrupted.
///
/// `AtomicOutputFile` and `AtomicOutputDirectory` register their temporary path while they write
/// and unregister it once renamed into place or discarded. `removeOnInterrupt()` (called once by
/// the command line) turns SIGINT, SIGTERM and SIGHUP into: remove every registered path, then exit
/// with 128 + the signal, so an interrupted write leaves nothing behind — neither at the target
/// nor as a hidden temporary. (SIGKILL cannot be caught: a hidden `.…tmp-…` then remains until the
/// next write to the same target removes it, see `TemporaryName`.)
package enum TemporaryOutputs {
    private static let lock = NSLock()
    /// Registered paths (true: a directory). Guarded by `lock`: every access takes it.
    nonisolated(unsafe) private static var paths: [String: Bool] = [:]
    /// The dispatch sources kept alive; written once under `lock` by `removeOnInterrupt`.
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    /// Set (under `lock`) when a handled signal arrived: the process is about to exit with it.
    nonisolated(unsafe) private static var interrupted = false

    /// Whether a handled signal arrived (the handler is removing temporaries and will exit).
    package static var isInterrupted: Bool {
        lock.lock()
        defer { lock.unlock() }
        return interrupted
    }

    /// Called before reporting an error: if the error comes from an interruption (a temporary
    /// removed under a writer's feet), waits for the handler to exit with the signal's status.
    package static func yieldToInterrupt() {
        while isInterrupted { usleep(10_000) }
    }

    package static func register(_ path: String, directory: Bool) {
        lock.lock()
        paths[path] = directory
        lock.unlock()
    }

    package static func unregister(_ path: String) {
        lock.lock()
        paths[path] = nil
        lock.unlock()
    }

    /// Removes every registered temporary path (the signal handlers' work).
    package static func removeAll() {
        lock.lock()
        var current = paths
        paths = [:]
        lock.unlock()
        for (path, directory) in current {
            if directory { try? FileManager.default.removeItem(atPath: path) } else { unlink(path) }
        }
        // A writer may have been creating one of these (a temporary directory between its
        // registration and `mkdir`, a file between registration and `open`, a file inside a directory
        // being removed) when the signal came: remove what exists once more after that has had time to
        // finish, until nothing remains. No new temporary starts once the flag is set.
        for _ in 0..<20 {
            usleep(5_000)
            lock.lock()
            current.merge(paths) { old, _ in old }  // registered while removing (checked the flag just before it was set)
            paths = [:]
            lock.unlock()
            let left = current.filter { FileManager.default.fileExists(atPath: $0.key) }
            if left.isEmpty { break }
            for (path, directory) in left {
                if directory { try? FileManager.default.removeItem(atPath: path) } else { unlink(path) }
            }
        }
    }

    /// Throws when a handled signal arrived: no new temporary output starts while the handler removes them.
    package static func checkNotInterrupted(_ target: String) throws {
        if isInterrupted { throw CheckpointWriterError.io(path: target, operation: "start writing", reason: "interrupted") }
    }

    /// Installs the handlers (idempotent).
    package static func removeOnInterrupt() {
        lock.lock()
        defer { lock.unlock() }
        guard sources.isEmpty else { return }
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                lock.lock()
                interrupted = true
                lock.unlock()
                removeAll()
                exit(128 + sig)
            }
            source.resume()
            sources.append(source)
        }
    }
}
