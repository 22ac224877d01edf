import Foundation
import Testing
import TestSupport
@testable import Model

@Suite struct NpyTests {
    @Test func float32RoundTrip() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("a.npy").path
        let tensor = Tensor(shape: [2, 3], data: [1, -2.5, 0, .infinity, 3.25e-8, -0.0])
        try Npy.write(tensor, to: path)
        let back = try Npy.readTensor(path: path)
        #expect(back.shape == [2, 3])
        #expect(back.data.map(\.bitPattern) == tensor.data.map(\.bitPattern))
        // Header is padded so the data starts on a 64-byte boundary, as NumPy does.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect((bytes.count - 24) % 64 == 0)
    }

    @Test(arguments: [[Int](), [0], [5], [2, 2, 2]])
    func int64RoundTrip(shape: [Int]) throws {
        let count = shape.reduce(1, *)
        let values = (0..<count).map { Int64($0) * 1_000_000_007 - 3 }
        let bytes = Npy.encode(shape: shape, int64: values)
        let back = try Npy.decode(bytes)
        #expect(back == .int64(shape: shape, values: values))
    }

    @Test func readsFixtureTokensAndLogits() throws {
        let tokens = try Npy.readInt64(path: Fixtures.sharedPath("v1_tiny/tokens.npy"))
        #expect(tokens.shape == [12])
        // First ids as numpy prints them: [1 3158 6212 3448 ...].
        #expect(Array(tokens.values.prefix(4)) == [1, 3158, 6212, 3448])
        let logits = try Npy.readTensor(path: Fixtures.sharedPath("v1_tiny/logits_base.npy"))
        #expect(logits.shape == [12, 6400])
        #expect(logits.data.allSatisfy { $0.isFinite })
    }

    @Test func rewritingAFixtureGivesIdenticalBytes() throws {
        let path = Fixtures.sharedPath("hf_tiny_peft/logits_base.npy")
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let tensor = try Npy.readTensor(path: path)
        #expect(Npy.encode(shape: tensor.shape, float32: tensor.data) == original)
    }

    @Test func rejectsBadInput() throws {
        #expect(throws: NpyError.self) { try Npy.decode(Array("not numpy".utf8)) }
        var truncated = Npy.encode(shape: [4], float32: [1, 2, 3, 4])
        truncated.removeLast(3)
        #expect(throws: NpyError.truncated(path: "<memory>", expectedBytes: 16, actualBytes: 13)) { try Npy.decode(truncated) }
        let wrongKind = Npy.encode(shape: [1], int64: [7])
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("i.npy").path
        try Data(wrongKind).write(to: URL(fileURLWithPath: path))
        #expect(throws: NpyError.self) { try Npy.readTensor(path: path) }
    }

    @Test func parsesHeaderVariants() throws {
        let h = try Npy.parseHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", path: "x")
        #expect(h.descr == "<f4" && !h.fortranOrder && h.shape == [3])
        let scalar = try Npy.parseHeader("{'descr': '<i8', 'fortran_order': True, 'shape': (), }", path: "x")
        #expect(scalar.fortranOrder && scalar.shape == [])
    }
}
