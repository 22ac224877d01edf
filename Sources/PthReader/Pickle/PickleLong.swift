/// Decoding of pickle's `LONG1` two's-complement little-endian integers.
enum PickleLong {
    static func decode(_ bytes: [UInt8]) -> PickleValue {
        if bytes.isEmpty { return .int(0) }
        if bytes.count <= 8 {
            var value: UInt64 = 0
            for (i, b) in bytes.enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
            let shift = UInt64(64 - 8 * bytes.count)
            return .int(Int(Int64(bitPattern: value << shift) >> Int64(shift)))
        }
        return .bigInt(decimal(bytes))
    }

    /// The decimal text of a two's-complement little-endian integer of any width.
    static func decimal(_ bytes: [UInt8]) -> String {
        let negative = (bytes.last ?? 0) & 0x80 != 0
        var magnitude = bytes
        if negative {
            var carry = 1
            for i in magnitude.indices {
                let v = Int(~magnitude[i]) + carry
                magnitude[i] = UInt8(v & 0xFF)
                carry = v >> 8
            }
        }
        var digits: [UInt8] = []
        var number = Array(magnitude.reversed())
        while number.contains(where: { $0 != 0 }) {
            var remainder = 0
            for i in number.indices {
                let v = remainder * 256 + Int(number[i])
                number[i] = UInt8(v / 10)
                remainder = v % 10
            }
            digits.append(UInt8(remainder) + 48)
        }
        if digits.isEmpty { digits = [48] }
        return (negative ? "-" : "") + String(decoding: digits.reversed(), as: UTF8.self)
    }
}
