import Foundation

/// The common safetensors header read in one pass, without a JSON tree: an object of ASCII names,
/// each `{"dtype": "F32", "shape": [..], "data_offsets": [b, e]}` (fields in any order), and an
/// optional `__metadata__`.
///
/// Anything else — an escape or a non-ASCII byte in a name, another field, a number that is not a
/// plain non-negative integer, an unknown dtype, a name given twice, a syntax error — makes `scan`
/// return nil, and `SafetensorsFormat` reads the header with `StrictJSON` instead, which accepts
/// or refuses it exactly as before. So this only ever gives the entries the strict reader would
/// give (same names, same order), for headers the strict reader accepts without a message.
enum SafetensorsHeaderScan {
    /// The metadata items and the entries in header order, or nil to take the strict path.
    static func scan(_ bytes: [UInt8], path: String) -> (metadata: [DictItem], entries: [SafetensorsFormat.Entry])? {
        var scanner = Scanner(bytes: bytes)
        return scanner.header(path: path)
    }

    private struct Scanner {
        let bytes: [UInt8]
        var offset = 0
        /// The previous entry's dtype text and shape: files of many tensors repeat them.
        var lastDType: (Range<Int>, DType)?
        var lastShape: [Int] = []
        var numbers: [Int] = []

        /// Whether the bytes in `range` are `literal`'s.
        func equals(_ range: Range<Int>, _ literal: StaticString) -> Bool {
            range.count == literal.utf8CodeUnitCount && (range.isEmpty
                || bytes.withUnsafeBufferPointer { memcmp($0.baseAddress! + range.lowerBound, literal.utf8Start, range.count) == 0 })
        }

        /// Whether two ranges hold the same bytes.
        func equals(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
            a.count == b.count && (a.isEmpty
                || bytes.withUnsafeBufferPointer { memcmp($0.baseAddress! + a.lowerBound, $0.baseAddress! + b.lowerBound, a.count) == 0 })
        }

        mutating func skipWhitespace() {
            while offset < bytes.count, bytes[offset] == 0x20 || bytes[offset] == 0x0A || bytes[offset] == 0x0D || bytes[offset] == 0x09 {
                offset += 1
            }
        }

        /// Consumes `byte` after optional whitespace.
        mutating func take(_ byte: UInt8) -> Bool {
            skipWhitespace()
            guard offset < bytes.count, bytes[offset] == byte else { return false }
            offset += 1
            return true
        }

        /// A string of printable ASCII without escapes; its bytes' range.
        mutating func plainString() -> Range<Int>? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = offset
            while offset < bytes.count {
                let b = bytes[offset]
                if b == UInt8(ascii: "\"") { offset += 1; return start ..< offset - 1 }
                guard b >= 0x20, b < 0x80, b != UInt8(ascii: "\\") else { return nil }
                offset += 1
            }
            return nil
        }

        /// `[n, ...]` of plain non-negative integers (no sign, fraction, exponent or leading zero) into `numbers`.
        mutating func integers() -> Bool {
            numbers.removeAll(keepingCapacity: true)
            guard take(UInt8(ascii: "[")) else { return false }
            if take(UInt8(ascii: "]")) { return true }
            while true {
                skipWhitespace()
                let start = offset
                var value = 0
                while offset < bytes.count, bytes[offset] >= 0x30, bytes[offset] <= 0x39 {
                    let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                    let (sum, o2) = times10.addingReportingOverflow(Int(bytes[offset] - 0x30))
                    guard !o1, !o2 else { return false }
                    value = sum
                    offset += 1
                }
                guard offset > start, offset - start == 1 || bytes[start] != 0x30 else { return false }
                numbers.append(value)
                if take(UInt8(ascii: "]")) { return true }
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: ",") else { return false }
                offset += 1
            }
        }

        mutating func dtype(_ range: Range<Int>) -> DType? {
            if let (text, dtype) = lastDType, equals(text, range) { return dtype }
            guard let dtype = DType(safetensorsName: String(decoding: bytes[range], as: UTF8.self)) else { return nil }
            lastDType = (range, dtype)
            return dtype
        }

        /// One entry's object: exactly the three fields, each once.
        mutating func entry(name: String) -> SafetensorsFormat.Entry? {
            guard take(UInt8(ascii: "{")) else { return nil }
            var dtype: DType?, shape: [Int]?, offsets: (Int, Int)?
            repeat {
                guard let key = plainString(), take(UInt8(ascii: ":")) else { return nil }
                if equals(key, "dtype") {
                    guard dtype == nil, let text = plainString(), let d = self.dtype(text) else { return nil }
                    dtype = d
                } else if equals(key, "shape") {
                    guard shape == nil, integers() else { return nil }
                    if numbers != lastShape { lastShape = numbers }
                    shape = lastShape
                } else if equals(key, "data_offsets") {
                    guard offsets == nil, integers(), numbers.count == 2 else { return nil }
                    offsets = (numbers[0], numbers[1])
                } else {
                    return nil
                }
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")), let dtype, let shape, let offsets else { return nil }
            return SafetensorsFormat.Entry(name: name, dtype: dtype, shape: shape, begin: offsets.0, end: offsets.1)
        }

        mutating func header(path: String) -> (metadata: [DictItem], entries: [SafetensorsFormat.Entry])? {
            guard take(UInt8(ascii: "{")) else { return nil }
            var entries: [SafetensorsFormat.Entry] = []
            var metadata: [DictItem]?
            var names = ByteKeyIndex(expected: bytes.count / 64 + 16)
            var nameRanges: [Range<Int>] = []
            if !take(UInt8(ascii: "}")) {
                repeat {
                    guard let name = plainString(), take(UInt8(ascii: ":")) else { return nil }
                    // A name given twice (the strict path keeps the last) is left to the strict path.
                    let hash = bytes.withUnsafeBufferPointer { ByteKeyIndex.hash(UnsafeBufferPointer(rebasing: $0[name])) }
                    guard names.find(hash: hash, matches: { equals(nameRanges[$0], name) }) == nil else { return nil }
                    names.insert(nameRanges.count, hash: hash)
                    nameRanges.append(name)
                    if equals(name, "__metadata__") {
                        skipWhitespace()
                        guard let parsed = try? StrictJSON.parseValue(bytes, at: offset, depth: 1),
                              let items = try? SafetensorsFormat.metadata(parsed.value, path: path) else { return nil }
                        offset = parsed.end
                        metadata = items
                    } else {
                        guard let entry = entry(name: String(decoding: bytes[name], as: UTF8.self)) else { return nil }
                        entries.append(entry)
                    }
                } while take(UInt8(ascii: ","))
                guard take(UInt8(ascii: "}")) else { return nil }
            }
            skipWhitespace()
            guard offset == bytes.count else { return nil }
            return (metadata ?? [], entries)
        }
    }
}
