import CCleanup
import Foundation
import Testing
import TestSupport
@testable import PthReader

/// Nothing is left behind: signal cleanup, stale temporaries after SIGKILL, short temp names.
@Suite struct LeftBehindTests {
    @Test func signalCleanupRemovesTheTemporaryAndLibzipsSibling() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("out.pth").path
        let output = try AtomicOutputFile(target: target)
        _ = try output.openForWriting()
        // libzip writes `<temp>.XXXXXX` beside our temporary file at zip_close.
        FileManager.default.createFile(atPath: output.temporaryPath + ".a1B2c3", contents: Data([1]))
        let unrelated = dir.appendingPathComponent("keep.txt").path
        FileManager.default.createFile(atPath: unrelated, contents: Data([2]))
        // What the SIGINT/SIGTERM/SIGHUP handler does for every registered file (only ours here:
        // other tests write concurrently in this process).
        lt_cleanup_remove_slot(output.cleanupSlot)
        #expect(!FileManager.default.fileExists(atPath: output.temporaryPath))
        #expect(!FileManager.default.fileExists(atPath: output.temporaryPath + ".a1B2c3"))
        #expect(FileManager.default.fileExists(atPath: unrelated))
    }

    @Test func staleTemporariesOfDeadProcessesAreRemoved() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A process that has exited: its pid names no live process (until reused, which is rare).
        let done = Process()
        done.executableURL = URL(fileURLWithPath: "/bin/true")
        try done.run()
        done.waitUntilExit()
        let target = dir.appendingPathComponent("merged.safetensors").path
        let prefix = AtomicOutputFile.temporaryPrefix(for: "merged.safetensors")
        let stale = dir.appendingPathComponent("\(prefix)\(done.processIdentifier)-zz9").path
        let live = dir.appendingPathComponent("\(prefix)1-zz9").path // pid 1 is alive
        FileManager.default.createFile(atPath: stale, contents: Data(count: 16))
        FileManager.default.createFile(atPath: stale + ".Xy12Ab", contents: Data(count: 16))
        FileManager.default.createFile(atPath: live, contents: Data(count: 16))
        let output = try AtomicOutputFile(target: target)
        _ = output
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(!FileManager.default.fileExists(atPath: stale + ".Xy12Ab"))
        #expect(FileManager.default.fileExists(atPath: live))
    }

    @Test func temporaryNamesStayWithin255Bytes() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in [String(repeating: "m", count: 240) + ".safetensors", String(repeating: "é", count: 120) + ".pth"] {
            #expect(name.utf8.count <= 255)
            let target = dir.appendingPathComponent(name).path
            let output = try AtomicOutputFile(target: target)
            let temporary = URL(fileURLWithPath: output.temporaryPath).lastPathComponent
            #expect(temporary.utf8.count + 7 <= 255, "\(temporary.utf8.count) bytes")
            _ = try output.openForWriting()
            try [UInt8](repeating: 7, count: 10).withUnsafeBytes { try output.write($0) }
            try output.commit()
            #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data(repeating: 7, count: 10))
        }
    }
}
