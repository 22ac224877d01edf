import Foundation

/// A Hugging Face tokenizer on disk: `tokenizer.json` and, when present, `tokenizer_config.json`
/// (special tokens, chat template) and `chat_template.jinja`.
public struct TokenizerFiles: Sendable {
    public let tokenizerJSON: URL
    public let tokenizerConfig: URL?
    public let chatTemplateFile: URL?

    /// Finds the tokenizer: `explicit` (a `tokenizer.json` file or a directory holding one), else
    /// `tokenizer.json` in the model directory or beside the model file; nil when there is none.
    public static func locate(explicit: String?, besideModel model: String) throws -> TokenizerFiles? {
        let fm = FileManager.default
        func directory(of path: String) -> URL { CompanionFile.directory(of: path) }
        let dir: URL, file: URL
        if let explicit {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: explicit, isDirectory: &isDirectory) else {
                throw ExportError.tokenizer(path: explicit, reason: "no such file or directory")
            }
            dir = directory(of: explicit)
            file = isDirectory.boolValue ? dir.appendingPathComponent("tokenizer.json") : URL(fileURLWithPath: explicit)
            guard fm.fileExists(atPath: file.path) else { throw ExportError.tokenizer(path: explicit, reason: "the directory holds no tokenizer.json") }
        } else {
            dir = directory(of: model)
            file = dir.appendingPathComponent("tokenizer.json")
            guard fm.fileExists(atPath: file.path) else { return nil }
        }
        let config = dir.appendingPathComponent("tokenizer_config.json")
        let template = dir.appendingPathComponent("chat_template.jinja")
        return TokenizerFiles(tokenizerJSON: file,
                              tokenizerConfig: fm.fileExists(atPath: config.path) ? config : nil,
                              chatTemplateFile: fm.fileExists(atPath: template.path) ? template : nil)
    }

    /// `tokenizer.json` parsed as a JSON object.
    func tokenizerObject() throws -> [String: Any] {
        let data: Data
        do { data = try CompanionFile.contents(of: tokenizerJSON) } catch {
            throw ExportError.tokenizer(path: tokenizerJSON.path, reason: CompanionFile.reason(error))
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ExportError.tokenizer(path: tokenizerJSON.path, reason: "not a JSON object")
        }
        return object
    }

    /// `tokenizer_config.json` parsed (empty when absent).
    func configObject() throws -> [String: Any] {
        guard let tokenizerConfig else { return [:] }
        let data: Data
        do { data = try CompanionFile.contents(of: tokenizerConfig) } catch {
            throw ExportError.tokenizer(path: tokenizerConfig.path, reason: CompanionFile.reason(error))
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ExportError.tokenizer(path: tokenizerConfig.path, reason: "not a JSON object")
        }
        return object
    }

    /// The chat template: `tokenizer_config.json`'s `chat_template` (a string, or the `default`
    /// of a list of named templates), else `chat_template.jinja`.
    func chatTemplate() throws -> String? {
        let config = try configObject()
        if let text = config["chat_template"] as? String { return text }
        if let list = config["chat_template"] as? [[String: Any]] {
            return (list.first { $0["name"] as? String == "default" } ?? list.first)?["template"] as? String
        }
        if let file = chatTemplateFile {
            do { return String(decoding: try CompanionFile.contents(of: file), as: UTF8.self) } catch {
                throw ExportError.tokenizer(path: file.path, reason: CompanionFile.reason(error))
            }
        }
        return nil
    }

    /// The id of a special token named in `tokenizer_config.json` (`bos_token`: `"<|im_start|>"` or `{"content": ...}`).
    func specialTokenID(_ key: String) throws -> Int? {
        let config = try configObject()
        let content: String?
        if let text = config[key] as? String { content = text } else { content = (config[key] as? [String: Any])?["content"] as? String }
        guard let content else { return nil }
        let tokenizer = try tokenizerObject()
        if let added = tokenizer["added_tokens"] as? [[String: Any]],
           let match = added.first(where: { $0["content"] as? String == content }), let id = match["id"] as? Int {
            return id
        }
        return ((tokenizer["model"] as? [String: Any])?["vocab"] as? [String: Any])?[content] as? Int
    }
}
