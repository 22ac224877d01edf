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
}
