import CCleanup
import Foundation
import Testing
import TestSupport
@testable import PthReader

/// Nothing is left behind: signal cleanup, stale temporaries after SIGKILL, short temp names.
@Suite struct LeftBehindTests {
    @Test func signalCleanupRemovesTheTemporary() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("out.pth").path
        let output = try AtomicOutputFile(target: target)
        _ = try output.openForWriting()
        try [UInt8](repeating: 1, count: 100).withUnsafeBytes { try output.write($0) }
        let unrelated = dir.appendingPathComponent("keep.txt").path
        FileManager.default.createFile(atPath: unrelated, contents: Data([2]))
        // What the SIGINT/SIGTERM/SIGHUP handler does for every registered file (only ours here:
        // other tests write concurrently in this process).
        lt_cleanup_remove_slot(output.cleanupSlot)
        #expect(!FileManager.default.fileExists(atPath: output.temporaryPath))
        #expect(FileManager.default.fileExists(atPath: unrelated))
    }

    /// Every writer writes through the descriptor; a commit without it is refused and leaves nothing.
    @Test func commitOfAFileNeverOpenedIsRefused() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("out.safetensors").path
        do {
            let output = try AtomicOutputFile(target: target)
            #expect(throws: CheckpointWriterError.self) { try output.commit() }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
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
        let prefix = TemporaryName.prefix(for: "merged.safetensors")
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

    /// A pid that names no live process: one of a process that has exited (until reused, which is rare).
    private func deadPID() throws -> Int32 {
        let done = Process()
        done.executableURL = URL(fileURLWithPath: "/bin/true")
        try done.run()
        done.waitUntilExit()
        return done.processIdentifier
    }

    @Test func staleTemporaryDirectoriesOfDeadProcessesAreRemoved() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        let prefix = TemporaryName.prefix(for: "model")
        // What a SIGKILLed HF export leaves: a hidden directory with a shard in progress inside.
        let stale = dir.appendingPathComponent("\(prefix)\(try deadPID())-ab12")
        try fm.createDirectory(at: stale, withIntermediateDirectories: false)
        fm.createFile(atPath: stale.appendingPathComponent("model.safetensors").path, contents: Data(count: 64))
        let live = dir.appendingPathComponent("\(prefix)1-cd34") // pid 1 is alive: another writer's
        try fm.createDirectory(at: live, withIntermediateDirectories: false)
        let other = dir.appendingPathComponent("\(TemporaryName.prefix(for: "other"))\(try deadPID())-ef56")
        try fm.createDirectory(at: other, withIntermediateDirectories: false) // another target's: not ours to judge now
        let target = dir.appendingPathComponent("model").path
        let output = try AtomicOutputDirectory(target: target)
        try output.write(Data("{}".utf8), to: "config.json")
        try output.commit()
        #expect(!fm.fileExists(atPath: stale.path))
        #expect(fm.fileExists(atPath: live.path))
        #expect(fm.fileExists(atPath: other.path))
        #expect(fm.fileExists(atPath: target + "/config.json"))
    }

    @Test func aDirectorySetAsideByAKilledReplaceIsRestored() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        // Killed between moving the old model aside and renaming the new one into place.
        let prefix = TemporaryName.prefix(for: "model")
        let pid = try deadPID()
        let fresh = dir.appendingPathComponent("\(prefix)\(pid)-ab12")
        try fm.createDirectory(at: fresh, withIntermediateDirectories: false)
        let aside = dir.appendingPathComponent("\(prefix)\(pid)-ab12.old")
        try fm.createDirectory(at: aside, withIntermediateDirectories: false)
        fm.createFile(atPath: aside.appendingPathComponent("config.json").path, contents: Data("{\"old\": 1}".utf8))
        let target = dir.appendingPathComponent("model").path
        let output = try AtomicOutputDirectory(target: target)
        #expect(try Data(contentsOf: URL(fileURLWithPath: target + "/config.json")) == Data("{\"old\": 1}".utf8))
        #expect(!fm.fileExists(atPath: fresh.path))
        #expect(!fm.fileExists(atPath: aside.path))
        _ = output // uncommitted: the old model stays
    }

    @Test func aGGUFWriteRemovesStaleTemporaries() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let prefix = TemporaryName.prefix(for: "model.gguf")
        let stale = dir.appendingPathComponent("\(prefix)\(try deadPID())-zz9").path
        let live = dir.appendingPathComponent("\(prefix)1-zz9").path
        FileManager.default.createFile(atPath: stale, contents: Data(count: 16))
        FileManager.default.createFile(atPath: live, contents: Data(count: 16))
        let target = dir.appendingPathComponent("model.gguf").path
        try GGUFWriter.write(to: target, metadata: [("general.architecture", .string("llama"))],
                             tensors: [GGUFTensorInfo(name: "t", shape: [2], type: .f32)]) { _ in [UInt8](repeating: 0, count: 8) }
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(FileManager.default.fileExists(atPath: live))
        #expect(FileManager.default.fileExists(atPath: target))
    }

    @Test func temporaryNamesStayWithin255Bytes() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in [String(repeating: "m", count: 240) + ".safetensors", String(repeating: "é", count: 120) + ".pth"] {
            #expect(name.utf8.count <= 255)
            let target = dir.appendingPathComponent(name).path
            let output = try AtomicOutputFile(target: target)
            let temporary = URL(fileURLWithPath: output.temporaryPath).lastPathComponent
            #expect(temporary.utf8.count <= 255, "\(temporary.utf8.count) bytes")
            _ = try output.openForWriting()
            try [UInt8](repeating: 7, count: 10).withUnsafeBytes { try output.write($0) }
            try output.commit()
            #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data(repeating: 7, count: 10))
        }
    }
}
