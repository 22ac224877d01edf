import Foundation
import PthReader
import Testing
import TestSupport
@testable import Model

/// The adapter-wrapped (unmerged) forward for every delta kind against PEFT's own `PeftModel`
/// forward (Tests/Fixtures/algebra/X.logits.npy, written by scripts/make_algebra_fixtures.py with
/// PEFT 0.21.2), and `verify` on the same adapters.
@Suite struct WrappedForwardTests {
    /// make_algebra_fixtures.TOKENS.
    static let tokens = (0..<16).map { (7 * $0 + 1) % 64 }
    /// (adapter, base) of each fixture variant.
    static let variants: [(String, String)] = [("dora", "base"), ("mts", "base"), ("emb", "base"), ("tied_mts", "tied_base")]

    static func load(_ index: Int) throws -> (base: Checkpoint, config: ModelConfiguration, bound: BoundAdapter) {
        let (variant, baseDir) = variants[index]
        let base = try Checkpoint.open(path: Fixtures.localPath("algebra/\(baseDir)"))
        let config = try #require(try ModelConfiguration.discovered(for: base))
        return (base, config, try LoRAAdapter.load(path: Fixtures.localPath("algebra/\(variant)")).bind(to: base))
    }

    @Test(arguments: 0..<4)
    func logitsEqualPEFTForward(_ index: Int) throws {
        let (base, config, bound) = try Self.load(index)
        let model = try TransformerModel.load(base, configuration: config, adapters: bound.deltas, mode: .unmerged)
        let got = try model.logits(for: Self.tokens)
        let want = try Npy.readTensor(path: Fixtures.localPath("algebra/\(Self.variants[index].0).logits.npy"))
        let comparison = try #require(LogitComparison.compare(reference: want, candidate: got))
        #expect(comparison.maxAbsDiff <= 1e-5 * max(1, comparison.referenceScale), "\(Self.variants[index].0): \(comparison.maxAbsDiff) from PeftModel's forward")
        // the adapter is visible: the base model's logits are far from PEFT's wrapped ones
        let plain = try TransformerModel.load(base, configuration: config).logits(for: Self.tokens)
        #expect(try #require(LogitComparison.compare(reference: want, candidate: plain)).maxAbsDiff > 1e-3)
    }

    /// In-memory merge (the same kernel as `merge`) passes; the base as "merged" fails.
    @Test(arguments: 0..<4)
    func verifyPassesMergeAndFailsBase(_ index: Int) throws {
        let (base, config, bound) = try Self.load(index)
        let good = try MergeVerifier.verify(base: base, adapters: bound.deltas, merged: nil, tokens: Self.tokens, configuration: config)
        #expect(good.passed, "\(Self.variants[index].0): \(good.maxAbsDiff) > \(good.tolerance)")
        let bad = try MergeVerifier.verify(base: base, adapters: bound.deltas, merged: base, tokens: Self.tokens, configuration: config)
        #expect(!bad.passed && bad.adapterIsDetectable)
    }

    /// A merge that leaves out the `modules_to_save` tensors (only the low-rank layers folded in) fails verify.
    @Test(arguments: [1, 3])
    func verifyFailsMergeWithoutReplacement(_ index: Int) throws {
        let (base, config, bound) = try Self.load(index)
        let lowRank = BoundAdapter(adapterPath: bound.adapterPath, basePath: bound.basePath,
                                   layers: bound.layers.filter { $0.delta.pair != nil })
        #expect(lowRank.layers.count < bound.layers.count)
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("wrong.safetensors").path
        _ = try CheckpointRewriter(source: base, adapter: lowRank).write(to: path, format: .safetensors)
        let result = try MergeVerifier.verify(base: base, adapters: bound.deltas, merged: try Checkpoint.open(path: path),
                                              tokens: Self.tokens, configuration: config)
        #expect(!result.passed)
    }

    /// A `modules_to_save` lm_head on a base storing its tied head once binds (as PEFT wraps a copy of
    /// the tied head), merges into a new `lm_head.weight` equal to PEFT's, and leaves the embedding alone.
    @Test func tiedHeadReplacementMergesLikePEFT() throws {
        let (base, _, bound) = try Self.load(3)
        let head = try #require(bound.layer(weightName: "lm_head.weight"))
        #expect(head.weight.name == "model.embed_tokens.weight" && bound.addedTensors.count == 1)
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("merged.safetensors").path
        let summary = try CheckpointRewriter(source: base, adapter: bound).write(to: path, format: .safetensors)
        #expect(summary.mergedTensors.contains("lm_head.weight"))
        let merged = try Checkpoint.open(path: path)
        let reference = try Checkpoint.open(path: Fixtures.localPath("algebra/tied_mts.merged.safetensors"))
        for t in reference.tensors {
            #expect(try merged.floats(of: try #require(merged.tensor(named: t.name))) == (try reference.floats(of: t)), "\(t.name)")
        }
        let embedding = try #require(base.tensor(named: "model.embed_tokens.weight"))
        #expect(try merged.floats(of: try #require(merged.tensor(named: embedding.name))) == (try base.floats(of: embedding)))
        #expect(merged.tensors.count == base.tensors.count + 1)
    }
}
