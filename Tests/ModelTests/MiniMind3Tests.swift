import Foundation
import PthReader
import Testing
import TestSupport
@testable import Model

/// Today's upstream MiniMind ("minimind-3", aligned with Qwen3) against the logits torch computed
/// with upstream's own model code: dense, MoE and its own YaRN.
@Suite struct MiniMind3Tests {
    static let cases = ["mm3_tiny", "mm3_tiny_moe", "mm3_tiny_yarn"]

    @Test(arguments: cases)
    func logitsMatchTorch(dir: String) throws {
        let base = try Checkpoint.open(path: Fixtures.sharedPath(dir + "/base.pth"))
        let config = try #require(try ModelConfiguration.discovered(for: base))
        let tokens = try fixtureTokens(dir)
        let model = try TransformerModel.load(base, configuration: config)
        #expect(model.architecture == .miniMind3)
        #expect(model.configuration.headDim == 8 && model.configuration.headCount == 8 && model.configuration.kvHeadCount == 4)
        #expect(model.isMixtureOfExperts == (dir == "mm3_tiny_moe"))
        #expect((model.configuration.ropeScaling?.kind == .miniMindYaRN) == (dir == "mm3_tiny_yarn"))
        let expectedBase = try Npy.readTensor(path: Fixtures.sharedPath(dir + "/logits_base.npy"))
        #expect(maxAbsDifference(try model.logits(for: tokens), expectedBase) < 1e-4)
        #expect(maxAbsDifference(try model.logitsDecoding(tokens), expectedBase) < 1e-4)
        let wrapped = try TransformerModel.load(base, configuration: config, adapters: try adapterPairs(Fixtures.sharedPath(dir + "/lora.pth"), base: base))
        let expectedWrapped = try Npy.readTensor(path: Fixtures.sharedPath(dir + "/logits_wrapped.npy"))
        #expect(maxAbsDifference(try wrapped.logits(for: tokens), expectedWrapped) < 1e-4)
        let merged = try TransformerModel.load(path: Fixtures.sharedPath(dir + "/merged_ref.pth"), configuration: config)
        let expectedMerged = try Npy.readTensor(path: Fixtures.sharedPath(dir + "/logits_merged_ref.npy"))
        #expect(maxAbsDifference(try merged.logits(for: tokens), expectedMerged) < 1e-4)
    }

    /// YaRN changes the logits measurably: plain RoPE on the YaRN case does not match torch.
    @Test func yarnIsNotPlainRope() throws {
        let base = try Checkpoint.open(path: Fixtures.sharedPath("mm3_tiny_yarn/base.pth"))
        var config = try #require(try ModelConfiguration.discovered(for: base))
        config.inferenceRopeScaling = false
        let plain = try TransformerModel.load(base, configuration: config)
        let expected = try Npy.readTensor(path: Fixtures.sharedPath("mm3_tiny_yarn/logits_base.npy"))
        #expect(maxAbsDifference(try plain.logits(for: try fixtureTokens("mm3_tiny_yarn")), expected) > 1e-3)
    }

    @Test(arguments: cases)
    func verifyPassesMergesAndFailsTheBase(dir: String) throws {
        let base = try Checkpoint.open(path: Fixtures.sharedPath(dir + "/base.pth"))
        let config = try #require(try ModelConfiguration.discovered(for: base))
        let pairs = try adapterPairs(Fixtures.sharedPath(dir + "/lora.pth"), base: base)
        let tokens = try fixtureTokens(dir)
        let inMemory = try MergeVerifier.verify(base: base, adapters: pairs, merged: nil, tokens: tokens, configuration: config)
        #expect(inMemory.passed)
        let mergedFile = try Checkpoint.open(path: Fixtures.sharedPath(dir + "/merged_ref.pth"))
        let upstream = try MergeVerifier.verify(base: base, adapters: pairs, merged: mergedFile, tokens: tokens, configuration: config)
        #expect(upstream.passed, "\(upstream.maxAbsDiff) > \(upstream.tolerance)")
        let unmerged = try MergeVerifier.verify(base: base, adapters: pairs, merged: base, tokens: tokens, configuration: config)
        #expect(!unmerged.passed)
        #expect(upstream.configuration?.architecture == "minimind-3")
    }

    @Test func hyperParameterContradictionsNameTheKey() throws {
        let base = try Checkpoint.open(path: Fixtures.sharedPath("mm3_tiny/base.pth"))
        let config = try #require(try ModelConfiguration.discovered(for: base))
        func message(_ change: (inout ModelConfiguration) -> Void) -> String {
            var c = config
            change(&c)
            do { _ = try TransformerModel.load(base, configuration: c); return "" } catch { return "\(error)" }
        }
        #expect(message { $0.headDim = 16 }.contains("head_dim = 16"))
        #expect(message { $0.numAttentionHeads = 4 }.contains("num_attention_heads"))
        #expect(message { $0.numKeyValueHeads = 2 }.contains("num_key_value_heads = 2"))
        #expect(message { $0.intermediateSize = 128 }.contains("intermediate_size = 128"))
        #expect(message { $0.useMoe = true }.contains("use_moe"))
        let moe = try Checkpoint.open(path: Fixtures.sharedPath("mm3_tiny_moe/base.pth"))
        var moeConfig = try #require(try ModelConfiguration.discovered(for: moe))
        moeConfig.numExperts = 8
        #expect(throws: InferenceError.self) { try TransformerModel.load(moe, configuration: moeConfig) }
        // Without config.json, head_dim comes from q_norm, heads from q rows; eps and theta are assumed and said.
        let bare = try TransformerModel.load(base)
        #expect(bare.configuration.headCount == 8 && bare.configuration.kvHeadCount == 4)
        #expect(bare.configuration.assumed.contains { $0.contains("rms_norm_eps") })
        #expect(!bare.configuration.assumed.contains { $0.contains("num_attention_heads") })
    }
}
