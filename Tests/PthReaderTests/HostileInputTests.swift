import Foundation
import Testing
import TestSupport
@testable import PthReader

/// Broken and hostile inputs give a `PthReaderError` naming the file, never a crash, and run nothing.
@Suite struct HostileInputTests {
    static let marker = "/tmp/loratool_pwned_marker"

    static let badFixtures: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: Fixtures.sharedPath("bad"))) ?? []).sorted()

    @Test func badFixturesExist() {
        #expect(Self.badFixtures.count >= 5)
    }

    @Test(arguments: badFixtures)
    func sharedBadFileIsRefused(name: String) throws {
        let path = Fixtures.sharedPath("bad/" + name)
        let error = try #require(throws: PthReaderError.self) {
            let checkpoint = try Checkpoint.open(path: path)
            for tensor in checkpoint.tensors { _ = try checkpoint.bytes(of: tensor) }
        }
        #expect(error.description.hasPrefix(path), "error must name the file: \(error)")
        #expect(!FileManager.default.fileExists(atPath: Self.marker))
    }

    @Test func evilGlobalIsNamed() throws {
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: Fixtures.sharedPath("bad/evil.pth")) }
        guard case .forbiddenGlobal(_, _, let module, let name) = error else {
            Issue.record("expected a refused global, got \(error)")
            return
        }
        #expect(["os", "posix", "nt"].contains(module))
        #expect(name == "system")
    }

    /// Runs the unpickler over hand-written pickle bytes.
    private func unpickle(_ bytes: [UInt8]) throws -> Node {
        var unpickler = Unpickler(bytes: bytes, path: "test.pkl", entry: "data.pkl") { _ in
            StorageRef(key: "0", dtype: .float32, declaredCount: 4)
        }
        return try unpickler.load()
    }

    static let proto: [UInt8] = [0x80, 0x02]

    @Test func plainValuesRoundTrip() throws {
        // {"a": 1, "b": [True, None, 2.5], "c": -300, "big": 2**70, "neg": -2**70 - 5}, bytes as Python's pickle writes them
        var bytes = Self.proto + [0x7D, 0x28]
        bytes += [0x8C, 1, 0x61, 0x4B, 1]
        bytes += [0x8C, 1, 0x62, 0x5D, 0x28, 0x88, 0x4E, 0x47, 0x40, 0x04, 0, 0, 0, 0, 0, 0, 0x65]
        bytes += [0x8C, 1, 0x63, 0x4A] + withUnsafeBytes(of: Int32(-300).littleEndian, Array.init)
        bytes += [0x8C, 3] + Array("big".utf8) + [0x8A, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x40]
        bytes += [0x8C, 3] + Array("neg".utf8) + [0x8A, 9, 251, 255, 255, 255, 255, 255, 255, 255, 191]
        bytes += [0x75, 0x2E]
        let node = try unpickle(bytes)
        let expected: Node = .dict([
            DictItem(key: .string("a"), value: .int(1)),
            DictItem(key: .string("b"), value: .list([.bool(true), .none, .double(2.5)])),
            DictItem(key: .string("c"), value: .int(-300)),
            DictItem(key: .string("big"), value: .bigInt("1180591620717411303424")),
            DictItem(key: .string("neg"), value: .bigInt("-1180591620717411303429")),
        ], ordered: false)
        #expect(node == expected)
    }

    @Test(arguments: [
        ("os", "system"), ("builtins", "eval"), ("builtins", "exec"), ("subprocess", "Popen"),
        ("posix", "system"), ("torch", "load"), ("numpy", "load"), ("__builtin__", "getattr"),
    ])
    func unknownGlobalsAreRefused(module: String, name: String) throws {
        let bytes = Self.proto + [0x63] + Array("\(module)\n\(name)\n".utf8) + [0x29, 0x52, 0x2E]
        let error = try #require(throws: PthReaderError.self) { try unpickle(bytes) }
        #expect(error == .forbiddenGlobal(path: "test.pkl", entry: "data.pkl", module: module, name: name))
    }

    @Test func stackGlobalIsCheckedToo() throws {
        let bytes = Self.proto + [0x8C, 2] + Array("os".utf8) + [0x8C, 6] + Array("system".utf8) + [0x93, 0x2E]
        #expect(throws: PthReaderError.forbiddenGlobal(path: "test.pkl", entry: "data.pkl", module: "os", name: "system")) { try unpickle(bytes) }
    }

    @Test func deepNestingIsRefused() throws {
        let depth = 100_000
        var bytes = Self.proto
        bytes += [UInt8](repeating: 0x5D, count: depth) // EMPTY_LIST × depth
        bytes += [UInt8](repeating: 0x61, count: depth - 1) // APPEND × depth-1
        bytes += [0x2E]
        let error = try #require(throws: PthReaderError.self) { try unpickle(bytes) }
        #expect(error.description.contains("nested deeper"))
        var tuples = Self.proto + [0x29] + [UInt8](repeating: 0x85, count: depth) + [0x2E] // TUPLE1 chain
        #expect(throws: PthReaderError.self) { try unpickle(tuples) }
        tuples.removeAll()
    }

    @Test func selfContainingListIsRefused() throws {
        // l = []; l.append(l)
        let bytes = Self.proto + [0x5D, 0x71, 0, 0x68, 0, 0x61, 0x2E]
        let error = try #require(throws: PthReaderError.self) { try unpickle(bytes) }
        #expect(error.description.contains("contains itself"))
    }

    @Test func hugeDeclaredLengthsAreRefused() throws {
        let unicode8 = Self.proto + [0x8D] + withUnsafeBytes(of: UInt64.max.littleEndian, Array.init) + [0x2E]
        #expect(throws: PthReaderError.self) { try unpickle(unicode8) }
        let binbytes = Self.proto + [0x42, 0xFF, 0xFF, 0xFF, 0x7F, 0x2E]
        #expect(throws: PthReaderError.self) { try unpickle(binbytes) }
    }

    @Test func memoReferenceToNothingIsRefused() throws {
        let error = try #require(throws: PthReaderError.self) { try unpickle(Self.proto + [0x68, 7, 0x2E]) }
        #expect(error.description.contains("memo reference 7"))
        #expect(throws: PthReaderError.self) { try unpickle(Self.proto + [0x6A, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E]) }
    }

    @Test(arguments: [
        ([0x80, 0x02, 0x69, 0x2E], "INST"),
        ([0x80, 0x02, 0x4E, 0x92, 0x2E], "NEWOBJ_EX"),
        ([0x80, 0x02, 0x8F, 0x2E], "EMPTY_SET"),
        ([0x80, 0x02, 0xFE, 0x2E], "0xfe"),
    ] as [([UInt8], String)])
    func unsupportedOpcodesAreNamed(bytes: [UInt8], name: String) throws {
        let error = try #require(throws: PthReaderError.self) { try unpickle(bytes) }
        #expect(error.description.contains(name))
    }

    @Test func stackMisuseIsRefused() throws {
        for bytes: [UInt8] in [
            Self.proto + [0x2E],              // STOP on empty stack
            Self.proto + [0x61, 0x2E],        // APPEND with nothing
            Self.proto + [0x4E, 0x4E, 0x73, 0x2E], // SETITEM without dict
            Self.proto + [0x74, 0x2E],        // TUPLE without MARK
            Self.proto + [0x4E],              // no STOP
            [0x80, 0x09, 0x4E, 0x2E],         // protocol 9
        ] {
            #expect(throws: PthReaderError.self) { try unpickle(bytes) }
        }
    }

    @Test func tensorViewPastItsStorageIsRefused() throws {
        // _rebuild_tensor_v2(storage(4 floats), offset 2, size (4,), stride (1,), False, OrderedDict())
        var bytes = Self.proto
        bytes += [0x63] + Array("torch._utils\n_rebuild_tensor_v2\n".utf8)
        bytes += [0x28]
        bytes += [0x28, 0x8C, 7] + Array("storage".utf8) + [0x63] + Array("torch\nFloatStorage\n".utf8)
        bytes += [0x8C, 1, 0x30, 0x8C, 3] + Array("cpu".utf8) + [0x4B, 4, 0x74, 0x51]
        bytes += [0x4B, 2, 0x4B, 4, 0x85, 0x4B, 1, 0x85, 0x89]
        bytes += [0x63] + Array("collections\nOrderedDict\n".utf8) + [0x29, 0x52]
        bytes += [0x74, 0x52, 0x2E]
        let root = try unpickle(bytes)
        guard case .tensor(let entry) = root else {
            Issue.record("expected a tensor, got \(root)")
            return
        }
        #expect(entry.shape == [4] && entry.storageOffset == 2)
        let source = MemorySource(bytes: [UInt8](repeating: 0, count: 16))
        let storage = StorageLocation(source: source, offset: 0, byteCount: 16, dtype: .float32)
        let error = try #require(throws: PthReaderError.self) {
            try Checkpoint(path: "test.pth", format: .torchZip, root: root, storages: ["0": storage])
        }
        #expect(error.description.contains("view needs 24 bytes"))
    }

    /// `_rebuild_tensor_v3` over a `torch.storage.UntypedStorage` (bytes) takes its dtype from the call.
    @Test func rebuildTensorV3TakesItsDtypeFromTheCall() throws {
        var bytes = Self.proto
        bytes += [0x63] + Array("torch._utils\n_rebuild_tensor_v3\n".utf8)
        bytes += [0x28]
        bytes += [0x28, 0x8C, 7] + Array("storage".utf8) + [0x63] + Array("torch.storage\nUntypedStorage\n".utf8)
        bytes += [0x8C, 1, 0x30, 0x8C, 3] + Array("cpu".utf8) + [0x4B, 8, 0x74, 0x51]     // 8 bytes
        bytes += [0x4B, 0, 0x4B, 2, 0x4B, 2, 0x86, 0x4B, 2, 0x4B, 1, 0x86, 0x89]          // offset 0, (2, 2), (2, 1), False
        bytes += [0x63] + Array("collections\nOrderedDict\n".utf8) + [0x29, 0x52]
        bytes += [0x63] + Array("torch\nfloat16\n".utf8)
        bytes += [0x74, 0x52, 0x2E]
        var unpickler = Unpickler(bytes: bytes, path: "v3.pkl", entry: "data.pkl") { pid in
            try TorchZipFormat.storageRef(pid, path: "v3.pkl", entry: "data.pkl")
        }
        guard case .tensor(let entry) = try unpickler.load() else {
            Issue.record("expected a tensor")
            return
        }
        #expect(entry.dtype == .float16 && entry.shape == [2, 2] && entry.strides == [2, 1])
        let storage = StorageLocation(source: MemorySource(bytes: [0, 0x3C, 0, 0x40, 0, 0x42, 0, 0x44]), offset: 0, byteCount: 8, dtype: nil)
        let checkpoint = try Checkpoint(path: "v3.pth", format: .torchZip, root: .tensor(entry), storages: ["0": storage])
        #expect(try checkpoint.floats(of: checkpoint.tensors[0]) == [1, 2, 3, 4])
    }

    /// A legacy file whose sys_info says big-endian is refused, not misread (the real file, one byte changed).
    @Test func bigEndianLegacyFileIsRefused() throws {
        var bytes = [UInt8](try Data(contentsOf: Fixtures.shared.appendingPathComponent("edge_legacy.pth")))
        let key = Array("little_endian".utf8)
        let at = try #require((0...(bytes.count - key.count)).first { Array(bytes[$0..<($0 + key.count)]) == key })
        // BINUNICODE key, then BINPUT n, then NEWTRUE: make it NEWFALSE.
        let value = try #require(((at + key.count)..<(at + key.count + 4)).first { bytes[$0] == 0x88 })
        bytes[value] = 0x89
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("big.pth").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: path) }
        #expect(error.description.contains("big-endian"))
    }

    @Test func truncatedCopiesOfRealFilesAreRefused() throws {
        let original = try Data(contentsOf: Fixtures.shared.appendingPathComponent("edge_legacy.pth"))
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for cut in stride(from: 1, to: original.count, by: max(1, original.count / 37)) {
            let path = dir.appendingPathComponent("cut\(cut).pth").path
            try original.prefix(cut).write(to: URL(fileURLWithPath: path))
            #expect(throws: PthReaderError.self, "cut at \(cut)") {
                let checkpoint = try Checkpoint.open(path: path)
                for tensor in checkpoint.tensors { _ = try checkpoint.bytes(of: tensor) }
            }
        }
    }
}

/// Bytes in memory as a storage source, for tests.
final class MemorySource: ByteSource, @unchecked Sendable {
    let bytes: [UInt8]
    init(bytes: [UInt8]) { self.bytes = bytes }
    func read(offset: Int, into buffer: UnsafeMutableRawBufferPointer, context: String) throws {
        guard offset >= 0, offset <= bytes.count - buffer.count else { throw PthReaderError.malformed(path: "memory", entry: context, reason: "out of range") }
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + buffer.count)])) }
    }
}
