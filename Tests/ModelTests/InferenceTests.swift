import Foundation
import PthReader
import Testing
import TestSupport
@testable import Model

/// Largest absolute difference between two tensors of the same shape.
func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    guard a.shape == b.shape else { return .infinity }
    return zip(a.data, b.data).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Token ids of a fixture case (`tokens.npy`, int64).
func fixtureTokens(_ dir: String) throws -> [Int] {
    try Npy.readInt64(path: Fixtures.sharedPath(dir + "/tokens.npy")).values.map { Int($0) }
}

/// Adapter deltas for a base checkpoint (keyed by base tensor name), through the shared `LoRAAdapter` loader.
func adapterPairs(_ adapterPath: String, base: Checkpoint) throws -> [String: AdapterDelta] {
    try LoRAAdapter.load(path: adapterPath).bind(to: base).deltas
}

/// The torch fixtures: (case directory, base model path, adapter path, config.json to use or nil).
struct FixtureCase: CustomStringConvertible, Sendable {
    var dir: String
    var base: String
    var adapter: String
    var description: String { base }
}

let fixtureCases: [FixtureCase] = [
    FixtureCase(dir: "v1_tiny", base: "v1_tiny/base.pth", adapter: "v1_tiny/lora.pth"),
    FixtureCase(dir: "v1_tiny", base: "v1_tiny/base.pth", adapter: "v1_tiny/lora_ddp.pth"),
    FixtureCase(dir: "v1_tiny_legacy_f32", base: "v1_tiny_legacy_f32/base.pth", adapter: "v1_tiny_legacy_f32/lora.pth"),
    FixtureCase(dir: "hf_tiny_peft", base: "hf_tiny_peft/base.pth", adapter: "hf_tiny_peft/adapter"),
    FixtureCase(dir: "hf_tiny_peft", base: "hf_tiny_peft/base_hf", adapter: "hf_tiny_peft/adapter"),
]

@Suite struct InferenceTests {
    @Test(arguments: fixtureCases)
    func baseLogitsMatchTorch(_ c: FixtureCase) throws {
        let model = try TransformerModel.load(path: Fixtures.sharedPath(c.base))
        let logits = try model.logits(for: try fixtureTokens(c.dir))
        let expected = try Npy.readTensor(path: Fixtures.sharedPath(c.dir + "/logits_base.npy"))
        #expect(logits.shape == expected.shape)
        #expect(maxAbsDifference(logits, expected) < 1e-4)
    }

    @Test(arguments: fixtureCases)
    func wrappedLogitsMatchTorch(_ c: FixtureCase) throws {
        let base = try Checkpoint.open(path: Fixtures.sharedPath(c.base))
        let pairs = try adapterPairs(Fixtures.sharedPath(c.adapter), base: base)
        #expect(!pairs.isEmpty)
        let model = try TransformerModel.load(base, adapters: pairs)
        let logits = try model.logits(for: try fixtureTokens(c.dir))
        let expected = try Npy.readTensor(path: Fixtures.sharedPath(c.dir + "/logits_wrapped.npy"))
        #expect(maxAbsDifference(logits, expected) < 1e-4)
    }

    @Test func mergedReferenceFileMatchesTorch() throws {
        for dir in ["v1_tiny", "v1_tiny_legacy_f32", "hf_tiny_peft"] {
            let model = try TransformerModel.load(path: Fixtures.sharedPath(dir + "/merged_ref.pth"))
            let logits = try model.logits(for: try fixtureTokens(dir))
            let expected = try Npy.readTensor(path: Fixtures.sharedPath(dir + "/logits_merged_ref.npy"))
            #expect(maxAbsDifference(logits, expected) < 1e-4, "\(dir)")
        }
    }

    @Test func architectureIsDetectedFromNames() throws {
        let v1 = try TransformerModel.load(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        #expect(v1.naming == .miniMind)
        #expect(v1.weightDType == .float16)
        var resolved = v1.configuration
        #expect(resolved.assumed.contains { $0.contains("num_attention_heads = 8") })
        resolved.assumed = []
        #expect(resolved == ResolvedModelConfiguration(architecture: "minimind-v1", hiddenSize: 64, layerCount: 2, headCount: 8, kvHeadCount: 2, headDim: 8,
                                                       vocabSize: 6400, normEps: 1e-5, ropeTheta: 1e6, expertsPerToken: 1, normTopkProb: true))
        #expect(v1.linearModulePaths.contains("layers.1.feed_forward.w2"))
        let hf = try TransformerModel.load(path: Fixtures.sharedPath("hf_tiny_peft/base_hf"))
        #expect(hf.naming == .llama)
        #expect(hf.linearModulePaths.contains("model.layers.0.self_attn.q_proj"))
    }

    @Test func decodingWithKVCacheMatchesPrefill() throws {
        for c in [fixtureCases[0], fixtureCases[3]] {
            let base = try Checkpoint.open(path: Fixtures.sharedPath(c.base))
            let model = try TransformerModel.load(base, adapters: try adapterPairs(Fixtures.sharedPath(c.adapter), base: base))
            let tokens = try fixtureTokens(c.dir)
            let decoded = try model.logitsDecoding(tokens)
            let expected = try Npy.readTensor(path: Fixtures.sharedPath(c.dir + "/logits_wrapped.npy"))
            #expect(maxAbsDifference(decoded, expected) < 1e-4)
            // Prefill of a prefix, then the rest through the same cache.
            let cache = model.makeCache()
            let first = try model.forward(Array(tokens.prefix(5)), cache: cache)
            let rest = try model.forward(Array(tokens.dropFirst(5)), cache: cache)
            #expect(cache.count == tokens.count)
            #expect(maxAbsDifference(Tensor(shape: expected.shape, data: first.data + rest.data), expected) < 1e-4)
        }
    }

    /// 160 tokens span several blocks of the causal attention products; torch's logits at the
    /// block edges, and token-by-token decoding through the KV cache, must agree with one prefill.
    @Test func longPrefillMatchesTorchAcrossAttentionBlocks() throws {
        let tokens = try Npy.readInt64(path: Fixtures.localPath("long_v1/tokens.npy")).values.map { Int($0) }
        let rows = try Npy.readInt64(path: Fixtures.localPath("long_v1/rows.npy")).values.map { Int($0) }
        let torch = try Npy.readTensor(path: Fixtures.localPath("long_v1/logits_rows.npy"))
        let model = try TransformerModel.load(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        let prefill = try model.logits(for: tokens)
        let decoded = try model.logitsDecoding(tokens)
        let vocab = prefill.shape[1]
        #expect(tokens.count == 160 && torch.shape == [rows.count, vocab])
        for (i, row) in rows.enumerated() {
            let ours = prefill.data[(row * vocab)..<((row + 1) * vocab)]
            let theirs = torch.data[(i * vocab)..<((i + 1) * vocab)]
            let stepwise = decoded.data[(row * vocab)..<((row + 1) * vocab)]
            #expect(zip(ours, theirs).map { abs($0 - $1) }.max()! < 1e-4, "position \(row) vs torch")
            #expect(zip(ours, stepwise).map { abs($0 - $1) }.max()! < 1e-4, "position \(row) prefill vs decode")
        }
    }

    @Test func mergedInMemoryMatchesWrapped() throws {
        let base = try Checkpoint.open(path: Fixtures.sharedPath("hf_tiny_peft/base.pth"))
        let pairs = try adapterPairs(Fixtures.sharedPath("hf_tiny_peft/adapter"), base: base)
        let merged = try TransformerModel.load(base, adapters: pairs, mode: .merged)
        let logits = try merged.logits(for: try fixtureTokens("hf_tiny_peft"))
        let expected = try Npy.readTensor(path: Fixtures.sharedPath("hf_tiny_peft/logits_wrapped.npy"))
        #expect(maxAbsDifference(logits, expected) < 1e-4)
    }

    @Test func configurationFileAndOverrides() throws {
        let hfConfig = try ModelConfiguration.load(path: Fixtures.sharedPath("hf_tiny_peft/base_hf/config.json"))
        #expect(hfConfig.numAttentionHeads == 8 && hfConfig.numKeyValueHeads == 2 && hfConfig.hiddenSize == 64)
        #expect(hfConfig.rmsNormEps == 1e-5 && hfConfig.ropeTheta == 1e6 && hfConfig.numExpertsPerTok == 2)
        let v1 = try ModelConfiguration.decode(Data(#"{"dim": 64, "n_heads": 4, "n_kv_heads": 2, "norm_eps": 1e-6, "hidden_dim": null}"#.utf8), path: "c.json")
        #expect(v1 == ModelConfiguration(hiddenSize: 64, numAttentionHeads: 4, numKeyValueHeads: 2, rmsNormEps: 1e-6))
        #expect(v1.overridden(by: ModelConfiguration(numAttentionHeads: 8)).numAttentionHeads == 8)
        #expect(throws: InferenceError.self) { try ModelConfiguration.decode(Data(#"{"n_heads": "eight"}"#.utf8), path: "c.json") }
    }

    /// Settings the forward pass does not implement are refused rather than ignored.
    @Test(arguments: [
        (#"{"rope_scaling": {"type": "dynamic", "factor": 4}}"#, "rope_scaling"),
        (#"{"rope_parameters": {"rope_type": "longrope", "factor": 4}}"#, "rope_parameters"),
        (#"{"hidden_act": "gelu"}"#, "hidden_act"),
        (#"{"scoring_func": "sigmoid"}"#, "scoring_func"),
    ])
    func unsupportedSettingsAreRefused(json: String, key: String) throws {
        let error = try #require(throws: InferenceError.self) { try ModelConfiguration.decode(Data(json.utf8), path: "c.json") }
        #expect(String(describing: error).contains(key))
        // The supported values pass.
        _ = try ModelConfiguration.decode(Data(#"{"rope_scaling": null, "hidden_act": "silu", "scoring_func": "softmax"}"#.utf8), path: "c.json")
        _ = try ModelConfiguration.decode(Data(#"{"rope_scaling": {"type": "yarn", "factor": 4}}"#.utf8), path: "c.json")
    }

    @Test func impossibleHyperParametersAreErrors() throws {
        let base = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        // 64 query rows / 3 heads is not whole.
        #expect(throws: InferenceError.self) { try TransformerModel.load(base, configuration: ModelConfiguration(numAttentionHeads: 3)) }
        // 16 key rows with head size 8 give 2 kv heads, not 4.
        #expect(throws: InferenceError.self) { try TransformerModel.load(base, configuration: ModelConfiguration(numKeyValueHeads: 4)) }
        #expect(throws: InferenceError.self) { try TransformerModel.load(base, configuration: ModelConfiguration(hiddenSize: 128)) }
        // 16 heads of size 4 fit q, and 16 k rows are 4 kv heads: a valid (different) model.
        let other = try TransformerModel.load(base, configuration: ModelConfiguration(numAttentionHeads: 16))
        #expect(other.configuration.kvHeadCount == 4)
        do {
            _ = try TransformerModel.load(base, configuration: ModelConfiguration(numAttentionHeads: 3))
        } catch let error as InferenceError {
            #expect(error.description.contains("3 attention heads"))
        }
    }

    @Test func strictLoadingRejectsForeignTensorsAndAdapters() throws {
        // The edge-case file is no transformer.
        #expect(throws: InferenceError.self) { try TransformerModel.load(path: Fixtures.sharedPath("edge.pth")) }
        // A training checkpoint's model is found under "model." and its optimizer state ignored.
        let train = try TransformerModel.load(path: Fixtures.sharedPath("train_ckpt.pth"))
        #expect(train.configuration.layerCount >= 1)
        // An adapter for a module the model lacks is an error, not silently dropped.
        let base = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        let pair = LoRAPair(a: Tensor(zeros: [2, 64]), b: Tensor(zeros: [64, 2]), scale: 1)
        #expect(throws: InferenceError.self) { try TransformerModel.load(base, adapters: ["layers.9.attention.wq.weight": .lora(pair, layout: .linear)]) }
        #expect(throws: InferenceError.self) { try TransformerModel.load(base, adapters: ["layers.0.attention.wk.weight": .lora(pair, layout: .linear)]) }
    }

    @Test func tokenOutsideVocabularyIsAnError() throws {
        let model = try TransformerModel.load(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        #expect(throws: InferenceError.tokenOutOfRange(token: 6400, vocabularySize: 6400)) { try model.logits(for: [1, 6400]) }
        #expect(throws: InferenceError.noTokens) { try model.logits(for: []) }
    }

    static let moeDirectory = Fixtures.localPath("moe_tiny")

    @Test func mixtureOfExpertsMatchesTorch() throws {
        let dir = Self.moeDirectory
        let config = try ModelConfiguration.load(path: dir + "/config.json")
        let base = try Checkpoint.open(path: dir + "/base.pth")
        let tokens = try Npy.readInt64(path: dir + "/tokens.npy").values.map { Int($0) }
        let model = try TransformerModel.load(base, configuration: config)
        #expect(model.isMixtureOfExperts)
        let expectedBase = try Npy.readTensor(path: dir + "/logits_base.npy")
        #expect(maxAbsDifference(try model.logits(for: tokens), expectedBase) < 1e-4)
        #expect(maxAbsDifference(try model.logitsDecoding(tokens), expectedBase) < 1e-4)
        let wrapped = try TransformerModel.load(base, configuration: config, adapters: try adapterPairs(dir + "/lora.pth", base: base))
        let expectedWrapped = try Npy.readTensor(path: dir + "/logits_wrapped.npy")
        #expect(maxAbsDifference(try wrapped.logits(for: tokens), expectedWrapped) < 1e-4)
    }
}

@Suite struct GenerationTests {
    @Test func greedyDecodingAgreesWithPrefillOfTheSameSequence() throws {
        let model = try TransformerModel.load(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        let prompt = try fixtureTokens("v1_tiny").prefix(4).map { $0 }
        let (generated, logits) = try model.generateGreedy(prompt: prompt, newTokens: 6)
        #expect(generated.count == 6)
        #expect(logits.shape == [prompt.count + 5, 6400])
        let prefill = try model.logits(for: prompt + generated.dropLast())
        #expect(maxAbsDifference(logits, prefill) < 1e-4)
        // Each generated id is the argmax of the row before it.
        for (i, id) in generated.enumerated() {
            let row = prefill.data[((prompt.count - 1 + i) * 6400)..<((prompt.count + i) * 6400)]
            #expect(row.firstIndex(of: row.max()!)! - (prompt.count - 1 + i) * 6400 == id)
        }
    }
}

extension GenerationTests {
    /// `Tests/Fixtures/v1_tiny_greedy.json`: torch's greedy continuation of the v1_tiny prompt.
    @Test func greedyDecodingMatchesTorch() throws {
        struct Reference: Decodable { var prompt: [Int]; var generated: [Int] }
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.localPath("v1_tiny_greedy.json")))
        let reference = try JSONDecoder().decode(Reference.self, from: data)
        let model = try TransformerModel.load(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        let (generated, _) = try model.generateGreedy(prompt: reference.prompt, newTokens: reference.generated.count)
        #expect(generated == reference.generated)
    }
}

@Suite struct VectorMathTests {
    @Test func vectorExpIsWithinAFewUlpOfLibm() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let exact = Foundation.exp(Double(x))
            worst = max(worst, Float(abs(Double(VectorMath.exp(x)) - exact) / exact))
            x += 0.00719
        }
        #expect(worst < 4 * Float.ulpOfOne)
        #expect(VectorMath.exp(-Float.infinity) < 1e-37)
        #expect(VectorMath.exp(0) == 1)
    }

    /// The 8-wide kernels (AVX2/FMA where the CPU has them) and their scalar tails, against float64.
    @Test func vectorKernelsMatchFloat64() {
        let xs: [Float] = stride(from: Float(-80), to: 80, by: 0.00719).map { $0 } // 22,253 values: a scalar tail too
        var e = xs
        let sum = e.withUnsafeMutableBufferPointer { VectorMath.expShifted($0.baseAddress!, count: $0.count, shift: 0.5) }
        var worst: Double = 0, exactSum: Double = 0
        for (x, got) in zip(xs, e) {
            let exact = Foundation.exp(Double(x - 0.5)) // the kernel subtracts in float32
            exactSum += exact
            worst = max(worst, abs(Double(got) - exact) / exact)
        }
        #expect(worst < 4 * Double(Float.ulpOfOne))
        #expect(abs(Double(sum) - exactSum) / exactSum < 1e-5)

        let gate: [Float] = (0..<1003).map { Float($0) * 0.04 - 20 }, up: [Float] = (0..<1003).map { 1 + Float($0 % 13) * 0.25 }
        var out = [Float](repeating: .nan, count: gate.count)
        out.withUnsafeMutableBufferPointer { VectorMath.swiGLU(gate: gate, up: up, into: $0.baseAddress!, count: gate.count) }
        for i in gate.indices {
            let g = Double(gate[i]), exact = g / (1 + Foundation.exp(-g)) * Double(up[i])
            #expect(abs(Double(out[i]) - exact) <= 1e-6 * max(abs(exact), 1e-30), "swiGLU(\(gate[i])) = \(out[i]), not \(exact)")
        }
    }

    @Test func softmaxRowMatchesDirectComputation() {
        var row: [Float] = (0..<37).map { Float($0 % 7) * 0.9 - 3 } + [100, 200]
        let valid = 37
        let expected: [Double] = {
            let m = row[..<valid].max()!
            let e = row[..<valid].map { Foundation.exp(Double($0 - m)) }
            let s = e.reduce(0, +)
            return e.map { $0 / s }
        }()
        row.withUnsafeMutableBufferPointer { Softmax.causalRow($0.baseAddress!, valid: valid, width: $0.count) }
        for j in 0..<valid { #expect(abs(Double(row[j]) - expected[j]) < 1e-7) }
        #expect(row[valid] == 0 && row[valid + 1] == 0)
    }
}
