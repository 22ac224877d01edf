import Foundation
import Model
import PthReader
import Testing
import TestSupport

/// combine / extract / convert / diff / unmerge and DoRA verify end to end (PEFT's own results are
/// compared in scripts/interop_algebra.py).
@Suite struct AlgebraCommandTests {
    static let base = Fixtures.localPath("algebra/base")

    @Test func doraVerifyPassesItsOwnMerge() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let merged = dir.appendingPathComponent("m.safetensors").path
        #expect(try CommandRunner.run(["merge", Self.base, Fixtures.localPath("algebra/dora"), "-o", merged]).status == 0)
        let ok = try CommandRunner.run(["verify", Self.base, Fixtures.localPath("algebra/dora"), "--merged", merged])
        #expect(ok.status == 0, "\(ok.stdout) \(ok.stderr)")
        // the base itself is not the merge: verify fails with exit 1
        let bad = try CommandRunner.run(["verify", Self.base, Fixtures.localPath("algebra/dora"), "--merged", Fixtures.localPath("algebra/base/model.safetensors")])
        #expect(bad.status == 1, "\(bad.stdout) \(bad.stderr)")
    }

    /// MiniMind → PEFT → MiniMind keeps A and B exactly (scale 1 both ways).
    @Test func convertRoundTrip() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = Fixtures.sharedPath("v1_tiny/lora.pth")
        let peft = dir.appendingPathComponent("peft").path, back = dir.appendingPathComponent("back.pth").path
        #expect(try CommandRunner.run(["convert", original, "-o", peft, "--format", "peft"]).status == 0)
        #expect(try CommandRunner.run(["convert", peft, "-o", back]).status == 0)
        let a = try LoRAAdapter.load(path: original), b = try LoRAAdapter.load(path: back), p = try LoRAAdapter.load(path: peft)
        #expect(p.format == .peft && b.format == .minimind)
        #expect(a.pairs == b.pairs)
        #expect(p.entries.allSatisfy { $0.scale == 1 })
    }

    /// Extract from (base, base merged with a rank-4 adapter plus modules_to_save) recovers the
    /// adapter's products and the saved norms; the replaced lm_head is a Linear with a full-rank change.
    @Test func extractRecoversAMergedLoRA() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let adapter = Fixtures.localPath("algebra/mts")
        let tuned = dir.appendingPathComponent("tuned.safetensors").path, out = dir.appendingPathComponent("x").path
        #expect(try CommandRunner.run(["merge", Self.base, adapter, "-o", tuned]).status == 0)
        let run = try CommandRunner.run(["extract", Self.base, tuned, "--rank", "4", "-o", out, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let layers = report?["layers"] as? [[String: Any]] ?? []
        #expect(layers.count == 5)
        for l in layers where l["module"] as? String != "lm_head" { #expect((l["relative_error"] as? Double ?? 1) < 1e-5) }
        #expect((layers.first { $0["module"] as? String == "lm_head" }?["relative_error"] as? Double ?? 0) > 0.1)
        let saved = (report?["other_changed"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
        #expect(saved.count == 2 && saved.allSatisfy { $0 == "modules_to_save" })
        // merging the extracted adapter gives the fine-tune back
        let again = dir.appendingPathComponent("again.safetensors").path
        #expect(try CommandRunner.run(["merge", Self.base, out, "-o", again]).status == 0)
        let x = try Checkpoint.open(path: again), y = try Checkpoint.open(path: tuned)
        var worst: Float = 0
        for t in y.tensors where t.name != "lm_head.weight" { for (u, v) in zip(try x.floats(of: x.tensor(named: t.name)!), try y.floats(of: t)) { worst = max(worst, abs(u - v)) } }
        #expect(worst < 1e-5)
        // nothing changed: an error, never an empty adapter
        let none = try CommandRunner.run(["extract", Self.base, Self.base, "--rank", "4", "-o", dir.appendingPathComponent("none").path])
        #expect(none.status == 2 && none.stderr.contains("nothing to extract"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("none").path))
    }

    @Test func diffNamesWhatChanged() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tuned = dir.appendingPathComponent("tuned.safetensors").path
        #expect(try CommandRunner.run(["merge", Self.base, Fixtures.localPath("algebra/emb"), "-o", tuned]).status == 0)
        let run = try CommandRunner.run(["diff", Self.base, tuned, "--json"])
        #expect(run.status == 0)
        let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let changed = (report?["tensors"] as? [[String: Any]] ?? []).filter { $0["status"] as? String == "changed" }
        #expect(Set(changed.compactMap { $0["name"] as? String }) == ["model.embed_tokens.weight", "model.layers.0.self_attn.o_proj.weight", "model.layers.1.self_attn.o_proj.weight"])
        for c in changed where (c["name"] as? String ?? "").contains("o_proj") { #expect(c["numerical_rank"] as? Int == 4) }
    }

    @Test func negativeScaleIsAcceptedAsWritten() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try CommandRunner.run(["merge", Self.base, Fixtures.localPath("algebra/emb"), "--scale", "-1", "-o", dir.appendingPathComponent("n.safetensors").path])
        #expect(run.status == 0, "\(run.stderr)")
        let dora = try CommandRunner.run(["merge", Self.base, Fixtures.localPath("algebra/dora"), "--scale", "-1", "-o", dir.appendingPathComponent("d.safetensors").path])
        #expect(dora.status == 2 && dora.stderr.contains("DoRA"))
    }
}
