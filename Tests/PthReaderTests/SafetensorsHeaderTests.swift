import Foundation
import Testing
import TestSupport
@testable import PthReader

/// The safetensors header written by `SafetensorsHeader` (not `JSONSerialization`): names and
/// metadata that need escapes, keys in UTF-8 byte order, read back by Foundation's JSON parser,
/// by our reader and, when `LORATOOL_PYTHON` is set (`make test`), by the `safetensors` library.
@Suite struct SafetensorsHeaderTests {
    /// Names that need every kind of escape, non-ASCII ones, and some whose order in UTF-8 bytes
    /// is not their order ignoring case (`Zeta` < `_under` < `b.weight`).
    static let names = ["b.weight", "a\"quote", "back\\slash", "new\nline", "tab\tbell\u{7}", "café", "Zeta", "_under", "ünï"]
    static let metadata = ["note": "line 1\nline 2 \"quoted\" \\ \u{1}", "Format2": "x", "é": "ü"]

    static func write(to path: String) throws {
        var items = names.map { name in
            DictItem(key: .string(name), value: .tensor(TensorEntry(name: name, dtype: .float16, shape: [2, 3], strides: [3, 1],
                                                                    storageOffset: 0, storageKey: name)))
        }
        for (key, value) in metadata { items.append(DictItem(key: .string(key), value: .string(value))) }
        try CheckpointWriter.write(root: .dict(items, ordered: true), to: path, format: .safetensors) { e in
            [UInt8](repeating: UInt8(truncatingIfNeeded: e.name.utf8.count), count: e.byteCount)
        }
    }

    @Test func escapedNamesAndMetadataReadBackEverywhere() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("escapes.safetensors").path
        try Self.write(to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = data.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let headerBytes = data.subdata(in: 8..<(8 + length))

        // Foundation's parser sees every name and value as written.
        let header = try #require(try JSONSerialization.jsonObject(with: headerBytes) as? [String: Any])
        let keys = Set(header.keys.map { Array($0.utf8) })
        #expect(keys == Set((Self.names + ["__metadata__"]).map { Array($0.utf8) }))
        let written = try #require(header["__metadata__"] as? [String: String])
        for (key, value) in Self.metadata { #expect(written[key].map { Array($0.utf8) } == Array(value.utf8), "\(key)") }
        #expect(written["format"] == "pt")
        let b = try #require(header["b.weight"] as? [String: Any])
        #expect(b["dtype"] as? String == "F16" && b["shape"] as? [Int] == [2, 3])

        // Top-level keys appear in UTF-8 byte order.
        let order = (Self.names + ["__metadata__"]).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var at = headerBytes.startIndex
        for key in order {
            var quoted: [UInt8] = []
            quoted.append(jsonString: key)
            let found = try #require(headerBytes.range(of: Data(quoted + [UInt8(ascii: ":")]), in: at..<headerBytes.endIndex), "\(key) out of order")
            at = found.upperBound
        }

        // Our reader: the same tensors and their bytes.
        let back = try Checkpoint.open(path: path)
        #expect(Set(back.tensors.map { Array($0.name.utf8) }) == Set(Self.names.map { Array($0.utf8) }))
        for tensor in back.tensors {
            #expect(try back.bytes(of: tensor) == [UInt8](repeating: UInt8(tensor.name.utf8.count), count: 12), "\(tensor.name)")
        }

        guard let python = ProcessInfo.processInfo.environment["LORATOOL_PYTHON"] else { return }
        let script = """
            import sys, json
            from safetensors import safe_open
            with safe_open(sys.argv[1], "np") as f:
                print(json.dumps({"keys": sorted(f.keys()), "metadata": f.metadata()}))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let library = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
        let libraryKeys = try #require(library["keys"] as? [String])
        #expect(Set(libraryKeys.map { Array($0.utf8) }) == Set(Self.names.map { Array($0.utf8) }))
        let libraryMetadata = try #require(library["metadata"] as? [String: String])
        for (key, value) in Self.metadata { #expect(libraryMetadata[key].map { Array($0.utf8) } == Array(value.utf8), "\(key)") }
    }
}
