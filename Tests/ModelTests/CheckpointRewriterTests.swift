import Foundation
import Testing
import PthReader
import TestSupport
@testable import Model

/// The merge engine refuses weights it cannot store faithfully, and writes nothing then.
@Suite struct CheckpointRewriterTests {
    @Test func nonFiniteOrOverflowingValuesAreRefused() throws {
        let base: [Float] = [1, 2, 3]
        for (values, dtype) in [([1, .nan, 3], DType.float32), ([1, .infinity, 3], .float32), ([1, 70000, 3], .float16), ([1, -65520, 3], .float16)] as [([Float], DType)] {
            #expect(throws: MergeError.self) {
                try CheckpointRewriter.checkRepresentable(values, as: dtype, path: "b.pth", tensor: "w", base: { base })
            }
        }
        // In range (65504 is float16's largest value), or already non-finite in the base: accepted.
        try CheckpointRewriter.checkRepresentable([1, 65504, -65519], as: .float16, path: "b.pth", tensor: "w", base: { base })
        try CheckpointRewriter.checkRepresentable([1, 70000, 3], as: .float32, path: "b.pth", tensor: "w", base: { base })
        try CheckpointRewriter.checkRepresentable([.nan, 2, 3], as: .float16, path: "b.pth", tensor: "w", base: { [.nan, 2, 3] })
    }

    /// An adapter holding a NaN (written here with the project's writer from the real adapter) stops the merge.
    @Test func nanAdapterWritesNothing() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let lora = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny/lora.pth"))
        let poisoned = dir.appendingPathComponent("nan_lora.pth").path
        try CheckpointWriter.write(root: lora.root, to: poisoned) { entry in
            var bytes = try lora.bytes(of: entry)
            if entry.name == "layers.1.attention.wo.lora.A.weight" {
                var nan = Float.nan
                withUnsafeBytes(of: &nan) { bytes.replaceSubrange(0..<4, with: $0) }
                #expect(entry.dtype == .float32)
            }
            return bytes
        }
        let base = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        let bound = try LoRAAdapter.load(path: poisoned).bind(to: base)
        let out = dir.appendingPathComponent("merged.pth").path
        let error = try #require(throws: MergeError.self) {
            _ = try CheckpointRewriter(source: base, adapter: bound).write(to: out, format: .torchZip)
        }
        #expect(String(describing: error).contains("layers.1.attention.wo.weight"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["nan_lora.pth"])
    }

    /// The options are checked when made and fixed afterwards: an integer output dtype never reaches a rewriter.
    @Test func integerOutputDTypeIsRefusedWhenTheOptionsAreMade() throws {
        for dtype in [DType.int8, .uint8, .int64, .bool] {
            #expect(throws: MergeError.unsupportedOutputDType(dtype.rawValue)) {
                _ = try CheckpointRewriter.Options(outputDType: dtype)
            }
        }
        let options = try CheckpointRewriter.Options(multiplier: -1, outputDType: .bfloat16, selection: "model", pipelined: false)
        let base = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        let rewriter = CheckpointRewriter(source: base, options: options)
        #expect(rewriter.outputDType == .bfloat16 && rewriter.multiplier == -1 && rewriter.selection == "model" && rewriter.pipelined == false)
        #expect(CheckpointRewriter(source: base).options == .standard)
        #expect(CheckpointRewriter.Options.standard.outputDType == nil && CheckpointRewriter.Options.standard.multiplier == 1)
    }
}
