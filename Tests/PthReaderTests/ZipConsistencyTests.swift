import Foundation
import Testing
import TestSupport
@testable import PthReader

/// What libzip's `ZIP_CHECKCONS` checked when it opened every archive, checked by our own reader
/// for archives of STORED records, which libzip no longer opens (a system call per record).
@Suite struct ZipConsistencyTests {
    static let base = ZipIntegrityTests.base

    /// A copy of `base` changed by `patch`, which gets the bytes and the archive's entries.
    static func patchedCopy(into dir: URL, _ patch: (inout [UInt8], [ZipArchive.Entry]) throws -> Void) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: base)))
        try patch(&bytes, try ZipArchive(path: base).entries)
        let out = dir.appendingPathComponent("patched.pth").path
        try Data(bytes).write(to: URL(fileURLWithPath: out))
        return out
    }

    /// The record of storage `0`.
    static func firstTensorRecord(_ entries: [ZipArchive.Entry]) throws -> ZipArchive.Entry {
        try #require(entries.first { $0.name.hasSuffix("/data/0") })
    }

    @Test func libzipOpensOnlyArchivesWithACompressedRecord() throws {
        #expect(try ZipArchive(path: Self.base).usesLibzip == false)
        #expect(try ZipArchive(path: Fixtures.localPath("matrix/deflated.pth")).usesLibzip == true)
    }

    /// The local header names another record, or says deflate: an error naming the record when
    /// it is read (the pickle itself, read at open, still is fine).
    @Test(arguments: [("name", "another name"), ("method", "compression method 8, not stored"), ("crc", "CRC-32"), ("size", "size")])
    func aLocalHeaderThatDisagreesWithTheDirectoryIsRefusedWhenRead(field: String, reason: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var record: ZipArchive.Entry?
        let path = try Self.patchedCopy(into: dir) { bytes, entries in
            let r = try Self.firstTensorRecord(entries)
            record = r
            let lo = r.localHeaderOffset
            func put32(_ value: Int, at offset: Int) {
                for k in 0..<4 { bytes[lo + offset + k] = UInt8(truncatingIfNeeded: value >> (8 * k)) }
            }
            switch field {
            case "name": bytes[lo + 30 + r.rawName.count - 1] = UInt8(ascii: "Z")
            case "method": bytes[lo + 8] = 8
            case "crc": put32(Int(r.crc ^ 1), at: 14)
            default:
                // The right CRC-32 (so the sizes are compared too) and a size one too large.
                put32(Int(r.crc), at: 14)
                put32(r.size, at: 18)
                put32(r.size + 1, at: 22)
            }
        }
        let entry = try #require(record)
        let checkpoint = try Checkpoint.open(path: path)
        let error = try #require(throws: PthReaderError.self) {
            for tensor in checkpoint.tensors { _ = try checkpoint.bytes(of: tensor) }
        }
        #expect(error.description.hasPrefix("\(path): \(entry.name): the local header at byte \(entry.localHeaderOffset) disagrees with the zip directory (\(reason))"), "\(error)")
    }

    /// A record whose data would run into the central directory is refused when opened.
    @Test func aRecordRunningIntoTheDirectoryIsRefusedAtOpen() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Self.patchedCopy(into: dir) { bytes, entries in
            let r = try Self.firstTensorRecord(entries)
            let entry = try #require(Self.directoryEntry(of: r, in: bytes))
            // Compressed size (offset 20) of this entry: far more than lies before the directory.
            let big = UInt32(bytes.count - 100)
            for k in 0..<4 { bytes[entry + 20 + k] = UInt8(truncatingIfNeeded: big >> (8 * k)) }
        }
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: path) }
        #expect(error.description.contains("runs into the central directory"), "\(error)")
    }

    @Test func aMultiDiskArchiveIsRefused() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Self.patchedCopy(into: dir) { bytes, _ in
            let signature: [UInt8] = [0x50, 0x4B, 5, 6]
            let eocd = try #require((0...(bytes.count - 22)).last { bytes[$0..<($0 + 4)].elementsEqual(signature) })
            bytes[eocd + 4] = 1
        }
        let error = try #require(throws: PthReaderError.self) { try Checkpoint.open(path: path) }
        #expect(error.description.contains("spans several disks"), "\(error)")
    }

    /// The byte offset of `record`'s central directory entry (found by its local header offset).
    static func directoryEntry(of record: ZipArchive.Entry, in bytes: [UInt8]) -> Int? {
        let signature: [UInt8] = [0x50, 0x4B, 1, 2]
        return (0...(bytes.count - 46)).first { i in
            bytes[i..<(i + 4)].elementsEqual(signature) && Int(ZipDirectory.le32(bytes, i + 42)) == record.localHeaderOffset
        }
    }
}
