import CFloat16

/// ggml's `q8_0` blocks: 32 values stored as one float16 scale `d` and 32 signed bytes `q`, value `d·q`.
///
/// Quantizing a block: `d = max|x| / 127`, `q = round(x / d)` (halves away from zero), `d` stored as
/// float16 — the reference rule of ggml and of the `gguf` Python package.
public enum Q8_0 {
    public static let blockSize = 32
    /// 2 bytes of scale + 32 quantized values.
    public static let blockBytes = 34

    /// Quantizes `values` (a multiple of 32 of them) into blocks.
    public static func quantize(_ values: [Float]) -> [UInt8] {
        precondition(values.count % blockSize == 0, "q8_0 needs a multiple of 32 values")
        let blocks = values.count / blockSize
        return [UInt8](unsafeUninitializedCapacity: blocks * blockBytes) { out, count in
            values.withUnsafeBufferPointer { x in
                for b in 0..<blocks {
                    let base = b * blockSize
                    var amax: Float = 0
                    for i in 0..<blockSize { amax = max(amax, abs(x[base + i])) }
                    let d = amax / 127
                    let inverse: Float = d != 0 ? 1 / d : 0
                    var dValue = d, half: UInt16 = 0
                    cfloat16_from_float(&dValue, &half, 1)
                    out[b * blockBytes] = UInt8(half & 0xFF)
                    out[b * blockBytes + 1] = UInt8(half >> 8)
                    for i in 0..<blockSize {
                        let q = (x[base + i] * inverse).rounded(.toNearestOrAwayFromZero)
                        out[b * blockBytes + 2 + i] = UInt8(bitPattern: Int8(max(-128, min(127, q.isFinite ? q : 0))))
                    }
                }
            }
            count = blocks * blockBytes
        }
    }

    /// Decodes `blockCount` blocks at `source` into `blockCount · 32` floats at `out`.
    public static func dequantize(_ source: UnsafeRawPointer, blockCount: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0..<blockCount {
            let block = source + b * blockBytes
            let bits = UInt16(block.load(fromByteOffset: 0, as: UInt8.self)) | UInt16(block.load(fromByteOffset: 1, as: UInt8.self)) << 8
            var bitsValue = bits, d: Float = 0
            cfloat16_to_float(&bitsValue, &d, 1)
            for i in 0..<blockSize {
                out[b * blockSize + i] = d * Float(block.load(fromByteOffset: 2 + i, as: Int8.self))
            }
        }
    }

    /// The largest block scale `d` (the quantization step) of the blocks at `source`, and the root mean square of all of them.
    public static func steps(_ source: UnsafeRawPointer, blockCount: Int) -> (largest: Float, rms: Float) {
        var largest: Float = 0, sumSquares: Double = 0
        for b in 0..<blockCount {
            let block = source + b * blockBytes
            let bits = UInt16(block.load(fromByteOffset: 0, as: UInt8.self)) | UInt16(block.load(fromByteOffset: 1, as: UInt8.self)) << 8
            var bitsValue = bits, d: Float = 0
            cfloat16_to_float(&bitsValue, &d, 1)
            largest = max(largest, abs(d))
            sumSquares += Double(d) * Double(d)
        }
        return (largest, blockCount > 0 ? Float((sumSquares / Double(blockCount)).squareRoot()) : 0)
    }
}
