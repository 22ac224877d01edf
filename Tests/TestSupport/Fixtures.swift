import Foundation

/// Paths to test inputs: the shared reference fixtures and the project's own generated ones.
public enum Fixtures {
    /// The package root, found from this source file's location.
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent() // TestSupport
        .deletingLastPathComponent() // Tests
        .deletingLastPathComponent()

    /// `../shared/fixtures`: files written by real PyTorch and PEFT, with truth data. Read in place.
    public static let shared: URL = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures")

    /// `Tests/Fixtures`: small fixtures written by `scripts/make_fixtures.py` with real torch, committed.
    public static let local: URL = packageRoot.appendingPathComponent("Tests/Fixtures")

    /// A path under the shared fixtures, as a string.
    public static func sharedPath(_ relative: String) -> String { shared.appendingPathComponent(relative).path }

    /// A path under the local fixtures, as a string.
    public static func localPath(_ relative: String) -> String { local.appendingPathComponent(relative).path }

    /// A safetensors file of `count` one-element `[1, 1]` float32 tensors named by `name`.
    public static func safetensors(count: Int, name: (Int) -> String) -> [UInt8] {
        var header = "{"
        for i in 0..<count {
            if i > 0 { header += "," }
            header += "\"\(name(i))\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[\(4 * i),\(4 * i + 4)]}"
        }
        header += "}"
        while (header.utf8.count + 8) % 8 != 0 { header += " " }
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
        bytes += Array(header.utf8)
        bytes += [UInt8](repeating: 0, count: 4 * count)
        return bytes
    }

    /// A fresh empty temporary directory for one test's outputs.
    public static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loratool-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Reads a `*.truth.json` file: `{"name": ["dtype", [shape...]]}`.
    public static func truth(_ path: String) throws -> [String: (dtype: String, shape: [Int])] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: [Any]] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        var result: [String: (String, [Int])] = [:]
        for (name, pair) in object {
            guard pair.count == 2, let dtype = pair[0] as? String, let shape = pair[1] as? [Int] else {
                throw CocoaError(.fileReadCorruptFile)
            }
            result[name] = (dtype, shape)
        }
        return result
    }
}
