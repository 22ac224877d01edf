import Foundation

/// A chat template from `tokenizer_config.json` that we recognise and render natively.
///
/// There is no Jinja engine here: a template is recognised only when its whole text is one of the
/// published templates listed in `Family` (compared by length and a 64-bit FNV-1a fingerprint of its
/// UTF-8 bytes), and then rendered by Swift code written for exactly that template. Anything else is
/// refused (`TokenizerError.unsupportedChatTemplate`) rather than applied half-right.
public struct ChatTemplate: Sendable, Equatable {
    /// The published templates we render, each named after where it was published.
    public enum Family: String, Sendable, CaseIterable, Codable {
        /// MiniMind2 (jingyaogong/minimind, April 2025): ChatML, default system message, no think block.
        case minimind2
        /// MiniMind2 as updated in October 2025: Qwen3's template with a default system message, no think block.
        case minimind2_2510 = "minimind2-2510"
        /// minimind-3 (March 2026): ChatML with a `<think>` block in every assistant turn.
        case minimind3 = "minimind-3"
        /// Qwen2-Instruct: ChatML with a default system message.
        case qwen2
        /// Qwen2.5-Instruct: ChatML with Qwen's default system message (tools branch unused).
        case qwen2_5 = "qwen2.5"
        /// Qwen3 (hybrid thinking): ChatML with `<think>` blocks after the last user query.
        case qwen3
        /// Qwen3 thinking-2507: as Qwen3, the generation prompt opens a `<think>` block.
        case qwen3Thinking2507 = "qwen3-thinking-2507"

        /// UTF-8 length and FNV-1a 64 fingerprint of the published template text.
        var fingerprint: (length: Int, hash: UInt64) {
            switch self {
            case .minimind2: return (515, 0x366a_e69b_c146_399a)
            case .minimind2_2510: return (3342, 0xd2c2_21ad_78b4_395d)
            case .minimind3: return (3895, 0xa428_56d0_92c2_689b)
            case .qwen2: return (333, 0x75e8_8977_b278_7cd7)
            case .qwen2_5: return (2507, 0xc2b2_7ee6_0f1b_8775)
            case .qwen3: return (4168, 0x959a_4551_391a_6549)
            case .qwen3Thinking2507: return (4049, 0xcd0d_41a6_4dfc_e181)
            }
        }
    }

    public let family: Family

    public init(family: Family) { self.family = family }

    /// Recognises `text` (a `chat_template` value); `source` names the file in the error.
    public init(recognizing text: String, source: String) throws {
        let bytes = Array(text.utf8)
        let hash = Self.fnv1a(bytes)
        guard let family = Family.allCases.first(where: { $0.fingerprint == (bytes.count, hash) }) else {
            let known = Family.allCases.map(\.rawValue).joined(separator: ", ")
            throw TokenizerError.unsupportedChatTemplate(file: source, detail: "\(bytes.count) bytes, fingerprint \(String(hash, radix: 16)), is none of the templates rendered natively (\(known))")
        }
        self.family = family
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }

    /// The prompt text, equal to `apply_chat_template(messages, tokenize=False, add_generation_prompt:)`
    /// with no tools and no extra variables (`enable_thinking`, `open_thinking` undefined).
    ///
    /// Only `system`, `user` and `assistant` messages are rendered; another role is refused.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        guard !messages.isEmpty else { throw TokenizerError.unsupportedMessages(detail: "no messages") }
        for message in messages where !["system", "user", "assistant"].contains(message.role) {
            throw TokenizerError.unsupportedMessages(detail: "role '\(message.role)' (only system, user and assistant are rendered)")
        }
        switch family {
        case .minimind2: return Self.minimind2(messages)
        case .minimind3: return MiniMindChatTemplate.render(messages, addGenerationPrompt: addGenerationPrompt)
        case .qwen2: return Self.qwen2(messages, addGenerationPrompt: addGenerationPrompt)
        case .qwen2_5:
            return Self.qwen3Style(messages, defaultSystem: "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
                                   thinking: false, generation: addGenerationPrompt ? "<|im_start|>assistant\n" : "")
        case .minimind2_2510:
            return Self.qwen3Style(messages, defaultSystem: "You are a helpful assistant", thinking: false,
                                   generation: addGenerationPrompt ? "<|im_start|>assistant\n" : "")
        case .qwen3:
            return Self.qwen3Style(messages, defaultSystem: nil, thinking: true, generation: addGenerationPrompt ? "<|im_start|>assistant\n" : "")
        case .qwen3Thinking2507:
            return Self.qwen3Style(messages, defaultSystem: nil, thinking: true,
                                   generation: addGenerationPrompt ? "<|im_start|>assistant\n<think>\n" : "")
        }
    }

    private static func turn(_ role: String, _ content: String) -> String { "<|im_start|>\(role)\n\(content)<|im_end|>\n" }

    /// MiniMind2: a system turn (default "You are a helpful assistant"); each user turn is followed
    /// by an open assistant turn, whatever `add_generation_prompt` says.
    private static func minimind2(_ messages: [ChatMessage]) -> String {
        var out = messages[0].role == "system" ? turn("system", messages[0].content) : turn("system", "You are a helpful assistant")
        for message in messages {
            if message.role == "user" {
                out += turn("user", message.content) + "<|im_start|>assistant\n"
            } else if message.role == "assistant" {
                out += message.content + "<|im_end|>\n"
            }
        }
        return out
    }

    /// Qwen2-Instruct: a default system turn when the first message is not one, then every message as a turn.
    private static func qwen2(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        var out = messages[0].role == "system" ? "" : turn("system", "You are a helpful assistant.")
        for message in messages { out += turn(message.role, message.content) }
        return out + (addGenerationPrompt ? "<|im_start|>assistant\n" : "")
    }

    /// The Qwen2.5 / Qwen3 family without tools: the first system message (or `defaultSystem`) as a
    /// turn, later system and user messages as turns, assistant turns as the template says.
    ///
    /// With `thinking` (Qwen3), an assistant message's `<think>…</think>` part is split off; after the
    /// last user query it is rendered in a think block (always for the last message), before it dropped.
    private static func qwen3Style(_ messages: [ChatMessage], defaultSystem: String?, thinking: Bool, generation: String) -> String {
        var out = ""
        if messages[0].role == "system" {
            out += turn("system", messages[0].content)
        } else if let defaultSystem {
            out += turn("system", defaultSystem)
        }
        // The last user message that is not a tool response wrapped as a user turn.
        var lastQuery = messages.count - 1
        for index in messages.indices.reversed() {
            let content = messages[index].content
            if messages[index].role == "user" && !(content.hasPrefix("<tool_response>") && content.hasSuffix("</tool_response>")) {
                lastQuery = index
                break
            }
        }
        for (index, message) in messages.enumerated() {
            switch message.role {
            case "user":
                out += turn("user", message.content)
            case "system":
                if index > 0 { out += turn("system", message.content) }
            default: // assistant
                guard thinking else {
                    out += turn("assistant", message.content)
                    continue
                }
                var content = message.content
                var reasoning = ""
                if content.contains("</think>") {
                    let before = content.components(separatedBy: "</think>")[0]
                    let trimmed = strip(before, leading: false, trailing: true)
                    reasoning = strip(trimmed.components(separatedBy: "<think>").last ?? trimmed, leading: true, trailing: false)
                    content = strip(content.components(separatedBy: "</think>").last ?? "", leading: true, trailing: false)
                }
                if index > lastQuery && (index == messages.count - 1 || !reasoning.isEmpty) {
                    out += "<|im_start|>assistant\n<think>\n" + strip(reasoning, leading: true, trailing: true) + "\n</think>\n\n"
                        + strip(content, leading: true, trailing: false) + "<|im_end|>\n"
                } else {
                    out += "<|im_start|>assistant\n" + content + "<|im_end|>\n"
                }
            }
        }
        return out + generation
    }

    /// Python's `strip('\n')` / `lstrip('\n')` / `rstrip('\n')`, scalar-wise.
    private static func strip(_ text: String, leading: Bool, trailing: Bool) -> String {
        var scalars = Substring(text).unicodeScalars
        if leading { while scalars.first == "\n" { scalars.removeFirst() } }
        if trailing { while scalars.last == "\n" { scalars.removeLast() } }
        return String(scalars)
    }
}
