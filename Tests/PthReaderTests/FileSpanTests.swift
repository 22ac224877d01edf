import Foundation
import Testing
import TestSupport
@testable import PthReader

/// Tensors written unchanged are copied from the input file's page cache (`mmap` + `write`), their
/// record's CRC-32 checked on the way: the output is byte for byte what the buffered path writes,
/// and a flipped byte in the input is still an error naming the record.
@Suite(.serialized) struct FileSpanTests {
    static let inputs = [Fixtures.sharedPath("v1_tiny/base.pth"), Fixtures.sharedPath("tied_f32.pth"),
                         Fixtures.localPath("safetensors/mixed.safetensors"), Fixtures.sharedPath("edge_legacy.pth")]

    /// Writes `checkpoint` to `dir/<name>`: through spans where the reader gives one, else in memory.
    static func write(_ checkpoint: Checkpoint, to dir: URL, name: String, spans: Bool) throws -> (path: String, copied: Int) {
        let path = dir.appendingPathComponent(name).path
        let format = try OutputFormat(path: path)
        var copied = 0
        try CheckpointWriter.write(root: checkpoint.root, to: path, format: format, provideData: { entry in
            if spans, let span = try checkpoint.span(of: entry) {
                copied += 1
                return .span(span)
            }
            return .bytes(try checkpoint.bytes(of: entry))
        })
        return (path, copied)
    }

    /// The file's bytes with its 40-digit `.data/serialization_id` (random per write) replaced by
    /// zeros, and that record's CRC-32 (in its data descriptor and the central directory) too.
    static func bytesWithoutSerializationID(_ path: String) throws -> [UInt8] {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard path.hasSuffix(".pth") else { return bytes }
        let archive = try ZipArchive(path: path)
        let entry = try #require(archive.entries.first { $0.name.hasSuffix("/.data/serialization_id") })
        let id = try archive.contents(of: entry)
        let lo = entry.localHeaderOffset
        let start = lo + 30 + Int(ZipDirectory.le16(bytes, lo + 26)) + Int(ZipDirectory.le16(bytes, lo + 28))
        #expect(Array(bytes[start..<(start + id.count)]) == id)
        for i in start..<(start + id.count) { bytes[i] = 0x30 }
        let crc = withUnsafeBytes(of: entry.crc.littleEndian) { Array($0) }
        var i = start + id.count
        while i + 4 <= bytes.count {
            if Array(bytes[i..<(i + 4)]) == crc { for j in i..<(i + 4) { bytes[j] = 0 } }
            i += 1
        }
        return bytes
    }

    @Test(arguments: inputs)
    func copiedOutputIsByteIdenticalToTheBufferedOne(input: String) throws {
        let checkpoint = try Checkpoint.open(path: input)
        for ext in ["pth", "safetensors"] {
            let a = try Fixtures.temporaryDirectory(), b = try Fixtures.temporaryDirectory(), c = try Fixtures.temporaryDirectory()
            defer { for d in [a, b, c] { try? FileManager.default.removeItem(at: d) } }
            let buffered = try Self.write(checkpoint, to: a, name: "out.\(ext)", spans: false)
            let copied = try Self.write(checkpoint, to: b, name: "out.\(ext)", spans: true)
            #expect(copied.copied > 0, "\(input): no tensor went through the copy path")
            #expect(try Self.bytesWithoutSerializationID(copied.path) == Self.bytesWithoutSerializationID(buffered.path), "\(input) → .\(ext)")
            // The fallback for files that cannot be mapped (pread + write) too.
            ChunkedOutput.mappedCopy.store(false, ordering: .relaxed)
            defer { ChunkedOutput.mappedCopy.store(true, ordering: .relaxed) }
            let fallback = try Self.write(checkpoint, to: c, name: "out.\(ext)", spans: true)
            #expect(try Self.bytesWithoutSerializationID(fallback.path) == Self.bytesWithoutSerializationID(buffered.path), "\(input) → .\(ext), fallback")
            // And what we wrote reads back with every record's CRC-32 matching.
            _ = try Checkpoint.open(path: copied.path).verifyIntegrity()
        }
    }

    @Test func aFlippedByteFailsTheSpanAndLeavesNothing() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = Fixtures.sharedPath("v1_tiny/base.pth")
        let records = try ZipArchive(path: base).entries.filter { $0.name.contains("/data/") && $0.size > 0 }
        for (i, record) in records.enumerated() {
            let path = try ZipIntegrityTests.corruptCopy(of: base, record: record, position: Double(i % 5) / 5, into: dir)
            let checkpoint = try Checkpoint.open(path: path)
            for ext in ["pth", "safetensors"] {
                let error = try #require(throws: PthReaderError.self) {
                    _ = try Self.write(checkpoint, to: dir, name: "out.\(ext)", spans: true)
                }
                #expect(error.description.hasPrefix("\(path): \(record.name): CRC-32 mismatch"), "\(error)")
            }
            try FileManager.default.removeItem(atPath: path)
            let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            #expect(left.isEmpty, "left behind: \(left)")
        }
    }

    /// A span of a zip record names it with its directory CRC-32; one of a file without checksums
    /// names none. Either way the copy returns the CRC-32 of the bytes when asked to hash them,
    /// through `mmap` and through the `pread` fallback, and nothing when not (a safetensors output).
    @Test(arguments: [Fixtures.sharedPath("v1_tiny/base.pth"), Fixtures.localPath("safetensors/mixed.safetensors")])
    func copiesReturnTheCRCOfTheirBytes(input: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let checkpoint = try Checkpoint.open(path: input)
        var spans = 0
        for mapped in [true, false] {
            ChunkedOutput.mappedCopy.store(mapped, ordering: .relaxed)
            defer { ChunkedOutput.mappedCopy.store(true, ordering: .relaxed) }
            let file = try AtomicOutputFile(target: dir.appendingPathComponent("out.bin").path)
            let output = try ChunkedOutput(file: file)
            var written: [UInt8] = []
            for tensor in checkpoint.tensors where tensor.elementCount > 0 {
                guard let span = try checkpoint.span(of: tensor) else { continue }
                spans += 1
                let bytes = try checkpoint.bytes(of: tensor)
                #expect(span.record?.crc == (input.hasSuffix(".pth") ? CRC32.checksum(bytes) : nil), "\(tensor.name)")
                #expect(try output.copy(span, hashing: true) == CRC32.checksum(bytes), "\(tensor.name)")
                #expect(try output.copy(span, hashing: false) == span.record?.crc, "\(tensor.name)")
                written += bytes + bytes
            }
            try output.commit()
            #expect([UInt8](try Data(contentsOf: dir.appendingPathComponent("out.bin"))) == written, "mapped: \(mapped)")
        }
        #expect(spans > 0)
    }
}
