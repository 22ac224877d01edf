import Foundation
import Testing
import Model
import PthReader
import TestSupport

/// `convert --select` and safetensors metadata round trips, judged against the torch-written fixtures.
@Suite struct SelectAndMetadataTests {
    @Test func selectModelKeepsOnlyTheWeightsWithoutPrefix() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("weights.safetensors").path
        let source = Fixtures.sharedPath("train_ckpt.pth")
        let result = try CommandRunner.run(["convert", source, "--select", "model", "-o", out])
        #expect(result.status == 0, "\(result.stderr)")
        let written = try Checkpoint.open(path: out)
        let truth = try Fixtures.truth(source + ".truth.json").filter { $0.key.hasPrefix("model.") }
        #expect(Set(written.tensors.map(\.name)) == Set(truth.keys.map { String($0.dropFirst("model.".count)) }))
        let original = try Checkpoint.open(path: source)
        for t in written.tensors {
            let o = try #require(original.tensor(named: "model." + t.name))
            #expect(try written.bytes(of: t) == original.bytes(of: o), "\(t.name)")
        }
    }

    @Test func selectOfAMissingKeyIsRefusedByName() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("x.pth").path
        let result = try CommandRunner.run(["convert", Fixtures.sharedPath("train_ckpt.pth"), "--select", "nope", "-o", out])
        #expect(result.status == 2)
        #expect(result.stderr.contains("'nope'") && result.stderr.contains("'model'"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func safetensorsMetadataKeysSurviveTwoRoundTrips() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = dir.appendingPathComponent("a.safetensors").path
        let second = dir.appendingPathComponent("b.safetensors").path
        let third = dir.appendingPathComponent("c.safetensors").path
        #expect(try CommandRunner.run(["convert", Fixtures.sharedPath("hf_tiny_peft/base_hf/model.safetensors"), "-o", first]).status == 0)
        #expect(try CommandRunner.run(["convert", first, "-o", second]).status == 0)
        #expect(try CommandRunner.run(["convert", second, "-o", third]).status == 0)
        let original = try Checkpoint.open(path: Fixtures.sharedPath("hf_tiny_peft/base_hf/model.safetensors"))
        let last = try Checkpoint.open(path: third)
        // transformers' alias entry (`model.embed_tokens.weight` → `lm_head.weight`) keeps its key and
        // value; the writer adds only `format: pt`.
        #expect(original.metadata.map(\.name) == ["__metadata__.model.embed_tokens.weight"])
        #expect(Set(last.metadata.map(\.name)) == Set(original.metadata.map(\.name) + ["__metadata__.format"]))
        #expect(last.metadata.first { $0.name == "__metadata__.model.embed_tokens.weight" }?.value == .string("lm_head.weight"))
    }
}

/// `merge/convert --format hf`: Hugging Face directories, judged against torch's logits.
@Suite struct HFExportTests {
    private let shared = Fixtures.sharedPath("")

    /// Largest |a - b|.
    private func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    @Test func rotaryLayoutPermutationsAreInverse() {
        let heads = 2, d = 8, columns = 3
        let values = (0..<(heads * d * columns)).map(Float.init)
        let half = RotaryLayout.adjacentToHalf(values, heads: heads, headDim: d)
        // Row 1 of the rotate-half layout is row 2 (pair 1's first member) of the adjacent layout.
        #expect(Array(half[columns..<(2 * columns)]) == Array(values[(2 * columns)..<(3 * columns)]))
        // Row d/2 is the second member of pair 0, i.e. adjacent row 1.
        #expect(Array(half[(d / 2 * columns)..<((d / 2 + 1) * columns)]) == Array(values[columns..<(2 * columns)]))
        #expect(RotaryLayout.halfToAdjacent(half, heads: heads, headDim: d) == values)
    }

    @Test(arguments: [("v1_tiny/base.pth", "v1_tiny/lora.pth", "v1_tiny"), ("hf_tiny_peft/base.pth", "hf_tiny_peft/adapter", "hf_tiny_peft")])
    func exportedDirectoryComputesTorchsWrappedLogits(base: String, adapter: String, data: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("model").path
        let result = try CommandRunner.run(["merge", Fixtures.sharedPath(base), Fixtures.sharedPath(adapter), "-o", out,
                                            "--format", "hf", "--dtype", "float32", "--tokenizer", shared])
        #expect(result.status == 0, "\(result.stderr)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any]
        #expect((config?["architectures"] as? [String]) == ["LlamaForCausalLM"])
        #expect(config?["tie_word_embeddings"] as? Bool == true)
        let written = try Checkpoint.open(path: out)
        #expect(written.tensor(named: "model.embed_tokens.weight") != nil)
        #expect(written.tensor(named: "lm_head.weight") == nil)
        let model = try TransformerModel.load(path: out)
        let tokens = try Npy.readInt64(path: Fixtures.sharedPath(data + "/tokens.npy")).values.map { Int($0) }
        let logits = try model.logits(for: tokens)
        let wrapped = try Npy.readTensor(path: Fixtures.sharedPath(data + "/logits_wrapped.npy"))
        #expect(logits.data.count == wrapped.data.count && maxDiff(logits.data, wrapped.data) < 1e-4)
        for name in ["tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + name), "\(name)")
        }
    }

    @Test func largeModelIsShardedWithAnIndexThatReadsBack() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("sharded").path
        let result = try CommandRunner.run(["convert", Fixtures.sharedPath("hf_tiny_peft/base.pth"), "-o", out, "--format", "hf",
                                            "--max-shard-size", "300KB"])
        #expect(result.status == 0, "\(result.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: out)
        let shards = files.filter { $0.hasPrefix("model-") && $0.hasSuffix(".safetensors") }
        #expect(shards.count > 1)
        #expect(files.contains("model.safetensors.index.json"))
        for shard in shards {
            let size = try #require(try FileManager.default.attributesOfItem(atPath: out + "/" + shard)[.size] as? Int)
            // A shard exceeds the limit only when it holds one tensor larger than the limit (the embedding).
            let count = try Checkpoint.open(path: out + "/" + shard).tensors.count
            #expect(size <= 300_000 + 1024 || count == 1, "\(shard): \(size) bytes, \(count) tensors")
        }
        let source = try Checkpoint.open(path: Fixtures.sharedPath("hf_tiny_peft/base.pth"))
        let written = try Checkpoint.open(path: out)
        #expect(written.tensors.count == source.tensors.count - 1)  // the tied lm_head is stored once
        for t in written.tensors {
            let original = try #require(source.tensor(named: t.name))
            #expect(try written.floats(of: t) == source.floats(of: original), "\(t.name)")
        }
    }

    @Test func failedExportLeavesNothingBehind() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("model").path
        // A scale that overflows float16 fails on the first merged weight, after other tensors were written.
        let result = try CommandRunner.run(["merge", Fixtures.sharedPath("v1_tiny/base.pth"), Fixtures.sharedPath("v1_tiny/lora.pth"),
                                            "-o", out, "--format", "hf", "--scale", "1e30"])
        #expect(result.status == 3)  // "does not fit": the merged value overflows float16
        #expect(result.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }.count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func refusesToReplaceADirectoryThatIsNotAModel() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let keep = dir.appendingPathComponent("notes.txt")
        try Data("mine".utf8).write(to: keep)
        let plain = try CommandRunner.run(["convert", Fixtures.sharedPath("hf_tiny_peft/base.pth"), "-o", dir.path, "--format", "hf"])
        #expect(plain.status == 2)
        #expect(plain.stderr.contains("--force"))
        let forced = try CommandRunner.run(["convert", Fixtures.sharedPath("hf_tiny_peft/base.pth"), "-o", dir.path, "--format", "hf", "--force"])
        #expect(forced.status != 0)
        #expect(forced.stderr.contains("not a model directory"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["notes.txt"])
    }
}
