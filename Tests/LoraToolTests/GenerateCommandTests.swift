import Foundation
import Testing
import TestSupport

/// The greedy truth of `scripts/make_generate_fixtures.py`, as the command line sees it.
struct GenerateTruth: Decodable {
    struct Case: Decodable, CustomTestStringConvertible {
        var model: String, lora: String, merged: String, prompt: String, rendered: String
        var prompt_ids: [Int]
        var max_tokens: Int
        var runs: [Run]
        var testDescription: String { "\(model) \(prompt.prefix(10))" }
    }
    struct Run: Decodable { var label: String; var ids: [Int]; var text: String }
    var cases: [Case]

    static func load() throws -> [Case] {
        try JSONDecoder().decode(GenerateTruth.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.localPath("generate/greedy.json")))).cases
    }
}

struct GenerateJSONReport: Decodable {
    struct Run: Decodable { var label: String; var prompt_ids: [Int]; var ids: [Int]; var text: String; var tokens_per_second: Double }
    struct Divergence: Decodable { var index: Int?; var pairs: [String: Int?] }
    var schema_version: Int
    var command: String
    var prompt: String
    var runs: [Run]
    var divergence: Divergence?
}

@Suite("generate command")
struct GenerateCommandTests {
    static let tokenizer = Fixtures.sharedPath("tokenizer.json")

    @Test("--compare --json: base, --lora and --merged equal the reference greedy ids and text", arguments: try GenerateTruth.load())
    func compareMatchesTruth(_ c: GenerateTruth.Case) throws {
        let r = try CommandRunner.run(["generate", Fixtures.sharedPath(c.model), "--lora", Fixtures.sharedPath(c.lora),
                                       "--merged", Fixtures.sharedPath(c.merged), "--compare", "--json", "--temperature", "0",
                                       "--max-tokens", String(c.max_tokens), "--tokenizer", Self.tokenizer, "--prompt", c.prompt])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONDecoder().decode(GenerateJSONReport.self, from: Data(r.stdout.utf8))
        #expect(report.schema_version == 1 && report.command == "generate")
        #expect(report.prompt == c.rendered)
        #expect(report.runs.map(\.label) == ["base", "lora", "merged"])
        for (got, want) in zip(report.runs, c.runs) {
            #expect(got.prompt_ids == c.prompt_ids)
            #expect(got.ids == want.ids, "\(want.label)")
            #expect(got.text == want.text, "\(want.label)")
            #expect(got.tokens_per_second > 0)
        }
        let expected = (0..<c.max_tokens).first { i in Set(c.runs.map { i < $0.ids.count ? $0.ids[i] : -1 }).count > 1 }
        #expect(report.divergence?.index == expected)
        let loraRun = c.runs[1].ids, mergedRun = c.runs[2].ids
        let loraMerged = (0..<max(loraRun.count, mergedRun.count)).first { i in (i < loraRun.count ? loraRun[i] : -1) != (i < mergedRun.count ? mergedRun[i] : -1) }
        #expect(report.divergence?.pairs["lora/merged"] == .some(loraMerged))
        #expect(report.divergence?.pairs.count == 3)
    }

    @Test("Streams the text to stdout and tokens/s to stderr; prompt from stdin or a file")
    func streamsText() throws {
        let c = try #require(try GenerateTruth.load().first)
        let want = try #require(c.runs.first { $0.label == "lora" }).text
        let base = ["generate", Fixtures.sharedPath(c.model), "--lora", Fixtures.sharedPath(c.lora), "--temperature", "0",
                    "--max-tokens", String(c.max_tokens), "--tokenizer", Self.tokenizer]
        let r = try CommandRunner.run(base + ["--prompt", c.prompt])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == want + "\n")
        #expect(r.stderr.contains("tok/s") && r.stderr.contains("[lora] \(c.max_tokens) tokens"))
        let stdin = try CommandRunner.run(base, input: c.prompt)
        #expect(stdin.stdout == want + "\n")
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("prompt.txt")
        try Data(c.prompt.utf8).write(to: file)
        #expect(try CommandRunner.run(base + ["--prompt-file", file.path]).stdout == want + "\n")
    }

    @Test("Sampling with a seed gives the same text run to run")
    func seededRunsRepeat() throws {
        let c = try #require(try GenerateTruth.load().first)
        let args = ["generate", Fixtures.sharedPath(c.model), "--tokenizer", Self.tokenizer, "--prompt", "hello", "--max-tokens", "16",
                    "--temperature", "1.0", "--top-p", "0.9", "--top-k", "100", "--json"]
        let first = try JSONDecoder().decode(GenerateJSONReport.self, from: Data(try CommandRunner.run(args + ["--seed", "1234"]).stdout.utf8))
        let second = try JSONDecoder().decode(GenerateJSONReport.self, from: Data(try CommandRunner.run(args + ["--seed", "1234"]).stdout.utf8))
        #expect(first.runs[0].ids == second.runs[0].ids)
        #expect(first.runs[0].ids.count == 16)
        let other = try JSONDecoder().decode(GenerateJSONReport.self, from: Data(try CommandRunner.run(args + ["--seed", "99"]).stdout.utf8))
        #expect(other.runs[0].ids != first.runs[0].ids)
    }

    @Test("An unrecognised chat template is refused with a hint at --raw; --raw still works")
    func unknownTemplate() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("tokenizer.json").path, withDestinationPath: Self.tokenizer)
        let config: [String: Any] = ["bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
                                     "chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"]
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        let model = Fixtures.sharedPath("v1_tiny/base.pth")
        let r = try CommandRunner.run(["generate", model, "--tokenizer", dir.appendingPathComponent("tokenizer.json").path, "--prompt", "hi", "--max-tokens", "3"])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains("chat_template not recognised") && r.stderr.contains("--raw"))
        #expect(r.stderr.split(separator: "\n").count == 1) // one error line, nothing else
        let raw = try CommandRunner.run(["generate", model, "--tokenizer", dir.appendingPathComponent("tokenizer.json").path, "--prompt", "hi",
                                         "--max-tokens", "3", "--raw", "--json", "--temperature", "0"])
        #expect(raw.status == 0, "\(raw.stderr)")
        #expect(try JSONDecoder().decode(GenerateJSONReport.self, from: Data(raw.stdout.utf8)).runs[0].ids.count == 3)
    }

    @Test("Bad flag combinations are usage errors")
    func usage() throws {
        let model = Fixtures.sharedPath("v1_tiny/base.pth")
        for args in [["--compare"], ["--lora", "a", "--merged", "b"], ["--interactive", "--json"], ["--temperature", "-1"], ["--max-tokens", "0"]] {
            let r = try CommandRunner.run(["generate", model, "--prompt", "x"] + args)
            #expect(r.status == 64, "\(args)")
        }
    }
}

@Suite("logits text view")
struct LogitsTextViewTests {
    @Test("logits --decode and --top show the text generate shows")
    func decodeShowsText() throws {
        let c = try #require(try GenerateTruth.load().first { $0.model.hasPrefix("v1_tiny") })
        let run = try #require(c.runs.first { $0.label == "base" })
        let r = try CommandRunner.run(["logits", Fixtures.sharedPath(c.model), "--tokens", c.prompt_ids.map(String.init).joined(separator: ","),
                                       "--decode", String(run.ids.count), "--top", "2", "--tokenizer", Fixtures.sharedPath("tokenizer.json")])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "generated: " + run.ids.map(String.init).joined(separator: ","))
        let quoted = "\"" + run.text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
        #expect(lines.dropFirst().first == "text: " + quoted)
        // --top: the first position names its token's text (<|im_start|> is id 1), and candidates carry theirs.
        #expect(lines.contains { $0.hasPrefix("position 0 token 1 \"<|im_start|>\": ") })
        let last = try #require(lines.last { $0.hasPrefix("position ") })
        #expect(last.contains(": \(run.ids.last!) \""))
    }
}

@Suite("generate --stop")
struct GenerateStopTests {
    @Test("--stop ends the text before the stop string, even when a token carries it in the middle")
    func stopString() throws {
        let c = try #require(try GenerateTruth.load().first { $0.model.hasPrefix("hf_tiny_peft") })
        let run = try #require(c.runs.first { $0.label == "lora" })
        let stop = "的建议"
        let cut = try #require(run.text.range(of: stop))
        let r = try CommandRunner.run(["generate", Fixtures.sharedPath(c.model), "--lora", Fixtures.sharedPath(c.lora), "--temperature", "0",
                                       "--max-tokens", String(c.max_tokens), "--tokenizer", Fixtures.sharedPath("tokenizer.json"),
                                       "--prompt", c.prompt, "--stop", stop, "--stop", "never appears"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == String(run.text[..<cut.lowerBound]) + "\n")
        #expect(r.stderr.contains("stop: stop_string"))
        let json = try CommandRunner.run(["generate", Fixtures.sharedPath(c.model), "--lora", Fixtures.sharedPath(c.lora), "--temperature", "0",
                                          "--max-tokens", String(c.max_tokens), "--tokenizer", Fixtures.sharedPath("tokenizer.json"),
                                          "--prompt", c.prompt, "--stop", stop, "--json"])
        let report = try JSONDecoder().decode(GenerateJSONReport.self, from: Data(json.stdout.utf8))
        // The ids stop at the token that completed the stop string: a prefix of the full greedy run.
        #expect(report.runs[0].ids == Array(run.ids.prefix(report.runs[0].ids.count)))
        #expect(report.runs[0].ids.count < run.ids.count)
        #expect(report.runs[0].text == String(run.text[..<cut.lowerBound]))
    }
}

@Suite("generate on GGUF")
struct GenerateGGUFTests {
    @Test("A merged GGUF (f32) generates what transformers' PEFT-merged model generates")
    func ggufMerged() throws {
        let c = try #require(try GenerateTruth.load().first { $0.model.hasPrefix("hf_tiny_peft") })
        let run = try #require(c.runs.first { $0.label == "merged" })
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenizerDir = dir.appendingPathComponent("tokenizer")
        try FileManager.default.createDirectory(at: tokenizerDir, withIntermediateDirectories: true)
        for name in ["tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: Fixtures.sharedPath(name), toPath: tokenizerDir.appendingPathComponent(name).path)
        }
        let gguf = dir.appendingPathComponent("merged.gguf").path
        let merge = try CommandRunner.run(["merge", Fixtures.sharedPath(c.model), Fixtures.sharedPath(c.lora), "-o", gguf,
                                           "--dtype", "f32", "--tokenizer", tokenizerDir.path])
        #expect(merge.status == 0, "\(merge.stderr)")
        let r = try CommandRunner.run(["generate", gguf, "--tokenizer", tokenizerDir.path, "--temperature", "0",
                                       "--max-tokens", String(c.max_tokens), "--prompt", c.prompt, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONDecoder().decode(GenerateJSONReport.self, from: Data(r.stdout.utf8))
        #expect(report.runs.first?.prompt_ids == c.prompt_ids)
        #expect(report.runs.first?.ids == run.ids)
        #expect(report.runs.first?.text == run.text)
    }
}
