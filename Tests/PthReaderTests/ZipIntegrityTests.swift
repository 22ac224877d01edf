import Foundation
import Synchronization
import Testing
import TestSupport
@testable import PthReader

/// The zip reader checks what torch's files promise (CRC-32, unique names), reads from many
/// threads at once, and our own zip writer lays files out the way torch does (ZIP64 included).
@Suite struct ZipIntegrityTests {
    static let base = Fixtures.sharedPath("v1_tiny/base.pth")

    /// The file's bytes with one byte of `record`'s data flipped at `position` (a fraction of its size).
    static func corruptCopy(of path: String, record: ZipArchive.Entry, position: Double, into dir: URL) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let lo = record.localHeaderOffset
        let start = lo + 30 + Int(ZipDirectory.le16(bytes, lo + 26)) + Int(ZipDirectory.le16(bytes, lo + 28))
        bytes[start + min(record.size - 1, Int(Double(record.size) * position))] ^= 0x04
        let out = dir.appendingPathComponent("corrupt.pth").path
        try Data(bytes).write(to: URL(fileURLWithPath: out))
        return out
    }

    @Test func aFlippedByteInAnyTensorRecordIsAnErrorNamingIt() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let records = try ZipArchive(path: Self.base).entries.filter { $0.name.contains("/data/") && $0.size > 0 }
        #expect(records.count >= 20)
        for (i, record) in records.enumerated() {
            let path = try Self.corruptCopy(of: Self.base, record: record, position: Double(i % 7) / 7, into: dir)
            let checkpoint = try Checkpoint.open(path: path)
            // Reading the tensors (as merge, convert and logits do) fails on the damaged record...
            let read = try #require(throws: PthReaderError.self) {
                for tensor in checkpoint.tensors { _ = try checkpoint.bytes(of: tensor) }
            }
            #expect(read == .malformed(path: path, entry: record.name, reason: Self.reason(read)), "\(read)")
            #expect(read.description.contains("CRC-32 mismatch"))
            // ...and so does the integrity check, with a fresh reader.
            let verify = try #require(throws: PthReaderError.self) { _ = try Checkpoint.open(path: path).verifyIntegrity() }
            #expect(verify.description.hasPrefix("\(path): \(record.name): CRC-32 mismatch"), "\(verify)")
        }
    }

    /// A part of a record (a view at an offset) also gets the whole record checked.
    @Test func aPartialReadChecksTheWholeRecord() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = try ZipArchive(path: Self.base)
        let record = try #require(archive.entries.first { $0.name.hasSuffix("/data/0") })
        let path = try Self.corruptCopy(of: Self.base, record: record, position: 0.9, into: dir)
        let corrupt = try ZipArchive(path: path)
        let entry = try #require(corrupt.entry(named: record.name))
        var head = [UInt8](repeating: 0, count: 16)
        #expect(throws: PthReaderError.self) { try head.withUnsafeMutableBytes { try corrupt.read(entry, offset: 0, into: $0) } }
    }

    @Test func everyRecordOfAGoodFileVerifies() throws {
        let report = try Checkpoint.open(path: Self.base).verifyIntegrity()
        let archive = try ZipArchive(path: Self.base)
        #expect(report.checksummedRecords == archive.entries.count)
        #expect(report.bytes == archive.entries.reduce(0) { $0 + $1.size })
        let st = try Checkpoint.open(path: Fixtures.sharedPath("hf_tiny_peft/base_hf")).verifyIntegrity()
        #expect(st.checksummedRecords == 0 && st.uncheckedStorages > 0)
    }

    /// Regression: libzip's handle was shared by all threads and returned wrong bytes.
    @Test(arguments: [base, Fixtures.localPath("matrix/deflated.pth")])
    func concurrentReadsReturnTheRightBytes(path: String) throws {
        let checkpoint = try Checkpoint.open(path: path)
        let expected = try checkpoint.tensors.map { try checkpoint.bytes(of: $0) }
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 64) { worker in
            for round in 0..<20 {
                let i = (worker * 7 + round) % checkpoint.tensors.count
                if (try? checkpoint.bytes(of: checkpoint.tensors[i])) != expected[i] { failures.withLock { $0 += 1 } }
            }
        }
        #expect(failures.withLock { $0 } == 0)
    }

    @Test func duplicateRecordNamesAreRefusedByName() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("dup.pth").path
        try Self.writeZip(to: path) { zip in
            try zip.add(name: "dup/data.pkl", bytes: [0x80, 2, 0x7D, 0x2E])
            try zip.add(name: "dup/data/0", bytes: [1, 2, 3, 4])
            try zip.add(name: "dup/data/0", bytes: [5, 6, 7, 8])
        }
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: path) }
        #expect(error.description.hasPrefix("\(path): dup/data/0: two zip entries have this name"), "\(error)")
    }

    /// A `data.pkl` whose record name is not valid UTF-8 is refused by name (it was a forced
    /// unwrap: the name index holds only names a `String` spells exactly).
    @Test func aPickleRecordNamedInBrokenUTF8IsRefused() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.pth").path
        try Self.writeZip(to: path) { zip in
            try zip.add(name: "Xbad/data.pkl", bytes: [0x80, 2, 0x7D, 0x2E])
            try zip.add(name: "Xbad/data/0", bytes: [1, 2, 3, 4])
        }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let marker = Array("Xbad/".utf8)
        var patched = 0
        for i in 0...(bytes.count - marker.count) where Array(bytes[i..<(i + marker.count)]) == marker {
            bytes[i] = 0xFF
            patched += 1
        }
        #expect(patched == 4)
        // Clear the "names are UTF-8" flag (bit 11), which libzip would hold the bytes to.
        for i in 0...(bytes.count - 10) where bytes[i] == 0x50 && bytes[i + 1] == 0x4B {
            if bytes[i + 2] == 3 && bytes[i + 3] == 4 { bytes[i + 7] &= ~0x08 }
            if bytes[i + 2] == 1 && bytes[i + 3] == 2 { bytes[i + 9] &= ~0x08 }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: path) }
        #expect(Self.reason(error) == "the record's name is not valid UTF-8", "\(error)")
    }

    /// Names are looked up in an index built once: 200,000 lookups in a 200,000-record archive
    /// (a scan per lookup would take hours).
    @Test func manyRecordsAreLookedUpThroughAnIndex() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("many.zip").path
        let count = 200_000
        try Self.writeZip(to: path) { zip in
            for i in 0..<count { try zip.add(name: "m/data/\(i)", bytes: [UInt8(i & 0xFF)]) }
        }
        let archive = try ZipArchive(path: path)
        #expect(archive.entries.count == count)
        for i in stride(from: count - 1, through: 0, by: -1) {
            let entry = try #require(archive.entry(named: "m/data/\(i)"))
            #expect(entry.index == i)
        }
        #expect(archive.entry(named: "m/data/\(count)") == nil)
    }

    /// Our writer's ZIP64 layout (what torch writes past 4 GiB), exercised with a tiny threshold.
    @Test func zip64LayoutReadsBack() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try Checkpoint.open(path: Self.base)
        let path = dir.appendingPathComponent("z64.pth").path
        try TorchZipWriter.write(root: source.root, to: path, progress: nil, zip64Threshold: 4096) { .bytes(try source.bytes(of: $0)) }
        let copy = try Checkpoint.open(path: path)
        for tensor in source.tensors {
            #expect(try copy.bytes(of: try #require(copy.tensor(named: tensor.name))) == source.bytes(of: tensor))
        }
        #expect(try copy.verifyIntegrity().checksummedRecords == ZipArchive(path: path).entries.count)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for entry in try ZipArchive(path: path).entries {
            let lo = entry.localHeaderOffset
            let start = lo + 30 + Int(ZipDirectory.le16(bytes, lo + 26)) + Int(ZipDirectory.le16(bytes, lo + 28))
            #expect(start % 64 == 0, "\(entry.name) data at \(start)")
        }
        if let python = WriterTests.python {
            let script = """
            import sys, torch, zipfile
            assert zipfile.ZipFile(sys.argv[1]).testzip() is None
            a = torch.load(sys.argv[1], weights_only=True); b = torch.load(sys.argv[2], weights_only=True)
            m = torch.load(sys.argv[1], weights_only=True, mmap=True)
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) and torch.equal(m[k], b[k]) for k in a)
            print("ok")
            """
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = ["-c", script, path, Self.base]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0 && output.contains("ok"), "\(output)")
        }
    }

    /// ISA-L's CRC-32 is zlib's (values from Python's `zlib.crc32`).
    @Test func crcMatchesZlib() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
        let a = Array("hello, ".utf8), b = Array("world".utf8)
        let chained = b.withUnsafeBytes { CRC32.update(CRC32.checksum(a), $0) }
        #expect(chained == CRC32.checksum(a + b))
    }

    static func writeZip(to path: String, _ body: (StoredZipWriter) throws -> Void) throws {
        let file = try AtomicOutputFile(target: path)
        let output = try ChunkedOutput(file: file)
        let zip = StoredZipWriter(output: output, reportedPath: path)
        try body(zip)
        try zip.finish()
        try output.commit()
    }

    static func reason(_ error: PthReaderError) -> String {
        if case .malformed(_, _, let reason) = error { return reason }
        return ""
    }
}
