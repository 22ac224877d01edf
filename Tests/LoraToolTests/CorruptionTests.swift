import Foundation
import Testing
import TestSupport

/// A checkpoint with one flipped byte in a tensor record is refused by every command that reads
/// tensors, naming the record, and nothing is written.
@Suite struct CorruptionTests {
    static let family = "v1_tiny"

    /// A copy of the base with one byte flipped in the data of record `data/<key>`.
    static func corruptBase(record key: String, in dir: URL) throws -> (path: String, record: String) {
        let source = Fixtures.sharedPath(family + "/base.pth")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        // Walk the local headers (torch's files are STORED with data descriptors): find the record.
        var p = 0
        while p + 30 <= bytes.count, bytes[p..<p + 4] == [0x50, 0x4B, 3, 4] {
            let nameLength = Int(bytes[p + 26]) | Int(bytes[p + 27]) << 8
            let extraLength = Int(bytes[p + 28]) | Int(bytes[p + 29]) << 8
            let name = String(decoding: bytes[(p + 30)..<(p + 30 + nameLength)], as: UTF8.self)
            let start = p + 30 + nameLength + extraLength
            // The size is in the data descriptor; find it from the next local header instead.
            var next = start
            while next + 4 <= bytes.count, !(bytes[next..<next + 4] == [0x50, 0x4B, 3, 4] || bytes[next..<next + 4] == [0x50, 0x4B, 1, 2]) { next += 1 }
            if name.hasSuffix("/data/" + key) {
                let size = next - start - 16
                bytes[start + size / 3] ^= 0x01
                let out = dir.appendingPathComponent("base.pth").path
                try Data(bytes).write(to: URL(fileURLWithPath: out))
                return (out, name)
            }
            p = next
        }
        throw CocoaError(.fileReadCorruptFile)
    }

    /// Records 0 (the tied embedding and head), 7 and 12 are written unchanged by the merge, so
    /// they take the kernel-copy path (`copy_file_range` after the CRC check); record 1 (`wq`) is merged.
    @Test(arguments: ["0", "1", "7", "12"])
    func everyCommandRefusesAFlippedByte(key: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (path, record) = try Self.corruptBase(record: key, in: dir)
        let lora = Fixtures.sharedPath(Self.family + "/lora.pth")
        let commands: [[String]] = [
            ["inspect", path, "--verify"],
            ["merge", path, lora, "-o", dir.appendingPathComponent("merged.pth").path],
            ["merge", path, lora, "-o", dir.appendingPathComponent("merged.safetensors").path],
            ["convert", path, "-o", dir.appendingPathComponent("copy.safetensors").path],
            ["logits", path, "--tokens", "1,2,3", "-o", dir.appendingPathComponent("logits.npy").path],
        ]
        for arguments in commands {
            let result = try CommandRunner.run(arguments)
            #expect(result.status == 2, "\(arguments[0]): \(result.stderr)")
            #expect(result.stderr.hasPrefix("error: \(path): \(record): CRC-32 mismatch"), "\(arguments[0]): \(result.stderr)")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(left == ["base.pth"], "left behind: \(left)")
    }

    @Test func inspectVerifyPassesAGoodFile() throws {
        let result = try CommandRunner.run(["inspect", Fixtures.sharedPath(Self.family + "/base.pth"), "--verify"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("every CRC-32 matches"))
    }
}
