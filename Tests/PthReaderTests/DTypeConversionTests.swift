import Testing
@testable import PthReader

/// The bulk float16/bfloat16 conversions agree with IEEE round-to-nearest-even everywhere.
@Suite struct DTypeConversionTests {
    /// Every float16 bit pattern widens exactly and narrows back to itself (NaNs stay NaN).
    @Test func everyHalfRoundTrips() {
        let bits = (0...UInt16.max).map { $0 }
        var floats = [Float](repeating: 0, count: bits.count)
        bits.withUnsafeBytes { DType.float16.decodeFloats(from: $0.baseAddress!, count: bits.count, into: &floats) }
        var back = [UInt16](repeating: 0, count: bits.count)
        floats.withUnsafeBufferPointer { src in back.withUnsafeMutableBytes { DType.float16.encodeFloats(src, into: $0.baseAddress!) } }
        for (i, h) in bits.enumerated() {
            let reference = Float16(bitPattern: h)
            if reference.isNaN {
                #expect(floats[i].isNaN && Float16(bitPattern: back[i]).isNaN)
            } else {
                #expect(floats[i] == Float(reference) && floats[i].sign == Float(reference).sign, "widen \(h)")
                #expect(back[i] == h, "narrow \(h)")
            }
        }
    }

    /// Values between two halves (midpoints and nearby) round as Swift's `Float16(_:)` does: to nearest, ties to even.
    @Test func narrowingRoundsToNearestEven() {
        var inputs: [Float] = [65519.99, 65520, 70000, .infinity, -.infinity, 1e-8, 3e-8, -2.9802322e-08, 5.9604645e-08]
        for h in stride(from: UInt16(0), to: 0x7BFF, by: 7) {
            let low = Float(Float16(bitPattern: h)), high = Float(Float16(bitPattern: h + 1))
            let mid = (low + high) / 2
            inputs += [mid, mid.nextUp, mid.nextDown, -mid]
        }
        var out = [UInt16](repeating: 0, count: inputs.count)
        inputs.withUnsafeBufferPointer { src in out.withUnsafeMutableBytes { DType.float16.encodeFloats(src, into: $0.baseAddress!) } }
        for (value, bits) in zip(inputs, out) {
            #expect(bits == Float16(value).bitPattern, "\(value)")
        }
    }

    @Test func bfloat16RoundsToNearestEven() {
        // 1 + 2^-8 is halfway between two bfloat16 values: ties go to the even one (1.0).
        #expect(DType.bfloat16Bits(1 + 0x1p-8) == 0x3F80)
        #expect(DType.bfloat16Bits(1 + 0x1p-8 + 0x1p-20) == 0x3F81)
        #expect(DType.bfloat16Bits((1 + 0x1p-7) + 0x1p-8) == 0x3F82)
        #expect(DType.bfloat16Bits(.nan) & 0x7FC0 == 0x7FC0)
        #expect(DType.bfloat16Bits(.infinity) == 0x7F80)
    }
}
