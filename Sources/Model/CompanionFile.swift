import Foundation

/// Files that belong to a checkpoint: found inside a Hugging Face directory, or beside a weights file.
public enum CompanionFile {
    /// `name` inside `modelPath` when it is a directory, else in the directory holding it; nil when absent.
    public static func beside(_ modelPath: String, named name: String) -> URL? {
        let url = URL(fileURLWithPath: modelPath)
        var isDirectory: ObjCBool = false
        let directory = FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDirectory) && isDirectory.boolValue
            ? url : url.deletingLastPathComponent()
        let candidate = directory.appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: candidate.path) ? candidate : nil
    }
}
