/// Text written as bytes: the listings and reports of a million modules are built in `[UInt8]`,
/// where appending a `String`'s UTF-8 view, or making a `String` per number, was a measurable cost.
extension Array where Element == UInt8 {
    /// Appends a literal's UTF-8 bytes.
    @inlinable package mutating func append(literal: StaticString) {
        literal.withUTF8Buffer { append(contentsOf: $0) }
    }

    /// Appends `n` in decimal, exactly as `String(n)` spells it.
    @inlinable package mutating func append(decimal n: Int) {
        guard n >= 0 else { append(contentsOf: String(n).utf8); return }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        Swift.withUnsafeMutableBytes(of: &digits) { d in
            var rest = n, i = d.count
            repeat { i -= 1; d[i] = UInt8(ascii: "0") + UInt8(rest % 10); rest /= 10 } while rest > 0
            append(contentsOf: d[i...])
        }
    }
}
