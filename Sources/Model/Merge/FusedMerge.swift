import COpenBLAS
import PthReader

/// The merge arithmetic in one pass over cache-sized blocks of rows: decode the base weight's
/// bytes, add `scale · B·A` (one sgemm per block), check every value with a SIMD finite/range
/// test, and round once into the output dtype.
///
/// A block is at most 64 Ki floats (256 KiB, half of a Zen 3 core's L2), so the decoded values,
/// the sgemm's output and the check all stay in cache; the old path made four passes over a whole
/// float32 copy of the tensor. The block buffer is allocated once and reused for every tensor.
/// The result goes into a new array, written block by block.
final class FusedMerge: @unchecked Sendable {
    // @unchecked Sendable: handed to the merge thread once and used by that one thread only
    // (the calling thread uses its own instance); its scratch buffer is never shared.
    /// Floats per block.
    static let blockFloats = 1 << 16
    private var scratch: UnsafeMutableBufferPointer<Float>

    init() {
        scratch = .allocate(capacity: Self.blockFloats)
    }

    deinit { scratch.deallocate() }

    /// `W + scale · B·A` for the base weight's contiguous bytes `raw` (dtype `dtype`), rounded once
    /// into `output`'s dtype.
    ///
    /// Throws `MergeError.notRepresentable` for the first value that is NaN, infinite or beyond
    /// the output dtype's range where the base value was finite (as PEFT's `safe_merge`, plus
    /// float16 overflow), naming `path` and `output.name`; `LoRAError.weightSize` for a base
    /// weight of the wrong size.
    func merge(_ raw: [UInt8], dtype: DType, pair: LoRAPair, transposed: Bool, module: String,
               output: TensorEntry, path: String) throws -> [UInt8] {
        let count = raw.count / dtype.itemSize
        guard count == pair.outFeatures * pair.inFeatures, raw.count == count * dtype.itemSize else {
            throw LoRAError.weightSize(module: module, expected: pair.outFeatures * pair.inFeatures, got: count)
        }
        let rows = transposed ? pair.inFeatures : pair.outFeatures
        let width = transposed ? pair.outFeatures : pair.inFeatures
        guard rows > 0, width > 0 else { return raw }
        if width > scratch.count {
            scratch.deallocate()
            scratch = .allocate(capacity: width)
        }
        let rowsPerBlock = Swift.max(1, scratch.count / width)
        let limit = FusedMerge.limit(for: output.dtype)
        let outSize = output.dtype.itemSize
        // A new array, filled block by block: writing over `raw` would copy it first anyway (the
        // caller still holds it, so it is not uniquely referenced), and zero-filling is wasted work.
        return try [UInt8](unsafeUninitializedCapacity: count * outSize) { buffer, initialized in
            let out = UnsafeMutableRawBufferPointer(buffer)
            try raw.withUnsafeBytes { input in
                var row = 0
                while row < rows {
                    let n = Swift.min(rowsPerBlock, rows - row)
                    let first = row * width, values = n * width
                    let block = scratch.baseAddress!
                    dtype.decodeFloats(from: input.baseAddress! + first * dtype.itemSize, count: values, into: block)
                    pair.addScaledProduct(rows: row..<(row + n), into: block, transposed: transposed, scale: pair.scale)
                    if !FusedMerge.allWithin(block, values, limit) {
                        // Excuse values already non-finite in the base (decode the block again).
                        let base = [Float](unsafeUninitializedCapacity: values) { b, c in
                            dtype.decodeFloats(from: input.baseAddress! + first * dtype.itemSize, count: values, into: b.baseAddress!)
                            c = values
                        }
                        for i in 0..<values where !(abs(block[i]) < limit) && abs(base[i]).isFinite {
                            throw MergeError.notRepresentable(path: path, tensor: output.name, index: first + i, value: block[i], dtype: output.dtype.rawValue)
                        }
                    }
                    output.dtype.encodeFloats(UnsafeBufferPointer(start: block, count: values), into: out.baseAddress! + first * outSize)
                    row += n
                }
            }
            initialized = count * outSize
        }
    }

    /// Magnitudes at or above this cannot be stored in `dtype` (float16 rounds them to infinity).
    static func limit(for dtype: DType) -> Float {
        dtype == .float16 ? 65519.996 : .greatestFiniteMagnitude
    }

    /// Whether every one of `count` values is finite and of magnitude below `limit` (NaN fails),
    /// 16 lanes at a time.
    static func allWithin(_ values: UnsafePointer<Float>, _ count: Int, _ limit: Float) -> Bool {
        let high = SIMD16<Float>(repeating: limit), low = -high
        var ok = SIMDMask<SIMD16<Int32>>(repeating: true)
        let raw = UnsafeRawPointer(values)
        var i = 0
        while i + 16 <= count {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            ok = ok .& (v .< high) .& (v .> low)
            i += 16
        }
        var tail = true
        while i < count {
            tail = tail && abs(values[i]) < limit
            i += 1
        }
        return tail && all(ok)
    }
}
