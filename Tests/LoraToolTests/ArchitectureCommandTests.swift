import Foundation
import Testing
import Model
import PthReader
import TestSupport

/// The new families and LoRA-training checkpoints end to end through the binary.
@Suite struct ArchitectureCommandTests {
    /// `merge CKPT -o OUT` with no adapter folds in the checkpoint's own `.lora.` keys and writes the base keys only.
    @Test func mergeTrainingCheckpointWithoutAdapter() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("merged.safetensors").path
        let ckpt = Fixtures.sharedPath("mm3_tiny/ckpt_with_lora.pth")
        let merge = try CommandRunner.run(["merge", ckpt, "-o", out])
        #expect(merge.status == 0, "\(merge.stderr)")
        let merged = try Checkpoint.open(path: out)
        #expect(!merged.tensors.contains { $0.name.contains(".lora.") })
        #expect(merged.tensors.count == 25)
        // The merged file computes what upstream's merged file computes.
        let tokens = try Npy.readInt64(path: Fixtures.sharedPath("mm3_tiny/tokens.npy")).values.map(String.init).joined(separator: ",")
        let check = try CommandRunner.run(["verify", ckpt, "--merged", out, "--tokens", tokens])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let inMemory = try CommandRunner.run(["verify", ckpt, "--tokens", tokens])
        #expect(inMemory.status == 0 && inMemory.stdout.contains("PASSED"), "\(inMemory.stdout)\(inMemory.stderr)")
        let inspect = try CommandRunner.run(["inspect", ckpt])
        #expect(inspect.stdout.contains("LoRA adapter (minimind): 4 modules") && inspect.stdout.contains("base model beside it: 25 tensors"))
        // A plain base with no adapter argument is refused by name.
        let plain = try CommandRunner.run(["merge", Fixtures.sharedPath("mm3_tiny/base.pth"), "-o", dir.appendingPathComponent("x.pth").path])
        #expect(plain.status != 0 && plain.stderr.contains("no adapter was given"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.pth").path))
    }

    /// verify fails the unmerged base for every minimind-3 case (exit 1).
    @Test(arguments: ["mm3_tiny", "mm3_tiny_moe", "mm3_tiny_yarn"])
    func verifyFailsUnmergedBase(dir: String) throws {
        let base = Fixtures.sharedPath(dir + "/base.pth")
        let result = try CommandRunner.run(["verify", base, Fixtures.sharedPath(dir + "/lora.pth"), "--merged", base])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        let good = try CommandRunner.run(["verify", base, Fixtures.sharedPath(dir + "/lora.pth"), "--merged", Fixtures.sharedPath(dir + "/merged_ref.pth")])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
    }

    /// A flag that contradicts the model's config.json is refused naming both; a missing head count says to pass --heads.
    @Test func hyperParameterContradictionsAndGaps() throws {
        let mm3 = Fixtures.sharedPath("mm3_tiny/base.pth")
        let clash = try CommandRunner.run(["logits", mm3, "--tokens", "1,2", "--json", "--heads", "4"])
        #expect(clash.status == 2 && clash.stderr.contains("--heads 4") && clash.stderr.contains("num_attention_heads = 8"), "\(clash.stderr)")
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Qwen2 weights without their config.json: the head count cannot be read from the weights.
        let bare = dir.appendingPathComponent("model.safetensors").path
        try FileManager.default.copyItem(atPath: Fixtures.localPath("hf_models/qwen2/model.safetensors"), toPath: bare)
        let missing = try CommandRunner.run(["logits", bare, "--tokens", "1,2", "--json"])
        #expect(missing.status != 0 && missing.stderr.contains("pass --heads"), "\(missing.stderr)")
        let given = try CommandRunner.run(["logits", bare, "--tokens", "1,2", "--json", "--heads", "4"])
        #expect(given.status == 0, "\(given.stderr)")
        #expect(given.stderr.contains("note: assumed rms_norm_eps"))
        #expect(given.stdout.contains("\"architecture\" : \"qwen2\""))
    }
}
