import Foundation

/// A progress bar on stderr: bytes, percent, throughput and ETA, drawn only when stderr is a
/// terminal (never into a pipe or file), `--quiet` is off, and the work has run over a second.
final class ProgressBar {
    private let label: String
    private let start = Date()
    private let enabled: Bool
    /// Bytes the work will hand over in all, when known; percent and ETA then follow bytes.
    private let totalBytes: Int?
    private var bytesDone = 0
    private var stepsDone = 0
    private var stepsTotal = 0
    private var drawn = false
    private var lastDraw = Date.distantPast

    /// Seconds before the first draw; `LORATOOL_PROGRESS_AFTER` overrides it (tests use 0).
    private static let delay = ProcessInfo.processInfo.environment["LORATOOL_PROGRESS_AFTER"].flatMap(Double.init) ?? 1

    init(label: String, totalBytes: Int? = nil, enabled: Bool = isatty(STDERR_FILENO) != 0 && !Output.quiet) {
        self.label = label
        self.totalBytes = totalBytes
        self.enabled = enabled
    }

    /// Records `done` of `total` steps (storages or tensors) and redraws.
    func update(done: Int, total: Int) {
        stepsDone = done
        stepsTotal = total
        redraw()
    }

    /// Records `count` more bytes handed over and redraws.
    func add(bytes count: Int) {
        bytesDone += count
        redraw()
    }

    private func redraw() {
        guard enabled else { return }
        let now = Date()
        let elapsed = now.timeIntervalSince(start)
        guard elapsed >= Self.delay, now.timeIntervalSince(lastDraw) >= 0.1 || stepsDone == stepsTotal else { return }
        lastDraw = now
        Output.printError("\r\u{1B}[2K" + line(elapsed: elapsed))
        drawn = true
    }

    /// The bar's text: `merging [#####         ] 42%  1.21 GiB / 2.88 GiB  310.2 MiB/s  ETA 5 s`.
    func line(elapsed: Double) -> String {
        let fraction: Double
        if let totalBytes, totalBytes > 0 {
            fraction = min(1, Double(bytesDone) / Double(totalBytes))
        } else {
            fraction = stepsTotal > 0 ? Double(stepsDone) / Double(stepsTotal) : 0
        }
        let width = 24
        let filled = Int(Double(width) * fraction)
        var text = "\(label) [" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] "
        text += String(format: "%3.0f%%", fraction * 100)
        if let totalBytes {
            text += "  \(Output.byteSize(bytesDone)) / \(Output.byteSize(totalBytes))"
            if elapsed > 0 { text += "  \(Output.byteSize(Int(Double(bytesDone) / elapsed)))/s" }
        } else {
            text += "  \(stepsDone)/\(stepsTotal) tensors"
        }
        if fraction > 0 && fraction < 1 {
            text += String(format: "  ETA %.0f s", elapsed * (1 - fraction) / fraction)
        }
        return text
    }

    /// Clears the bar's line if one was drawn.
    func finish() {
        guard drawn else { return }
        Output.printError("\r\u{1B}[2K")
    }
}
