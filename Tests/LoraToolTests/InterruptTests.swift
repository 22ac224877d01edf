import Foundation
import Testing
import TestSupport

/// An interrupted export leaves nothing behind: no target, no hidden temporary (after SIGKILL, the
/// next export to the same target removes what the killed one left).
@Suite struct InterruptedWriteTests {
    /// Starts `arguments`, waits until a hidden temporary appears in `dir`, sends SIGINT, and returns
    /// (whether the temporary was seen before the process ended, its exit status).
    private func interrupt(_ arguments: [String], watching dir: URL, signal: Int32 = SIGINT) throws -> (seen: Bool, status: Int32) {
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
                kill(process.processIdentifier, signal)
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
        let (seen, status) = try interrupt(exportArguments(out), watching: dir)
        #expect(seen, "the write finished before it could be interrupted")
        if seen {
            #expect(status == 130)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        }
    }

    /// The export's arguments for an HF directory (`model`) or a GGUF file (`model.gguf`).
    private func exportArguments(_ out: String) -> [String] {
        var arguments = ["merge", Fixtures.sharedPath("mm3_tiny_moe/base.pth"), Fixtures.sharedPath("mm3_tiny_moe/lora.pth"), "-o", out,
                         "--tokenizer", Fixtures.sharedPath("")]
        arguments += out.hasSuffix(".gguf") ? ["--dtype", "q8_0"] : ["--format", "hf", "--max-shard-size", "50KB"]
        return arguments
    }

    @Test(arguments: ["model", "model.gguf"])
    func aKilledExportsTemporaryIsRemovedByTheNextExport(name: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent(name).path
        let (seen, status) = try interrupt(exportArguments(out), watching: dir, signal: SIGKILL)
        #expect(seen, "the write finished before it could be killed")
        guard seen else { return }
        #expect(status == SIGKILL) // Foundation reports the signal of an uncaught termination
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(left.count == 1 && left[0].hasPrefix(".\(name).tmp-"), "SIGKILL leaves the hidden temporary: \(left)")
        let again = try CommandRunner.run(exportArguments(out))
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("note: removed \(dir.appendingPathComponent(left[0]).path), a temporary"), "\(again.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [name])
    }
}
