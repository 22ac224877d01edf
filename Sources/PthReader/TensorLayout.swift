/// Stateless helpers for strided tensor layouts.
public enum TensorLayout {
    /// One past the largest storage element index a view touches, or nil on overflow.
    ///
    /// An empty view (some size 0) touches nothing and returns `offset`.
    public static func extent(shape: [Int], strides: [Int], offset: Int) -> Int? {
        if shape.contains(0) { return offset }
        var last = offset
        for (size, stride) in zip(shape, strides) {
            let (span, o1) = (size - 1).multipliedReportingOverflow(by: stride)
            let (sum, o2) = last.addingReportingOverflow(span)
            if o1 || o2 { return nil }
            last = sum
        }
        let (end, o3) = last.addingReportingOverflow(1)
        return o3 ? nil : end
    }

    /// Copies a strided view (starting at `raw[0]`) into row-major contiguous bytes.
    public static func gather(_ raw: [UInt8], shape: [Int], strides: [Int], itemSize: Int) -> [UInt8] {
        let count = shape.reduce(1, *)
        var out = [UInt8](repeating: 0, count: count * itemSize)
        if count == 0 { return out }
        var index = [Int](repeating: 0, count: shape.count)
        raw.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                var source = 0
                for element in 0..<count {
                    (dst.baseAddress! + element * itemSize).copyMemory(from: src.baseAddress! + source * itemSize, byteCount: itemSize)
                    var axis = shape.count - 1
                    while axis >= 0 {
                        index[axis] += 1
                        source += strides[axis]
                        if index[axis] < shape[axis] { break }
                        source -= strides[axis] * shape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
        return out
    }
}
