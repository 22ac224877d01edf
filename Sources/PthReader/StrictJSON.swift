/// A strict JSON reader for headers whose reference implementation is strict (safetensors' serde_json).
///
/// Objects keep every member in file order, keys as their exact UTF-8 bytes (never merged by Unicode
/// canonical equivalence), so callers decide what a duplicate means. Numbers keep their text, so an
/// integer beyond 64 bits or a `2.0` where an integer belongs is reported as such. Nesting is
/// limited like serde_json's (128), so a header of `[[[[…` cannot exhaust the stack.
enum StrictJSON: Equatable {
    case null
    case bool(Bool)
    /// The number's text as written (`12`, `-3`, `2.0`, `1e5`).
    case number(String)
    case string(String)
    case array([StrictJSON])
    /// Members in file order, duplicates included.
    case object([(key: String, value: StrictJSON)])

    static func == (a: StrictJSON, b: StrictJSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return Array(x.utf8) == Array(y.utf8)
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { Array($0.key.utf8) == Array($1.key.utf8) && $0.value == $1.value }
        default: return false
        }
    }

    /// Why a text is not JSON, with the byte offset.
    struct SyntaxError: Error, CustomStringConvertible {
        let offset: Int
        let reason: String
        var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    static let maxDepth = 128

    /// Parses exactly one JSON value, surrounded only by whitespace.
    static func parse(_ bytes: [UInt8]) throws -> StrictJSON {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == bytes.count else { throw SyntaxError(offset: parser.offset, reason: "trailing characters after the JSON value") }
        return value
    }

    /// Parses one JSON value starting at `offset` (depth `depth` of the enclosing text) and
    /// returns it with the offset just past it.
    static func parseValue(_ bytes: [UInt8], at offset: Int, depth: Int) throws -> (value: StrictJSON, end: Int) {
        var parser = Parser(bytes: bytes, offset: offset)
        let value = try parser.value(depth: depth)
        return (value, parser.offset)
    }

    /// The kind of value, for messages (`a number`, `a string`).
    var kind: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "the boolean \(b)"
        case .number(let n): return "the number \(n)"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Why a value is not a non-negative integer.
    struct NotAnInteger: Error {
        let reason: String
    }

    /// The value as a non-negative integer that fits `Int`, or why not.
    func nonNegativeInt() -> Result<Int, NotAnInteger> {
        guard case .number(let text) = self else { return .failure(NotAnInteger(reason: "\(kind), not a non-negative integer")) }
        guard text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return .failure(NotAnInteger(reason: text.hasPrefix("-") ? "\(text), which is negative" : "\(text), which is not an integer"))
        }
        guard let value = Int(text) else { return .failure(NotAnInteger(reason: "\(text), which is out of range (more than 2^63 - 1)")) }
        return .success(value)
    }

    private struct Parser {
        let bytes: [UInt8]
        var offset = 0

        func fail(_ reason: String) -> SyntaxError { SyntaxError(offset: offset, reason: reason) }

        mutating func skipWhitespace() {
            while offset < bytes.count {
                switch bytes[offset] {
                case 0x20, 0x09, 0x0A, 0x0D: offset += 1
                default: return
                }
            }
        }

        mutating func expect(_ literal: String, _ value: StrictJSON) throws -> StrictJSON {
            let utf8 = Array(literal.utf8)
            guard offset + utf8.count <= bytes.count, Array(bytes[offset..<(offset + utf8.count)]) == utf8 else { throw fail("unexpected character") }
            offset += utf8.count
            return value
        }

        mutating func value(depth: Int) throws -> StrictJSON {
            guard depth < StrictJSON.maxDepth else { throw fail("nested deeper than \(StrictJSON.maxDepth)") }
            guard offset < bytes.count else { throw fail("the text ends where a value should be") }
            switch bytes[offset] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw fail("unexpected character")
            }
        }

        mutating func object(depth: Int) throws -> StrictJSON {
            offset += 1
            var members: [(key: String, value: StrictJSON)] = []
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") { offset += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                skipWhitespace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                offset += 1
                skipWhitespace()
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard offset < bytes.count else { throw fail("the text ends inside an object") }
                if bytes[offset] == UInt8(ascii: ",") { offset += 1; continue }
                if bytes[offset] == UInt8(ascii: "}") { offset += 1; return .object(members) }
                throw fail("expected ',' or '}'")
            }
        }

        mutating func array(depth: Int) throws -> StrictJSON {
            offset += 1
            var items: [StrictJSON] = []
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") { offset += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard offset < bytes.count else { throw fail("the text ends inside an array") }
                if bytes[offset] == UInt8(ascii: ",") { offset += 1; continue }
                if bytes[offset] == UInt8(ascii: "]") { offset += 1; return .array(items) }
                throw fail("expected ',' or ']'")
            }
        }

        mutating func number() throws -> StrictJSON {
            let start = offset
            func digits() -> Int {
                let begin = offset
                while offset < bytes.count, bytes[offset] >= 0x30, bytes[offset] <= 0x39 { offset += 1 }
                return offset - begin
            }
            if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            let intStart = offset
            guard digits() > 0 else { throw fail("a number needs digits") }
            if bytes[intStart] == UInt8(ascii: "0"), offset - intStart > 1 { throw fail("a number may not start with 0") }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
                offset += 1
                guard digits() > 0 else { throw fail("a fraction needs digits") }
            }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
                offset += 1
                if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
                guard digits() > 0 else { throw fail("an exponent needs digits") }
            }
            return .number(String(decoding: bytes[start..<offset], as: UTF8.self))
        }

        mutating func hex4() throws -> UInt32 {
            guard offset + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[offset..<(offset + 4)], as: UTF8.self), radix: 16) else {
                throw fail("\\u needs four hex digits")
            }
            offset += 4
            return v
        }

        mutating func string() throws -> String {
            offset += 1
            // Most strings hold no escape: validated straight from the bytes.
            var end = offset
            while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 { end += 1 }
            if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
                guard let text = String(validating: bytes[offset..<end], as: UTF8.self) else {
                    offset = end + 1
                    throw fail("a string is not valid UTF-8")
                }
                offset = end + 1
                return text
            }
            var out: [UInt8] = []
            while true {
                guard offset < bytes.count else { throw fail("the text ends inside a string") }
                let c = bytes[offset]
                offset += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: out, as: UTF8.self) else { throw fail("a string is not valid UTF-8") }
                    return text
                case UInt8(ascii: "\\"):
                    guard offset < bytes.count else { throw fail("the text ends inside an escape") }
                    let e = bytes[offset]
                    offset += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard offset + 2 <= bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") else {
                                throw fail("a lone surrogate in a \\u escape")
                            }
                            offset += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw fail("a lone surrogate in a \\u escape") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw fail("a lone surrogate in a \\u escape") }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default: throw fail("unknown escape")
                    }
                default:
                    guard c >= 0x20 else { throw fail("a control character inside a string") }
                    out.append(c)
                }
            }
        }
    }
}
