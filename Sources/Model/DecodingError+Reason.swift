import Foundation

extension DecodingError {
    /// The failure as one line a user can act on: the JSON key path, then what is wrong with it.
    ///
    /// Foundation's own description ("DecodingError.dataCorrupted(Context(codingPath: …") names
    /// the Swift type and the coding machinery rather than the file's key.
    var reason: String {
        switch self {
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .keyNotFound(_, let ctx), .dataCorrupted(let ctx):
            let key = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            return key.isEmpty ? ctx.debugDescription : "'\(key)': \(ctx.debugDescription)"
        @unknown default:
            return "\(self)"
        }
    }
}
