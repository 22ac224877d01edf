import Foundation
import Testing
import Model
import PthReader
import TestSupport

/// Target selection against the seed's choice (`meta.json`) and a real PEFT adapter's keys.
@Suite struct TargetsTests {
    static func v1Targets(_ family: String) throws -> [String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.sharedPath(family + "/meta.json")))
        let meta = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(meta["targets"] as? [String])
    }

    /// The seed's `apply_lora` rule (square Linear) picks exactly the modules it gave adapters.
    @Test(arguments: ["v1_tiny", "v1_tiny_legacy_f32"])
    func seedRuleMatchesMeta(family: String) throws {
        let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath(family + "/base.pth"))
        let report = try TargetsReport.make(checkpoint: checkpoint, selector: TargetSelector(modules: nil), rank: 16)
        #expect(report.targets.map(\.module) == (try Self.v1Targets(family)))
        #expect(report.targets.allSatisfy { $0.inFeatures == $0.outFeatures && $0.loraParameters == 16 * 2 * $0.inFeatures })
        #expect(report.loraParameters == report.targets.reduce(0) { $0 + $1.loraParameters })
        // meta.json's "params" is torch's sum(p.numel() for p in model.parameters()), head tied.
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.sharedPath(family + "/meta.json")))) as? [String: Any]
        #expect(report.modelParameters == meta?["params"] as? Int)
    }

    /// The same rule on a training checkpoint sees through its `model.` prefix and skips the optimizer.
    @Test func trainingCheckpointTargets() throws {
        let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath("train_ckpt.pth"))
        let report = try TargetsReport.make(checkpoint: checkpoint, selector: .squareLinear, rank: 16)
        #expect(report.targets.map(\.module) == (try Self.v1Targets("v1_tiny")))
        #expect(report.modelParameters < checkpoint.parameterCount)
    }

    /// PEFT-style `--modules` covers the modules PEFT's own adapter covers, in module order.
    @Test func peftStyleModulesMatchPEFTAdapter() throws {
        let adapterPath = Fixtures.sharedPath("hf_tiny_peft/adapter")
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: adapterPath + "/adapter_config.json"))) as? [String: Any])
        let targetModules = try #require(config["target_modules"] as? [String])
        let keys = try Checkpoint.open(path: adapterPath + "/adapter_model.safetensors").tensors.map(\.name)
        let covered = Set(keys.map { String($0.dropFirst("base_model.model.".count).split(separator: ".lora_")[0]) })

        let base = try Checkpoint.open(path: Fixtures.sharedPath("hf_tiny_peft/base.pth"))
        let report = try TargetsReport.make(checkpoint: base, selector: TargetSelector(modules: targetModules.joined(separator: ",")), rank: 8)
        #expect(Set(report.targets.map(\.module)) == covered)
        #expect(report.targets.count == covered.count)
        // PEFT's adapter holds exactly r·(in+out) elements per module.
        var elements = 0
        let adapter = try Checkpoint.open(path: adapterPath)
        for t in adapter.tensors { elements += t.elementCount }
        #expect(report.loraParameters == elements)
        // all-linear (PEFT: every Linear but the output head) picks the same seven projections here.
        let all = try TargetsReport.make(checkpoint: base, selector: TargetSelector(modules: "all-linear"), rank: 8)
        #expect(all.targets.map(\.module) == report.targets.map(\.module))
        #expect(!all.targets.contains { $0.module == "lm_head" })
    }

    @Test func suffixMatchingIsByWholeComponents() throws {
        let base = try Checkpoint.open(path: Fixtures.sharedPath("hf_tiny_peft/base.pth"))
        let some = try TargetsReport.make(checkpoint: base, selector: TargetSelector(modules: "self_attn.q_proj, v_proj"), rank: 4)
        #expect(some.targets.map(\.module) == ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                                               "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"])
        #expect(throws: LoRAError.self) { try TargetsReport.make(checkpoint: base, selector: TargetSelector(modules: "proj"), rank: 4) }
    }

    @Test func emptySelectionNamesTheList() throws {
        let path = Fixtures.sharedPath("v1_tiny/base.pth")
        let base = try Checkpoint.open(path: path)
        do {
            _ = try TargetsReport.make(checkpoint: base, selector: TargetSelector(modules: "q_proj,v_proj"), rank: 16)
            Issue.record("an empty selection must fail")
        } catch let error as LoRAError {
            #expect(error.description.hasPrefix(path + ": "))
            #expect(error.description.contains("q_proj,v_proj"))
            #expect(error.description.contains("wq"))
        }
        #expect(throws: LoRAError.badRank(path: path, rank: 0)) {
            try TargetsReport.make(checkpoint: base, selector: .squareLinear, rank: 0)
        }
    }

    /// The JSON document has the documented keys, sorted.
    @Test func jsonShape() throws {
        let base = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        let report = try TargetsReport.make(checkpoint: base, selector: .squareLinear, rank: 16)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let object = try #require(try JSONSerialization.jsonObject(with: encoder.encode(report)) as? [String: Any])
        #expect(Set(object.keys) == ["rank", "targets", "lora_parameters", "model_parameters"])
        let first = try #require((object["targets"] as? [[String: Any]])?.first)
        #expect(Set(first.keys) == ["module", "in_features", "out_features", "lora_parameters"])
        #expect(first["module"] as? String == "layers.0.attention.wq")
        #expect(first["lora_parameters"] as? Int == 2048)
        #expect(try JSONDecoder().decode(TargetsReport.self, from: encoder.encode(report)) == report)
    }
}
