import Foundation
import Model

/// The checks every output path gets before any work is done.
enum OutputPath {
    /// Whether `path` is an existing directory.
    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Refuses an output that is one of `inputs`, a directory, or an existing file without `force`;
    /// then creates the missing parent directories (unless `create` is false, as for a dry run).
    static func prepare(_ path: String, notOver inputs: [String], force: Bool, create: Bool = true) throws {
        try MergeError.checkOutput(path, notOver: inputs)
        if isDirectory(path) { throw CLIError.outputIsDirectory(path: path) }
        if FileManager.default.fileExists(atPath: path) && !force { throw CLIError.outputExists(path: path) }
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard create, !FileManager.default.fileExists(atPath: parent) else { return }
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw CLIError.cannotCreateDirectory(path: parent, reason: (error as NSError).localizedDescription)
        }
    }
}
