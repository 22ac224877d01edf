/// The ByteLevel pre-tokenizer's word split, written out by hand over Unicode scalars.
///
/// It reproduces what the `tokenizers` library does with the GPT-2 pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// (Oniguruma, leftmost alternative wins): `\p{L}` is any letter category, `\p{N}` any number
/// category, `\s` the Unicode `White_Space` property, and the optional prefix is U+0020 only.
/// Every scalar of the input ends up in exactly one piece, in order.
enum GPT2Splitter {
    /// The character classes the pattern distinguishes.
    private enum Kind { case letter, number, space, other }

    private static func kind(_ scalar: Unicode.Scalar) -> Kind {
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }

    /// Splits `text` into pieces; returns half-open scalar index ranges into `scalars`.
    static func split(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        let count = scalars.count
        let kinds = scalars.map(kind)
        var pieces: [Range<Int>] = []
        var start = 0

        /// The end of the run of `wanted` starting at `from`.
        func runEnd(from: Int, _ wanted: Kind) -> Int {
            var end = from
            while end < count, kinds[end] == wanted { end += 1 }
            return end
        }

        while start < count {
            let scalar = scalars[start]
            var end = start

            // 's 't 're 've 'm 'll 'd (lowercase only, as in the pattern).
            if scalar == "'", start + 1 < count {
                let second = scalars[start + 1]
                if second == "s" || second == "t" || second == "m" || second == "d" {
                    end = start + 2
                } else if start + 2 < count {
                    let third = scalars[start + 2]
                    if (second == "r" && third == "e") || (second == "v" && third == "e") || (second == "l" && third == "l") {
                        end = start + 3
                    }
                }
            }

            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+` in that order.
            if end == start {
                for wanted in [Kind.letter, .number, .other] {
                    if scalar == " ", start + 1 < count, kinds[start + 1] == wanted {
                        end = runEnd(from: start + 1, wanted)
                        break
                    }
                    if kinds[start] == wanted {
                        end = runEnd(from: start, wanted)
                        break
                    }
                }
            }

            // `\s+(?!\S)` then `\s+`.
            if end == start, kinds[start] == .space {
                let whitespaceEnd = runEnd(from: start, .space)
                if whitespaceEnd == count {
                    end = count
                } else if whitespaceEnd - start >= 2 {
                    end = whitespaceEnd - 1   // leave the last one to prefix the next word
                } else {
                    end = whitespaceEnd
                }
            }

            if end == start { end = start + 1 }  // unreachable: the classes cover every scalar
            pieces.append(start..<end)
            start = end
        }
        return pieces
    }
}
