import Foundation

/// Decoding of the text arguments of pickle protocols 0 and 1 (`INT`, `LONG`, `STRING`, `UNICODE`).
enum PickleText {
    /// A decimal integer of any width: `.int` when it fits, else `.bigInt` with its canonical text.
    static func integer(_ text: String) -> PickleValue? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let value = Int(trimmed) { return .int(value) }
        var digits = Substring(trimmed)
        let negative = digits.first == "-"
        if negative || digits.first == "+" { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let canonical = digits.drop(while: { $0 == "0" })
        if canonical.isEmpty { return .int(0) }
        return .bigInt((negative ? "-" : "") + canonical)
    }


    /// A Python `repr` string literal (`'abc'`, `"it's"`) with backslash escapes, decoded as UTF-8
    /// (torch.load's `encoding` for Python 2 strings); nil when malformed.
    static func quoted(_ line: ArraySlice<UInt8>) -> String? {
        guard line.count >= 2, let quote = line.first, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\""),
              line.last == quote else { return nil }
        let body = Array(line.dropFirst().dropLast())
        var out: [UInt8] = []
        var i = 0
        while i < body.count {
            let c = body[i]
            i += 1
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard i < body.count else { return nil }
            let e = body[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "x"):
                guard i + 2 <= body.count, let v = UInt8(String(decoding: body[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
                out.append(v)
                i += 2
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var value = Int(e - UInt8(ascii: "0"))
                var n = 1
                while n < 3, i < body.count, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(body[i]) {
                    value = value * 8 + Int(body[i] - UInt8(ascii: "0"))
                    i += 1
                    n += 1
                }
                guard value < 256 else { return nil }
                out.append(UInt8(value))
            default: out.append(e)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    /// Python's `raw-unicode-escape`: Latin-1 bytes, except `\uXXXX` and `\UXXXXXXXX` escapes.
    static func rawUnicodeEscape(_ line: ArraySlice<UInt8>) -> String? {
        let bytes = Array(line)
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") || bytes[i + 1] == UInt8(ascii: "U") {
                let width = bytes[i + 1] == UInt8(ascii: "u") ? 4 : 8
                guard i + 2 + width <= bytes.count,
                      let value = UInt32(String(decoding: bytes[(i + 2)..<(i + 2 + width)], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(value) else { return nil }
                scalars.append(scalar)
                i += 2 + width
            } else {
                scalars.append(Unicode.Scalar(c))
                i += 1
            }
        }
        return String(scalars)
    }
}
