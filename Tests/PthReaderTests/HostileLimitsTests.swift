import Foundation
import Testing
import TestSupport
@testable import PthReader

/// Regression tests for issue 7's classes: overflow, materialisation bounds, name collisions,
/// build budgets, pickle protocols 0/1, FIFOs, `..` and symlinks. Hostile files are written by
/// real torch when `LORATOOL_PYTHON` names a Python with torch; hand-made bytes otherwise.
@Suite struct HostileLimitsTests {
    static let python = ProcessInfo.processInfo.environment["LORATOOL_PYTHON"]

    /// Runs a Python script (with torch) in `dir`; fails the test on a non-zero exit.
    static func torch(_ script: String, in dir: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(python))
        process.arguments = ["-c", "import torch, os, sys\nos.chdir(sys.argv[1])\n" + script, dir.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(String(decoding: output, as: UTF8.self))")
    }

    private func unpickle(_ bytes: [UInt8], maxCreated: Int? = nil) throws -> Node {
        var unpickler = Unpickler(bytes: bytes, path: "test.pkl", entry: "data.pkl") { _ in
            StorageRef(key: "0", dtype: .float32, declaredCount: 4)
        }
        if let maxCreated { unpickler.maxCreatedValues = maxCreated }
        return try unpickler.load()
    }

    // MARK: overflow and materialisation

    @Test(.enabled(if: python != nil))
    func strideZeroViewsBeyondIntAreRefusedByName() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.torch("""
            torch.save({"w": torch.zeros(1).expand(2**62)}, "one.pth")
            torch.save({"a": torch.zeros(1, dtype=torch.int8).expand(2**62), "b": torch.zeros(1, dtype=torch.int8).expand(2**62)}, "two.pth")
            """, in: dir)
        let one = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: dir.appendingPathComponent("one.pth").path) }
        guard case .exceedsLimit(_, let entry, let reason) = one else { Issue.record("\(one)"); return }
        #expect(entry == "w" && reason.contains("2^63"))
        // Each fits Int on its own; their total does not.
        let two = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: dir.appendingPathComponent("two.pth").path) }
        guard case .exceedsLimit(_, let entry2, _) = two else { Issue.record("\(two)"); return }
        #expect(entry2 == "b")
    }

    @Test(.enabled(if: python != nil))
    func hugeStrideZeroViewIsDescribedButNotMaterialised() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.torch(#"torch.save({"w": torch.zeros(1).expand(10**15)}, "big.pth")"#, in: dir)
        let checkpoint = try Checkpoint.open(path: dir.appendingPathComponent("big.pth").path)
        let w = try #require(checkpoint.tensor(named: "w"))
        #expect(w.elementCount == 1_000_000_000_000_000)
        #expect(checkpoint.storageByteCount == 4)
        let error = try #require(throws: PthReaderError.self) { _ = try checkpoint.bytes(of: w) }
        guard case .exceedsLimit(_, let entry, let reason) = error else { Issue.record("\(error)"); return }
        #expect(entry == "w" && reason.contains("4000000000000000 bytes"))
        #expect(throws: PthReaderError.self) { _ = try checkpoint.floats(of: w) }
        // Writing it would need 4 PB of disk: refused before any file is created.
        let out = dir.appendingPathComponent("out.safetensors").path
        #expect(throws: PthReaderError.self) { try ResourceLimits.checkDiskSpace(forWriting: checkpoint.root, to: out) }
    }

    // MARK: name collisions

    @Test(.enabled(if: python != nil))
    func flattenedNameCollisionsAreRefusedByName() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.torch("""
            import unicodedata
            torch.save({"a.b": torch.ones(2), "a": {"b": torch.zeros(2)}}, "dotted.pth")
            torch.save({True: torch.ones(2), "True": torch.zeros(2)}, "bool.pth")
            torch.save({unicodedata.normalize("NFC", "café"): torch.ones(2), unicodedata.normalize("NFD", "café"): torch.zeros(2)}, "nfc.pth")
            """, in: dir)
        for (file, name) in [("dotted.pth", "a.b"), ("bool.pth", "True"), ("nfc.pth", "café")] {
            let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: dir.appendingPathComponent(file).path) }
            guard case .malformed(_, let entry, _) = error else { Issue.record("\(file): \(error)"); continue }
            #expect(entry.map { Array($0.utf8) == Array(name.utf8) || $0 == name } == true, "\(file): \(error)")
        }
    }

    @Test func duplicateDictKeysKeepTheLastValueLikePython() throws {
        // {"k": 1, "k": 2, 1: "int", True: "bool"} → Python: {"k": 2, 1: "bool"}
        var bytes: [UInt8] = [0x80, 0x02, 0x7D, 0x28]
        bytes += [0x8C, 1, 0x6B, 0x4B, 1, 0x8C, 1, 0x6B, 0x4B, 2]
        bytes += [0x4B, 1, 0x8C, 3] + Array("int".utf8) + [0x88, 0x8C, 4] + Array("bool".utf8)
        bytes += [0x75, 0x2E]
        let node = try unpickle(bytes)
        #expect(node == .dict([DictItem(key: .string("k"), value: .int(2)), DictItem(key: .int(1), value: .string("bool"))], ordered: false))
    }

    @Test func nfcAndNfdKeysStayTwoDictKeys() throws {
        let nfc = Array("caf\u{E9}".utf8), nfd = Array("cafe\u{301}".utf8)
        var bytes: [UInt8] = [0x80, 0x02, 0x7D, 0x28]
        bytes += [0x8C, UInt8(nfc.count)] + nfc + [0x4B, 1, 0x8C, UInt8(nfd.count)] + nfd + [0x4B, 2]
        bytes += [0x75, 0x2E]
        guard case .dict(let items, _) = try unpickle(bytes) else { Issue.record("not a dict"); return }
        #expect(items.count == 2)
    }

    // MARK: pickle budgets and protocols

    @Test func aPickleThatUnrollsIntoTooManyValuesIsRefusedWhileBuilding() throws {
        // [None] * 1000 as MARK NONE... APPENDS; with a limit of 500 created values.
        let bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x28] + [UInt8](repeating: 0x4E, count: 1000) + [0x65, 0x2E]
        let error = try #require(throws: PthReaderError.self) { _ = try unpickle(bytes, maxCreated: 500) }
        #expect(error.description.contains("more than 500 values"))
        #expect(try unpickle(bytes, maxCreated: 2000) == .list([Node](repeating: .none, count: 1000)))
    }

    @Test func aLongTextLineIsNamedAsSuch() throws {
        let bytes: [UInt8] = [0x63] + [UInt8](repeating: 0x61, count: 5000) + [0x0A, 0x62, 0x0A, 0x2E]
        let error = try #require(throws: PthReaderError.self) { _ = try unpickle(bytes) }
        #expect(error.description.contains("text line longer than"))
    }

    @Test func textOpcodesOfProtocolsZeroAndOne() throws {
        // (dp0\nVa\nI3\nsVb\nL123456789012345678901234567890L\nsVc\nF1.5\nsVd\nI01\nsVe\ng0\ns. is not built:
        // a dict holding ints, a long, a float, a bool and a memo reference to a string.
        let text = "(dp0\nVk\u{e9}\\u20ac\np1\nI3\nsVb\nL123456789012345678901234567890L\nsVc\nF1.5\nsVd\nI01\nsVe\ng1\ns."
        let node = try unpickle(Array(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }))
        #expect(node == .dict([
            DictItem(key: .string("ké€"), value: .int(3)),
            DictItem(key: .string("b"), value: .bigInt("123456789012345678901234567890")),
            DictItem(key: .string("c"), value: .double(1.5)),
            DictItem(key: .string("d"), value: .bool(true)),
            DictItem(key: .string("e"), value: .string("ké€")),
        ], ordered: false))
    }

    @Test(.enabled(if: python != nil))
    func protocolOneFilesLoadAsTorchLoadsThemAndProtocolZeroIsRefusedLikeTorch() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.torch("""
            sd = {"w": torch.arange(6, dtype=torch.float16).reshape(2, 3), "i": torch.tensor([1, -2], dtype=torch.int64), "n": 3, "f": 1.5, "s": "x", "big": 2**70}
            for p in (0, 1):
                torch.save(sd, f"zip{p}.pth", pickle_protocol=p)
                torch.save(sd, f"legacy{p}.pth", pickle_protocol=p, _use_new_zipfile_serialization=False)
            back = torch.load("legacy1.pth", weights_only=False)
            assert torch.equal(back["w"], sd["w"]) and back["big"] == 2**70
            """, in: dir)
        for file in ["zip1.pth", "legacy1.pth"] {
            let checkpoint = try Checkpoint.open(path: dir.appendingPathComponent(file).path)
            let w = try #require(checkpoint.tensor(named: "w"))
            #expect(w.dtype == .float16 && w.shape == [2, 3])
            #expect(try checkpoint.floats(of: w) == [0, 1, 2, 3, 4, 5])
            #expect(try checkpoint.bytes(of: try #require(checkpoint.tensor(named: "i"))) == [1, 0, 0, 0, 0, 0, 0, 0] + [254] + [UInt8](repeating: 255, count: 7))
            let metadata = Dictionary(uniqueKeysWithValues: checkpoint.metadata.map { ($0.name, $0.value) })
            #expect(metadata["n"] == .int(3) && metadata["f"] == .double(1.5) && metadata["s"] == .string("x") && metadata["big"] == .bigInt("1180591620717411303424"))
        }
        for file in ["zip0.pth", "legacy0.pth"] {
            let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: dir.appendingPathComponent(file).path) }
            #expect(error.description.contains("protocol 0"), "\(error)")
        }
    }

    // MARK: file types, `..` and symlinks

    @Test func fifosDevicesAndDirectoriesAreRefusedWithoutBlocking() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("model.safetensors").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: fifo) }
        #expect(error.description.contains("FIFO"))
        // The same FIFO as a directory's weights.
        let inDirectory = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: dir.path) }
        #expect(inDirectory.description.contains("FIFO"))
        let device = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: "/dev/null") }
        #expect(device.description.contains("character device"))
        #expect(throws: PthReaderError.self) { try RegularFile.read(dir.path) }
    }

    @Test func symlinkLoopsAreNamed() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.pth").path, b = dir.appendingPathComponent("b.pth").path
        try FileManager.default.createSymbolicLink(atPath: a, withDestinationPath: b)
        try FileManager.default.createSymbolicLink(atPath: b, withDestinationPath: a)
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: a) }
        #expect(error.description.contains("symlink loop"))
    }

    /// A safetensors file of one float32 tensor `name` = [1, 2].
    static func safetensors(_ name: String) -> Data {
        var header = Array(#"{"\#(name)":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var data = Data(withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init))
        data.append(contentsOf: header)
        data.append(contentsOf: withUnsafeBytes(of: Float(1).bitPattern.littleEndian, Array.init) + withUnsafeBytes(of: Float(2).bitPattern.littleEndian, Array.init))
        return data
    }

    @Test func shardNamesMustBePlainFileNames() throws {
        let root = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.safetensors("w").write(to: root.appendingPathComponent("model.safetensors"))
        let model = root.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        for shard in ["..", ".", "../model.safetensors", ""] {
            let index = try JSONSerialization.data(withJSONObject: ["weight_map": ["w": shard]])
            try index.write(to: model.appendingPathComponent("model.safetensors.index.json"))
            let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: model.path) }
            #expect(error.description.contains("not a plain file name"), "\(shard): \(error)")
            #expect(error.description.count < 300)
        }
    }

    @Test func huggingFaceCacheSymlinksAreFollowed() throws {
        // snapshots/REV/model.safetensors -> ../../blobs/HASH, as huggingface_hub lays out its cache.
        let root = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let blobs = root.appendingPathComponent("blobs"), snapshot = root.appendingPathComponent("snapshots/abc123")
        try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: snapshot, withIntermediateDirectories: true)
        try Self.safetensors("w").write(to: blobs.appendingPathComponent("e3b0c442"))
        try FileManager.default.createSymbolicLink(atPath: snapshot.appendingPathComponent("model.safetensors").path,
                                                   withDestinationPath: "../../blobs/e3b0c442")
        let checkpoint = try Checkpoint.open(path: snapshot.path)
        #expect(try checkpoint.floats(of: try #require(checkpoint.tensor(named: "w"))) == [1, 2])
        // A link to a FIFO is refused like the FIFO.
        let fifo = blobs.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let link = root.appendingPathComponent("link.safetensors").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: fifo)
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: link) }
        #expect(error.description.contains("FIFO"))
    }

    @Test func singleWeightsFileWinsOverAnIndexAsInTransformers() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.safetensors("single").write(to: dir.appendingPathComponent("model.safetensors"))
        try Self.safetensors("sharded").write(to: dir.appendingPathComponent("shard-1.safetensors"))
        let index = try JSONSerialization.data(withJSONObject: ["weight_map": ["sharded": "shard-1.safetensors"]])
        try index.write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        let checkpoint = try Checkpoint.open(path: dir.path)
        #expect(checkpoint.tensors.map(\.name) == ["single"])
        // Without the single file, the index is read, and a shard tensor it does not list is refused.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        #expect(try Checkpoint.open(path: dir.path).tensors.map(\.name) == ["sharded"])
        let partial = try JSONSerialization.data(withJSONObject: ["weight_map": ["other": "shard-1.safetensors"]])
        try partial.write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: dir.path) }
        #expect(error.description.contains("does not list it"))
    }
}
