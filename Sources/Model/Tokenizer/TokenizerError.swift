import Foundation

/// Why a `tokenizer.json` could not be loaded: every case names the file and what is wrong with it.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be read at all.
    case unreadable(file: String, reason: String)
    /// The file is not valid JSON, or its top level is not an object.
    case malformedJSON(file: String, reason: String)
    /// A required field is absent or has the wrong JSON type.
    case missingField(file: String, field: String)
    /// The tokenizer's model is not byte-level BPE (for example `WordPiece` or `Unigram`).
    case unsupportedModel(file: String, type: String)
    /// A component (normalizer, pre-tokenizer, decoder, an option) this reader does not implement.
    case unsupportedComponent(file: String, component: String, detail: String)
    /// A merge rule that cannot be used: malformed, or naming tokens absent from the vocabulary.
    case invalidMerge(file: String, index: Int, detail: String)
    /// A `chat_template` that is not one of the published templates rendered natively.
    case unsupportedChatTemplate(file: String, detail: String)
    /// Messages a chat template cannot render (no messages, an unknown role).
    case unsupportedMessages(detail: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read tokenizer file: \(reason)"
        case let .malformedJSON(file, reason):
            return "\(file): not a valid tokenizer.json: \(reason)"
        case let .missingField(file, field):
            return "\(file): tokenizer.json is missing or has a malformed field '\(field)'"
        case let .unsupportedModel(file, type):
            return "\(file): unsupported tokenizer model type '\(type)' (only BPE is supported)"
        case let .unsupportedComponent(file, component, detail):
            return "\(file): unsupported \(component): \(detail)"
        case let .invalidMerge(file, index, detail):
            return "\(file): invalid merge #\(index): \(detail)"
        case let .unsupportedChatTemplate(file, detail):
            return "\(file): chat_template not recognised: \(detail)"
        case let .unsupportedMessages(detail):
            return "chat template cannot render these messages: \(detail)"
        }
    }
}
