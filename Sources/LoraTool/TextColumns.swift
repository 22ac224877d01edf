/// Column helpers of the human tables: ASCII text is measured and cut on its bytes; other text
/// by `Character`, as Swift's `String` counts it.
enum TextColumns {
    static func isASCII(_ s: some StringProtocol) -> Bool { s.utf8.allSatisfy { $0 < 0x80 } }

    /// Width in `Character`s.
    static func width(_ s: String) -> Int { isASCII(s) ? s.utf8.count : s.count }

    /// Appends spaces to `out` to take text of `width` to `target`.
    static func pad(_ out: inout String, _ width: Int, to target: Int) {
        if width < target { out += String(repeating: " ", count: target - width) }
    }

    /// Removes the spaces ending `out`, looking no further back than `rowStart`.
    static func trimTrailingSpaces(_ out: inout String, rowStart: String.Index) {
        if isASCII(out[rowStart...]) {
            var end = out.utf8.endIndex
            while end > rowStart, out.utf8[out.utf8.index(before: end)] == 0x20 { end = out.utf8.index(before: end) }
            if end < out.endIndex { out.removeSubrange(end...) }
        } else {
            var row = String(out[rowStart...])
            while row.last == " " { row.removeLast() }
            out.replaceSubrange(rowStart..., with: row)
        }
    }

    /// Non-empty dotted components (`"a.b"` → 2), as `split(separator: ".").count`.
    static func componentCount(_ path: String) -> Int {
        guard isASCII(path) else { return path.split(separator: ".").count }
        var count = 0
        var inComponent = false
        for b in path.utf8 {
            if b == UInt8(ascii: ".") { inComponent = false } else if !inComponent { inComponent = true; count += 1 }
        }
        return count
    }

    /// The last non-empty dotted component, as `split(separator: ".").last` (the name itself if none).
    static func lastComponent(_ name: String) -> Substring {
        guard isASCII(name) else { return name.split(separator: ".").last ?? Substring(name) }
        var end = name.utf8.endIndex
        while end > name.utf8.startIndex, name.utf8[name.utf8.index(before: end)] == UInt8(ascii: ".") { end = name.utf8.index(before: end) }
        guard end > name.utf8.startIndex else { return Substring(name) }
        var start = end
        while start > name.utf8.startIndex, name.utf8[name.utf8.index(before: start)] != UInt8(ascii: ".") { start = name.utf8.index(before: start) }
        return name[start..<end]
    }

    /// `[4, 8]` → `4, 8`.
    static func appendShape(_ shape: [Int], to out: inout String) {
        for (i, size) in shape.enumerated() {
            if i > 0 { out += ", " }
            out += String(size)
        }
    }
}
