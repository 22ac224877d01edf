import Foundation
import Testing
import TestSupport
@testable import Model

/// One truth case written by `scripts/make_tokenizer_cases.py` with the real `tokenizers` library.
struct TokenizerCase: Decodable, CustomTestStringConvertible, Sendable {
    var text: String
    var ids: [Int]
    var decoded: String
    var decoded_skip_special: String
    var round_trips: Bool
    var pieces: [String]
    var chat: ChatCase?

    /// Messages whose rendering with MiniMind's chat template (jinja2) is `text`.
    struct ChatCase: Decodable, Sendable {
        var messages: [ChatMessage]
        var add_generation_prompt: Bool
        var open_thinking: Bool
    }

    var testDescription: String {
        let shown = text.count > 40 ? String(text.prefix(40)) + "…(\(text.utf8.count) bytes)" : text
        return shown.debugDescription
    }
}

enum TokenizerTruth {
    static let tokenizerURL = URL(fileURLWithPath: Fixtures.sharedPath("tokenizer.json"))

    static let cases: [TokenizerCase] = {
        let url = URL(fileURLWithPath: Fixtures.localPath("tokenizer_cases.json"))
        guard let data = try? Data(contentsOf: url),
              let cases = try? JSONDecoder().decode([TokenizerCase].self, from: data) else { return [] }
        return cases
    }()

    static let tokenizer: BPETokenizer? = try? BPETokenizer(contentsOf: tokenizerURL)
}

@Suite("BPE tokenizer against tokenizers 0.23.3")
struct TokenizerTests {
    @Test func loadsMiniMindTokenizer() throws {
        let tokenizer = try BPETokenizer(contentsOf: TokenizerTruth.tokenizerURL)
        #expect(tokenizer.vocabularySize == 6400)
        #expect(tokenizer.tokenID(for: "<|im_start|>") == 1)
        #expect(tokenizer.tokenID(for: "<|im_end|>") == 2)
        #expect(tokenizer.token(for: 0) == "<|endoftext|>")
        #expect(tokenizer.specialTokenIDs == Set(0...20))
        #expect(TokenizerTruth.cases.count >= 40)
    }

    @Test func loadsFromDirectory() throws {
        let directory = URL(fileURLWithPath: Fixtures.sharedPath(""))
        let tokenizer = try BPETokenizer(contentsOf: directory)
        #expect(tokenizer.vocabularySize == 6400)
    }

    @Test(arguments: TokenizerTruth.cases)
    func encodeMatchesLibrary(_ truth: TokenizerCase) throws {
        let tokenizer = try #require(TokenizerTruth.tokenizer)
        #expect(tokenizer.encode(truth.text) == truth.ids)
    }

    @Test(arguments: TokenizerTruth.cases)
    func decodeMatchesLibrary(_ truth: TokenizerCase) throws {
        let tokenizer = try #require(TokenizerTruth.tokenizer)
        #expect(tokenizer.decode(truth.ids) == truth.decoded)
        #expect(tokenizer.decode(truth.ids, skippingSpecialTokens: true) == truth.decoded_skip_special)
        if truth.round_trips {
            #expect(tokenizer.decode(tokenizer.encode(truth.text)) == truth.text)
        }
    }

    /// Single tokens can hold part of a UTF-8 character; lossy decoding must match Rust's.
    @Test(arguments: TokenizerTruth.cases)
    func singleTokenDecodeMatchesLibrary(_ truth: TokenizerCase) throws {
        let tokenizer = try #require(TokenizerTruth.tokenizer)
        try #require(truth.pieces.count == truth.ids.count)
        for (id, piece) in zip(truth.ids, truth.pieces) {
            #expect(tokenizer.decode([id]) == piece, "id \(id)")
        }
    }

    @Test func unknownIDsAreSkippedWhenDecoding() throws {
        let tokenizer = try #require(TokenizerTruth.tokenizer)
        let hello = tokenizer.encode("hello")
        #expect(tokenizer.decode([-1] + hello + [6400, 1_000_000]) == "hello")
    }

    /// A few kilobytes with a cold cache encode to the library's ids (speed is benchmarked, not timed here).
    @Test func encodesAFewKilobytesWithAColdCache() throws {
        let tokenizer = try BPETokenizer(contentsOf: TokenizerTruth.tokenizerURL)  // fresh: empty cache
        let long = try #require(TokenizerTruth.cases.max { $0.text.utf8.count < $1.text.utf8.count })
        #expect(long.text.utf8.count > 4000)
        #expect(tokenizer.encode(long.text) == long.ids)
    }

    /// One 6000-byte pre-token (no spaces or punctuation) still merges and round-trips.
    @Test func longWordWithoutBreaksRoundTrips() throws {
        let tokenizer = try #require(TokenizerTruth.tokenizer)
        let text = String(repeating: "龘靐齉爩", count: 500)
        let ids = tokenizer.encode(text)
        #expect(!ids.isEmpty)
        #expect(tokenizer.decode(ids) == text)
    }
}

@Suite("MiniMind chat template and tokenizer_config.json")
struct ChatTemplateTests {
    static let chatCases = TokenizerTruth.cases.filter { $0.chat != nil }

    @Test func haveChatCases() {
        #expect(Self.chatCases.count >= 4)
    }

    @Test(arguments: chatCases)
    func rendersLikeJinja(_ truth: TokenizerCase) throws {
        let chat = try #require(truth.chat)
        let text = MiniMindChatTemplate.render(chat.messages, addGenerationPrompt: chat.add_generation_prompt,
                                               openThinking: chat.open_thinking)
        #expect(text == truth.text)
        let tokenizer = try #require(TokenizerTruth.tokenizer)
        #expect(tokenizer.encode(text) == truth.ids)
    }

    @Test func readsSpecialTokensFromConfig() throws {
        let config = try TokenizerConfig(contentsOf: URL(fileURLWithPath: Fixtures.sharedPath("tokenizer_config.json")))
        #expect(config.bosToken == "<|im_start|>")
        #expect(config.eosToken == "<|im_end|>")
        #expect(config.padToken == "<|endoftext|>")
        #expect(config.chatTemplate?.contains("<|im_start|>") == true)
        let tokenizer = try #require(TokenizerTruth.tokenizer)
        #expect(config.eosToken.flatMap(tokenizer.tokenID(for:)) == 2)
    }

    @Test func missingConfigIsAnError() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(throws: TokenizerError.self) { try TokenizerConfig(contentsOf: directory) }
    }
}

@Suite("GPT-2 pre-tokenizer split")
struct GPT2SplitterTests {
    /// Pieces as strings, for readable expectations taken from `pre_tokenizers.ByteLevel`
    /// (tokenizers 0.23.3, `pre_tokenize_str`, mapped back from the byte alphabet).
    private func pieces(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        return GPT2Splitter.split(scalars).map { String(String.UnicodeScalarView(scalars[$0])) }
    }

    @Test func unicodeWhitespaceIsWhitespace() {
        // tokenizers: ['a', '\u3000', '\u3000', 'b'] and ['a', '\xa0', 'b', ' c']
        #expect(pieces("a\u{3000}\u{3000}b") == ["a", "\u{3000}", "\u{3000}", "b"])
        #expect(pieces("a\u{00A0}b c") == ["a", "\u{00A0}", "b", " c"])
        // U+200B is not White_Space: tokenizers gives ['a', '\u200b', 'b'] (punctuation class).
        #expect(pieces("a\u{200B}b") == ["a", "\u{200B}", "b"])
    }

    @Test func whitespaceRunLeavesOneSpaceForTheNextWord() {
        // tokenizers: ['a', 'ĠĠĊĊ', 'Ġb'] and ['ab', '12', 'Ġ!?', 'ĠĠĉ']
        #expect(pieces("a  \n\n b") == ["a", "  \n\n", " b"])
        #expect(pieces("ab12 !?  \t") == ["ab", "12", " !?", "  \t"])
    }

    @Test func contractionsAreLowercaseOnly() {
        // tokenizers: ['x', "Ġ'", 's', "Ġ'", 'S', 'Ġit', "'s"]
        #expect(pieces("x 's 'S it's") == ["x", " '", "s", " '", "S", " it", "'s"])
    }
}

@Suite("Tokenizer errors")
final class TokenizerErrorTests {
    /// This test's directory, removed when the test ends.
    private let dir: URL
    init() throws { dir = try Fixtures.temporaryDirectory() }
    deinit { try? FileManager.default.removeItem(at: dir) }

    private func write(_ text: String) throws -> URL {
        let url = dir.appendingPathComponent("tokenizer.json")
        try Data(text.utf8).write(to: url)
        return url
    }

    private func minimal(model: String = #"{"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}"#,
                         normalizer: String = "null",
                         preTokenizer: String = #"{"type": "ByteLevel", "add_prefix_space": false}"#,
                         decoder: String = #"{"type": "ByteLevel"}"#,
                         added: String = "[]") -> String {
        #"{"version": "1.0", "added_tokens": \#(added), "normalizer": \#(normalizer), "pre_tokenizer": \#(preTokenizer), "post_processor": null, "decoder": \#(decoder), "model": \#(model)}"#
    }

    @Test func minimalFileLoadsAndMerges() throws {
        let tokenizer = try BPETokenizer(contentsOf: write(minimal()))
        #expect(tokenizer.encode("ab") == [2])
        #expect(tokenizer.encode("aba") == [2, 0])
        #expect(tokenizer.vocabularySize == 3)
    }

    @Test func pairMergesAreAccepted() throws {
        let model = #"{"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}"#
        let tokenizer = try BPETokenizer(contentsOf: write(minimal(model: model)))
        #expect(tokenizer.encode("ab") == [2])
    }

    @Test func malformedJSONIsAnError() throws {
        let url = try write(#"{"model": {"type": "BPE", "vocab": "#)
        let error = #expect(throws: TokenizerError.self) { try BPETokenizer(contentsOf: url) }
        guard case let .malformedJSON(file, _)? = error else {
            Issue.record("wrong error: \(String(describing: error))")
            return
        }
        #expect(file == url.path)
        #expect(error?.description.contains(url.path) == true)
    }

    @Test func missingFileIsAnError() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("absent.json")
        #expect(throws: TokenizerError.unreadable(file: url.path, reason: "no such file or directory")) {
            try BPETokenizer(contentsOf: url)
        }
        // A directory is looked into for tokenizer.json, and the error says where it looked.
        let inDirectory = dir.appendingPathComponent("tokenizer.json").path
        #expect(throws: TokenizerError.unreadable(file: inDirectory, reason: "no such file or directory (looked for tokenizer.json in the directory \(dir.path))")) {
            try BPETokenizer(contentsOf: dir)
        }
        // A FIFO is refused by what it is, without blocking on it.
        let fifo = dir.appendingPathComponent("fifo.json")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        #expect(throws: TokenizerError.unreadable(file: fifo.path, reason: "is a FIFO (named pipe), not a regular file")) {
            try BPETokenizer(contentsOf: fifo)
        }
    }

    @Test func missingModelIsAnError() throws {
        let url = try write(#"{"version": "1.0"}"#)
        #expect(throws: TokenizerError.missingField(file: url.path, field: "model")) {
            try BPETokenizer(contentsOf: url)
        }
    }

    @Test func nonBPEModelIsAnError() throws {
        let url = try write(minimal(model: #"{"type": "WordPiece", "vocab": {"a": 0}}"#))
        let error = #expect(throws: TokenizerError.self) { try BPETokenizer(contentsOf: url) }
        #expect(error == .unsupportedModel(file: url.path, type: "WordPiece"))
        #expect(error?.description.contains("WordPiece") == true)
    }

    @Test func unsupportedPartsAreErrors() throws {
        let normalizer = try write(minimal(normalizer: #"{"type": "NFKC"}"#))
        #expect(throws: TokenizerError.unsupportedComponent(file: normalizer.path, component: "normalizer", detail: "NFKC")) {
            try BPETokenizer(contentsOf: normalizer)
        }
        let pre = try write(minimal(preTokenizer: #"{"type": "Metaspace"}"#))
        #expect(throws: TokenizerError.unsupportedComponent(file: pre.path, component: "pre_tokenizer", detail: "Metaspace")) {
            try BPETokenizer(contentsOf: pre)
        }
        let decoder = try write(minimal(decoder: #"{"type": "WordPiece"}"#))
        #expect(throws: TokenizerError.self) { try BPETokenizer(contentsOf: decoder) }
        let added = try write(minimal(added: #"[{"id": 0, "content": "a", "lstrip": true, "special": true}]"#))
        #expect(throws: TokenizerError.self) { try BPETokenizer(contentsOf: added) }
    }

    @Test func mergeOfUnknownTokenIsAnError() throws {
        let url = try write(minimal(model: #"{"type": "BPE", "vocab": {"a": 0}, "merges": ["a c"]}"#))
        let error = #expect(throws: TokenizerError.self) { try BPETokenizer(contentsOf: url) }
        guard case let .invalidMerge(file, index, _)? = error else {
            Issue.record("wrong error: \(String(describing: error))")
            return
        }
        #expect(file == url.path)
        #expect(index == 0)
    }
}
