/// JSON string literals written as bytes: the safetensors header and the CLI's `--json` records,
/// where a `String` per value, or an encoder per string, was a measurable cost.
extension Array where Element == UInt8 {
    /// Appends `text` as a JSON string literal (see `append(jsonString:)` of bytes).
    package mutating func append(jsonString text: String) {
        var text = text
        text.withUTF8 { append(jsonString: $0) }
    }

    /// Appends UTF-8 bytes as a JSON string literal: `"` and `\` escaped, control characters
    /// exactly as Foundation's `JSONEncoder` writes them (`\b`, `\t`, `\n`, `\f`, `\r`, otherwise
    /// `\u00xx`), every other byte as it is (slashes and non-ASCII unescaped).
    package mutating func append(jsonString utf8: UnsafeBufferPointer<UInt8>) {
        append(UInt8(ascii: "\""))
        // Most names need no escape: copied in one piece.
        guard utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
            append(contentsOf: utf8)
            append(UInt8(ascii: "\""))
            return
        }
        let hex: StaticString = "0123456789abcdef"
        for byte in utf8 {
            let short: UInt8?
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): short = byte
            case 0x08: short = UInt8(ascii: "b")
            case 0x09: short = UInt8(ascii: "t")
            case 0x0A: short = UInt8(ascii: "n")
            case 0x0C: short = UInt8(ascii: "f")
            case 0x0D: short = UInt8(ascii: "r")
            case ..<0x20: short = nil
            default:
                append(byte)
                continue
            }
            append(UInt8(ascii: "\\"))
            if let short {
                append(short)
            } else {
                append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                    hex.utf8Start[Int(byte >> 4)], hex.utf8Start[Int(byte & 0x0F)]])
            }
        }
        append(UInt8(ascii: "\""))
    }
}
