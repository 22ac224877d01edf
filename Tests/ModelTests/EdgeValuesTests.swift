import Foundation
import Testing
import Model
import TestSupport
@testable import PthReader

/// Every tensor of `edge.pth` and `edge_legacy.pth` (every dtype, scalar, empty, views sharing
/// storage) holds the values torch saved in `edge_values.npz`.
@Suite struct EdgeValuesTests {
    /// The arrays of `edge_values.npz` (a zip of `.npy` files) by tensor name.
    static func torchValues() throws -> [String: Npy.RawArray] {
        let path = Fixtures.sharedPath("edge_values.npz")
        let archive = try ZipArchive(path: path)
        var arrays: [String: Npy.RawArray] = [:]
        for entry in archive.entries where entry.name.hasSuffix(".npy") {
            arrays[String(entry.name.dropLast(4))] = try Npy.decodeRaw(try archive.contents(of: entry), path: path + "/" + entry.name)
        }
        return arrays
    }

    @Test(arguments: ["edge.pth", "edge_legacy.pth"])
    func valuesMatchTorch(file: String) throws {
        let expected = try Self.torchValues()
        #expect(expected.count >= 16)
        let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath(file))
        for (name, array) in expected {
            let tensor = try #require(checkpoint.tensor(named: name), "\(name) missing from \(file)")
            #expect(tensor.shape == array.shape, "\(name) shape")
            if tensor.dtype == .bfloat16 {
                // NumPy has no bfloat16: the fixture holds the values widened to float32.
                #expect(array.dtype == .float32)
                let widened = try checkpoint.floats(of: tensor).flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
                #expect(widened == array.bytes, "\(name) values")
            } else {
                #expect(array.dtype == tensor.dtype, "\(name) dtype")
                #expect(try checkpoint.bytes(of: tensor) == array.bytes, "\(name) values")
            }
        }
    }
}
