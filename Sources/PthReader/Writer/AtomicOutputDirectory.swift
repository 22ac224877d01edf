import Foundation

/// A temporary directory beside the target that becomes the target only when everything was written.
///
/// Files go into a hidden sibling `.<name>.tmp-<pid>-<random>`; `commit()` renames it to the
/// target (same file system, so the rename is atomic). A target that already exists must be an empty
/// directory or a directory this writer made before (it holds `config.json`); it is swapped out and
/// removed only after the new directory is in place. Uncommitted, the temporary directory and
/// everything in it are removed when the object goes away; SIGINT, SIGTERM and SIGHUP remove it
/// too (`TemporaryOutputs`), and after a SIGKILL the next write to the same target removes the
/// temporary directories of dead processes, saying so on stderr (`TemporaryName`, shared with
/// `AtomicOutputFile`).
package final class AtomicOutputDirectory {
    package let target: String
    package let temporaryPath: String
    private var committed = false

    package init(target: String) throws {
        let url = URL(fileURLWithPath: target).standardizedFileURL
        let parent = url.deletingLastPathComponent().path
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointWriterError.io(path: target, operation: "create the output directory", reason: "directory '\(parent)' does not exist")
        }
        if fm.fileExists(atPath: target, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw CheckpointWriterError.io(path: target, operation: "create the output directory", reason: "a file of that name exists")
            }
            let contents = (try? fm.contentsOfDirectory(atPath: target)) ?? []
            guard contents.isEmpty || contents.contains("config.json") else {
                throw CheckpointWriterError.io(path: target, operation: "replace the output directory", reason: "it exists and is not a model directory (no config.json); refusing to replace it")
            }
        }
        self.target = target
        try TemporaryOutputs.checkNotInterrupted(target)
        temporaryPath = TemporaryName.fresh(for: url)
        guard mkdir(temporaryPath, 0o777) == 0 else {
            throw CheckpointWriterError.io(path: target, operation: "create a temporary directory '\(temporaryPath)'", reason: String(cString: strerror(errno)))
        }
        TemporaryOutputs.register(temporaryPath, directory: true)
    }

    deinit {
        if !committed { try? FileManager.default.removeItem(atPath: temporaryPath) }
        TemporaryOutputs.unregister(temporaryPath)
    }

    /// The path of `name` inside the temporary directory.
    package func path(_ name: String) -> String { temporaryPath + "/" + name }

    /// Writes a small file whole into the temporary directory.
    package func write(_ data: Data, to name: String) throws {
        do { try data.write(to: URL(fileURLWithPath: path(name))) } catch {
            throw CheckpointWriterError.io(path: target + "/" + name, operation: "write", reason: error.localizedDescription)
        }
    }

    /// Puts the temporary directory in the target's place.
    package func commit() throws {
        let fm = FileManager.default
        var old: String?
        if fm.fileExists(atPath: target) {
            let aside = temporaryPath + ".old"
            guard rename(target, aside) == 0 else {
                throw CheckpointWriterError.io(path: target, operation: "move the existing directory aside", reason: String(cString: strerror(errno)))
            }
            old = aside
        }
        guard rename(temporaryPath, target) == 0 else {
            let reason = String(cString: strerror(errno))
            if let old { _ = rename(old, target) }
            throw CheckpointWriterError.io(path: target, operation: "rename the temporary directory to the target", reason: reason)
        }
        committed = true
        TemporaryOutputs.unregister(temporaryPath)
        if let old { try? fm.removeItem(atPath: old) }
    }
}
