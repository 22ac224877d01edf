import Foundation
import Testing
import TestSupport

/// Command-line regression tests for issue 7: output failures, flag bounds, explicit token files,
/// outputs over inputs, and escaped one-line errors.
@Suite struct HostileCommandTests {
    static let base = Fixtures.localPath("moe_tiny/base.pth")

    /// Runs `loratool` through `sh -c` so that redirections like `> /dev/full` apply.
    static func shell(_ command: String) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command, "sh", CommandRunner.binary.path, base]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(arguments: [#""$1" inspect "$2" > /dev/full"#, #""$1" inspect --json "$2" > /dev/full"#, #""$1" inspect --json "$2" >&-"#,
                      #""$1" targets "$2" > /dev/full"#])
    func unwritableStdoutIsAnErrorNotATrap(command: String) throws {
        let result = try Self.shell(command)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("error: cannot write to standard output"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test func closedStderrStillExitsTwo() throws {
        let result = try Self.shell(#""$1" inspect /nonexistent 2>&-"#)
        #expect(result.status == 2)
    }

    @Test(arguments: [(["targets", base, "--rank", "-4"], "--rank -4"), (["targets", base, "--rank", "1000000000000000"], "--rank 1000000000000000"),
                      (["logits", base, "--tokens", "1,2", "--decode", "9223372036854775807"], "--decode 9223372036854775807"),
                      (["logits", base, "--tokens", "1,2", "--top", "-1"], "--top -1")])
    func numericFlagsOutOfRangeAreNamed(arguments: [String], expected: String) throws {
        let result = try CommandRunner.run(arguments)
        #expect(result.status == 64, "usage errors exit 64 (docs/cli.md)")
        #expect(result.stderr.contains(expected), "\(result.stderr)")
    }

    @Test func negativeScaleIsAValue() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("m.safetensors").path
        let result = try CommandRunner.run(["merge", Self.base, Fixtures.localPath("moe_tiny/lora.pth"), "-o", out, "--scale", "-1"])
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test func tokensAreIdsEvenWhenAFileOfThatNameExists() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("garbage".utf8).write(to: Fixtures.packageRoot.appendingPathComponent("1,2,3"))
        defer { try? FileManager.default.removeItem(at: Fixtures.packageRoot.appendingPathComponent("1,2,3")) }
        let ids = try CommandRunner.run(["logits", Self.base, "--tokens", "1,2,3", "--top", "1"])
        #expect(ids.status == 0, "\(ids.stderr)")
        let file = dir.appendingPathComponent("ids.txt")
        try Data("1 2\n3\n".utf8).write(to: file)
        let viaFile = try CommandRunner.run(["logits", Self.base, "--tokens-file", file.path, "--top", "1"])
        let viaAt = try CommandRunner.run(["logits", Self.base, "--tokens", "@" + file.path, "--top", "1"])
        #expect(viaFile.status == 0 && viaAt.status == 0)
        #expect(viaFile.stdout == ids.stdout && viaAt.stdout == ids.stdout)
    }

    /// An adapter_config.json whose rank_pattern is not a usable regular expression: `inspect` and
    /// `merge` both stop with one error naming the file and the key (inspect used to exit 0 with the
    /// adapter summary silently dropped; merge used to print Foundation's DecodingError dump).
    @Test func unusableAdapterConfigIsOneNamedError() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let adapter = dir.appendingPathComponent("adapter")
        try FileManager.default.copyItem(atPath: Fixtures.sharedPath("hf_tiny_peft/adapter"), toPath: adapter.path)
        let configURL = adapter.appendingPathComponent("adapter_config.json")
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        config["rank_pattern"] = ["q_proj(": 4]
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        let out = dir.appendingPathComponent("m.safetensors").path
        for arguments in [["inspect", adapter.path], ["merge", Fixtures.sharedPath("hf_tiny_peft/base.pth"), adapter.path, "-o", out]] {
            let result = try CommandRunner.run(arguments)
            #expect(result.status == 2, "\(arguments[0]): \(result.stderr)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(result.stderr)")
            #expect(result.stderr.hasPrefix("error: \(adapter.path): adapter_config.json: 'rank_pattern': "), "\(result.stderr)")
            #expect(!result.stderr.contains("DecodingError"), "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func logitsRefusesToOverwriteItsModel() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("m.pth")
        try FileManager.default.copyItem(atPath: Self.base, toPath: model.path)
        let before = try Data(contentsOf: model)
        let result = try CommandRunner.run(["logits", model.path, "--tokens", "1,2", "-o", model.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("refusing to write over the input"))
        #expect(try Data(contentsOf: model) == before)
    }

    @Test func errorLinesEscapeNewlines() throws {
        let result = try CommandRunner.run(["logits", Self.base, "--tokens", "1,2\nx", "--top", "1"])
        #expect(result.status == 64)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        // A newline inside a value is escaped, never cuts the line: the parser's and ours.
        let rank = try CommandRunner.run(["targets", Self.base, "--rank", "1\nx"])
        #expect(rank.status == 64 && rank.stderr.hasPrefix("error: The value '1\\nx' is invalid") && rank.stderr.split(separator: "\n").count == 1, "\(rank.stderr)")
        let path = try CommandRunner.run(["inspect", "a\nb.pth"])
        #expect(path.status == 2 && path.stderr.contains("a\\nb.pth: cannot read") && path.stderr.split(separator: "\n").count == 1, "\(path.stderr)")
    }

    /// A file too short for the ZIP64 end record it points to (found by the checkpoint fuzzer: the
    /// bound `fileSize - 56` went negative and trapped).
    @Test func zip64LocatorInATinyFileIsRefused() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("tiny.pth")
        let locator: [UInt8] = [0x50, 0x4B, 6, 7] + [UInt8](repeating: 0, count: 16)
        let end: [UInt8] = [0x50, 0x4B, 5, 6] + [UInt8](repeating: 0, count: 18)
        try Data([0x50, 0x4B, 3, 4] + locator + end).write(to: file)
        let result = try CommandRunner.run(["inspect", file.path])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("error: \(file.path): zip central directory: ZIP64 end record offset 0 lies outside the file"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    @Test func configNumbersOutOfRangeAreRefused() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("config.json")
        try Data(#"{"head_dim": 4611686018427387904}"#.utf8).write(to: config)
        let result = try CommandRunner.run(["logits", Self.base, "--tokens", "1,2", "--top", "1", "--config", config.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("head_dim") && result.stderr.contains("out of range"), "\(result.stderr)")
    }
}
