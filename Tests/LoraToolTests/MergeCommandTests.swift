import Foundation
import Testing
import Model
import PthReader
import TestSupport

/// `loratool merge` and `convert` end to end, judged against what torch and PEFT wrote.
@Suite struct MergeCommandTests {
    /// Runs merge into a fresh directory and opens the result.
    private func merge(_ base: String, _ adapter: String, to name: String, extra: [String] = []) throws -> (Checkpoint, URL) {
        let dir = try Fixtures.temporaryDirectory()
        let out = dir.appendingPathComponent(name).path
        let result = try CommandRunner.run(["merge", Fixtures.sharedPath(base), Fixtures.sharedPath(adapter), "-o", out] + extra)
        #expect(result.status == 0, "\(result.stderr)")
        return (try Checkpoint.open(path: out), dir)
    }

    /// Largest |ours - reference| over the tensors both hold, in float32.
    private func maxDifference(_ ours: Checkpoint, _ reference: Checkpoint) throws -> Float {
        var worst: Float = 0
        for ref in reference.tensors {
            let mine = try #require(ours.tensor(named: ref.name), "\(ref.name) missing")
            #expect(mine.shape == ref.shape)
            for (a, b) in zip(try ours.floats(of: mine), try reference.floats(of: ref)) { worst = max(worst, abs(a - b)) }
        }
        return worst
    }

    @Test(arguments: ["out.pth", "out.safetensors", "out.bin"])
    func peftMergeMatchesMergeAndUnload(name: String) throws {
        let (merged, dir) = try merge("hf_tiny_peft/base.pth", "hf_tiny_peft/adapter", to: name)
        defer { try? FileManager.default.removeItem(at: dir) }
        let reference = try Checkpoint.open(path: Fixtures.sharedPath("hf_tiny_peft/merged_ref.pth"))
        #expect(try maxDifference(merged, reference) < 1e-5)
    }

    @Test func hfDirectoryBaseMergesLikeThePthBase() throws {
        let (merged, dir) = try merge("hf_tiny_peft/base_hf", "hf_tiny_peft/adapter", to: "out.safetensors")
        defer { try? FileManager.default.removeItem(at: dir) }
        let reference = try Checkpoint.open(path: Fixtures.sharedPath("hf_tiny_peft/merged_ref.pth"))
        for tensor in merged.tensors {
            let ref = try #require(reference.tensor(named: tensor.name))
            for (a, b) in zip(try merged.floats(of: tensor), try reference.floats(of: ref)) { #expect(abs(a - b) < 1e-5) }
        }
    }

    /// The upstream merge adds in float16 (rounding twice); ours rounds once, so they differ by at
    /// most one float16 step of the larger of the two values.
    @Test(arguments: ["v1_tiny", "v1_tiny_legacy_f32"])
    func miniMindMergeMatchesUpstreamWithinOneHalfStep(family: String) throws {
        let (merged, dir) = try merge(family + "/base.pth", family + "/lora.pth", to: "out.pth", extra: ["--dtype", "float16"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let reference = try Checkpoint.open(path: Fixtures.sharedPath(family + "/merged_ref.pth"))
        var changed = 0
        for ref in reference.tensors {
            let mine = try #require(merged.tensor(named: ref.name))
            #expect(mine.dtype == .float16)
            let base = try Checkpoint.open(path: Fixtures.sharedPath(family + "/base.pth"))
            let original = try base.floats(of: try #require(base.tensor(named: ref.name)))
            for (i, (a, b)) in zip(try merged.floats(of: mine), try reference.floats(of: ref)).enumerated() {
                let step = Float(Float16(max(abs(a), abs(b), abs(original[i]))).ulp)
                #expect(abs(a - b) <= step, "\(ref.name)[\(i)]: \(a) vs \(b)")
                if a != Float(Float16(original[i])) { changed += 1 }
            }
        }
        #expect(changed > 1000, "the adapter must move the weights")
    }

    @Test func ddpPrefixedAdapterMergesLikeThePlainOne() throws {
        let (plain, dir1) = try merge("v1_tiny/base.pth", "v1_tiny/lora.pth", to: "a.pth")
        let (ddp, dir2) = try merge("v1_tiny/base.pth", "v1_tiny/lora_ddp.pth", to: "b.pth")
        defer { try? FileManager.default.removeItem(at: dir1); try? FileManager.default.removeItem(at: dir2) }
        for tensor in plain.tensors {
            #expect(try plain.bytes(of: tensor) == ddp.bytes(of: try #require(ddp.tensor(named: tensor.name))))
        }
    }

    @Test func tiedWeightsStayTiedAndUntouchedTensorsKeepTheirBytes() throws {
        let (merged, dir) = try merge("v1_tiny_legacy_f32/base.pth", "v1_tiny_legacy_f32/lora.pth", to: "out.pth")
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny_legacy_f32/base.pth"))
        let embedding = try #require(merged.tensor(named: "tok_embeddings.weight"))
        let output = try #require(merged.tensor(named: "output.weight"))
        #expect(embedding.storageKey == output.storageKey)
        for tensor in base.tensors where !tensor.name.contains(".wq.") && !tensor.name.contains(".wo.") {
            #expect(try base.bytes(of: tensor) == merged.bytes(of: try #require(merged.tensor(named: tensor.name))), "\(tensor.name)")
        }
    }

    @Test func mismatchedAdapterWritesNothing() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.pth").path
        let result = try CommandRunner.run(["merge", Fixtures.sharedPath("v1_tiny/base.pth"), Fixtures.sharedPath("hf_tiny_peft/adapter"), "-o", out])
        #expect(result.status == 3, "an adapter that does not fit the base exits 3")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("error: ") && result.stderr.contains("lora_A") && result.stderr.split(separator: "\n").count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "no output and no temporary file")
    }

    @Test func refusesToWriteOverAnInput() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("base.pth")
        try FileManager.default.copyItem(atPath: Fixtures.sharedPath("v1_tiny/base.pth"), toPath: copy.path)
        let before = try Data(contentsOf: copy)
        for arguments in [["merge", copy.path, Fixtures.sharedPath("v1_tiny/lora.pth"), "-o", copy.path], ["convert", copy.path, "-o", copy.path]] {
            let result = try CommandRunner.run(arguments)
            #expect(result.status == 2 && result.stderr.contains("refusing to write over"))
        }
        #expect(try Data(contentsOf: copy) == before)
    }

    @Test(arguments: ["edge.pth", "edge_legacy.pth", "train_ckpt.pth", "tied_f32.pth"], ["pth", "safetensors"])
    func convertKeepsEveryValue(fixture: String, ext: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out." + ext).path
        let result = try CommandRunner.run(["convert", Fixtures.sharedPath(fixture), "-o", out, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(summary["format"] as? String == (ext == "pth" ? "torch-zip" : "safetensors"))
        #expect(summary["merged_tensors"] == nil, "convert merges nothing, so it reports no merged tensors")
        let source = try Checkpoint.open(path: Fixtures.sharedPath(fixture))
        let copy = try Checkpoint.open(path: out)
        #expect(copy.tensors.count == source.tensors.count)
        for tensor in source.tensors {
            let other = try #require(copy.tensor(named: tensor.name), "\(tensor.name)")
            #expect(other.dtype == tensor.dtype && other.shape == tensor.shape)
            #expect(try copy.bytes(of: other) == source.bytes(of: tensor), "\(tensor.name)")
        }
        if ext == "pth" {
            #expect(copy.metadata.map(\.name) == source.metadata.map(\.name))
            #expect(copy.metadata.map(\.value) == source.metadata.map(\.value))
        }
    }

    @Test func badArgumentsExitTwoAndUsageErrorsSixtyFour() throws {
        for (arguments, status) in [
            (["merge", Fixtures.sharedPath("v1_tiny/base.pth"), Fixtures.sharedPath("v1_tiny/lora.pth"), "-o", "/tmp/x.ckpt"], Int32(64)),
            (["convert", Fixtures.sharedPath("v1_tiny/base.pth"), "-o", "/tmp/x.pth", "--dtype", "int8"], 64),
            (["merge", Fixtures.sharedPath("bad/evil.pth"), Fixtures.sharedPath("v1_tiny/lora.pth"), "-o", "/tmp/x.pth"], 2),
            (["merge", Fixtures.sharedPath("v1_tiny/base.pth"), Fixtures.sharedPath("v1_tiny/base.pth"), "-o", "/tmp/x.pth"], 2),
        ] {
            let result = try CommandRunner.run(arguments)
            #expect(result.status == status, "\(arguments)")
            #expect(result.stderr.hasPrefix("error: ") && result.stdout.isEmpty, "\(result.stderr)")
        }
    }
}

/// Merges of the project's own directory fixtures (sharded safetensors, .bin) with a PEFT `.bin` adapter.
@Suite struct DirectoryMergeTests {
    @Test(arguments: ["dirs/hf_sharded", "dirs/hf_bin"])
    func mergeMatchesTorch(base: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("merged.safetensors").path
        let result = try CommandRunner.run(["merge", Fixtures.localPath(base), Fixtures.localPath("dirs/peft_bin"), "-o", out, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try JSONDecoder().decode(CheckpointRewriter.Summary.self, from: Data(result.stdout.utf8))
        #expect(summary.mergedTensors.count == 4)
        let merged = try Checkpoint.open(path: out)
        let reference = try Checkpoint.open(path: Fixtures.localPath("dirs/merged_ref.safetensors"))
        #expect(merged.tensors.count == reference.tensors.count)
        for ref in reference.tensors {
            let mine = try #require(merged.tensor(named: ref.name))
            for (a, b) in zip(try merged.floats(of: mine), try reference.floats(of: ref)) { #expect(abs(a - b) <= 1e-6) }
        }
    }
}
