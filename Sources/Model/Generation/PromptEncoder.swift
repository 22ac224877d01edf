import Foundation

/// Turns a prompt into model input ids: raw text, or a conversation through the chat template.
///
/// As `transformers` does: a chat is rendered by the template and encoded without adding special
/// tokens (`apply_chat_template(..., tokenize=True)`); raw text is encoded as `tokenizer(text)` is,
/// which prepends BOS only when `tokenizer_config.json` says `add_bos_token: true`.
public struct PromptEncoder: Sendable {
    public let tokenizer: BPETokenizer
    /// The chat template; nil for raw prompts.
    public let template: ChatTemplate?
    /// The BOS id prepended to raw prompts, when the config asks for it.
    public let bosID: Int?
    /// Ids that end a generation: the config's EOS and, for the ChatML templates, `<|im_end|>`.
    public let endTokenIDs: Set<Int>

    /// Reads the template and special tokens from `config`; `raw` skips the template.
    ///
    /// Throws `TokenizerError.unsupportedChatTemplate` when a chat template is needed but the config
    /// has none we recognise, and `.missingField` when a named BOS/EOS token is not in the vocabulary.
    public init(tokenizer: BPETokenizer, config: TokenizerConfig?, raw: Bool) throws {
        self.tokenizer = tokenizer
        let source = config?.path ?? "tokenizer_config.json"
        if raw {
            template = nil
        } else {
            guard let text = config?.chatTemplate else {
                throw TokenizerError.unsupportedChatTemplate(file: source, detail: config == nil ? "no tokenizer_config.json found" : "it has no chat_template")
            }
            template = try ChatTemplate(recognizing: text, source: source)
        }
        var bos: Int? = nil
        if raw, let config, config.addBosToken {
            guard let name = config.bosToken, let id = tokenizer.tokenID(for: name) else {
                throw TokenizerError.missingField(file: source, field: "bos_token (add_bos_token is true)")
            }
            bos = id
        }
        bosID = bos
        var ends = Set<Int>()
        if let name = config?.eosToken {
            guard let id = tokenizer.tokenID(for: name) else { throw TokenizerError.missingField(file: source, field: "eos_token '\(name)' (not in the vocabulary)") }
            ends.insert(id)
        }
        if template != nil, let imEnd = tokenizer.tokenID(for: "<|im_end|>") { ends.insert(imEnd) }
        endTokenIDs = ends
    }

    /// Ids for a raw prompt.
    public func encode(raw text: String) -> [Int] {
        (bosID.map { [$0] } ?? []) + tokenizer.encode(text)
    }

    /// The rendered prompt text and its ids for a conversation (ending with an open assistant turn).
    public func encode(chat messages: [ChatMessage]) throws -> (text: String, ids: [Int]) {
        guard let template else { throw TokenizerError.unsupportedMessages(detail: "a conversation needs a chat template") }
        let text = try template.render(messages, addGenerationPrompt: true)
        return (text, tokenizer.encode(text))
    }
}

/// A multi-turn conversation: an optional system message and the turns so far.
public struct ChatSession: Sendable {
    public var system: String?
    public private(set) var history: [ChatMessage] = []

    public init(system: String?) { self.system = system }

    /// The messages for the next reply to `user`.
    public func messages(adding user: String) -> [ChatMessage] {
        (system.map { [ChatMessage(role: "system", content: $0)] } ?? []) + history + [ChatMessage(role: "user", content: user)]
    }

    /// Records a finished exchange.
    public mutating func record(user: String, assistant: String) {
        history += [ChatMessage(role: "user", content: user), ChatMessage(role: "assistant", content: assistant)]
    }

    /// Forgets every turn (the system message stays).
    public mutating func reset() { history.removeAll() }
}
