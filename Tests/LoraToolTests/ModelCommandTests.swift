import Foundation
import Testing
import Model
import TestSupport

/// `targets`, `logits` and `verify` end to end through the binary, against torch's numbers.
@Suite struct ModelCommandTests {
    private func tokens(_ family: String) throws -> String {
        try Npy.readInt64(path: Fixtures.sharedPath(family + "/tokens.npy")).values.map(String.init).joined(separator: ",")
    }

    @Test func targetsJSONMatchesTheSeedsChoice() throws {
        let result = try CommandRunner.run(["targets", "--json", Fixtures.sharedPath("v1_tiny/base.pth")])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try JSONDecoder().decode(TargetsReport.self, from: Data(result.stdout.utf8))
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.sharedPath("v1_tiny/meta.json")))) as? [String: Any]
        #expect(report.targets.map(\.module) == meta?["targets"] as? [String])
        #expect(report.rank == 16 && report.loraParameters == 4 * 16 * (64 + 64))
        #expect(report.modelParameters == meta?["params"] as? Int)
    }

    /// The CLI (which may re-execute itself with faster BLAS kernels) gives torch's logits.
    @Test(arguments: [("v1_tiny", false), ("v1_tiny", true), ("hf_tiny_peft", true)])
    func logitsMatchTorch(family: String, wrapped: Bool) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("logits.npy").path
        var arguments = ["logits", Fixtures.sharedPath(family + "/base.pth"), "--tokens", try tokens(family), "-o", out]
        if wrapped { arguments += ["--lora", Fixtures.sharedPath(family + (family == "hf_tiny_peft" ? "/adapter" : "/lora.pth"))] }
        if family == "hf_tiny_peft" { arguments += ["--config", Fixtures.sharedPath("hf_tiny_peft/base_hf/config.json")] }
        let result = try CommandRunner.run(arguments)
        #expect(result.status == 0, "\(result.stderr)")
        let ours = try Npy.readTensor(path: out)
        let torch = try Npy.readTensor(path: Fixtures.sharedPath(family + (wrapped ? "/logits_wrapped.npy" : "/logits_base.npy")))
        #expect(ours.shape == torch.shape)
        let worst = zip(ours.data, torch.data).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-4)
    }

    struct Verification: Decodable {
        let passed: Bool
        let max_abs_diff: Double
        let tolerance: Double
        let adapter_effect: Double
    }

    @Test func verifyPassesARightMergeAndFailsAWrongOne() throws {
        let base = Fixtures.sharedPath("v1_tiny/base.pth"), lora = Fixtures.sharedPath("v1_tiny/lora.pth")
        let right = try CommandRunner.run(["verify", base, lora, "--merged", Fixtures.sharedPath("v1_tiny/merged_ref.pth"), "--json"])
        #expect(right.status == 0, "\(right.stderr)")
        let passed = try JSONDecoder().decode(Verification.self, from: Data(right.stdout.utf8))
        #expect(passed.passed && passed.max_abs_diff <= passed.tolerance && passed.adapter_effect > passed.tolerance)

        let wrong = try CommandRunner.run(["verify", base, lora, "--merged", base, "--json"])
        #expect(wrong.status == 1)
        let failed = try JSONDecoder().decode(Verification.self, from: Data(wrong.stdout.utf8))
        #expect(!failed.passed && failed.max_abs_diff > failed.tolerance)

        let bad = try CommandRunner.run(["verify", base, Fixtures.sharedPath("hf_tiny_peft/adapter")])
        #expect(bad.status == 3 && bad.stdout.isEmpty && bad.stderr.hasPrefix("error: "), "an adapter that does not fit exits 3")
    }

    @Test func verifyOfWhatMergeWroteAgrees() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("merged.safetensors").path
        let base = Fixtures.sharedPath("hf_tiny_peft/base.pth"), adapter = Fixtures.sharedPath("hf_tiny_peft/adapter")
        #expect(try CommandRunner.run(["merge", base, adapter, "-o", out]).status == 0)
        let config = Fixtures.sharedPath("hf_tiny_peft/base_hf/config.json")
        let result = try CommandRunner.run(["verify", base, adapter, "--merged", out, "--config", config])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("PASSED"))
    }
}
