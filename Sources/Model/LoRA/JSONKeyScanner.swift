import Foundation

/// Reads the keys of one member object of a JSON document in file order.
///
/// Foundation's decoders give dictionaries without order; PEFT tries `rank_pattern` and
/// `alpha_pattern` keys in the order they were written, so that order is recovered here.
enum JSONKeyScanner {
    /// Keys of the object at top-level member `member`, in order; nil if absent or malformed.
    static func keys(ofMember member: String, in data: Data) -> [String]? {
        var scanner = Scanner(bytes: [UInt8](data))
        scanner.skipSpace()
        guard scanner.take(UInt8(ascii: "{")) else { return nil }
        while true {
            scanner.skipSpace()
            if scanner.take(UInt8(ascii: "}")) { return nil }
            guard let key = scanner.string() else { return nil }
            scanner.skipSpace()
            guard scanner.take(UInt8(ascii: ":")) else { return nil }
            scanner.skipSpace()
            if key == member {
                guard scanner.take(UInt8(ascii: "{")) else { return nil }
                var keys: [String] = []
                while true {
                    scanner.skipSpace()
                    if scanner.take(UInt8(ascii: "}")) { return keys }
                    guard let k = scanner.string() else { return nil }
                    keys.append(k)
                    scanner.skipSpace()
                    guard scanner.take(UInt8(ascii: ":")), scanner.skipValue() else { return nil }
                    scanner.skipSpace()
                    _ = scanner.take(UInt8(ascii: ","))
                }
            }
            guard scanner.skipValue() else { return nil }
            scanner.skipSpace()
            _ = scanner.take(UInt8(ascii: ","))
        }
    }

    private struct Scanner {
        let bytes: [UInt8]
        var i = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipSpace() {
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        }

        mutating func take(_ c: UInt8) -> Bool {
            guard i < bytes.count, bytes[i] == c else { return false }
            i += 1
            return true
        }

        /// Reads a string literal, decoding escapes with Foundation.
        mutating func string() -> String? {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
            let start = i
            i += 1
            while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
            }
            guard i < bytes.count else { return nil }
            i += 1
            let literal = Data(bytes[start..<i])
            return (try? JSONSerialization.jsonObject(with: literal, options: .fragmentsAllowed)) as? String
        }

        /// Skips one value of any type.
        mutating func skipValue() -> Bool {
            skipSpace()
            guard i < bytes.count else { return false }
            switch bytes[i] {
            case UInt8(ascii: "\""):
                return string() != nil
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while i < bytes.count {
                    let c = bytes[i]
                    if c == UInt8(ascii: "\"") {
                        guard string() != nil else { return false }
                        continue
                    }
                    if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") { depth += 1 }
                    if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                        depth -= 1
                        if depth == 0 { i += 1; return true }
                    }
                    i += 1
                }
                return false
            default:
                while i < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(bytes[i]) { i += 1 }
                return true
            }
        }
    }
}
