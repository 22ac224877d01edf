import Foundation
import Testing
import TestSupport
@testable import PthReader

/// The unpickler's tensor lane (`Unpickler+TensorLane.swift`) reads exactly what the opcodes read.
@Suite struct TensorLaneTests {
    /// Every torch-zip checkpoint among the fixtures, found by content (a zip with a `data.pkl`).
    private static func torchZips() throws -> [String] {
        var found: [String] = []
        for root in [Fixtures.shared, Fixtures.local] {
            let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
            while let url = walker?.nextObject() as? URL {
                guard ["pth", "pt", "bin", "ckpt"].contains(url.pathExtension),
                      let archive = try? ZipArchive(path: url.path),
                      archive.entries.contains(where: { $0.name.hasSuffix("data.pkl") }) else { continue }
                found.append(url.path)
            }
        }
        return found.sorted()
    }

    /// Runs `bytes` with and without the lane; returns both results (or errors) and the lane's tensor count.
    private func both(_ bytes: [UInt8]) -> (lane: Result<Node, Error>, plain: Result<Node, Error>, byLane: Int) {
        func run(_ lane: Bool) -> (Result<Node, Error>, Int) {
            var unpickler = Unpickler(bytes: bytes, path: "t.pth", entry: "data.pkl",
                                      persistentLoad: TorchZipFormat.storageLoader(path: "t.pth", entry: "data.pkl"))
            unpickler.tensorLane = lane
            let result = Result { try unpickler.load() }
            return (result, unpickler.tensorsByLane)
        }
        let (lane, count) = run(true)
        return (lane, run(false).0, count)
    }

    private func expectSame(_ r: (lane: Result<Node, Error>, plain: Result<Node, Error>, byLane: Int),
                            sourceLocation: SourceLocation = #_sourceLocation) {
        switch (r.lane, r.plain) {
        case (.success(let a), .success(let b)): #expect(a == b, sourceLocation: sourceLocation)
        case (.failure(let a), .failure(let b)): #expect("\(a)" == "\(b)", sourceLocation: sourceLocation)
        default: Issue.record("lane \(r.lane) but opcodes \(r.plain)", sourceLocation: sourceLocation)
        }
    }

    @Test func everyFixtureReadsTheSameWithTheLane() throws {
        let files = try TensorLaneTests.torchZips()
        #expect(files.count >= 10, "found \(files.count) torch zips")
        var laneTensors = 0
        for file in files {
            let archive = try ZipArchive(path: file)
            let entry = try #require(archive.entries.filter { $0.name.hasSuffix("data.pkl") }.min { $0.name.count < $1.name.count })
            let r = both(try archive.contents(of: entry))
            expectSame(r)
            laneTensors += r.byLane
        }
        // The lane is taken (on every protocol-2 state dict), not just harmless.
        #expect(laneTensors > 100, "the lane read \(laneTensors) tensors")
    }

    /// `{"w": <float tensor of 3>, "shape": <GET of the tensor's size tuple>}`, written as torch writes
    /// the tensor; `strayMark` puts one more `MARK` between the global and the arguments.
    private func pickle(requiresGrad: [UInt8] = [0x89], storageClass: String = "torch\nFloatStorage\n",
                        strayMark: Bool = false,
                        tail: [UInt8] = [0x8C, 5] + Array("shape".utf8) + [0x68, 8]) -> [UInt8] {
        func text(_ s: String) -> [UInt8] { [0x8C, UInt8(s.utf8.count)] + Array(s.utf8) }
        var b: [UInt8] = [0x80, 0x02, 0x7D, 0x71, 0, 0x28] + text("w") + [0x71, 1]
        b += [0x63] + Array("torch._utils\n_rebuild_tensor_v2\n".utf8) + [0x71, 2]
        b += (strayMark ? [0x28] : []) + [0x28, 0x28] + text("storage") + [0x71, 3] + [0x63] + Array(storageClass.utf8) + [0x71, 4]
        b += text("0") + [0x71, 5] + text("cpu") + [0x71, 6] + [0x4B, 3, 0x74, 0x71, 7, 0x51]
        b += [0x4B, 0, 0x4B, 3, 0x85, 0x71, 8, 0x4B, 1, 0x85, 0x71, 9] + requiresGrad
        b += [0x63] + Array("collections\nOrderedDict\n".utf8) + [0x71, 10, 0x29, 0x52, 0x71, 11, 0x74, 0x71, 12, 0x52, 0x71, 13]
        return b + tail + [0x75, 0x2E]
    }

    @Test func aReferenceToASkippedTupleRereadsTheStreamWithoutTheLane() throws {
        let r = both(pickle())
        expectSame(r)
        guard case .success(.dict(let items, _)) = r.lane else { Issue.record("\(r.lane)"); return }
        #expect(items.count == 2 && items[1].value == .tuple([.int(3)]))
        #expect(r.byLane == 0, "the second reading runs without the lane")
    }

    @Test func theLaneTakesTheTensorAndLeavesTheRestToTheOpcodes() throws {
        let r = both(pickle(tail: [0x8C, 1] + Array("n".utf8) + [0x4B, 7]))
        expectSame(r)
        #expect(r.byLane == 1)
        guard case .success(.dict(let items, _)) = r.lane, case .tensor(let t) = items[0].value else { Issue.record("\(r.lane)"); return }
        #expect(t.shape == [3] && t.strides == [1] && t.dtype == .float32 && !t.requiresGrad)
    }

    @Test func anythingElseRunsOpcodeByOpcode() throws {
        let tail: [UInt8] = [0x8C, 1] + Array("n".utf8) + [0x4B, 7]
        // requires_grad written as an int: the lane steps aside, the opcodes accept it.
        let asInt = both(pickle(requiresGrad: [0x4B, 0], tail: tail))
        expectSame(asInt)
        #expect(asInt.byLane == 0)
        if case .failure(let error) = asInt.lane { Issue.record("\(error)") }
        // An untyped storage under _rebuild_tensor_v2: the same refusal, at the same offset.
        let untyped = both(pickle(storageClass: "torch\nUntypedStorage\n", tail: tail))
        expectSame(untyped)
        guard case .failure(let error) = untyped.lane else { Issue.record("accepted an untyped storage"); return }
        #expect("\(error)".contains("untyped storage '0' without a dtype"))
        // A MARK between the global and its arguments: the opcodes refuse to pop the global across
        // it at the REDUCE, so the lane must step aside rather than build the tensor.
        let stray = both(pickle(strayMark: true, tail: tail))
        expectSame(stray)
        #expect(stray.byLane == 0)
        guard case .failure = stray.plain else { Issue.record("the opcodes accepted a global popped across a MARK"); return }
        // Cut anywhere: the same error as the opcodes give.
        let whole = pickle(tail: tail)
        for cut in stride(from: 40, to: whole.count, by: 7) { expectSame(both(Array(whole[..<cut]))) }
    }

    /// Damaged copies of real `data.pkl`s (bytes overwritten, dropped, doubled) read the same both
    /// ways: the same tree or the same error. Deterministic; the fuzzer's `unpickler` target
    /// makes the same comparison on whatever it generates.
    @Test func damagedPicklesReadTheSameBothWays() throws {
        let files = try TensorLaneTests.torchZips().prefix(6)
        var rng = TestRandom(seed: 0x1A4E)
        var mutants = 0, laneTaken = 0
        for file in files {
            let archive = try ZipArchive(path: file)
            let entry = try #require(archive.entries.filter { $0.name.hasSuffix("data.pkl") }.min { $0.name.count < $1.name.count })
            let original = try archive.contents(of: entry)
            for _ in 0..<300 {
                var bytes = original
                for _ in 0...((rng.next() >> 40) % 3) {
                    let at = Int((rng.next() >> 24) % UInt64(bytes.count))
                    switch (rng.next() >> 40) % 3 {
                    case 0: bytes[at] = UInt8(truncatingIfNeeded: rng.next() >> 56)
                    case 1: bytes.remove(at: at)
                    default: bytes.insert(bytes[at], at: at)
                    }
                }
                let r = both(bytes)
                expectSame(r)
                mutants += 1
                laneTaken += r.byLane > 0 ? 1 : 0
            }
        }
        #expect(mutants >= 1_500 && laneTaken > mutants / 5, "\(mutants) mutants, the lane taken in \(laneTaken)")
    }

    /// A key set over and over does not pile up: the dict resolves repeats when its items reach
    /// 2^20 (then twice the distinct keys), so its size stays bounded by the distinct keys.
    @Test func aKeySetAgainAndAgainDoesNotPileUp() {
        let dict = DictBox(ordered: false)
        let sets = DictBox.smallestCompaction + 10
        for i in 0..<sets { dict.set(.string(i % 2 == 0 ? "k" : "j"), .int(i)) }
        #expect(dict.heldCount <= 12, "\(dict.heldCount) items held after \(sets) sets of 2 keys")
        let values = dict.items.map { item -> Int in if case .int(let v) = item.value { return v } else { return -1 } }
        #expect(values == [sets - 2, sets - 1])
    }

    @Test func repeatedKeysKeepTheirFirstPlaceAndLastValue() throws {
        // {"a": 1, "b": 2, "a": 3, "c": 4, "b": 5} → {"a": 3, "b": 5, "c": 4}
        var bytes: [UInt8] = [0x80, 0x02, 0x7D, 0x28]
        for (key, value) in [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)] as [(String, UInt8)] {
            bytes += [0x8C, 1] + Array(key.utf8) + [0x4B, value]
        }
        bytes += [0x75, 0x2E]
        let r = both(bytes)
        guard case .success(let node) = r.lane else { Issue.record("\(r.lane)"); return }
        #expect(node == .dict([DictItem(key: .string("a"), value: .int(3)), DictItem(key: .string("b"), value: .int(5)),
                              DictItem(key: .string("c"), value: .int(4))], ordered: false))
    }
}

@Suite struct NumberedRecordsTests {
    private func entry(_ index: Int, _ name: String, utf8: Bool = true) -> ZipArchive.Entry {
        ZipArchive.Entry(index: index, rawName: ArraySlice(name.utf8), nameIsUTF8: utf8, size: 4, compressedSize: 4, compressed: false,
                         crc: 0, localHeaderOffset: 0)
    }

    @Test func storageKeysThatAreRecordNumbersAreFoundByNumber() {
        let entries = [entry(0, "m/data.pkl"), entry(1, "m/data/1"), entry(2, "m/data/0"), entry(3, "m/data/07"),
                       entry(4, "m/data/x"), entry(5, "m/data/3", utf8: false), entry(6, "other/data/2")]
        let records = NumberedRecords(entries, under: "m/data/")
        #expect(records.recordCount == 5)
        #expect(records.number(of: "0") == 0 && records.number(of: "1") == 1)
        #expect(records.byNumber[0] == 2 && records.byNumber[1] == 1)
        // Not numbers as torch writes them, absent, or not spelled by any String: found by name instead.
        for key in ["07", "7", "x", "3", "2", "", "-1", "1 "] { #expect(records.number(of: key) == nil, "\(key)") }
    }

    /// A storage key names a record under `data/`: never empty, never a path (`/`, `..`).
    @Test(arguments: [("0", true), ("a.b", true), (".", true), (".x.", true), ("é", true),
                      ("", false), ("a/b", false), ("/", false), ("..", false), ("x..y", false), ("a.", true)])
    func storageKeysMustBePlainNames(key: String, plain: Bool) throws {
        let pid: [PickleValue] = [.string("storage"), .global(.storageClass(.float32)), .string(key), .string("cpu"), .int(1)]
        if plain {
            #expect(try TorchZipFormat.storageRef(pid, path: "p", entry: "e").key == key)
        } else {
            let error = try #require(throws: PthReaderError.self) { try TorchZipFormat.storageRef(pid, path: "p", entry: "e") }
            #expect(error.description.contains("storage key is not a plain name"), "\(error)")
        }
    }

    /// `Checkpoint` given storages by number and by name finds each tensor's storage either way:
    /// a tie through one numbered storage counts once, `"01"` is a name, not the number 1.
    @Test func checkpointFindsNumberedAndNamedStorages() throws {
        func storage(_ value: Float, count: Int = 2) -> StorageLocation {
            let bytes = [Float](repeating: value, count: count).withUnsafeBytes { Array($0) }
            return StorageLocation(source: MemorySource(bytes: bytes), offset: 0, byteCount: bytes.count, dtype: .float32)
        }
        func tensor(_ name: String, _ key: String) -> DictItem {
            DictItem(key: .string(name), value: .tensor(TensorEntry(name: "", dtype: .float32, shape: [2], strides: [1],
                                                                  storageOffset: 0, storageKey: key)))
        }
        let root = Node.dict([tensor("a", "0"), tensor("b", "0"), tensor("c", "x"), tensor("d", "01"), tensor("e", "1")], ordered: true)
        let checkpoint = try Checkpoint(path: "n.pth", format: .torchZip, root: root,
                                        storages: ["x": storage(3), "01": storage(4)], numberedStorages: [storage(1), storage(2)])
        let values = try checkpoint.tensors.map { try checkpoint.floats(of: $0) }
        #expect(values == [[1, 1], [1, 1], [3, 3], [4, 4], [2, 2]])
        #expect(checkpoint.parameterCount == 8 && checkpoint.storageByteCount == 32)
        #expect(Set(checkpoint.storages.keys) == ["0", "1", "x", "01"])
        // A numbered key past the table, or a hole in it, is a storage the file lacks.
        let lacking: [(key: String, numbered: [StorageLocation?])] = [("2", [storage(1), storage(2)]), ("1", [storage(1), nil])]
        for (key, numbered) in lacking {
            let error = try #require(throws: PthReaderError.self) {
                try Checkpoint(path: "n.pth", format: .torchZip, root: .dict([tensor("f", key)], ordered: true),
                               storages: [:], numberedStorages: numbered)
            }
            #expect(error.description.contains("refers to storage '\(key)', which the file does not contain"), "\(error)")
        }
    }
}
