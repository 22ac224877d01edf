import Foundation
import PthReader
import Testing
import TestSupport
@testable import Model

/// float16/bfloat16 weights stay 16-bit in the model and are widened inside the products; the
/// results must equal those of the same values held as float32 (summation order aside).
@Suite struct HalfWeightTests {
    /// Deterministic pseudo-random floats in [-1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var random = TestRandom(seed: seed)
        return (0..<count).map { _ in Float(Int64(bitPattern: random.next() >> 11) % 2_000_000) / 1_000_000 - 1 }
    }

    /// Largest |a − b| relative to the largest |b| (1 when b is all zeros).
    static func relativeDifference(_ a: [Float], _ b: [Float]) -> Float {
        let scale = max(b.map(abs).max() ?? 0, 1e-30)
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    /// Each 16-bit kind against float32 storage of the very same values, for one activation row
    /// (the decoding kernel, serial and split across threads) and several (widened blocks +
    /// sgemm), with column counts that leave tails after the 16- and 8-wide vector loops.
    @Test(arguments: [(rows: 7, columns: 13), (rows: 1027, columns: 517), (rows: 96, columns: 64)])
    func productsEqualFloat32Storage(_ shape: (rows: Int, columns: Int)) throws {
        let weights = Self.values(shape.rows * shape.columns, seed: 7)
        for dtype in [DType.float16, .bfloat16] {
            let bits = weights.map { dtype == .float16 ? Float16($0).bitPattern : DType.bfloat16Bits($0) }
            let half = WeightStorage(dtype == .float16 ? .float16(bits) : .bfloat16(bits), columns: shape.columns)
            let wide = WeightStorage(.float32(half.floats(rows: 0, count: shape.rows)), columns: shape.columns)
            for m in [1, 5] {
                let x = Self.values(m * shape.columns, seed: 11)
                // Rows 1 ..< rows of the storage: a layer that does not start at row 0.
                let n = shape.rows - 1
                var a = [Float](repeating: .nan, count: m * n), b = a
                x.withUnsafeBufferPointer { x in
                    a.withUnsafeMutableBufferPointer { half.multiply(x.baseAddress!, rows: m, firstRow: 1, count: n, into: $0.baseAddress!, ldy: n) }
                    b.withUnsafeMutableBufferPointer { wide.multiply(x.baseAddress!, rows: m, firstRow: 1, count: n, into: $0.baseAddress!, ldy: n) }
                }
                #expect(!a.contains { $0.isNaN })
                #expect(Self.relativeDifference(a, b) < 1e-5, "\(dtype) \(shape) m=\(m)")
            }
        }
    }

    /// Writes `checkpoint` with every floating-point tensor as `dtype` (safetensors) and opens it.
    static func rewritten(_ checkpoint: Checkpoint, as dtype: DType, in dir: URL, name: String) throws -> Checkpoint {
        let path = dir.appendingPathComponent(name + ".safetensors").path
        _ = try CheckpointRewriter(source: checkpoint, options: .init(outputDType: dtype)).write(to: path, format: .safetensors)
        return try Checkpoint.open(path: path)
    }

    /// The MoE fixture (float16, tied head, shared expert) and its bfloat16 rounding, each against
    /// a float32 copy of the same values: prefill, token-by-token decoding, the adapter unmerged
    /// and merged in memory.
    @Test func modelEqualsFloat32WeightModel() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = try Checkpoint.open(path: Fixtures.localPath("moe_tiny/base.pth"))
        let configuration = try #require(try ModelConfiguration.discovered(for: original))
        let tokens = try Npy.readInt64(path: Fixtures.localPath("moe_tiny/tokens.npy")).values.map { Int($0) }
        let adapterPath = Fixtures.localPath("moe_tiny/lora.pth")
        let bf16 = try Self.rewritten(original, as: .bfloat16, in: dir, name: "bf16")
        for (half, label) in [(original, "float16"), (bf16, "bfloat16")] {
            let wide = try Self.rewritten(half, as: .float32, in: dir, name: label + "-as-f32")
            let halfModel = try TransformerModel.load(half, configuration: configuration)
            let wideModel = try TransformerModel.load(wide, configuration: configuration)
            #expect(halfModel.weightDType == (label == "float16" ? .float16 : .bfloat16))
            #expect(halfModel.embedding.elements.halfKind != nil && halfModel.head.storage.elements.halfKind != nil)
            #expect(wideModel.embedding.elements.halfKind == nil)
            let expected = try wideModel.logits(for: tokens)
            #expect(maxAbsDifference(try halfModel.logits(for: tokens), expected) < 1e-5, "\(label) prefill")
            #expect(maxAbsDifference(try halfModel.logitsDecoding(tokens), try wideModel.logitsDecoding(tokens)) < 1e-5, "\(label) decode")

            let halfPairs = try adapterPairs(adapterPath, base: half), widePairs = try adapterPairs(adapterPath, base: wide)
            let wrapped = try TransformerModel.load(half, configuration: configuration, adapters: halfPairs)
            let wrappedWide = try TransformerModel.load(wide, configuration: configuration, adapters: widePairs)
            #expect(maxAbsDifference(try wrapped.logitsDecoding(tokens), try wrappedWide.logitsDecoding(tokens)) < 1e-5, "\(label) wrapped")
            let merged = try TransformerModel.load(half, configuration: configuration, adapters: halfPairs, mode: .merged)
            let mergedWide = try TransformerModel.load(wide, configuration: configuration, adapters: widePairs, mode: .merged)
            #expect(maxAbsDifference(try merged.logits(for: tokens), try mergedWide.logits(for: tokens)) < 1e-5, "\(label) merged")
            // The merge widened only the adapted layers' storage; the tied embedding stays 16-bit.
            #expect(merged.embedding.elements.halfKind != nil)
        }
    }
}
