import Foundation
import PthReader

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

    /// The bytes of a small companion file (a JSON config, a tokenizer, a chat template), read
    /// under the regular-file policy: a FIFO, device or directory is refused without blocking.
    ///
    /// Throws `PthReaderError` (`unreadable`, `exceedsLimit`); `reason(_:)` gives its reason alone.
    public static func contents(of url: URL, limit: Int = 256 << 20) throws -> Data {
        try RegularFile.read(url.path, limit: limit)
    }

    /// The reason of a `contents(of:)` failure without the path (callers name the file themselves).
    public static func reason(_ error: Error) -> String {
        switch error {
        case PthReaderError.unreadable(_, let reason), PthReaderError.exceedsLimit(_, _, let reason): return reason
        default: return String(describing: error)
        }
    }
}
