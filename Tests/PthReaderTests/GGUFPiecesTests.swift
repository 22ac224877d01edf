import Foundation
import Testing
import TestSupport
@testable import PthReader

/// `GGUFTensorData.pieces`: the same file as the bytes in memory; a wrong total is refused, nothing left.
@Suite struct GGUFPiecesTests {
    static let tensors = [GGUFTensorInfo(name: "a", shape: [3, 32], type: .q8_0), GGUFTensorInfo(name: "b", shape: [5], type: .f32)]
    static let bytes: [[UInt8]] = tensors.enumerated().map { i, t in (0..<t.byteCount).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) } }

    func write(_ path: String, provide: (Int) throws -> GGUFTensorData) throws {
        try GGUFWriter.write(to: path, entries: [("general.architecture", .value(.string("llama")))],
                             tensors: Self.tensors, provideData: provide)
    }

    @Test func piecesWriteTheSameFileAsBytes() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let whole = dir.appendingPathComponent("whole.gguf").path, pieces = dir.appendingPathComponent("pieces.gguf").path
        try write(whole) { .bytes(Self.bytes[$0]) }
        try write(pieces) { i in
            .pieces { emit in
                let b = Self.bytes[i]
                var start = 0
                for size in [1, 33, 0, 7] where start < b.count {
                    try emit(Array(b[start..<min(start + size, b.count)])); start = min(start + size, b.count)
                }
                if start < b.count { try emit(Array(b[start...])) }
            }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: whole)) == Data(contentsOf: URL(fileURLWithPath: pieces)))
    }

    /// The writer reserves the file's disk before writing (`ChunkedOutput.reserve`); the file must
    /// still end right after its last tensor's padding, with nothing allocated beyond.
    @Test func theFileEndsAfterItsLastTensor() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("x.gguf").path
        try write(path) { .bytes(Self.bytes[$0]) }
        let gguf = try #require(try Checkpoint.open(path: path).gguf)
        let last = try #require(gguf.tensors.last)
        let end = last.offset + last.byteCount
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size == gguf.dataStart + (end + gguf.alignment - 1) / gguf.alignment * gguf.alignment)
    }

    @Test(arguments: [-1, 1])
    func aWrongTotalLeavesNoFile(extra: Int) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("x.gguf").path
        let expected = Self.tensors[0].byteCount
        #expect(throws: CheckpointWriterError.wrongByteCount(path: path, tensor: "a", expected: expected, got: expected + extra)) {
            try write(path) { _ in
                .pieces { emit in
                    try emit([UInt8](repeating: 1, count: expected - 1))
                    if extra > 0 { try emit([1, 1]) }
                }
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
