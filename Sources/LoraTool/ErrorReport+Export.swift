import Foundation
import Model

/// The mapping of export errors to kinds and exit statuses.
extension ErrorReport {
    static func export(_ e: ExportError) -> ErrorReport {
        let m = e.description
        switch e {
        case .unsupported(let path, _): return ErrorReport(kind: "unsupported", message: m, file: path, status: .badInput)
        case .tokenizer(let path, _): return ErrorReport(kind: "bad_tokenizer", message: m + " (give another with --tokenizer)", file: path, status: .badInput)
        case .output(let path, _): return ErrorReport(kind: "io", message: m, file: path, status: .outputFailure)
        @unknown default: return ErrorReport(kind: "bad_input", message: m, status: .badInput)
        }
    }
}
