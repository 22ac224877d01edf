import Foundation
import Testing
import TestSupport
@testable import PthReader

/// A small zip can inflate to a huge valid pickle: `data.pkl` is bounded by what a checkpoint of
/// that many storage records needs, before it is inflated, and so is the number of values it builds.
@Suite struct PickleBombTests {
    /// Writes a torch-zip layout with this `data.pkl` and `records` one-float storage records.
    private func zip(_ pickle: [UInt8], records: Int, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent("bomb.pth").path
        let output = try AtomicOutputFile(target: path)
        let writer = StoredZipWriter(output: try ChunkedOutput(file: output), reportedPath: path)
        try writer.add(name: "bomb/data.pkl", bytes: pickle)
        try writer.add(name: "bomb/byteorder", bytes: Array("little".utf8))
        for i in 0..<records { try writer.add(name: "bomb/data/\(i)", bytes: [0, 0, 0, 0]) }
        try writer.finish()
        try output.commit()
        return path
    }

    /// `[1, 1, …]` with `count` items appended in batches of 1000, as Python's pickler writes it.
    private func listOfOnes(_ count: Int) -> [UInt8] {
        var bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x28] // PROTO 2, EMPTY_LIST, MARK
        for i in 0..<count {
            bytes += [0x4B, 0x01] // BININT1 1
            if i % 1000 == 999 { bytes += [0x65, 0x28] } // APPENDS, MARK
        }
        return bytes + [0x65, 0x2E] // APPENDS, STOP
    }

    @Test func anOversizedPickleIsRefusedBeforeItIsRead() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let limit = TorchZipFormat.maxPickleBytes(storageRecords: 2)
        #expect(limit == 8 << 20 + 2 * 1024)
        let path = try zip(listOfOnes(limit / 2 + 10), records: 2, in: dir)
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: path) }
        guard case .exceedsLimit(_, let entry, let reason) = error else { Issue.record("\(error)"); return }
        #expect(entry == "bomb/data.pkl" && reason.contains("2 storage records") && reason.contains("\(limit) bytes"), "\(reason)")
    }

    @Test func valuesAreBudgetedByTheNumberOfRecords() throws {
        #expect(TorchZipFormat.maxCreatedValues(storageRecords: 0) == 2_000_000)
        #expect(TorchZipFormat.maxCreatedValues(storageRecords: 1000) == 2_064_000)
        #expect(TorchZipFormat.maxCreatedValues(storageRecords: 10_000_000) == Unpickler.defaultMaxCreatedValues)
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // 2.1 M ints fit the byte bound (4.2 MB) but not the values budget of a record-less archive.
        let path = try zip(listOfOnes(2_100_000), records: 0, in: dir)
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: path) }
        #expect(error.description.contains("more than 2000000 values"), "\(error)")
    }

    /// Real torch files stay far inside both bounds (about 100 bytes and 25 values per tensor).
    @Test(arguments: ["v1_tiny/base.pth", "train_ckpt.pth", "mm3_tiny_moe/ckpt_with_lora.pth"])
    func realCheckpointsFitTheBounds(_ file: String) throws {
        let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath(file))
        #expect(!checkpoint.tensors.isEmpty)
    }
}
