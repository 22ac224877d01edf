/// Text layout of several generations of the same prompt: side by side, or one after another.
public enum ComparisonLayout {
    /// The marker put in front of the first divergent token's text.
    public static let divergenceMarker = "⟦≠⟧"

    /// One run to show: its label, text, and the character offset of the first divergent token (if any).
    public struct Column: Sendable {
        public var label: String
        public var text: String
        public var divergenceOffset: Int?

        public init(label: String, text: String, divergenceOffset: Int?) {
            self.label = label
            self.text = text
            self.divergenceOffset = divergenceOffset
        }

        /// The text with the divergence marker inserted.
        var marked: String {
            guard let offset = divergenceOffset, offset <= text.count else { return text }
            let index = text.index(text.startIndex, offsetBy: offset)
            return String(text[..<index]) + ComparisonLayout.divergenceMarker + String(text[index...])
        }
    }

    /// Columns of at least `minimumColumn` characters fit in `width`: side by side, else stacked.
    public static func render(_ columns: [Column], width: Int, minimumColumn: Int = 28) -> String {
        let separator = " │ "
        let columnWidth = columns.isEmpty ? 0 : (width - separator.count * (columns.count - 1)) / columns.count
        guard columns.count > 1, columnWidth >= minimumColumn else {
            return columns.map { "── \($0.label) ──\n" + $0.marked + "\n" }.joined(separator: "\n")
        }
        let wrapped = columns.map { wrap("[\($0.label)]", width: columnWidth) + [String(repeating: "─", count: columnWidth)] + wrap($0.marked, width: columnWidth) }
        let rows = wrapped.map(\.count).max() ?? 0
        var out = ""
        for row in 0..<rows {
            let cells = wrapped.map { row < $0.count ? pad($0[row], columnWidth) : String(repeating: " ", count: columnWidth) }
            var line = cells.joined(separator: separator)
            while line.last == " " { line.removeLast() }
            out += line + "\n"
        }
        return out
    }

    /// Hard-wraps text at `width` characters and at its own newlines (control characters shown as spaces).
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            for character in paragraph {
                let shown: Character = character.isNewline || character == "\t" || character.unicodeScalars.first.map({ $0.value < 0x20 }) == true ? " " : character
                if line.count == width { lines.append(line); line = "" }
                line.append(shown)
            }
            lines.append(line)
        }
        return lines
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
