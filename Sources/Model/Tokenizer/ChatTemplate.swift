import Foundation

/// One turn of a conversation for MiniMind's chat template.
public struct ChatMessage: Sendable, Equatable, Codable {
    /// `system`, `user` or `assistant`.
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// MiniMind's published chat template (ChatML with `<think>` blocks), written out in Swift.
///
/// It reproduces what `tokenizer.apply_chat_template(messages, tokenize=False, ...)` renders from
/// `tokenizer_config.json` for plain system/user/assistant messages (no tools, no tool calls).
/// MiniMind's inference encodes the rendered text with the tokenizer; the special tokens in it
/// (`<|im_start|>`, `<|im_end|>`) are then matched literally by `BPETokenizer.encode`.
public enum MiniMindChatTemplate {
    /// The prompt text for `messages`; with `addGenerationPrompt`, it ends with an open assistant
    /// turn (an empty `<think>` block unless `openThinking`).
    public static func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true, openThinking: Bool = false) -> String {
        var out = ""
        for message in messages {
            let content = message.content
            if message.role == "user" || message.role == "system" {
                out += "<|im_start|>\(message.role)\n\(content)<|im_end|>\n"
            } else if message.role == "assistant" {
                var reasoning = ""
                var answer = content
                if let close = content.range(of: "</think>") {
                    let before = String(content[..<close.lowerBound])
                    let trimmed = trimming(before, "\n", leading: false, trailing: true)
                    let afterOpen = trimmed.components(separatedBy: "<think>").last ?? trimmed
                    reasoning = trimming(afterOpen, "\n", leading: true, trailing: false)
                    let last = content.components(separatedBy: "</think>").last ?? ""
                    answer = trimming(last, "\n", leading: true, trailing: false)
                }
                out += "<|im_start|>assistant\n<think>\n" + trimming(reasoning, "\n", leading: true, trailing: true)
                    + "\n</think>\n\n" + trimming(answer, "\n", leading: true, trailing: false) + "<|im_end|>\n"
            }
        }
        if addGenerationPrompt {
            out += "<|im_start|>assistant\n" + (openThinking ? "<think>\n" : "<think>\n\n</think>\n\n")
        }
        return out
    }

    /// Python's `str.strip(c)` / `lstrip(c)` / `rstrip(c)` for one scalar (scalar-wise, so a
    /// `\r\n` pair loses only its `\n`, as in Python).
    private static func trimming(_ text: String, _ scalar: Unicode.Scalar, leading: Bool, trailing: Bool) -> String {
        var scalars = Substring(text).unicodeScalars
        if leading { while scalars.first == scalar { scalars.removeFirst() } }
        if trailing { while scalars.last == scalar { scalars.removeLast() } }
        return String(scalars)
    }
}

/// The special-token settings of a Hugging Face `tokenizer_config.json`.
public struct TokenizerConfig: Sendable, Equatable {
    public var bosToken: String?
    public var eosToken: String?
    public var padToken: String?
    public var unkToken: String?
    /// The Jinja chat template text, if any (rendered through `ChatTemplate` when recognised).
    public var chatTemplate: String?
    /// `add_bos_token`: whether encoding prepends the BOS token (absent means false).
    public var addBosToken: Bool
    /// The file it was read from.
    public var path: String

    /// Reads `tokenizer_config.json`; `url` may also be the directory holding it.
    public init(contentsOf url: URL) throws {
        var fileURL = url
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            fileURL = url.appendingPathComponent("tokenizer_config.json")
        }
        let data: Data
        do { data = try CompanionFile.contents(of: fileURL) } catch {
            throw TokenizerError.unreadable(file: fileURL.path, reason: CompanionFile.reason(error))
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let root = object as? [String: Any] else {
            throw TokenizerError.malformedJSON(file: fileURL.path, reason: "not a JSON object")
        }
        /// Tokens appear either as strings or as `{"content": ...}` objects.
        func token(_ key: String) -> String? {
            if let text = root[key] as? String { return text }
            return (root[key] as? [String: Any])?["content"] as? String
        }
        bosToken = token("bos_token")
        eosToken = token("eos_token")
        padToken = token("pad_token")
        unkToken = token("unk_token")
        chatTemplate = root["chat_template"] as? String
        addBosToken = (root["add_bos_token"] as? Bool) ?? false
        path = fileURL.path
    }
}
