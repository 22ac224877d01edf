import CHalfKernels
import PthReader

/// A weight matrix's elements in the width the checkpoint stores them: float32, or the 16-bit
/// patterns of float16/bfloat16, which are widened to float32 only inside the products.
enum WeightElements {
    case float32([Float])
    case float16([UInt16])
    case bfloat16([UInt16])

    /// Elements (not bytes).
    var count: Int {
        switch self {
        case .float32(let f): return f.count
        case .float16(let h), .bfloat16(let h): return h.count
        }
    }

    /// The 16-bit kind for the C kernels, nil for float32.
    var halfKind: half_kind? {
        switch self {
        case .float32: return nil
        case .float16: return HALF_KIND_FLOAT16
        case .bfloat16: return HALF_KIND_BFLOAT16
        }
    }

    /// Elements `range` in the same width.
    func slice(_ range: Range<Int>) -> WeightElements {
        switch self {
        case .float32(let f): return .float32(Array(f[range]))
        case .float16(let h): return .float16(Array(h[range]))
        case .bfloat16(let h): return .bfloat16(Array(h[range]))
        }
    }

    /// Elements `range` widened to float32 (exact).
    func floats(_ range: Range<Int>) -> [Float] {
        switch self {
        case .float32(let f): return Array(f[range])
        case .float16(let h), .bfloat16(let h):
            return [Float](unsafeUninitializedCapacity: range.count) { out, n in
                h.withUnsafeBufferPointer { half_widen($0.baseAddress! + range.lowerBound, halfKind!, out.baseAddress!, range.count) }
                n = range.count
            }
        }
    }

    /// Every element widened to float32.
    var floats: [Float] { floats(0..<count) }

    /// Several matrices' elements one after the other: in their shared 16-bit width when they all
    /// have the same, otherwise widened to float32.
    static func concatenating(_ parts: [WeightElements]) -> WeightElements {
        let kinds = Set(parts.map { $0.halfKind?.rawValue })
        if kinds.count == 1, let kind = parts.first?.halfKind {
            var bits: [UInt16] = []
            bits.reserveCapacity(parts.reduce(0) { $0 + $1.count })
            for part in parts {
                if case .float16(let h) = part { bits += h }
                if case .bfloat16(let h) = part { bits += h }
            }
            return kind == HALF_KIND_BFLOAT16 ? .bfloat16(bits) : .float16(bits)
        } else {
            var data: [Float] = []
            data.reserveCapacity(parts.reduce(0) { $0 + $1.count })
            for part in parts { data += part.floats }
            return .float32(data)
        }
    }
}

/// Row-major weight rows shared by several linear layers that read the same input (q/k/v,
/// gate/up), so they run as one matrix product; held float32 or 16-bit as stored.
///
/// Products: float32 rows go to OpenBLAS a chunk of rows per thread (`ForwardThreads`); 16-bit
/// rows are read by `half_matvec` for one input row (decoding: half the bytes per token) and
/// widened chunk by chunk into `sgemm` for several.
final class WeightStorage: @unchecked Sendable {
    // @unchecked: `elements` changes only while the model is built or merged in memory
    // (`makeFloat32`), never while a forward pass runs; the model is not shared across threads then.
    private(set) var elements: WeightElements
    let columns: Int

    init(_ elements: WeightElements, columns: Int) {
        self.elements = elements
        self.columns = columns
    }

    /// Stacks the rows of several `[out_i, columns]` matrices.
    convenience init(stacking parts: [WeightElements], columns: Int) {
        self.init(parts.count == 1 ? parts[0] : WeightElements.concatenating(parts), columns: columns)
    }

    var rows: Int { elements.count / columns }

    /// Rows `first ..< first + count` widened to float32, row-major.
    func floats(rows first: Int, count: Int) -> [Float] {
        elements.floats((first * columns)..<((first + count) * columns))
    }

    /// Copies row `row`, widened, to `destination` (`columns` floats): an embedding lookup.
    func copyRow(_ row: Int, to destination: UnsafeMutablePointer<Float>) {
        switch elements {
        case .float32(let f):
            f.withUnsafeBufferPointer { destination.update(from: $0.baseAddress! + row * columns, count: columns) }
        case .float16(let h), .bfloat16(let h):
            h.withUnsafeBufferPointer { half_widen($0.baseAddress! + row * columns, elements.halfKind!, destination, columns) }
        }
    }

    /// Replaces every element (an in-memory merge of an embedding LoRA).
    func replace(with elements: WeightElements) {
        precondition(elements.count == self.elements.count, "replacement of a different size")
        self.elements = elements
    }

    /// Widens the elements to float32 in place (before an in-memory merge writes into them).
    func makeFloat32() {
        if case .float32 = elements { return }
        elements = .float32(elements.floats)
    }

    /// The float32 elements for writing (widened first if needed).
    func withMutableFloats<R>(_ body: (UnsafeMutableBufferPointer<Float>) -> R) -> R {
        makeFloat32()
        guard case .float32(var data) = elements else { fatalError("makeFloat32 left 16-bit elements") }
        elements = .float32([]) // keep `data` uniquely referenced: no copy on write
        defer { elements = .float32(data) }
        return data.withUnsafeMutableBufferPointer { body($0) }
    }

    /// `y[m, count] = x[m, columns] · W[first ..< first + count]ᵀ` with `y`'s row stride `ldy`.
    func multiply(_ x: UnsafePointer<Float>, rows m: Int, firstRow first: Int, count n: Int,
                  into y: UnsafeMutablePointer<Float>, ldy: Int) {
        let k = columns
        switch elements {
        case .float32(let f):
            f.withUnsafeBufferPointer { w in
                let rowsBase = w.baseAddress! + first * k
                ForwardThreads.forEachRowChunk(rows: n, columns: k) { chunk, count in
                    BLAS.gemmTransposedB(m: m, n: count, k: k, a: x, lda: k, b: rowsBase + chunk * k, ldb: k, c: y + chunk, ldc: ldy)
                }
            }
        case .float16(let h), .bfloat16(let h):
            let kind = elements.halfKind!
            h.withUnsafeBufferPointer { w in
                let rowsBase = w.baseAddress! + first * k
                if m == 1 {
                    HalfProducts.matvec(rowsBase, kind: kind, rows: n, columns: k, x: x, y: y)
                } else {
                    HalfProducts.widenedGemm(rowsBase, kind: kind, rows: n, columns: k, x: x, m: m, y: y, ldy: ldy)
                }
            }
        }
    }
}
