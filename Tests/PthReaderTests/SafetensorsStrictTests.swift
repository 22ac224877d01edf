import Foundation
import Testing
import TestSupport
@testable import PthReader

/// Safetensors headers are accepted or refused exactly as the safetensors library does; the
/// library's verdict is asked for every case when `LORATOOL_PYTHON` is set.
@Suite struct SafetensorsStrictTests {
    static let python = ProcessInfo.processInfo.environment["LORATOOL_PYTHON"]

    /// (name, header JSON, data bytes, accepted by safetensors 0.8)
    static let cases: [(String, String, Int, Bool)] = [
        ("ok", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 8, true),
        ("duplicate_key_last_wins", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 8, true),
        ("duplicate_key_leaves_gap", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, false),
        ("shape_true", #"{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, 4, false),
        ("shape_float", #"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#, 8, false),
        ("shape_exponent", #"{"a":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}"#, 8, false),
        ("shape_huge", #"{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}}"#, 8, false),
        ("shape_negative", #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}"#, 8, false),
        ("overlap", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 12, false),
        ("gap", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, 12, false),
        ("listed_out_of_order", #"{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 8, true),
        ("trailing_data", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 12, false),
        ("trailing_json", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x"#, 8, false),
        ("metadata_number", #"{"__metadata__":{"x":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 8, false),
        ("metadata_null", #"{"__metadata__":null,"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 8, true),
        ("extra_field", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}"#, 8, true),
        ("offsets_three", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}"#, 8, false),
        ("empty", #"{}"#, 0, true),
        ("zero_size_first", #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 8, true),
        ("wrong_span", #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, false),
    ]

    static func file(_ header: String, data: Int) -> Data {
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var d = Data(withUnsafeBytes(of: UInt64(h.count).littleEndian, Array.init))
        d.append(contentsOf: h)
        d.append(Data(count: data))
        return d
    }

    @Test func casesMatchTheLibrary() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, header, data, accepted) in Self.cases {
            let path = dir.appendingPathComponent(name + ".safetensors").path
            try Self.file(header, data: data).write(to: URL(fileURLWithPath: path))
            let ours = Result { try Checkpoint.open(path: path) }
            switch ours {
            case .success: #expect(accepted, "\(name): we accept what safetensors refuses")
            case .failure(let error):
                #expect(!accepted, "\(name): we refuse what safetensors accepts: \(error)")
                #expect((error as? PthReaderError)?.description.hasPrefix(path) == true, "\(name): \(error)")
            }
        }
        guard let python = Self.python else { return }
        // The expectations above are the library's own verdicts: check them against it.
        let script = """
            import sys, os, json
            from safetensors.numpy import load
            out = {}
            for f in sorted(os.listdir(sys.argv[1])):
                try: load(open(os.path.join(sys.argv[1], f), "rb").read()); out[f[:-12]] = True
                except Exception: out[f[:-12]] = False
            print(json.dumps(out))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, dir.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let verdicts = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Bool])
        for (name, _, _, accepted) in Self.cases { #expect(verdicts[name] == accepted, "\(name): safetensors says \(String(describing: verdicts[name]))") }
    }

    @Test func headerOverTheLimitIsNamedAsSuch() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("big.safetensors").path
        var d = Data(withUnsafeBytes(of: UInt64(100_000_001).littleEndian, Array.init))
        d.append(contentsOf: Array("{  ".utf8))
        try d.write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: path) }
        #expect(error.description.contains("header too large"), "\(error)")
    }

    @Test func nfcAndNfdNamesAreNotMerged() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("nfc.safetensors").path
        let header = "{\"caf\u{E9}\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"cafe\u{301}\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}"
        try Self.file(header, data: 8).write(to: URL(fileURLWithPath: path))
        // Both tensors are seen (none lost); as two names that differ only in normalisation they are refused by name.
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: path) }
        #expect(error.description.contains("Unicode normalisation"), "\(error)")
    }

    @Test func deepJSONNestingIsRefusedNotAStackOverflow() throws {
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: StrictJSON.SyntaxError.self) { _ = try StrictJSON.parse(Array(("{\"a\":" + deep).utf8)) }
    }
}
