import Foundation
import Testing
import TestSupport

/// An interrupted export leaves nothing behind: no target, no hidden temporary.
@Suite struct InterruptedWriteTests {
    /// Starts `arguments`, waits until a hidden temporary appears in `dir`, sends SIGINT, and returns
    /// (whether the temporary was seen before the process ended, its exit status).
    private func interrupt(_ arguments: [String], watching dir: URL) throws -> (seen: Bool, status: Int32) {
        let process = Process()
        process.executableURL = CommandRunner.binary
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var seen = false
        while process.isRunning {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            if names.contains(where: { $0.hasPrefix(".") && $0.contains(".tmp-") }) {
                seen = true
                process.interrupt()
                break
            }
            usleep(500)
        }
        process.waitUntilExit()
        return (seen, process.terminationStatus)
    }

    @Test(arguments: ["model", "model.gguf"])
    func interruptedExportLeavesNothing(name: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent(name).path
        var arguments = ["merge", Fixtures.sharedPath("mm3_tiny_moe/base.pth"), Fixtures.sharedPath("mm3_tiny_moe/lora.pth"), "-o", out,
                         "--tokenizer", Fixtures.sharedPath("")]
        arguments += name.hasSuffix(".gguf") ? ["--dtype", "q8_0"] : ["--format", "hf", "--max-shard-size", "50KB"]
        let (seen, status) = try interrupt(arguments, watching: dir)
        #expect(seen, "the write finished before it could be interrupted")
        if seen {
            #expect(status == 130)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        }
    }
}
