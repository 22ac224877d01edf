import Foundation

/// A progress bar on stderr, drawn only when stderr is a terminal and the work has run over a second.
final class ProgressBar {
    private let label: String
    private let start = Date()
    private let enabled = isatty(STDERR_FILENO) != 0 && !Output.quiet
    private var drawn = false

    init(label: String) { self.label = label }

    /// Redraws for `done` of `total` steps (cheap when nothing is drawn).
    func update(done: Int, total: Int) {
        guard enabled, total > 0, Date().timeIntervalSince(start) > 1 else { return }
        let width = 30
        let filled = width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total)".utf8))
        drawn = true
    }

    /// Clears the bar's line if one was drawn.
    func finish() {
        guard drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}
