import Foundation
import Testing
import TestSupport
@testable import Model
import PthReader

/// Truth written by `scripts/make_generate_fixtures.py` (transformers, PEFT, tokenizers, minimind_ref).
struct GreedyTruth: Decodable, Sendable {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        var model: String
        var lora: String
        var merged: String
        var reference: String
        var prompt: String
        var rendered: String
        var prompt_ids: [Int]
        var max_tokens: Int
        var runs: [Run]
        var testDescription: String { "\(model) \(prompt.prefix(12))" }
    }
    struct Run: Decodable, Sendable {
        var label: String
        var ids: [Int]
        var text: String
    }
    var cases: [Case]

    static func load() throws -> [Case] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.localPath("generate/greedy.json")))
        return try JSONDecoder().decode(GreedyTruth.self, from: data).cases
    }
}

struct RenderTruth: Decodable, Sendable {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        var template: String
        var config: String
        var conversation: Int
        var messages: [ChatMessage]
        var rendered: String
        var testDescription: String { "\(template) #\(conversation)" }
    }
    var cases: [Case]

    static func load() throws -> [Case] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.localPath("generate/chat_renders.json")))
        return try JSONDecoder().decode(RenderTruth.self, from: data).cases
    }
}

enum GenerationFixtures {
    static let tokenizer = Result { try BPETokenizer(contentsOf: URL(fileURLWithPath: Fixtures.sharedPath("tokenizer.json"))) }
    static let config = Result { try TokenizerConfig(contentsOf: URL(fileURLWithPath: Fixtures.sharedPath("tokenizer_config.json"))) }

    /// The model of one run of a truth case: base, base with the adapter unmerged, or the merged file.
    static func model(_ c: GreedyTruth.Case, label: String) throws -> TransformerModel {
        switch label {
        case "base": return try TransformerModel.load(path: Fixtures.sharedPath(c.model))
        case "merged": return try TransformerModel.load(path: Fixtures.sharedPath(c.merged),
                                                        configuration: try ModelConfiguration.discovered(for: Checkpoint.open(path: Fixtures.sharedPath(c.model))))
        default:
            let base = try Checkpoint.open(path: Fixtures.sharedPath(c.model))
            let pairs = try LoRAAdapter.load(path: Fixtures.sharedPath(c.lora)).bind(to: base).deltas
            return try TransformerModel.load(base, configuration: try ModelConfiguration.discovered(for: base) ?? ModelConfiguration(), adapters: pairs)
        }
    }
}

@Suite("TextGeneration")
struct TextGenerationTests {
    @Test("Chat templates render as transformers' apply_chat_template", arguments: try RenderTruth.load())
    func templateRenders(_ c: RenderTruth.Case) throws {
        let config = try TokenizerConfig(contentsOf: Fixtures.packageRoot.appendingPathComponent(c.config))
        let template = try ChatTemplate(recognizing: try #require(config.chatTemplate), source: c.config)
        #expect(template.family.rawValue == c.template)
        #expect(try template.render(c.messages) == c.rendered)
    }

    @Test("Every supported template has render truth over several conversations")
    func everyTemplateCovered() throws {
        let cases = try RenderTruth.load()
        for family in ChatTemplate.Family.allCases {
            let mine = cases.filter { $0.template == family.rawValue }
            #expect(mine.count >= 5, "\(family.rawValue)")
            #expect(mine.contains { $0.messages.first?.role == "system" } && mine.contains { $0.messages.first?.role != "system" })
            #expect(mine.contains { $0.messages.filter { $0.role == "user" }.count > 1 })
        }
    }

    @Test("A template that differs by one character is refused, never applied")
    func unknownTemplateRefused() throws {
        let text = try #require(GenerationFixtures.config.get().chatTemplate)
        for changed in [text + " ", text.replacingOccurrences(of: "<think>\\n\\n</think>", with: "<think>\\n</think>"), "{{ messages }}"] {
            #expect(throws: TokenizerError.self) { try ChatTemplate(recognizing: changed, source: "x.json") }
        }
        let template = ChatTemplate(family: .qwen3)
        #expect(throws: TokenizerError.self) { try template.render([ChatMessage(role: "tool", content: "x")]) }
        #expect(throws: TokenizerError.self) { try template.render([]) }
    }

    @Test("Greedy generation equals the reference token for token; text equals tokenizers' decode",
          arguments: try GreedyTruth.load())
    func greedyMatchesReference(_ c: GreedyTruth.Case) throws {
        let tokenizer = try GenerationFixtures.tokenizer.get()
        let encoder = try PromptEncoder(tokenizer: tokenizer, config: try GenerationFixtures.config.get(), raw: false)
        let (text, ids) = try encoder.encode(chat: [ChatMessage(role: "user", content: c.prompt)])
        #expect(text == c.rendered)
        #expect(ids == c.prompt_ids)
        for run in c.runs {
            let model = try GenerationFixtures.model(c, label: run.label)
            let generator = TextGenerator(model: model, tokenizer: tokenizer,
                                          sampling: SamplingParameters(temperature: 0),
                                          stop: StopCondition(endTokenIDs: encoder.endTokenIDs, maxTokens: c.max_tokens))
            var streamed = ""
            let result = try generator.generate(promptIDs: ids) { streamed += $0 }
            #expect(result.ids == run.ids, "\(run.label)")
            #expect(result.text == run.text, "\(run.label)")
            #expect(streamed == result.text)
        }
    }

    @Test("Sampling is reproducible with a seed and changes with it")
    func samplingReproducible() throws {
        let c = try #require(try GreedyTruth.load().first)
        let model = try GenerationFixtures.model(c, label: "base")
        func run(_ seed: UInt64) throws -> [Int] {
            let parameters = SamplingParameters(temperature: 1.2, topP: 0.95, topK: 200, repetitionPenalty: 1.1, seed: seed)
            return try TextGenerator(model: model, tokenizer: try GenerationFixtures.tokenizer.get(), sampling: parameters,
                                     stop: StopCondition(maxTokens: 16)).generate(promptIDs: c.prompt_ids).ids
        }
        let first = try run(7)
        #expect(try run(7) == first)
        #expect(try run(8) != first)
        #expect(Set(first).count > 1) // sampled, not stuck on the greedy token
    }

    @Test("Sampler: greedy, top-k 1, and draw frequencies follow softmax(logits / T)")
    func samplerDistribution() {
        let logits: [Float] = [2, 1, 0.5, -1, 2]
        var greedy = Sampler(SamplingParameters(temperature: 0))
        #expect(greedy.next(logits: logits[...], history: []) == 0) // first of the tied maxima
        var topOne = Sampler(SamplingParameters(temperature: 5, topK: 1, seed: 3))
        let distinct: [Float] = [2, 1, 0.5, -1, 1.5]
        #expect((0..<50).allSatisfy { _ in topOne.next(logits: distinct[...], history: []) == 0 })
        var topTwo = Sampler(SamplingParameters(temperature: 5, topK: 2, seed: 3))
        #expect(Set((0..<200).map { _ in topTwo.next(logits: distinct[...], history: []) }) == [0, 4])
        var penalised = Sampler(SamplingParameters(temperature: 0, repetitionPenalty: 4))
        #expect(penalised.next(logits: logits[...], history: [0]) == 4) // 2/4 < 2
        var sampler = Sampler(SamplingParameters(temperature: 1, seed: 11))
        var counts = [Int](repeating: 0, count: logits.count)
        let draws = 20_000
        for _ in 0..<draws { counts[sampler.next(logits: logits[...], history: [])] += 1 }
        let weights = logits.map { exp(Double($0)) }, total = weights.reduce(0, +)
        for (i, w) in weights.enumerated() {
            #expect(abs(Double(counts[i]) / Double(draws) - w / total) < 0.015, "token \(i)")
        }
        var nucleus = Sampler(SamplingParameters(temperature: 1, topP: 0.5, seed: 5))
        let kept = Set((0..<500).map { _ in nucleus.next(logits: logits[...], history: []) })
        #expect(kept == [0, 4]) // the two tied maxima hold 0.69 of the mass; 0 alone 0.35 < 0.5
    }

    @Test("Streaming decode prints whole characters and adds up to decode()")
    func streamingDecode() throws {
        let tokenizer = try GenerationFixtures.tokenizer.get()
        let text = "你好，世界！🙂 LoRA ✓ ünïcödé <|im_end|> done"
        let ids = tokenizer.encode(text)
        var decoder = StreamingDecoder(tokenizer: tokenizer, skippingSpecialTokens: true)
        var pieces = ids.map { decoder.append($0) }
        pieces.append(decoder.finish())
        #expect(pieces.joined() == tokenizer.decode(ids, skippingSpecialTokens: true))
        #expect(!pieces.joined().contains("\u{FFFD}"))
        #expect(pieces.joined() == text.replacingOccurrences(of: "<|im_end|>", with: ""))
        // Some character really was split over tokens (else this test would prove nothing).
        #expect(ids.contains { String(decoding: tokenizer.bytes(for: $0, skippingSpecialTokens: true), as: UTF8.self).contains("\u{FFFD}") })
        // A truncated character at the end becomes U+FFFD, as tokenizers' lossy decode does.
        var partial = StreamingDecoder(tokenizer: tokenizer)
        let split = try #require(ids.firstIndex { String(decoding: tokenizer.bytes(for: $0, skippingSpecialTokens: true), as: UTF8.self).contains("\u{FFFD}") })
        let shown = ids[...split].map { partial.append($0) }.joined() + partial.finish()
        #expect(shown == tokenizer.decode(Array(ids[...split]), skippingSpecialTokens: true))
    }

    @Test("Stop strings end the text before them, even split over tokens")
    func stopStrings() {
        var filter = StopStringFilter(["END", "\n\n"])
        var out = ""
        for piece in ["Hel", "lo E", "N", "xEN", "D more"] { out += filter.push(piece) }
        out += filter.flush()
        #expect(out == "Hello ENx")
        #expect(filter.stopped)
        var open = StopStringFilter(["END"])
        #expect(open.push("abcE") == "abc")
        #expect(open.flush() == "E")
        #expect(GenerationComparison.firstDivergence([[1, 2, 3], [1, 2, 4]]) == 2)
        #expect(GenerationComparison.firstDivergence([[1, 2], [1, 2, 5]]) == 2)
        #expect(GenerationComparison.firstDivergence([[1, 2], [1, 2]]) == nil)
    }

    @Test("Side-by-side layout when wide, one after another when narrow")
    func layout() {
        let columns = [ComparisonLayout.Column(label: "base", text: "abc def", divergenceOffset: 4),
                       ComparisonLayout.Column(label: "lora", text: "abc xyz", divergenceOffset: 4)]
        let wide = ComparisonLayout.render(columns, width: 80)
        #expect(wide.split(separator: "\n").first?.contains("[lora]") == true)
        #expect(wide.contains("abc \(ComparisonLayout.divergenceMarker)def"))
        let narrow = ComparisonLayout.render(columns, width: 40)
        #expect(narrow.contains("── base ──\nabc \(ComparisonLayout.divergenceMarker)def\n"))
    }
}

/// Greedy ids from transformers for every architecture in Tests/Fixtures/hf_models.
struct ArchitectureTruth: Decodable, Sendable {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        var model: String
        var model_type: String
        var prompt_ids: [Int]
        var max_tokens: Int
        var runs: [Run]
        var testDescription: String { model }
    }
    struct Run: Decodable, Sendable {
        var label: String
        var adapter: String?
        var ids: [Int]
    }
    var cases: [Case]

    static func load() throws -> [Case] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.localPath("generate/greedy_architectures.json")))
        return try JSONDecoder().decode(ArchitectureTruth.self, from: data).cases
    }
}

@Suite("TextGeneration architectures")
struct ArchitectureGenerationTests {
    @Test("Greedy generation equals transformers' generate on every architecture", arguments: try ArchitectureTruth.load())
    func greedyPerArchitecture(_ c: ArchitectureTruth.Case) throws {
        let path = Fixtures.packageRoot.appendingPathComponent(c.model).path
        for run in c.runs {
            let model: TransformerModel
            if let adapter = run.adapter {
                let base = try Checkpoint.open(path: path)
                let pairs = try LoRAAdapter.load(path: Fixtures.packageRoot.appendingPathComponent(adapter).path).bind(to: base).deltas
                model = try TransformerModel.load(base, configuration: try ModelConfiguration.discovered(for: base) ?? ModelConfiguration(), adapters: pairs)
            } else {
                model = try TransformerModel.load(path: path)
            }
            let generator = TextGenerator(model: model, tokenizer: try GenerationFixtures.tokenizer.get(),
                                          sampling: SamplingParameters(temperature: 0), stop: StopCondition(maxTokens: c.max_tokens))
            #expect(try generator.generate(promptIDs: c.prompt_ids).ids == run.ids, "\(c.model_type) \(run.label)")
        }
    }
}
