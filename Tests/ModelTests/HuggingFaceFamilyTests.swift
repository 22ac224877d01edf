import Foundation
import PthReader
import Testing
import TestSupport
@testable import Model

/// Tiny Qwen2, Qwen3, Qwen3-MoE and Llama 3 directories written by transformers 5.24 itself
/// (scripts/hf_fixtures.py), against transformers' own float32 logits.
@Suite struct HuggingFaceFamilyTests {
    static func dir(_ name: String) -> String { Fixtures.localPath("hf_models/" + name) }

    static func tokens(_ name: String) throws -> [Int] {
        try Npy.readInt64(path: dir(name) + "/tokens.npy").values.map { Int($0) }
    }

    @Test(arguments: [
        ("qwen2", "qwen2"), ("qwen2_yarn", "qwen2"), ("qwen3_mm3", "qwen3"), ("qwen3_moe", "qwen3-moe"),
        ("qwen3_moe_fused", "qwen3-moe"), ("llama3", "llama"),
    ])
    func logitsMatchTransformers(name: String, family: String) throws {
        let model = try TransformerModel.load(path: Self.dir(name))
        #expect(model.architecture.name == family)
        #expect(model.configuration.assumed.isEmpty, "\(model.configuration.assumed)")
        let expected = try Npy.readTensor(path: Self.dir(name) + "/logits.npy")
        let tokens = try Self.tokens(name)
        #expect(maxAbsDifference(try model.logits(for: tokens), expected) < 1e-4)
        #expect(maxAbsDifference(try model.logitsDecoding(tokens), expected) < 1e-4)
    }

    @Test func resolvedScalingFollowsTransformers() throws {
        let yarn = try TransformerModel.load(path: Self.dir("qwen2_yarn")).configuration.ropeScaling
        #expect(yarn?.kind == .yarn && yarn?.factor == 4 && yarn?.originalMaxPositionEmbeddings == 16)
        let llama = try TransformerModel.load(path: Self.dir("llama3")).configuration.ropeScaling
        #expect(llama?.kind == .llama3 && llama?.factor == 8)
        // Without the scaling the logits are measurably different: the test above can fail.
        var plain = try ModelConfiguration.load(path: Self.dir("llama3") + "/config.json")
        plain.ropeParameters = nil
        let unscaled = try TransformerModel.load(path: Self.dir("llama3"), configuration: plain)
        let expected = try Npy.readTensor(path: Self.dir("llama3") + "/logits.npy")
        #expect(maxAbsDifference(try unscaled.logits(for: try Self.tokens("llama3")), expected) > 1e-3)
    }

    /// minimind-3 is Qwen3: the same weights give the same logits under either family.
    @Test func qwen3DirectoryEqualsMiniMind3() throws {
        let qwen = try TransformerModel.load(path: Self.dir("qwen3_mm3"))
        let mm3 = try TransformerModel.load(path: Fixtures.sharedPath("mm3_tiny/base.pth"))
        let tokens = try Self.tokens("qwen3_mm3")
        #expect(maxAbsDifference(try qwen.logits(for: tokens), try mm3.logits(for: tokens)) < 1e-5)
    }

    @Test func peftAdapterOnQwen2Names() throws {
        let base = try Checkpoint.open(path: Self.dir("qwen2"))
        let pairs = try adapterPairs(Self.dir("qwen2_peft"), base: base)
        #expect(pairs.count == 14 && pairs["model.layers.0.self_attn.k_proj.weight"] != nil)
        let wrapped = try TransformerModel.load(base, configuration: try #require(try ModelConfiguration.discovered(for: base)), adapters: pairs)
        let expected = try Npy.readTensor(path: Self.dir("qwen2_peft") + "/logits_wrapped.npy")
        #expect(maxAbsDifference(try wrapped.logits(for: try Self.tokens("qwen2")), expected) < 1e-4)
    }

    /// Fused experts are parameters, not Linear modules: an adapter on them is refused by name.
    @Test func adapterOnFusedExpertsIsRefused() throws {
        let base = try Checkpoint.open(path: Self.dir("qwen3_moe_fused"))
        let pair = LoRAPair(a: Tensor(zeros: [2, 64]), b: Tensor(zeros: [64, 2]), scale: 1)
        let adapter = LoRAAdapter(path: "fused.pth", pairs: [(module: "model.layers.0.mlp.experts", pair: pair)])
        let error = try #require(throws: LoRAError.self) { try adapter.bind(to: base) }
        #expect("\(error)".contains("model.layers.0.mlp.experts"))
        #expect(throws: InferenceError.self) {
            try TransformerModel.load(base, configuration: try #require(try ModelConfiguration.discovered(for: base)),
                                      adapters: ["model.layers.0.mlp.experts.0.gate_proj.weight": .lora(pair, layout: .linear)])
        }
    }

    @Test func hyperParameterErrorsNameWhatToFix() throws {
        let base = try Checkpoint.open(path: Self.dir("qwen2"))
        // No config.json: a Qwen2 checkpoint's head count is not in its weights.
        let error = try #require(throws: InferenceError.self) { try TransformerModel.load(base) }
        #expect("\(error)".contains("--heads"))
        var config = try #require(try ModelConfiguration.discovered(for: base))
        config.numExpertsPerTok = nil
        config.ropeParameters = ModelConfiguration.RopeParameters(ropeType: "llama3", factor: 8)
        let missing = try #require(throws: InferenceError.self) { try TransformerModel.load(base, configuration: config) }
        #expect("\(missing)".contains("needs 'original_max_position_embeddings'"))
        let moe = try Checkpoint.open(path: Self.dir("qwen3_moe_fused"))
        var moeConfig = try #require(try ModelConfiguration.discovered(for: moe))
        moeConfig.moeIntermediateSize = 48
        let wrongSize = try #require(throws: InferenceError.self) { try TransformerModel.load(moe, configuration: moeConfig) }
        #expect("\(wrongSize)".contains("moe_intermediate_size = 48"))
        moeConfig.moeIntermediateSize = nil
        moeConfig.numExpertsPerTok = nil
        let noTopK = try #require(throws: InferenceError.self) { try TransformerModel.load(moe, configuration: moeConfig) }
        #expect("\(noTopK)".contains("num_experts_per_tok"))
    }
}
