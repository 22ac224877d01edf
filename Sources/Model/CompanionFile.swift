import Foundation

/// Files that belong to a checkpoint: found inside a Hugging Face directory, or beside a weights file.
public enum CompanionFile {
    /// `name` inside `modelPath` when it is a directory, else in the directory holding it; nil when absent.
    public static func beside(_ modelPath: String, named name: String) -> URL? {
        let candidate = directory(of: modelPath).appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: candidate.path) ? candidate : nil
    }

    /// `path` itself when it is a directory, else the directory holding it.
    public static func directory(of path: String) -> URL {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue ? url : url.deletingLastPathComponent()
    }
}
