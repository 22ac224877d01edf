import Foundation
import Testing
import TestSupport
@testable import PthReader

/// Writes checkpoints with `CheckpointWriter` and reads them back with `Checkpoint.open`.
@Suite struct WriterTests {
    // MARK: helpers

    /// A contiguous tensor entry with its own storage key.
    static func entry(_ name: String, _ dtype: DType, _ shape: [Int], key: String? = nil, offset: Int = 0,
                      strides: [Int]? = nil, requiresGrad: Bool = false) -> TensorEntry {
        TensorEntry(name: name, dtype: dtype, shape: shape, strides: strides ?? TensorEntry.contiguousStrides(for: shape),
                    storageOffset: offset, storageKey: key ?? name, requiresGrad: requiresGrad)
    }

    /// Deterministic bytes for a tensor, different per name (bools stay 0/1).
    static func pattern(_ e: TensorEntry) -> [UInt8] {
        let seed = e.name.utf8.reduce(7) { ($0 &* 31 &+ Int($1)) & 0xFFFF }
        return (0..<e.byteCount).map { i in
            e.dtype == .bool ? UInt8((i + seed) % 2) : UInt8(truncatingIfNeeded: i &* 13 &+ seed)
        }
    }

    /// A string-keyed dict node.
    static func dict(_ items: [(String, Node)], ordered: Bool = true) -> Node {
        .dict(items.map { DictItem(key: .string($0.0), value: $0.1) }, ordered: ordered)
    }

    /// The tree with storage details (keys, offsets, strides) dropped, to compare structure and values' types.
    static func shape(of node: Node) -> Node {
        switch node {
        case .tensor(let e):
            return .tensor(TensorEntry(name: "", dtype: e.dtype, shape: e.shape, strides: [], storageOffset: 0,
                                       storageKey: "", requiresGrad: e.requiresGrad))
        case .dict(let items, let ordered):
            return .dict(items.map { DictItem(key: $0.key, value: shape(of: $0.value)) }, ordered: ordered)
        case .list(let items): return .list(items.map(shape(of:)))
        case .tuple(let items): return .tuple(items.map(shape(of:)))
        default: return node
        }
    }

    /// Names of the entries left in a directory.
    static func contents(of dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    static let everyDType: Node = dict(DType.allCases.map { ($0.rawValue, .tensor(entry($0.rawValue, $0, [3, 5]))) }
        + [("scalar", .tensor(entry("scalar", .float32, []))),
           ("empty", .tensor(entry("empty", .float16, [0]))),
           ("empty2d", .tensor(entry("empty2d", .int64, [0, 4])))])

    /// A training-checkpoint-like tree: nested dicts, lists, tuples and every plain value kind.
    static let trainTree: Node = dict([
        ("model", dict([
            ("layers.0.weight", .tensor(entry("model.layers.0.weight", .float16, [4, 3]))),
            ("layers.0.bias", .tensor(entry("model.layers.0.bias", .float32, [4], requiresGrad: true))),
        ])),
        ("optimizer", dict([
            ("state", .dict([
                DictItem(key: .int(0), value: dict([
                    ("step", .tensor(entry("optimizer.state.0.step", .float32, []))),
                    ("exp_avg", .tensor(entry("optimizer.state.0.exp_avg", .float32, [4, 3]))),
                ], ordered: false)),
            ], ordered: false)),
            ("param_groups", .list([dict([
                ("lr", .double(5e-4)), ("betas", .tuple([.double(0.9), .double(0.999)])),
                ("params", .list([.int(0), .int(1)])), ("amsgrad", .bool(false)), ("foreach", .none),
            ], ordered: false)])),
        ], ordered: false)),
        ("epoch", .int(3)), ("step", .int(1000)), ("scaler", .none),
        ("ints", .list([.int(255), .int(256), .int(65535), .int(65536), .int(-1), .int(Int(Int32.min)),
                        .int(Int(Int32.max) + 1), .int(Int.max), .int(Int.min)])),
        ("big", .bigInt("-123456789012345678901234567890")),
        ("args", dict([("dtype", .dtype(.bfloat16)), ("device", .device("cuda:0")), ("size", .size([2, 3])),
                       ("name", .string("minimind ünï 🚀")), ("raw", .bytes([0, 0x41, 0xFF])), ("nothing", .bytes([])),
                       ("wide", .tuple([.int(1), .int(2), .int(3), .int(4)])), ("pi", .double(-3.25))], ordered: false)),
    ], ordered: false)

    // MARK: format choice

    @Test(arguments: [("a/model.pth", OutputFormat.torchZip), ("x.pt", .torchZip), ("pytorch_model.BIN", .torchZip),
                      ("model.safetensors", .safetensors)])
    func formatFromExtension(path: String, format: OutputFormat) throws {
        #expect(try OutputFormat(path: path) == format)
    }

    @Test(arguments: ["model.ckpt", "model", ".pth", "dir.pth/model"])
    func unknownExtensionThrows(path: String) {
        #expect(throws: CheckpointWriterError.unsupportedExtension(path: path)) { try OutputFormat(path: path) }
    }

    // MARK: round trips

    @Test(arguments: OutputFormat.allCases)
    func everyDTypeRoundTrips(format: OutputFormat) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent(format == .torchZip ? "every.pth" : "every.safetensors").path
        var progress: [(Int, Int)] = []
        try CheckpointWriter.write(root: Self.everyDType, to: path, format: format,
                                   progress: { progress.append(($0, $1)) }, provide: Self.pattern)
        let back = try Checkpoint.open(path: path)
        #expect(back.format == (format == .torchZip ? .torchZip : .safetensors))
        var originals: [TensorEntry] = []
        CheckpointWriter.forEachLeaf(Self.everyDType) { _, node in if case .tensor(let e) = node { originals.append(e) } }
        #expect(back.tensors.count == originals.count)
        for original in originals {
            let read = try #require(back.tensor(named: original.name), "\(original.name) missing")
            #expect(read.dtype == original.dtype, "\(original.name)")
            #expect(read.shape == original.shape, "\(original.name)")
            #expect(try back.bytes(of: read) == Self.pattern(original), "\(original.name) bytes")
        }
        #expect(progress.map(\.0) == Array(1...originals.count))
        #expect(progress.allSatisfy { $0.1 == originals.count })
        #expect(try Self.contents(of: dir) == [URL(fileURLWithPath: path).lastPathComponent], "temporary files left")
    }

    @Test func nestedTrainCheckpointKeepsItsTree() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("train.pth").path
        try CheckpointWriter.write(root: Self.trainTree, to: path, format: .torchZip, provide: Self.pattern)
        let back = try Checkpoint.open(path: path)
        #expect(Self.shape(of: back.root) == Self.shape(of: Self.trainTree))
        let bias = try #require(back.tensor(named: "model.layers.0.bias"))
        #expect(bias.requiresGrad)
        for tensor in back.tensors {
            #expect(try back.bytes(of: tensor) == Self.pattern(TensorEntry(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape,
                                                                           strides: [], storageOffset: 0, storageKey: "")))
        }
    }

    @Test func safetensorsPutsPlainValuesInMetadata() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("train.safetensors").path
        try CheckpointWriter.write(root: Self.trainTree, to: path, format: .safetensors, provide: Self.pattern)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = data.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        // The data starts at a multiple of 64 (SafetensorsWriter.dataAlignment), so at one of 8.
        #expect((8 + length) % 64 == 0)
        let header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as? [String: Any])
        let metadata = try #require(header["__metadata__"] as? [String: String])
        #expect(metadata["epoch"] == "3")
        #expect(metadata["format"] == "pt")
        #expect(metadata["args.dtype"] == "torch.bfloat16")
        #expect(metadata["optimizer.param_groups.0.betas.1"] == "0.999")
        #expect(metadata["big"] == "-123456789012345678901234567890")
        let back = try Checkpoint.open(path: path)
        #expect(Set(back.tensors.map(\.name)) == ["model.layers.0.weight", "model.layers.0.bias",
                                                  "optimizer.state.0.step", "optimizer.state.0.exp_avg"])
        // Data is laid out without gaps, largest elements first, each aligned to its element size.
        var end = 0
        for name in header.keys.sorted() where name != "__metadata__" {
            let info = try #require(header[name] as? [String: Any])
            let offsets = try #require(info["data_offsets"] as? [Int])
            end = max(end, offsets[1])
            let code = try #require(info["dtype"] as? String)
            let dtype = try #require(DType(safetensorsName: code))
            #expect(offsets[0] % dtype.itemSize == 0)
        }
        #expect(data.count == 8 + length + end)
    }

    // MARK: aliasing

    @Test func exactAliasesStayTiedOtherViewsGetOwnStorage() throws {
        let embedding = Self.entry("tok_embeddings.weight", .float32, [6, 4], key: "7")
        var head = embedding
        head.name = "output.weight"
        let row = Self.entry("row", .float32, [4], key: "7", offset: 4)
        let transposed = Self.entry("transposed", .float32, [4, 6], key: "7", strides: [1, 4])
        let root = Self.dict([("tok_embeddings.weight", .tensor(embedding)), ("row", .tensor(row)),
                              ("output.weight", .tensor(head)), ("transposed", .tensor(transposed))])
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tied.pth").path
        var calls: [String] = []
        try CheckpointWriter.write(root: root, to: path, format: .torchZip) { entry in
            calls.append(entry.name)
            return Self.pattern(entry)
        }
        #expect(calls == ["tok_embeddings.weight", "row", "transposed"])
        let back = try Checkpoint.open(path: path)
        let a = try #require(back.tensor(named: "tok_embeddings.weight"))
        let b = try #require(back.tensor(named: "output.weight"))
        #expect(a.storageKey == b.storageKey)
        #expect(try back.bytes(of: b) == Self.pattern(embedding))
        let row2 = try #require(back.tensor(named: "row"))
        let transposed2 = try #require(back.tensor(named: "transposed"))
        #expect(Set([a.storageKey, row2.storageKey, transposed2.storageKey]).count == 3)
        #expect(try back.bytes(of: transposed2) == Self.pattern(transposed))
        #expect(back.parameterCount == 24 + 4 + 24)

        // Safetensors has no aliasing: separate copies.
        let st = dir.appendingPathComponent("tied.safetensors").path
        try CheckpointWriter.write(root: root, to: st, format: .safetensors, provide: Self.pattern)
        let flat = try Checkpoint.open(path: st)
        let flatHead = try #require(flat.tensor(named: "output.weight"))
        let flatEmbedding = try #require(flat.tensor(named: "tok_embeddings.weight"))
        #expect(try flat.bytes(of: flatHead) == Self.pattern(head))
        #expect(try flat.bytes(of: flatEmbedding) == Self.pattern(embedding))
    }

    // MARK: the torch zip container

    @Test func zipRecordsAreStoredAlignedAndNamedAfterTheFile() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("my model.v2.pth").path
        try CheckpointWriter.write(root: Self.everyDType, to: path, format: .torchZip, provide: Self.pattern)
        let records = try Self.localRecords(of: path)
        let names = records.map(\.name)
        #expect(names.prefix(4) == ["my model.v2/data.pkl", "my model.v2/.format_version", "my model.v2/.storage_alignment", "my model.v2/byteorder"])
        #expect(names.suffix(2) == ["my model.v2/version", "my model.v2/.data/serialization_id"])
        #expect(names.filter { $0.hasPrefix("my model.v2/data/") }.count == 13)
        for record in records {
            #expect(record.method == 0, "\(record.name) is compressed")
            #expect(record.dataOffset % 64 == 0, "\(record.name) data at \(record.dataOffset)")
        }
    }

    /// Every output ends where its format says it ends: the writers allocate disk for an
    /// estimated size before writing (`ChunkedOutput.reserve`), and what was allocated beyond the
    /// last byte must be trimmed, not left as zeros after the zip's end record or the last tensor.
    @Test(arguments: OutputFormat.allCases)
    func outputsEndAtTheirLastByte(format: OutputFormat) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent(format == .torchZip ? "every.pth" : "every.safetensors").path
        try CheckpointWriter.write(root: Self.everyDType, to: path, format: format, provide: Self.pattern)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func u64(_ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
        switch format {
        case .torchZip:
            // The end of central directory record, without a comment, is the last 22 bytes.
            #expect(Array(bytes.suffix(22).prefix(4)) == [0x50, 0x4B, 0x05, 0x06] && bytes.suffix(2) == [0, 0])
        case .safetensors:
            let length = u64(0)
            let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as? [String: Any])
            let ends = header.values.compactMap { ($0 as? [String: Any])?["data_offsets"] as? [Int] }.map { $0[1] }
            #expect(bytes.count == 8 + length + (ends.max() ?? 0))
        }
    }

    /// `reserve` allocates whatever it is told, nothing, less or more than is written; `commit`
    /// leaves exactly the bytes written.
    @Test(arguments: [0, 1000, 3 << 20])
    func reservedOutputKeepsExactlyItsBytes(reserve: Int) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("out.bin")
        let written = (0..<(1 << 20) + 7).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let output = try ChunkedOutput(file: AtomicOutputFile(target: target.path))
        try output.reserve(reserve)
        try output.write(written)
        try output.commit()
        #expect([UInt8](try Data(contentsOf: target)) == written)
        #expect(try Self.contents(of: dir) == ["out.bin"])
    }

    /// Two tensors of 2^62 bytes each are legal alone but total 2^63: refused by name, not a trap
    /// in the writer's offsets or its disk reservation, and nothing is left behind.
    @Test(arguments: OutputFormat.allCases)
    func tensorsTotallingPast2To63BytesAreRefused(format: OutputFormat) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent(format == .torchZip ? "huge.pth" : "huge.safetensors").path
        let root = Self.dict([("a", .tensor(Self.entry("a", .float32, [1 << 30, 1 << 30]))),
                              ("b", .tensor(Self.entry("b", .float32, [1 << 30, 1 << 30])))])
        struct NotReached: Error {}
        #expect(throws: (any Error).self) {
            try CheckpointWriter.write(root: root, to: path, format: format, provide: { (_: TensorEntry) -> [UInt8] in throw NotReached() })
        }
        if format == .safetensors {
            #expect(throws: CheckpointWriterError.invalidTensor(path: path, tensor: "b", reason: "the tensors up to this one hold more than 2^63 bytes")) {
                try CheckpointWriter.write(root: root, to: path, format: format, provide: { (_: TensorEntry) -> [UInt8] in throw NotReached() })
            }
        }
        #expect(try Self.contents(of: dir).isEmpty)
        let gguf = dir.appendingPathComponent("huge.gguf").path
        #expect(throws: CheckpointWriterError.invalidTensor(path: gguf, tensor: "b", reason: "the tensors up to this one hold more than 2^63 bytes")) {
            try GGUFWriter.write(to: gguf, entries: [], tensors: [GGUFTensorInfo(name: "a", shape: [1 << 30, 1 << 30], type: .f32),
                                                                   GGUFTensorInfo(name: "b", shape: [1 << 30, 1 << 30], type: .f32)],
                                 provide: { (_: Int) -> [UInt8] in throw NotReached() })
        }
        #expect(throws: CheckpointWriterError.invalidTensor(path: gguf, tensor: "c", reason: "the tensors up to this one hold more than 2^63 bytes")) {
            try GGUFWriter.write(to: gguf, entries: [], tensors: [GGUFTensorInfo(name: "c", shape: [1 << 32, 1 << 32], type: .f32)],
                                 provide: { (_: Int) -> [UInt8] in throw NotReached() })
        }
        #expect(try Self.contents(of: dir).isEmpty)
    }

    /// Whether the temporary directory's file system allocates on `reserve` (ext4, xfs, tmpfs do).
    static let preallocates: Bool = {
        guard let dir = try? Fixtures.temporaryDirectory() else { return false }
        defer { try? FileManager.default.removeItem(at: dir) }
        guard let file = try? AtomicOutputFile(target: dir.appendingPathComponent("probe").path),
              let output = try? ChunkedOutput(file: file), (try? output.reserve(4096)) != nil else { return false }
        var info = stat()
        return stat(file.temporaryPath, &info) == 0 && info.st_size == 4096
    }()

    /// A reservation past the disk's free space is refused before any write.
    @Test(.enabled(if: preallocates, "the temporary directory's file system has no fallocate"))
    func reservingMoreThanTheDiskHoldsIsRefused() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("out.bin").path
        let free = try #require(ResourceLimits.freeDiskBytes(forOutput: target))
        let output = try ChunkedOutput(file: AtomicOutputFile(target: target))
        #expect(throws: CheckpointWriterError.self) { try output.reserve(free + (1 << 40)) }
    }

    /// Each record of a zip in directory order: name, compression method and where the data
    /// starts (after its local header); also checks torch's header flags and data descriptor.
    static func localRecords(of path: String) throws -> [(name: String, method: Int, dataOffset: Int)] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        var records: [(String, Int, Int)] = []
        for entry in try ZipArchive(path: path).entries {
            let offset = entry.localHeaderOffset
            try #require(u32(offset) == 0x0403_4B50)
            let flags = u16(offset + 6), method = u16(offset + 8)
            let dataOffset = offset + 30 + u16(offset + 26) + u16(offset + 28)
            #expect(flags == (entry.size > 0 ? 0x0808 : 0x0800), "\(entry.name) flags")
            if entry.size > 0 {
                #expect(u32(dataOffset + entry.size) == 0x0807_4B50 && u32(dataOffset + entry.size + 4) == Int(entry.crc), "\(entry.name) descriptor")
            }
            records.append((entry.name, method, dataOffset))
        }
        return records
    }

    // MARK: failures leave nothing behind

    @Test(arguments: OutputFormat.allCases)
    func wrongByteCountLeavesNoFile(format: OutputFormat) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent(format == .torchZip ? "bad.pth" : "bad.safetensors").path
        #expect(throws: CheckpointWriterError.wrongByteCount(path: path, tensor: "int16", expected: 30, got: 29)) {
            try CheckpointWriter.write(root: Self.everyDType, to: path, format: format) { entry in
                entry.name == "int16" ? Array(Self.pattern(entry).dropLast()) : Self.pattern(entry)
            }
        }
        #expect(try Self.contents(of: dir) == [])
    }

    struct ProviderFailure: Error, Equatable {}

    @Test(arguments: OutputFormat.allCases)
    func providerErrorIsRethrownAndOldFileKept(format: OutputFormat) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent(format == .torchZip ? "old.pth" : "old.safetensors").path
        try Data("previous".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ProviderFailure()) {
            try CheckpointWriter.write(root: Self.everyDType, to: path, format: format) { entry in
                if entry.name == "bool" { throw ProviderFailure() }
                return Self.pattern(entry)
            }
        }
        #expect(try Self.contents(of: dir) == [URL(fileURLWithPath: path).lastPathComponent])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "previous")
    }

    @Test func replacingAFileKeepsItsPermissions() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("perm.pth").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        try CheckpointWriter.write(root: Self.everyDType, to: path, format: .torchZip, provide: Self.pattern)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o640)
        #expect(try Checkpoint.open(path: path).tensors.count == 13)
    }

    @Test func missingDirectoryAndBadShapesAreErrors() throws {
        #expect(throws: CheckpointWriterError.self) {
            try CheckpointWriter.write(root: Self.everyDType, to: "/nonexistent-dir-for-loratool/x.pth", format: .torchZip, provide: Self.pattern)
        }
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("neg.safetensors").path
        let bad = Self.dict([("w", .tensor(TensorEntry(name: "w", dtype: .float32, shape: [-1, 2], strides: [2, 1], storageOffset: 0, storageKey: "0")))])
        #expect(throws: CheckpointWriterError.invalidTensor(path: path, tensor: "w", reason: "negative size in shape [-1, 2]")) {
            try CheckpointWriter.write(root: bad, to: path, format: .safetensors, provide: Self.pattern)
        }
        let twice = Self.dict([("a", .tensor(Self.entry("same", .float32, [1]))), ("b", .tensor(Self.entry("same", .float32, [1])))])
        let dup = dir.appendingPathComponent("dup.safetensors").path
        #expect(throws: CheckpointWriterError.duplicateName(path: dup, name: "same")) {
            try CheckpointWriter.write(root: twice, to: dup, format: .safetensors, provide: Self.pattern)
        }
        #expect(try Self.contents(of: dir) == [])
    }

    // MARK: real checkpoints

    @Test(arguments: ["edge.pth", "tied_f32.pth", "train_ckpt.pth", "v1_tiny/lora.pth", "hf_tiny_peft/base_hf"])
    func sharedFixturesSurviveARewrite(fixture: String) throws {
        let source = try Checkpoint.open(path: Fixtures.sharedPath(fixture))
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for format in OutputFormat.allCases {
            let path = dir.appendingPathComponent(format == .torchZip ? "copy.pth" : "copy.safetensors").path
            try CheckpointWriter.write(source, to: path, format: format)
            let copy = try Checkpoint.open(path: path)
            #expect(copy.tensors.map(\.name).sorted() == source.tensors.map(\.name).sorted(), "\(fixture) \(format)")
            for tensor in source.tensors {
                let other = try #require(copy.tensor(named: tensor.name))
                #expect(other.dtype == tensor.dtype && other.shape == tensor.shape, "\(fixture) \(tensor.name)")
                #expect(try copy.bytes(of: other) == source.bytes(of: tensor), "\(fixture) \(format) \(tensor.name)")
            }
            if format == .torchZip {
                #expect(Self.shape(of: copy.root) == Self.shape(of: source.root), "\(fixture) tree")
                #expect(copy.parameterCount == source.parameterCount, "\(fixture) ties")
            }
        }
    }

    // MARK: interop with real torch (only when LORATOOL_PYTHON names a Python with torch and safetensors)

    static let python = ProcessInfo.processInfo.environment["LORATOOL_PYTHON"]

    @Test(.enabled(if: python != nil, "set LORATOOL_PYTHON to a Python with torch and safetensors"))
    func torchAndSafetensorsLoadWhatWeWrite() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let embedding = Self.entry("tok_embeddings.weight", .float32, [6, 4], key: "0")
        var head = embedding
        head.name = "output.weight"
        var tree = Self.trainTree
        if case .dict(var items, let ordered) = tree {
            items.append(DictItem(key: .string("tied"), value: Self.dict([("tok_embeddings.weight", .tensor(embedding)),
                                                                          ("output.weight", .tensor(head))])))
            tree = .dict(items, ordered: ordered)
        }
        let pth = dir.appendingPathComponent("train.pth").path
        let st = dir.appendingPathComponent("every.safetensors").path
        try CheckpointWriter.write(root: tree, to: pth, format: .torchZip, provide: Self.pattern)
        try CheckpointWriter.write(root: Self.everyDType, to: st, format: .safetensors, provide: Self.pattern)
        let script = """
        import sys, torch
        from safetensors.torch import load_file
        c = torch.load(sys.argv[1], weights_only=True)
        t = c["tied"]
        assert t["tok_embeddings.weight"].untyped_storage().data_ptr() == t["output.weight"].untyped_storage().data_ptr()
        assert c["epoch"] == 3 and c["args"]["dtype"] == torch.bfloat16 and c["args"]["device"] == torch.device("cuda:0")
        assert c["args"]["size"] == torch.Size([2, 3]) and c["args"]["raw"] == bytes([0, 0x41, 0xFF]) and c["args"]["nothing"] == b""
        assert c["big"] == -123456789012345678901234567890 and c["ints"][-2:] == [2**63 - 1, -2**63]
        assert c["args"]["name"] == "minimind ünï 🚀" and c["args"]["wide"] == (1, 2, 3, 4)
        assert isinstance(c["model"]["layers.0.bias"], torch.nn.Parameter) and c["model"]["layers.0.bias"].requires_grad
        assert c["optimizer"]["state"][0]["exp_avg"].shape == (4, 3)
        s = load_file(sys.argv[2])
        assert s["scalar"].shape == () and s["empty2d"].shape == (0, 4) and s["bfloat16"].dtype == torch.bfloat16
        assert s["bool"].dtype == torch.bool and s["uint8"].shape == (3, 5)
        print("ok")
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(Self.python))
        process.arguments = ["-c", script, pth, st]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains("ok"))
    }
}
