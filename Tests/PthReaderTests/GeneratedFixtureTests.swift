import Foundation
import Testing
import TestSupport
@testable import PthReader

/// The reader against `Tests/Fixtures`, written by real torch and safetensors with
/// `scripts/make_fixtures.py`: every dtype × pickle protocol × container, views, nesting.
@Suite struct GeneratedFixtureTests {
    static let checkpoints: [String] = {
        var found: [String] = []
        for dir in ["matrix", "safetensors", "moe_tiny"] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: Fixtures.localPath(dir))) ?? []
            for name in names where name.hasSuffix(".truth.json") {
                found.append(dir + "/" + String(name.dropLast(".truth.json".count)))
            }
        }
        return found.sorted()
    }()

    @Test func matrixIsComplete() {
        for protocolVersion in [2, 4, 5] {
            for container in ["zip", "legacy"] {
                #expect(Self.checkpoints.contains("matrix/p\(protocolVersion)_\(container).pth"))
            }
        }
        #expect(Self.checkpoints.count >= 15)
    }

    @Test(arguments: checkpoints)
    func namesDtypesShapesAndValuesMatchTorch(fixture: String) throws {
        let truth = try Fixtures.truth(Fixtures.localPath(fixture + ".truth.json"))
        let checkpoint = try Checkpoint.open(path: Fixtures.localPath(fixture))
        #expect(Set(checkpoint.tensors.map(\.name)) == Set(truth.keys))
        for tensor in checkpoint.tensors {
            let expected = try #require(truth[tensor.name], "unexpected tensor \(tensor.name)")
            #expect(tensor.dtype.rawValue == expected.dtype, "\(tensor.name)")
            #expect(tensor.shape == expected.shape, "\(tensor.name)")
        }
        let valuesPath = Fixtures.localPath(String(fixture.split(separator: ".").first!) + ".values.json")
        guard FileManager.default.fileExists(atPath: valuesPath) else { return }
        let values = try JSONDecoder().decode([String: [Double]].self, from: Data(contentsOf: URL(fileURLWithPath: valuesPath)))
        #expect(Set(values.keys) == Set(checkpoint.tensors.map(\.name)))
        for tensor in checkpoint.tensors {
            let expected = try #require(values[tensor.name])
            let actual = Self.doubles(try checkpoint.bytes(of: tensor), dtype: tensor.dtype)
            #expect(actual.count == expected.count, "\(tensor.name) count")
            for (i, (a, e)) in zip(actual, expected).enumerated() where !(a == e && a.sign == e.sign) && !(a.isNaN && e.isNaN) {
                Issue.record("\(fixture) \(tensor.name)[\(i)] = \(a), torch says \(e)")
                break
            }
        }
    }

    @Test func nestedScalarsAreKept() throws {
        for name in ["nested_p2", "nested_p4", "nested_p2_legacy"] {
            let checkpoint = try Checkpoint.open(path: Fixtures.localPath("matrix/\(name).pth"))
            let scalars = try JSONDecoder().decode([String: Scalar].self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.localPath("matrix/\(name).scalars.json"))))
            var flat: [String: Node] = [:]
            for item in checkpoint.metadata {
                if case .tuple(let items) = item.value {
                    for (i, v) in items.enumerated() { flat["\(item.name).\(i)"] = v }
                } else if case .list(let items) = item.value {
                    for (i, v) in items.enumerated() { flat["\(item.name).\(i)"] = v }
                } else {
                    flat[item.name] = item.value
                }
            }
            for (key, value) in scalars {
                let node = try #require(flat[key], "\(name): missing \(key)")
                switch value {
                case .null: #expect(node == Node.none, "\(key)")
                case .bool(let b): #expect(node == .bool(b), "\(key)")
                case .int(let i): #expect(node == .int(i), "\(key)")
                case .double(let d): #expect(node == .double(d), "\(key)")
                case .string(let s): #expect(node == (key == "big" ? .bigInt(s) : .string(s)), "\(key)")
                }
            }
        }
    }

    /// A JSON scalar as make_fixtures.py writes it.
    enum Scalar: Decodable {
        case null, bool(Bool), int(Int), double(Double), string(String)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let i = try? c.decode(Int.self) { self = .int(i) }
            else if let d = try? c.decode(Double.self) { self = .double(d) }
            else { self = .string(try c.decode(String.self)) }
        }
    }

    @Test func renamedFileUsesItsRecordPrefix() throws {
        let checkpoint = try Checkpoint.open(path: Fixtures.localPath("matrix/renamed.pth"))
        #expect(!checkpoint.tensors.isEmpty)
        let archive = try ZipArchive(path: checkpoint.path)
        #expect(archive.entries.contains { $0.name.hasPrefix("my.model-v2/") })
    }

    @Test func aliasesShareStorage() throws {
        let checkpoint = try Checkpoint.open(path: Fixtures.localPath("matrix/strides.pth"))
        let a = try #require(checkpoint.tensor(named: "alias_1"))
        let b = try #require(checkpoint.tensor(named: "alias_2"))
        #expect(a.storageKey == b.storageKey && a.storageOffset == b.storageOffset)
        let transposed = try #require(checkpoint.tensor(named: "transposed"))
        #expect(!transposed.isContiguous)
    }

    /// Contiguity is the row-major stride test, size-1 axes ignored (as the merge and writers need it).
    @Test(arguments: [([2, 3], [3, 1], true), ([2, 3], [1, 2], false), ([1, 3], [99, 1], true), ([2, 1, 3], [3, 7, 1], true),
                      ([2, 3], [4, 1], false), ([0, 3], [3, 1], true), ([0, 3], [5, 1], false), ([], [], true),
                      ([1 << 62, 2], [2, 1], true), ([3], [2], false), ([3, 4, 5], [20, 5, 1], true), ([3, 4, 5], [20, 1, 4], false)])
    func contiguityIsTheRowMajorStrideTest(shape: [Int], strides: [Int], contiguous: Bool) {
        let t = TensorEntry(name: "t", dtype: .float32, shape: shape, strides: strides, storageOffset: 0, storageKey: "0")
        #expect(t.isContiguous == contiguous)
    }

    /// Decodes little-endian elements exactly into doubles (every supported dtype fits a double).
    static func doubles(_ bytes: [UInt8], dtype: DType) -> [Double] {
        let count = bytes.count / dtype.itemSize
        return bytes.withUnsafeBytes { raw in
            (0..<count).map { i -> Double in
                let offset = i * dtype.itemSize
                switch dtype {
                case .float64: return Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
                case .int64: return Double(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self)))
                case .int32: return Double(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
                default:
                    var value: Float = 0
                    dtype.decodeFloats(from: raw.baseAddress! + offset, count: 1, into: &value)
                    return Double(value)
                }
            }
        }
    }
}

/// Model directories as Hugging Face and PEFT save them, and archives that hold code.
@Suite struct DirectoryFixtureTests {
    @Test func shardedAndBinDirectoriesHoldTheSameTensors() throws {
        let sharded = try Checkpoint.open(path: Fixtures.localPath("dirs/hf_sharded"))
        let bin = try Checkpoint.open(path: Fixtures.localPath("dirs/hf_bin"))
        #expect(sharded.format == .huggingFaceDirectory && bin.format == .huggingFaceDirectory)
        #expect(sharded.configJSON != nil && sharded.configJSON == bin.configJSON)
        let truth = try Fixtures.truth(Fixtures.localPath("dirs/hf_sharded.truth.json"))
        #expect(Set(sharded.tensors.map(\.name)) == Set(truth.keys))
        for tensor in bin.tensors {
            let other = try #require(sharded.tensor(named: tensor.name), "\(tensor.name)")
            #expect(try sharded.bytes(of: other) == bin.bytes(of: tensor), "\(tensor.name)")
        }
    }

    @Test func peftAdapterSavedAsBin() throws {
        let adapter = try Checkpoint.open(path: Fixtures.localPath("dirs/peft_bin"))
        #expect(adapter.format == .peftDirectory)
        #expect(adapter.adapterConfigJSON != nil)
        let truth = try Fixtures.truth(Fixtures.localPath("dirs/peft_bin.truth.json"))
        #expect(Set(adapter.tensors.map(\.name)) == Set(truth.keys))
    }

    @Test func torchScriptArchiveIsRefusedAsSuch() throws {
        let path = Fixtures.localPath("bad/torchscript.pt")
        #expect(throws: PthReaderError.torchScript(path: path)) { try Checkpoint.open(path: path) }
    }

    @Test(arguments: [("complex64.pth", "torch.ComplexFloatStorage"), ("float8.pth", "torch.float8_e4m3fn"), ("uint16.pth", "torch.uint16")])
    func unsupportedElementTypesAreNamed(file: String, type: String) throws {
        let path = Fixtures.localPath("bad/" + file)
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: path) }
        guard case .unsupportedDType(let errorPath, _, let named) = error else {
            Issue.record("expected an unsupported type, got \(error)")
            return
        }
        #expect(errorPath == path && named == type)
    }

    @Test func shardIndexNamingAMissingTensorIsRefused() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = Fixtures.local.appendingPathComponent("dirs/hf_sharded")
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        let indexURL = dir.appendingPathComponent("model.safetensors.index.json")
        var index = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as? [String: Any])
        var map = try #require(index["weight_map"] as? [String: String])
        map["model.layers.9.mlp.up_proj.weight"] = "model-00001-of-00002.safetensors"
        index["weight_map"] = map
        try JSONSerialization.data(withJSONObject: index).write(to: indexURL)
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: dir.path) }
        #expect(error.description.contains("model.layers.9.mlp.up_proj.weight"))
    }
}
