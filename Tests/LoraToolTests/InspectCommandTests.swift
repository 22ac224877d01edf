import Foundation
import Testing
import Model
import TestSupport

/// `loratool inspect` end to end: the built binary against files torch wrote.
@Suite struct InspectCommandTests {
    /// Every checkpoint with a truth file, shared and generated.
    static let fixtures: [String] = {
        var found: [String] = []
        for root in [Fixtures.shared, Fixtures.local] {
            let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
            while let url = walker?.nextObject() as? URL {
                if url.lastPathComponent.hasSuffix(".truth.json") { found.append(String(url.path.dropLast(".truth.json".count))) }
            }
        }
        return found.sorted()
    }()

    @Test func fixturesFound() {
        #expect(Self.fixtures.count >= 25)
    }

    @Test(arguments: fixtures)
    func jsonAgreesWithTorch(path: String) throws {
        let result = try CommandRunner.run(["inspect", "--json", path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        let report = try JSONDecoder().decode(InspectionReport.self, from: Data(result.stdout.utf8))
        let truth = try Fixtures.truth(path + ".truth.json")
        #expect(report.tensors.count == truth.count)
        for tensor in report.tensors {
            let expected = try #require(truth[tensor.name], "\(tensor.name) not in truth")
            #expect(tensor.dtype == expected.dtype && tensor.shape == expected.shape, "\(tensor.name)")
        }
    }

    @Test func humanListingShowsModulesAndTotals() throws {
        let result = try CommandRunner.run(["inspect", Fixtures.sharedPath("v1_tiny/base.pth")])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let wq = try #require(lines.first { $0.contains("layers.0.attention.wq ") })
        #expect(wq.contains("Linear(in=64, out=64, bias=False)") && wq.contains("weight [64, 64] float16"))
        #expect(lines.contains { $0.contains("tok_embeddings") && $0.contains("Embedding(6400, 64)") })
        #expect(lines.contains { $0.contains("layers.0.attention_norm") && $0.contains("RMSNorm(64)") })
        // named_modules() order: the embedding first, the head last.
        let modulePaths = lines.compactMap { $0.split(separator: " ").first.map(String.init) }
        let wqIndex = try #require(modulePaths.firstIndex(of: "layers.0.attention.wq"))
        let wkIndex = try #require(modulePaths.firstIndex(of: "layers.0.attention.wk"))
        let outputIndex = try #require(modulePaths.firstIndex(of: "output"))
        #expect(wqIndex < wkIndex && wkIndex < outputIndex)
        #expect(result.stdout.contains("format: torch-zip"))
        #expect(result.stdout.contains("parameters: 504,128"))
    }

    @Test func tiedParametersCountOnceLikeTorch() throws {
        // v1_tiny/meta.json's "params" is sum(p.numel() for p in model.parameters()) from torch.
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.sharedPath("v1_tiny/meta.json")))) as? [String: Any]
        let expected = try #require(meta?["params"] as? Int)
        for file in ["tied_f32.pth", "v1_tiny/base.pth"] {
            let result = try CommandRunner.run(["inspect", "--json", Fixtures.sharedPath(file)])
            let report = try JSONDecoder().decode(InspectionReport.self, from: Data(result.stdout.utf8))
            #expect(report.parameters == expected, "\(file)")
        }
    }

    @Test func trainingCheckpointMetadata() throws {
        let result = try CommandRunner.run(["inspect", "--json", Fixtures.sharedPath("train_ckpt.pth")])
        let report = try JSONDecoder().decode(InspectionReport.self, from: Data(result.stdout.utf8))
        #expect(report.metadata["epoch"] == .int(3))
        #expect(report.metadata["step"] == .int(1000))
        #expect(report.metadata["scaler"] == .null)
        let human = try CommandRunner.run(["inspect", Fixtures.sharedPath("train_ckpt.pth")])
        #expect(human.stdout.contains("epoch = 3"))
    }

    /// Adapters are summarised with the rank and scale their own configuration gives.
    @Test func adaptersAreSummarised() throws {
        let peftConfig = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.sharedPath("hf_tiny_peft/adapter/adapter_config.json")))) as? [String: Any])
        let r = try #require(peftConfig["r"] as? Int), alpha = try #require(peftConfig["lora_alpha"] as? Int)
        let peft = try JSONDecoder().decode(InspectionReport.self, from: Data(try CommandRunner.run(["inspect", "--json", Fixtures.sharedPath("hf_tiny_peft/adapter")]).stdout.utf8))
        var expected = InspectionReport.AdapterSummary(format: "peft", modules: 14, ranks: [r], scales: [Float(alpha) / Float(r)], loraParameters: peft.parameters)
        expected.kinds = ["lora": 14]
        #expect(peft.adapter == expected)

        let meta = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.sharedPath("v1_tiny/meta.json")))) as? [String: Any])
        let targets = try #require(meta["targets"] as? [String])
        let rank = try #require(meta["rank"] as? Int)
        let result = try CommandRunner.run(["inspect", Fixtures.sharedPath("v1_tiny/lora_ddp.pth")])
        #expect(result.stdout.contains("LoRA adapter (minimind): \(targets.count) modules, rank \(rank), scale 1,"))
        let base = try JSONDecoder().decode(InspectionReport.self, from: Data(try CommandRunner.run(["inspect", "--json", Fixtures.sharedPath("v1_tiny/base.pth")]).stdout.utf8))
        #expect(base.adapter == nil)
    }

    @Test(arguments: ["bad/empty.pth", "bad/evil.pth", "bad/evil_legacy.pth", "bad/garbage.pth", "bad/truncated.pth", "does/not/exist.pth"])
    func badInputExitsTwoWithOneErrorLine(file: String) throws {
        let path = Fixtures.sharedPath(file)
        for arguments in [["inspect", path], ["inspect", "--json", path]] {
            let result = try CommandRunner.run(arguments)
            #expect(result.status == 2)
            if arguments.contains("--json") {
                // Under --json the error is also an object on stdout, naming the same file.
                let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
                let error = object?["error"] as? [String: Any]
                #expect(object?["command"] as? String == "inspect" && error?["file"] as? String == path && error?["exit_status"] as? Int == 2)
            } else {
                #expect(result.stdout.isEmpty)
            }
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("error: ") && lines[0].contains(path), "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/loratool_pwned_marker"))
    }
}
