import Foundation
import Testing
import PthReader
import TestSupport

/// The command line's shared contract: exit statuses, JSON errors, --force, --dtype aliases, -o paths.
@Suite struct CLIContractTests {
    private let base = Fixtures.sharedPath("v1_tiny/base.pth")
    private let lora = Fixtures.sharedPath("v1_tiny/lora.pth")

    private func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }

    @Test(arguments: [("fp32", DType.float32), ("f32", .float32), ("fp16", .float16), ("F16", .float16), ("half", .float16),
                      ("bf16", .bfloat16), ("fp64", .float64), ("torch.bfloat16", .bfloat16)])
    func dtypeAliases(alias: String, dtype: DType) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.safetensors").path
        let result = try CommandRunner.run(["convert", base, "-o", out, "--dtype", alias])
        #expect(result.status == 0, "\(result.stderr)")
        let written = try Checkpoint.open(path: out)
        #expect(written.tensors.allSatisfy { !$0.dtype.isFloatingPoint || $0.dtype == dtype })
    }

    @Test func existingOutputNeedsForce() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.pth").path
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: out))
        let refused = try CommandRunner.run(["merge", base, lora, "-o", out, "--json"])
        #expect(refused.status == 2 && refused.stderr.contains("--force") && refused.stderr.split(separator: "\n").count == 1)
        let error = try json(refused.stdout)["error"] as? [String: Any]
        #expect(error?["kind"] as? String == "output_exists" && error?["file"] as? String == out)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data("keep me".utf8))
        let forced = try CommandRunner.run(["merge", base, lora, "-o", out, "--force", "--quiet"])
        #expect(forced.status == 0 && forced.stdout.isEmpty && forced.stderr.isEmpty, "\(forced.stderr)")
        #expect(try Checkpoint.open(path: out).tensors.count > 0)
    }

    @Test func missingParentDirectoriesAreCreatedAndADirectoryIsRefused() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let nested = dir.appendingPathComponent("a/b/out.safetensors").path
        let made = try CommandRunner.run(["convert", base, "-o", nested])
        #expect(made.status == 0 && FileManager.default.fileExists(atPath: nested), "\(made.stderr)")
        for target in [dir.path + "/", dir.path] {
            let refused = try CommandRunner.run(["convert", base, "-o", target])
            #expect(refused.status == 64 || refused.status == 2, "\(target): \(refused.stderr)")
            #expect(refused.stderr.hasPrefix("error: ") && refused.stderr.contains("directory"))
        }
    }

    @Test func outputFailureExitsFour() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A regular file where a parent directory must be: the output cannot be created.
        let blocker = dir.appendingPathComponent("file")
        try Data().write(to: blocker)
        let result = try CommandRunner.run(["convert", base, "-o", blocker.path + "/sub/out.pth", "--json"])
        #expect(result.status == 4, "\(result.stderr)")
        #expect(try json(result.stdout)["error"] as? [String: Any] != nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["file"])
    }

    @Test func usageErrorsExitSixtyFourWithOneLineAndJSON() throws {
        let result = try CommandRunner.run(["convert", base, "--no-such-flag", "--json"])
        #expect(result.status == 64)
        #expect(result.stderr.hasPrefix("error: ") && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        let object = try json(result.stdout)
        #expect(object["command"] as? String == "convert" && object["schema_version"] as? Int == 1)
        #expect((object["error"] as? [String: Any])?["kind"] as? String == "usage")
    }

    @Test func hyperParameterErrorsNameTheFlag() throws {
        let result = try CommandRunner.run(["verify", base, lora, "--heads", "6"])
        #expect(result.status == 3)
        #expect(result.stderr.contains("--heads") && result.stderr.contains("num_attention_heads"), "\(result.stderr)")
    }

    @Test func mergeAndConvertEchoTheirInputsAndOptions() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("m.pth").path
        let merged = try json(try CommandRunner.run(["merge", base, lora, "-o", out, "--dtype", "bf16", "--scale", "0.5", "--json"]).stdout)
        #expect(merged["command"] as? String == "merge" && merged["schema_version"] as? Int == 1)
        #expect((merged["inputs"] as? [String: Any])?["adapter"] as? String == lora)
        let options = merged["options"] as? [String: Any]
        #expect(options?["dtype"] as? String == "bfloat16" && options?["scale"] as? Double == 0.5)
        #expect((merged["merged_tensors"] as? [String])?.isEmpty == false)
    }

    @Test func dryRunChecksEverythingAndWritesNothing() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("sub/m.pth").path
        let plan = try CommandRunner.run(["merge", base, lora, "-o", out, "--dry-run", "--json", "--dtype", "fp16"])
        #expect(plan.status == 0, "\(plan.stderr)")
        let object = try json(plan.stdout)
        #expect(object["dry_run"] as? Bool == true && (object["merged_tensors"] as? [String])?.count == 4)
        let planned = try #require(object["planned_tensors"] as? [[String: Any]])
        let source = try Checkpoint.open(path: base)
        #expect(planned.map { $0["name"] as? String } == source.tensors.map(\.name))
        #expect(planned.allSatisfy { $0["dtype"] as? String == "float16" })
        // A scale that overflows float16 is found without writing.
        let overflow = try CommandRunner.run(["merge", base, lora, "-o", out, "--dry-run", "--dtype", "f16", "--scale", "1e30"])
        #expect(overflow.status == 3 && overflow.stderr.contains("--scale"), "\(overflow.stderr)")
        let mismatch = try CommandRunner.run(["merge", base, Fixtures.sharedPath("hf_tiny_peft/adapter"), "-o", out, "--dry-run"])
        #expect(mismatch.status == 3)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "a dry run creates nothing")
    }

    @Test func logitsJSONReportsShapeTopAndGeneratedIds() throws {
        let result = try CommandRunner.run(["logits", base, "--tokens", "1,2,3", "--top", "2", "--decode", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        #expect(object["command"] as? String == "logits" && object["logits_shape"] as? [Int] == [4, 6400])
        #expect((object["generated"] as? [Int])?.count == 2 && object["tokens"] as? [Int] == [1, 2, 3])
        let top = try #require(object["top"] as? [[String: Any]])
        #expect(top.count == 4 && top.allSatisfy { ($0["next"] as? [Any])?.count == 2 })
        // The top-1 next token at the last input position is the first generated id (greedy decoding).
        let third = try #require(top[2]["next"] as? [[String: Any]])
        #expect(third[0]["token"] as? Int == (object["generated"] as? [Int])?.first)
    }

    @Test func progressBarShowsBytesPercentAndThroughputOnATerminalOnly() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // On a pipe: nothing on stderr.
        let piped = try CommandRunner.run(["convert", base, "-o", dir.appendingPathComponent("a.safetensors").path])
        #expect(piped.status == 0 && piped.stderr.isEmpty, "\(piped.stderr)")
        // On a terminal (util-linux `script` gives the command a pty), drawn from the start.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        let command = [CommandRunner.binary.path, "convert", base, "-o", dir.appendingPathComponent("b.safetensors").path]
        process.arguments = ["-qfc", command.map { "'\($0)'" }.joined(separator: " "), "/dev/null"]
        process.environment = ["LORATOOL_PROGRESS_AFTER": "0", "PATH": "/usr/bin:/bin"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let bar = text.split(separator: "\r").first { $0.contains("converting [") }.map(String.init) ?? ""
        #expect(bar.contains("%") && bar.contains("KiB /") && bar.contains("/s"), "\(text)")
    }

    @Test func inspectShowsAHeadTiedByTheConfig() throws {
        // save_pretrained stores no lm_head when config.json says tie_word_embeddings: true.
        let path = Fixtures.localPath("dirs/hf_sharded")
        let result = try CommandRunner.run(["inspect", path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let tied = try #require(try json(result.stdout)["tied_head"] as? [String: Any])
        #expect(tied["head"] as? String == "lm_head.weight" && tied["embedding"] as? String == "model.embed_tokens.weight")
        #expect(tied["declared_by"] as? String == "config.json tie_word_embeddings")
        let text = try CommandRunner.run(["inspect", path])
        #expect(text.stdout.contains("lm_head.weight: not stored; tied to model.embed_tokens.weight"), "\(text.stdout)")
        // A tie found in the tensors carries no declared_by.
        let stored = try json(try CommandRunner.run(["inspect", Fixtures.sharedPath("tied_f32.pth"), "--json"]).stdout)
        #expect((stored["tied_head"] as? [String: Any])?["declared_by"] == nil)
    }

    @Test func anAdapterGivenAsAModelIsNamed() throws {
        for arguments in [["targets", lora], ["merge", lora, lora, "-o", "/tmp/loratool-never.pth"], ["logits", Fixtures.sharedPath("hf_tiny_peft/adapter"), "--tokens", "1"]] {
            let result = try CommandRunner.run(arguments + ["--json"])
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect((try json(result.stdout)["error"] as? [String: Any])?["kind"] as? String == "adapter_given_as_model")
            #expect(result.stderr.contains("is a LoRA adapter"))
        }
        let inspect = try CommandRunner.run(["inspect", lora])
        #expect(inspect.status == 0 && inspect.stdout.contains("a LoRA adapter (minimind), not a model"))
    }
}
