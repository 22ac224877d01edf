import Foundation
import Testing
import Model
import PthReader
import TestSupport

/// GGUF export and import end to end, judged against torch's logits of the reference fixtures.
@Suite struct GGUFExportTests {
    private let shared = Fixtures.sharedPath("")

    private func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// Merges a fixture family into a GGUF of `dtype` and returns its path (inside `dir`).
    private func export(_ base: String, _ adapter: String, dtype: String, in dir: URL, name: String = "model.gguf") throws -> String {
        let out = dir.appendingPathComponent(name).path
        let result = try CommandRunner.run(["merge", Fixtures.sharedPath(base), Fixtures.sharedPath(adapter), "-o", out,
                                            "--dtype", dtype, "--tokenizer", shared])
        #expect(result.status == 0, "\(result.stderr)")
        return out
    }

    @Test func q8_0BlocksFollowGGMLsRule() {
        var values = (0..<32).map { Float($0) - 15.5 }
        values[7] = 127 * 0.25  // the block maximum: d = 0.25 exactly
        let bytes = Q8_0.quantize(values)
        #expect(bytes.count == 34)
        #expect(bytes[0] == 0x00 && bytes[1] == 0x34)  // float16 0.25
        #expect(Int8(bitPattern: bytes[2 + 7]) == 127)
        #expect(Int8(bitPattern: bytes[2 + 0]) == -62)  // -15.5 / 0.25
        var decoded = [Float](repeating: 0, count: 32)
        bytes.withUnsafeBytes { src in decoded.withUnsafeMutableBufferPointer { Q8_0.dequantize(src.baseAddress!, blockCount: 1, into: $0.baseAddress!) } }
        #expect(maxDiff(decoded, values) <= 0.125)
        #expect(Q8_0.quantize([Float](repeating: 0, count: 32)).allSatisfy { $0 == 0 })
    }

    @Test(arguments: [("v1_tiny/base.pth", "v1_tiny/lora.pth", "v1_tiny"), ("hf_tiny_peft/base.pth", "hf_tiny_peft/adapter", "hf_tiny_peft")])
    func ggufRunsLikeTorchsWrappedModel(base: String, adapter: String, data: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try export(base, adapter, dtype: "f32", in: dir)
        let checkpoint = try Checkpoint.open(path: path)
        #expect(checkpoint.format == .gguf)
        #expect(checkpoint.gguf?.value("general.architecture")?.stringValue == "llama")
        #expect(checkpoint.gguf?.value("tokenizer.ggml.pre")?.stringValue == "gpt-2")
        #expect(checkpoint.tensor(named: "token_embd.weight") != nil && checkpoint.tensor(named: "output.weight") == nil)
        let model = try TransformerModel.load(path: path)
        let tokens = try Npy.readInt64(path: Fixtures.sharedPath(data + "/tokens.npy")).values.map { Int($0) }
        let wrapped = try Npy.readTensor(path: Fixtures.sharedPath(data + "/logits_wrapped.npy"))
        let logits = try model.logits(for: tokens)
        #expect(logits.data.count == wrapped.data.count)
        #expect(maxDiff(logits.data, wrapped.data) < 1e-4)
    }

    @Test func verifyPassesOnTheMergedGGUFAndFailsOnTheBase() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let merged = try export("hf_tiny_peft/base.pth", "hf_tiny_peft/adapter", dtype: "f16", in: dir)
        let unmerged = dir.appendingPathComponent("base.gguf").path
        #expect(try CommandRunner.run(["convert", Fixtures.sharedPath("hf_tiny_peft/base.pth"), "-o", unmerged, "--dtype", "f16"]).status == 0)
        let pass = try CommandRunner.run(["verify", Fixtures.sharedPath("hf_tiny_peft/base.pth"), Fixtures.sharedPath("hf_tiny_peft/adapter"), "--merged", merged])
        #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")
        let fail = try CommandRunner.run(["verify", Fixtures.sharedPath("hf_tiny_peft/base.pth"), Fixtures.sharedPath("hf_tiny_peft/adapter"), "--merged", unmerged])
        #expect(fail.status == 1, "\(fail.stdout)\(fail.stderr)")
    }

    @Test func q8_0IsVerifiedWithinItsQuantizationStep() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let merged = try export("v1_tiny/base.pth", "v1_tiny/lora.pth", dtype: "q8_0", in: dir)
        let checkpoint = try Checkpoint.open(path: merged)
        #expect(checkpoint.ggufType(of: "blk.0.attn_q.weight") == .q8_0)
        #expect(checkpoint.ggufType(of: "blk.0.attn_norm.weight") == .f32)
        let result = try CommandRunner.run(["verify", Fixtures.sharedPath("v1_tiny/base.pth"), Fixtures.sharedPath("v1_tiny/lora.pth"), "--merged", merged, "--json"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("q8_0") && result.stdout.contains("quantization_step"))
    }

    @Test func truncatedGGUFIsRefusedByName() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try export("v1_tiny/base.pth", "v1_tiny/lora.pth", dtype: "f16", in: dir)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        for cut in [6, 40, 5000, data.count - 100] {
            let bad = dir.appendingPathComponent("cut\(cut).gguf")
            try data.prefix(cut).write(to: bad)
            let result = try CommandRunner.run(["inspect", bad.path])
            #expect(result.status == 2, "cut at \(cut): \(result.stderr)")
            #expect(result.stderr.hasPrefix("error: ") && result.stderr.contains(bad.path))
        }
    }
}

/// q8_0 on a MoE model: positions where quantization flips a router near-tie are named and left out.
@Suite struct GGUFMoETests {
    @Test func q8_0MoEVerifyNamesRoutingChangesAndPasses() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("moe.gguf").path
        let base = Fixtures.sharedPath("mm3_tiny_moe/base.pth"), lora = Fixtures.sharedPath("mm3_tiny_moe/lora.pth")
        #expect(try CommandRunner.run(["merge", base, lora, "-o", out, "--dtype", "q8_0", "--tokenizer", Fixtures.sharedPath("")]).status == 0)
        let result = try CommandRunner.run(["verify", base, lora, "--merged", out, "--json"])
        #expect(result.status == 0, "\(result.stdout)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let body = (object?["result"] as? [String: Any]) ?? object
        let changed = try #require(body?["routing_changed_positions"] as? [Int])
        #expect(changed.count < 4 && changed.allSatisfy { $0 >= 0 && $0 < 32 })
        // The q8_0 tolerance uses the file's measured relative step as eps, and says the step.
        let step = try #require(body?["quantization_relative_step"] as? Double)
        #expect(step > 0 && step < 0.05)
        let unmerged = dir.appendingPathComponent("base.gguf").path
        #expect(try CommandRunner.run(["convert", base, "-o", unmerged, "--dtype", "f16"]).status == 0)
        #expect(try CommandRunner.run(["verify", base, lora, "--merged", unmerged]).status == 1)
    }
}

/// The tokenizer a GGUF file carries encodes like the tokenizer.json it came from.
@Suite struct GGUFTokenizerTests {
    @Test func embeddedTokenizerEncodesLikeTheSource() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("m.gguf").path
        #expect(try CommandRunner.run(["convert", Fixtures.sharedPath("v1_tiny/base.pth"), "-o", out, "--tokenizer", Fixtures.sharedPath("")]).status == 0)
        let embedded = try #require(try GGUFImport.tokenizer(Checkpoint.open(path: out)))
        let source = try BPETokenizer(contentsOf: URL(fileURLWithPath: Fixtures.sharedPath("tokenizer.json")))
        for text in ["Hello, world! 你好，世界。", "def f(x):\n    return x**2  # 平方\n", "数字 0123456789, 3.14 and café 🙂",
                     "<|im_start|>user\n讲个笑话<|im_end|>\n"] {
            #expect(try embedded.encode(text) == source.encode(text), "\(text)")
        }
    }
}
