import Foundation
import Testing
import Model
import PthReader
import TestSupport

/// Adapter loading, binding and merging against files written by the seed's `save_lora`, PEFT and torch.
@Suite struct LoRATests {
    static func meta(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.sharedPath(relative)))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func v1Targets() throws -> [String] {
        try #require(try meta("v1_tiny/meta.json")["targets"] as? [String])
    }

    // MARK: Loading

    @Test(arguments: ["v1_tiny/lora.pth", "v1_tiny/lora_ddp.pth", "v1_tiny_legacy_f32/lora.pth"])
    func minimindAdapterLoads(relative: String) throws {
        let path = Fixtures.sharedPath(relative)
        let adapter = try LoRAAdapter.load(path: path)
        #expect(adapter.format == .minimind)
        #expect(adapter.modules == (try Self.v1Targets()))
        #expect(adapter.strayKeys.isEmpty)
        let truth = try Fixtures.truth(path + ".truth.json")
        for entry in adapter.entries {
            let pair = try #require(entry.pair)
            #expect(pair.scale == 1)
            let aKey = try #require(entry.aKey), bKey = try #require(entry.bKey)
            #expect(pair.a.shape == truth[aKey]?.shape)
            #expect(pair.b.shape == truth[bKey]?.shape)
            #expect(pair.rank == 16)
        }
    }

    /// `lora_ddp.pth` is `lora.pth` with a `module.` prefix: the same pairs after stripping it.
    @Test func ddpPrefixIsStripped() throws {
        let plain = try LoRAAdapter.load(path: Fixtures.sharedPath("v1_tiny/lora.pth"))
        let ddp = try LoRAAdapter.load(path: Fixtures.sharedPath("v1_tiny/lora_ddp.pth"))
        #expect(ddp.entries.allSatisfy { $0.aKey?.hasPrefix("module.") == true })
        #expect(plain.pairs == ddp.pairs)
        #expect(plain.pairs.count == 4)
    }

    @Test func peftDirectoryLoads() throws {
        let path = Fixtures.sharedPath("hf_tiny_peft/adapter")
        let adapter = try LoRAAdapter.load(path: path)
        #expect(adapter.format == .peft)
        let config = try #require(adapter.config)
        #expect(config.r == 8 && config.loraAlpha == 16 && !config.useRslora && !config.fanInFanOut)
        // The truth: the keys of PEFT's own adapter_model.safetensors, read here with Checkpoint.
        let keys = try Checkpoint.open(path: path + "/adapter_model.safetensors").tensors.map(\.name)
        let modules = Set(keys.map { String($0.dropFirst("base_model.model.".count).split(separator: ".lora_")[0]) })
        #expect(Set(adapter.modules) == modules)
        #expect(adapter.entries.count == 14)
        for entry in adapter.entries {
            let pair = try #require(entry.pair)
            #expect(pair.scale == 2.0)
            #expect(pair.rank == 8)
        }
    }

    @Test func baseCheckpointIsNotAnAdapter() throws {
        let path = Fixtures.sharedPath("v1_tiny/base.pth")
        #expect { try LoRAAdapter.load(path: path) } throws: { error in
            guard case LoRAError.notAnAdapter(let p, _) = error else { return false }
            return p == path
        }
    }

    // MARK: PEFT config semantics

    /// PEFT's `get_pattern_key`: `(.*\.)?(key)$` anchored at the start, first key in file order wins.
    @Test func patternKeyFollowsPEFT() {
        let module = "model.layers.0.self_attn.q_proj"
        #expect(PEFTAdapterConfig.patternKey(["q_proj"], matching: module) == "q_proj")
        #expect(PEFTAdapterConfig.patternKey(["proj"], matching: module) == nil)
        #expect(PEFTAdapterConfig.patternKey(["layers.0.self_attn.q_proj"], matching: module) == "layers.0.self_attn.q_proj")
        #expect(PEFTAdapterConfig.patternKey([#"layers\.[01]\.self_attn\.q_proj"#], matching: module) != nil)
        #expect(PEFTAdapterConfig.patternKey(["k_proj", "q_proj"], matching: module) == "q_proj")
        #expect(PEFTAdapterConfig.patternKey(["0.self_attn.q_proj", "q_proj"], matching: module) == "0.self_attn.q_proj")
    }

    /// Writes a copy of the PEFT fixture's config with changes, beside a link to its weights, in a
    /// temporary directory the caller removes.
    static func peftVariant(_ change: (inout [String: Any]) -> Void) throws -> String {
        let source = Fixtures.sharedPath("hf_tiny_peft/adapter")
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/adapter_config.json"))) as? [String: Any])
        change(&config)
        let dir = try Fixtures.temporaryDirectory()
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("adapter_config.json"))
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("adapter_model.safetensors").path,
                                                   withDestinationPath: source + "/adapter_model.safetensors")
        return dir.path
    }

    @Test func rsLoRAAndAlphaPatternScales() throws {
        let rsPath = try Self.peftVariant { $0["use_rslora"] = true }
        let patternPath = try Self.peftVariant { $0["alpha_pattern"] = ["o_proj": 32] }
        defer { for path in [rsPath, patternPath] { try? FileManager.default.removeItem(atPath: path) } }
        let rs = try LoRAAdapter.load(path: rsPath)
        #expect(rs.entries.allSatisfy { abs($0.scale - Float(16 / Double(8).squareRoot())) < 1e-6 })
        let patterned = try LoRAAdapter.load(path: patternPath)
        for entry in patterned.entries {
            #expect(entry.scale == (entry.module.hasSuffix(".o_proj") ? 4 : 2))
        }
    }

    /// A `rank_pattern` that disagrees with the stored matrices is a binding problem.
    @Test func rankPatternIsChecked() throws {
        let path = try Self.peftVariant { $0["rank_pattern"] = ["q_proj": 4] }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let adapter = try LoRAAdapter.load(path: path)
        #expect(adapter.entries.first { $0.module.hasSuffix("q_proj") }?.configRank == 4)
        #expect(adapter.entries.first { $0.module.hasSuffix("o_proj") }?.configRank == 8)
        let base = try Checkpoint.open(path: Fixtures.sharedPath("hf_tiny_peft/base.pth"))
        #expect { try adapter.bind(to: base) } throws: { error in
            guard case LoRAError.mismatch(_, _, let problems) = error else { return false }
            return problems.count == 4 && problems.allSatisfy { $0.key.contains("q_proj") }
        }
    }

    /// PEFT tries pattern keys in the order the file lists them; the first match wins.
    @Test(arguments: [true, false])
    func patternKeysFollowFileOrder(specificFirst: Bool) throws {
        let source = Fixtures.sharedPath("hf_tiny_peft/adapter")
        let text = try String(contentsOfFile: source + "/adapter_config.json", encoding: .utf8)
        let pattern = specificFirst ? #"{"layers.0.self_attn.q_proj": 8, "q_proj": 4}"# : #"{"q_proj": 4, "layers.0.self_attn.q_proj": 8}"#
        let edited = text.replacingOccurrences(of: #""rank_pattern": {}"#, with: #""rank_pattern": "# + pattern)
        #expect(edited != text)
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try edited.write(to: dir.appendingPathComponent("adapter_config.json"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("adapter_model.safetensors").path,
                                                   withDestinationPath: source + "/adapter_model.safetensors")
        let adapter = try LoRAAdapter.load(path: dir.path)
        let ranks = Dictionary(uniqueKeysWithValues: adapter.entries.map { ($0.module, $0.configRank) })
        #expect(ranks["model.layers.0.self_attn.q_proj"] == (specificFirst ? 8 : 4))
        #expect(ranks["model.layers.1.self_attn.q_proj"] == 4)
        #expect(ranks["model.layers.0.self_attn.k_proj"] == 8)
    }

    @Test func doraWithoutMagnitudesIsRefused() throws {
        let path = try Self.peftVariant { $0["use_dora"] = true }
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect { try LoRAAdapter.load(path: path) } throws: { error in
            guard case LoRAError.badConfig(_, let reason) = error else { return false }
            return reason.contains("lora_magnitude_vector")
        }
    }

    // MARK: Binding

    @Test func v1AdapterBindsToV1Bases() throws {
        let adapter = try LoRAAdapter.load(path: Fixtures.sharedPath("v1_tiny/lora.pth"))
        let targets = try Self.v1Targets()
        for relative in ["v1_tiny/base.pth", "tied_f32.pth"] {
            let bound = try adapter.bind(to: try Checkpoint.open(path: Fixtures.sharedPath(relative)))
            #expect(bound.layers.map(\.module) == targets)
            #expect(bound.layers.map(\.weightName) == targets.map { $0 + ".weight" })
        }
        let train = try adapter.bind(to: try Checkpoint.open(path: Fixtures.sharedPath("train_ckpt.pth")))
        #expect(train.layers.map(\.weightName) == targets.map { "model." + $0 + ".weight" })
    }

    @Test func v1AdapterOnHFBaseFails() throws {
        let adapter = try LoRAAdapter.load(path: Fixtures.sharedPath("v1_tiny/lora.pth"))
        let base = try Checkpoint.open(path: Fixtures.sharedPath("hf_tiny_peft/base.pth"))
        #expect { try adapter.bind(to: base) } throws: { error in
            guard case LoRAError.mismatch(_, _, let problems) = error else { return false }
            return problems.count == 8 && problems.allSatisfy { if case .noSuchModule = $0 { return true } else { return false } }
        }
    }

    @Test func peftAdapterOnV1BaseListsCappedProblems() throws {
        let adapter = try LoRAAdapter.load(path: Fixtures.sharedPath("hf_tiny_peft/adapter"))
        let base = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        do {
            _ = try adapter.bind(to: base)
            Issue.record("binding a PEFT hf adapter to the v1 base must fail")
        } catch let error as LoRAError {
            guard case .mismatch(_, _, let problems) = error else { Issue.record("wrong error \(error)"); return }
            #expect(problems.count == 28)
            #expect(error.description.contains("and 20 more"))
            #expect(error.description.contains("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight"))
        }
    }

    /// A rank-16 adapter made for dim 128 does not fit the dim-64 base: every key is listed.
    @Test func wrongShapesFail() throws {
        let pair = LoRAPair(a: Tensor(zeros: [16, 128]), b: Tensor(zeros: [128, 16]), scale: 1)
        let adapter = LoRAAdapter(path: "big.pth", pairs: [("layers.0.attention.wq", pair), ("layers.1.attention.wo", pair)])
        let base = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        #expect { try adapter.bind(to: base) } throws: { error in
            guard case LoRAError.mismatch(_, _, let problems) = error else { return false }
            return problems.map(\.key) == ["layers.0.attention.wq.lora.A.weight", "layers.0.attention.wq.lora.B.weight",
                                           "layers.1.attention.wo.lora.A.weight", "layers.1.attention.wo.lora.B.weight"]
        }
    }

    @Test func loneHalvesAndNonLinearTargetsFail() throws {
        let entries = [
            LoRAAdapter.Entry(module: "layers.0.attention.wq", aKey: "layers.0.attention.wq.lora.A.weight", a: Tensor(zeros: [4, 64]), scale: 1),
            LoRAAdapter.Entry(module: "norm", aKey: "norm.lora.A.weight", bKey: "norm.lora.B.weight", a: Tensor(zeros: [4, 64]), b: Tensor(zeros: [64, 4]), scale: 1),
        ]
        let adapter = LoRAAdapter(path: "odd.pth", format: .minimind, config: nil, entries: entries, strayKeys: ["extra.weight"])
        let base = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        #expect { try adapter.bind(to: base) } throws: { error in
            guard case LoRAError.mismatch(_, _, let problems) = error else { return false }
            return problems == [.unrecognizedKey(key: "extra.weight"),
                                .missingPartner(key: "layers.0.attention.wq.lora.A.weight", missing: "lora.B"),
                                .notLinear(key: "norm.lora.A.weight", kind: "RMSNorm(64)")]
        }
    }

    // MARK: Merge math

    @Test func deltaIsScaledProduct() {
        let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [4, 2], data: [1, 0, 0, 1, 1, 1, -1, 2])
        let pair = LoRAPair(a: a, b: b, scale: 0.5)
        var expected = [Float](repeating: 0, count: 12)
        for o in 0..<4 { for i in 0..<3 { for k in 0..<2 { expected[o * 3 + i] += 0.5 * b.data[o * 2 + k] * a.data[k * 3 + i] } } }
        #expect(pair.delta() == Tensor(shape: [4, 3], data: expected))
        var w = [Float](repeating: 1, count: 12)
        #expect(throws: Never.self) { try pair.merge(into: &w) }
        #expect(w == expected.map { $0 + 1 })
        // Transposed (Conv1D) storage gets the transpose.
        var wt = [Float](repeating: 0, count: 12)
        #expect(throws: Never.self) { try pair.merge(into: &wt, transposed: true) }
        for o in 0..<4 { for i in 0..<3 { #expect(wt[i * 4 + o] == expected[o * 3 + i]) } }
        var short = [Float](repeating: 0, count: 5)
        #expect(throws: LoRAError.self) { try pair.merge(into: &short) }
    }

    /// Upstream `merge_lora` writes `W.half() + (B @ A).half()` (float16 output, rounded twice,
    /// also for the float32 legacy base). One float32 add rounded once to float16 lands within one
    /// float16 step of it, the step taken at the largest magnitude involved (|ref|, |ours|, |B·A|):
    /// the separately rounded delta can be larger than the result when they nearly cancel.
    @Test(arguments: ["v1_tiny", "v1_tiny_legacy_f32"])
    func float16MergeMatchesUpstream(family: String) throws {
        let base = try Checkpoint.open(path: Fixtures.sharedPath(family + "/base.pth"))
        let ref = try Checkpoint.open(path: Fixtures.sharedPath(family + "/merged_ref.pth"))
        let bound = try LoRAAdapter.load(path: Fixtures.sharedPath(family + "/lora.pth")).bind(to: base)
        #expect(bound.layers.map(\.module) == (try Self.v1Targets()))
        var changed = 0
        for layer in bound.layers {
            let merged = try layer.mergedWeight(from: base)
            let original = try base.floats(of: layer.weight)
            let delta = try #require(layer.delta.lowRankDelta()).data
            let refEntry = try #require(ref.tensor(named: layer.weightName))
            #expect(refEntry.dtype == .float16)
            let expected = try ref.floats(of: refEntry)
            var worst: Float = 0
            for i in merged.indices {
                let mine = Float16(merged[i])
                let step = max(Float(Float16(expected[i]).ulp), Float(mine.ulp), Float(Float16(delta[i]).ulp))
                worst = max(worst, abs(Float(mine) - expected[i]) / step)
                if merged[i] != original[i] { changed += 1 }
            }
            #expect(worst <= 1, "\(layer.module): \(worst) float16 steps off")
        }
        #expect(changed > 0)
    }

    @Test func peftMergeMatchesMergeAndUnload() throws {
        try expectMerge(base: "hf_tiny_peft/base.pth", adapter: "hf_tiny_peft/adapter",
                        reference: "hf_tiny_peft/merged_ref.pth", relative: 1e-5, expectedLayers: 14)
    }

    /// Float32 merge: every element within `relative · max(1, |ref|)` of the reference.
    func expectMerge(base basePath: String, adapter: String, reference: String, relative: Float, expectedLayers: Int) throws {
        let base = try Checkpoint.open(path: Fixtures.sharedPath(basePath))
        let ref = try Checkpoint.open(path: Fixtures.sharedPath(reference))
        let bound = try LoRAAdapter.load(path: Fixtures.sharedPath(adapter)).bind(to: base)
        #expect(bound.layers.count == expectedLayers)
        for layer in bound.layers {
            let merged = try layer.mergedWeight(from: base)
            let expected = try ref.floats(of: try #require(ref.tensor(named: layer.weightName)))
            let original = try base.floats(of: layer.weight)
            #expect(merged != original, "\(layer.module) unchanged")
            var worst: Float = 0
            for i in merged.indices { worst = max(worst, abs(merged[i] - expected[i]) / max(1, abs(expected[i]))) }
            #expect(worst <= relative, "\(layer.module): relative error \(worst)")
        }
    }
}
