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

    /// Columns of at least `minimumColumn` terminal cells fit in `width`: side by side, else stacked.
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

    /// Hard-wraps text at `width` terminal cells and at its own newlines (control characters shown as spaces).
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = "", used = 0
            for character in paragraph {
                let shown: Character = character.unicodeScalars.first.map({ $0.value < 0x20 || $0.value == 0x7F }) == true ? " " : character
                let cells = cellWidth(shown)
                if used + cells > width { lines.append(line); line = ""; used = 0 }
                line.append(shown)
                used += cells
            }
            lines.append(line)
        }
        return lines
    }

    /// Terminal cells a character takes: 2 for East Asian wide and fullwidth characters and emoji, else 1.
    static func cellWidth(_ character: Character) -> Int {
        guard let value = character.unicodeScalars.first?.value else { return 0 }
        switch value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
             0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6,
             0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x3FFFD:
            return 2
        default:
            return 1
        }
    }

    /// The text padded with spaces to `width` cells.
    private static func pad(_ text: String, _ width: Int) -> String {
        let used = text.reduce(0) { $0 + cellWidth($1) }
        return used >= width ? text : text + String(repeating: " ", count: width - used)
    }
}
