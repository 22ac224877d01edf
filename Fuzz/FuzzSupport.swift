import Foundation

/// Shared by the fuzz targets: a scratch file that holds the current input, for readers that take paths.
enum FuzzSupport {
    /// This process's scratch directory (removed by the OS temp cleaner; one per fuzzing process).
    static let directory: String = {
        let dir = NSTemporaryDirectory() + "loratool-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// Writes `bytes` to `<directory>/<name>` and returns its path.
    static func file(_ bytes: UnsafeRawBufferPointer, name: String) -> String {
        let path = directory + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }
}
