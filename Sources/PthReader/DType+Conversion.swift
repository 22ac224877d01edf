import CFloat16

/// Conversions between raw little-endian element bytes and `Float` values.
extension DType {
    /// Decodes `count` little-endian elements starting at `base` into floats (integers and bools widened).
    public func decodeFloats(from base: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        switch self {
        case .float32:
            for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .float16:
            // Little-endian hosts only (the reader refuses big-endian files; Swift on Linux is LE).
            cfloat16_to_float(base.assumingMemoryBound(to: UInt16.self), out, count)
        case .bfloat16:
            for i in 0..<count {
                let bits = UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16
                out[i] = Float(bitPattern: bits)
            }
        case .float64:
            for i in 0..<count { out[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        case .int64:
            for i in 0..<count { out[i] = Float(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case .int32:
            for i in 0..<count { out[i] = Float(Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        case .int16:
            for i in 0..<count { out[i] = Float(Int16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
        case .int8:
            for i in 0..<count { out[i] = Float(base.load(fromByteOffset: i, as: Int8.self)) }
        case .uint8:
            for i in 0..<count { out[i] = Float(base.load(fromByteOffset: i, as: UInt8.self)) }
        case .bool:
            for i in 0..<count { out[i] = base.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        }
    }

    /// Encodes floats as little-endian elements of this dtype, rounding to nearest even for float16/bfloat16.
    ///
    /// Only floating-point dtypes are supported; integer tensors are never produced from floats.
    public func encodeFloats(_ values: UnsafeBufferPointer<Float>, into base: UnsafeMutableRawPointer) {
        precondition(isFloatingPoint, "encodeFloats needs a floating-point dtype")
        switch self {
        case .float32:
            for (i, v) in values.enumerated() { base.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        case .float16:
            cfloat16_from_float(values.baseAddress, base.assumingMemoryBound(to: UInt16.self), values.count)
        case .bfloat16:
            for (i, v) in values.enumerated() { base.storeBytes(of: DType.bfloat16Bits(v).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .float64:
            for (i, v) in values.enumerated() { base.storeBytes(of: Double(v).bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self) }
        default:
            break
        }
    }

    /// Rounds a float to bfloat16 bits (round to nearest even; NaN stays NaN), as torch does.
    @inline(__always)
    public static func bfloat16Bits(_ value: Float) -> UInt16 {
        if value.isNaN { return 0x7FC0 }
        let bits = value.bitPattern
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }
}
