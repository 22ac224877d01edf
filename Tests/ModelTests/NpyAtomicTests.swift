import Foundation
import Testing
import TestSupport
@testable import Model

/// `.npy` outputs go through the atomic writer: a new file replaces the old one whole.
@Suite struct NpyAtomicTests {
    @Test func writeReplacesTheFileAndLeavesNoTemporary() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("logits.npy").path
        try Npy.write(Tensor(shape: [2, 2], data: [1, 2, 3, 4]), to: path)
        let before = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int
        try Npy.write(Tensor(shape: [1, 3], data: [5, 6, 7]), to: path)
        let after = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int
        // A rename of a new file, never a truncation of the old one in place.
        #expect(before != nil && before != after)
        #expect(try Npy.readTensor(path: path).data == [5, 6, 7])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["logits.npy"])
    }

    @Test func aFailedWriteKeepsTheOldFile() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("logits.npy").path
        try Npy.write(Tensor(shape: [2], data: [1, 2]), to: path)
        // The target's directory replaced by a file: the temporary cannot be created there.
        #expect(throws: (any Error).self) { try Npy.write(Tensor(shape: [2], data: [3, 4]), to: path + "/x.npy") }
        #expect(try Npy.readTensor(path: path).data == [1, 2])
    }
}
