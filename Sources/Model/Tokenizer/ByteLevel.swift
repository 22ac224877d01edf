/// The GPT-2 byte-level alphabet: a reversible map from the 256 byte values to printable Unicode scalars.
///
/// Bytes that are printable Latin-1 (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) map to themselves; the other 68
/// bytes map, in increasing byte order, to U+0100, U+0101, … so every token string in a
/// byte-level vocabulary is a sequence of these scalars.
enum ByteLevel {
    /// `scalars[b]` is the scalar standing for byte `b`.
    static let scalars: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\u{0}", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                // 256 + n stays far below the surrogate range, so the scalar always exists.
                table[byte] = Unicode.Scalar(next) ?? "\u{FFFD}"
                next += 1
            }
        }
        return table
    }()

    /// The byte a scalar of the alphabet stands for, or nil for scalars outside it.
    static let bytes: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for (byte, scalar) in scalars.enumerated() { map[scalar] = UInt8(byte) }
        return map
    }()

    /// The byte-level token string for raw bytes (each byte becomes its alphabet scalar).
    static func encode<S: Sequence>(_ raw: S) -> String where S.Element == UInt8 {
        var text = String.UnicodeScalarView()
        for byte in raw { text.append(scalars[Int(byte)]) }
        return String(text)
    }

    /// The raw bytes a token string stands for.
    ///
    /// As the `tokenizers` ByteLevel decoder does, a token containing any scalar outside the
    /// alphabet (an added token such as one with a space) contributes its own UTF-8 bytes instead.
    static func decode(_ token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let byte = bytes[scalar] else { return Array(token.utf8) }
            out.append(byte)
        }
        return out
    }
}
