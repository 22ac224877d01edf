import Foundation

/// The hidden temporaries beside a target, `.<name>.tmp-<pid>-<random>`, shared by every atomic
/// writer (`AtomicOutputFile` for files, GGUF included; `AtomicOutputDirectory` for model
/// directories): their names, and the removal of those a killed process left behind.
///
/// SIGINT, SIGTERM and SIGHUP remove the temporaries in progress (`TemporaryOutputs`); SIGKILL
/// cannot be caught, so the next write to the same target removes every temporary of that target
/// whose process no longer exists, and says so on stderr. A live process's temporary (another
/// loratool writing the same target) is left alone.
package enum TemporaryName {
    /// Longest temporary name (the file-system limit; libzip no longer writes its own `.XXXXXX` beside it).
    package static let maxBytes = 255

    /// `.<name>.tmp-`, the name cut (at a character boundary) so that the whole temporary name fits.
    package static func prefix(for name: String) -> String {
        // ".tmp-" + pid (up to 7 digits) + "-" + 13 base-36 digits, and the leading dot.
        let budget = maxBytes - 1 - 5 - 7 - 1 - 13
        var kept = ""
        var bytes = 0
        for character in name {
            let size = character.utf8.count
            if bytes + size > budget { break }
            kept.append(character)
            bytes += size
        }
        return ".\(kept).tmp-"
    }

    /// A fresh temporary path for `target` (this process's pid and a random suffix), after removing
    /// the stale temporaries of that target.
    package static func fresh(for target: URL) -> String {
        let directory = target.deletingLastPathComponent()
        let prefix = prefix(for: target.lastPathComponent)
        removeStale(in: directory.path, prefix: prefix, target: target.path)
        let random = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        return directory.appendingPathComponent("\(prefix)\(getpid())-\(random)").path
    }

    /// Removes `prefix<pid>-…` files and directories in `directory` left by a process that no longer
    /// exists. A directory set aside while a model directory was being replaced (`….old`) is put
    /// back at `target` when the target is missing (the run was killed between the two renames).
    package static func removeStale(in directory: String, prefix: String, target: String? = nil) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names.sorted() where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let pid = Int32(rest.prefix { $0 != "-" }), pid > 0, pid != getpid() else { continue }
            guard kill(pid, 0) != 0, errno == ESRCH else { continue }
            let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue, name.hasSuffix(".old"), let target, !FileManager.default.fileExists(atPath: target),
               rename(path, target) == 0 {
                say("note: restored \(target) from \(path), set aside by an interrupted run (process \(pid))\n")
                continue
            }
            let removed = isDirectory.boolValue ? (try? FileManager.default.removeItem(atPath: path)) != nil : unlink(path) == 0
            if removed {
                let kind = isDirectory.boolValue ? "directory" : "file"
                say("note: removed \(path), a temporary \(kind) left by an interrupted run (process \(pid))\n")
            }
        }
    }

    private static func say(_ text: String) {
        _ = text.withCString { Glibc.write(STDERR_FILENO, $0, strlen($0)) }
    }
}
