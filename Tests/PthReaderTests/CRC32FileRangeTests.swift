import Foundation
import Synchronization
import Testing
import TestSupport
@testable import PthReader

/// `CRC32.ofFileRange` checksums file bytes through `mmap` windows: the same CRC-32 as over the
/// bytes in memory, for any offset and length (windows of 8 MiB, unaligned starts), and a file
/// truncated while it is read is an error, not a SIGBUS that ends the process.
@Suite(.serialized) struct CRC32FileRangeTests {
    /// A temporary file of `count` pseudo-random bytes; its descriptor is open for reading.
    static func file(count: Int, in dir: URL) throws -> (path: String, fd: Int32, bytes: [UInt8]) {
        var random = TestRandom(seed: 0x9E37_79B9_7F4A_7C15)
        let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next() >> 56) }
        let path = dir.appendingPathComponent("bytes.bin").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        return (path, fd, bytes)
    }

    static func unreadable(_ code: Int32) -> Error { PthReaderError.unreadable(path: "test", reason: String(cString: strerror(code))) }

    /// Where a file cannot be mapped (procfs files cannot), the bytes are read with `pread`: the
    /// same CRC, and a range past the end is `.endedEarly` there too.
    @Test func unmappableFilesAreReadInstead() throws {
        let fd = open("/proc/version", O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        let probe = mmap(nil, 4096, PROT_READ, MAP_SHARED, fd, 0)
        try #require(probe == MAP_FAILED, "procfs was mappable: this test would not reach the pread path")
        var bytes: [UInt8] = []
        var piece = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = pread(fd, &piece, piece.count, off_t(bytes.count))
            try #require(n >= 0)
            if n == 0 { break }
            bytes += piece[..<n]
        }
        try #require(bytes.count > 1)
        #expect(try CRC32.ofFileRange(descriptor: fd, offset: 1, count: bytes.count - 1, readError: Self.unreadable)
                == .crc(CRC32.checksum(Array(bytes[1...]))))
        #expect(try CRC32.ofFileRange(descriptor: fd, offset: 0, count: bytes.count + 1, readError: Self.unreadable) == .endedEarly)
    }

    @Test func rangesGiveTheCRCOfTheirBytes() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let count = (16 << 20) + (3 << 20) + 12345   // more than two 8 MiB windows
        let (_, fd, bytes) = try Self.file(count: count, in: dir)
        defer { close(fd) }
        let ranges = [(0, count), (0, 1), (4097, 300_001), (4096, 16 << 20), (1, (16 << 20) + 1),
                      (count - 5000, 5000), (count, 0), (12_345, (17 << 20) + 3)]
        for (offset, length) in ranges {
            let want = bytes.withUnsafeBytes { CRC32.update(0, UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)])) }
            #expect(try CRC32.ofFileRange(descriptor: fd, offset: offset, count: length, readError: Self.unreadable) == .crc(want),
                    "\(offset) + \(length)")
        }
        // Continuing an initial CRC: two halves give the whole.
        let half = count / 2 + 7
        guard case .crc(let first) = try CRC32.ofFileRange(descriptor: fd, offset: 0, count: half, readError: Self.unreadable) else {
            Issue.record("first half ended early"); return
        }
        #expect(try CRC32.ofFileRange(descriptor: fd, offset: half, count: count - half, initial: first, readError: Self.unreadable)
                == .crc(CRC32.checksum(bytes)))
    }

    /// Truncated by "another process" after it was opened: the mapped pages past the new end
    /// raise SIGBUS, which must come back as `.endedEarly` (this test process would die otherwise),
    /// also from several threads at once.
    @Test func aFileTruncatedWhileMappedEndsEarlyInsteadOfCrashing() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (path, fd, _) = try Self.file(count: 3 << 20, in: dir)
        defer { close(fd) }
        #expect(truncate(path, 5000) == 0)   // mid-page: the rest of that page reads as zeros, the next page faults
        for offset in [0, 4096, 8192, 1 << 20] {
            #expect(try CRC32.ofFileRange(descriptor: fd, offset: offset, count: (2 << 20), readError: Self.unreadable) == .endedEarly)
        }
        let results = Mutex<[CRC32.FileRangeResult]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let r = try? CRC32.ofFileRange(descriptor: fd, offset: i * 4096, count: 1 << 20, readError: Self.unreadable)
            results.withLock { $0.append(r ?? .crc(0)) }
        }
        #expect(results.withLock { $0 } == Array(repeating: .endedEarly, count: 8))
        // The process still handles the bytes that are there.
        #expect(try CRC32.ofFileRange(descriptor: fd, offset: 0, count: 4000, readError: Self.unreadable) != .endedEarly)
    }

    /// Through the reader and the writer: a torch zip input truncated after it was opened is a
    /// named error when its records are verified or copied, and the output is not left behind.
    @Test func aCheckpointTruncatedAfterOpeningIsANamedError() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("base.pth").path
        try FileManager.default.copyItem(atPath: Fixtures.sharedPath("v1_tiny/base.pth"), toPath: path)
        let checkpoint = try Checkpoint.open(path: path)
        #expect(truncate(path, 64 << 10) == 0)
        for ext in ["pth", "safetensors"] {
            let out = dir.appendingPathComponent("out.\(ext)").path
            let error = try #require(throws: PthReaderError.self) {
                try CheckpointWriter.write(root: checkpoint.root, to: out, format: try OutputFormat(path: out), provideData: { entry in
                    if let span = try checkpoint.span(of: entry) { return .span(span) }
                    return .bytes(try checkpoint.bytes(of: entry))
                })
            }
            #expect(error.description.contains("file ends inside the record"), "\(error)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["base.pth"])
        }
        #expect(throws: PthReaderError.self) { _ = try checkpoint.verifyIntegrity() }
    }
}
