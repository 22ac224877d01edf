import Foundation

// Linear layers: one weight matrix (possibly sharing rows with siblings of the same input), an
// optional unmerged LoRA adapter. Activations are row-major `[tokens, features]` float32 buffers;
// weights stay in their stored width (`WeightStorage`).

/// A torch `nn.Linear`: `y = x Wᵀ (+ b)`, plus `scale · (x Aᵀ) Bᵀ` when an adapter is attached unmerged.
///
/// The weight `[out, in]` is rows `rowOffset ..< rowOffset + out` of a `WeightStorage`, which it may
/// share with sibling layers of the same input (see `LinearGroup`).
public final class LinearLayer: @unchecked Sendable {
    public let inFeatures: Int
    public let outFeatures: Int
    let storage: WeightStorage
    let rowOffset: Int
    /// The bias `[out]` (Qwen2's q/k/v), nil for the bias-free layers of most architectures.
    let bias: [Float]?
    /// The low-rank adapter (LoRA or DoRA, `.linear` layout) applied beside the weight (unmerged), if any.
    public private(set) var adapter: AdapterDelta?
    /// For a DoRA adapter: `m / ‖W + s·B·A‖` per output feature, computed from the base weight at attach time.
    private(set) var doraFactors: [Float]?

    init(weight: WeightElements, outFeatures: Int, inFeatures: Int, bias: [Float]? = nil) {
        self.storage = WeightStorage(weight, columns: inFeatures)
        self.rowOffset = 0
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.bias = bias
    }

    init(storage: WeightStorage, rowOffset: Int, outFeatures: Int, bias: [Float]? = nil) {
        self.storage = storage
        self.rowOffset = rowOffset
        self.outFeatures = outFeatures
        self.inFeatures = storage.columns
        self.bias = bias
    }

    /// Adds the bias, if any, to each of `rows` rows of `y` (row stride `ldy`).
    func addBias(rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        guard let bias else { return }
        bias.withUnsafeBufferPointer { b in
            for r in 0..<rows {
                let row = y + r * ldy
                for i in 0..<outFeatures { row[i] += b[i] }
            }
        }
    }

    /// The weight `[out, in]`, row-major, as torch stores it (a copy widened to float32).
    public var weight: [Float] {
        storage.floats(rows: rowOffset, count: outFeatures)
    }

    /// Attaches a LoRA or DoRA delta (`.linear` layout, shape already checked) to run unmerged:
    /// `W x + s·B(A x)`, scaled per output feature for DoRA.
    func attach(_ delta: AdapterDelta) throws {
        adapter = delta
        doraFactors = try delta.doraFactors(base: weight)
    }

    /// Stops applying the attached adapter (the layer is the base layer again); returns it.
    @discardableResult
    func detachAdapter() -> AdapterDelta? {
        defer { adapter = nil; doraFactors = nil }
        return adapter
    }

    /// Folds a delta into the weight with the one merge kernel, `AdapterDelta.apply`, in float32
    /// (a 16-bit storage, and so the sibling layers sharing it, is widened to float32 first; their
    /// values do not change).
    func merge(_ delta: AdapterDelta, module: String) throws {
        var rows = weight
        try delta.apply(to: &rows, module: module)
        let offset = rowOffset * inFeatures
        storage.withMutableFloats { w in
            rows.withUnsafeBufferPointer { (w.baseAddress! + offset).update(from: $0.baseAddress!, count: $0.count) }
        }
    }

    /// Adds `scale · (x Aᵀ) Bᵀ` to `y` (row stride `ldy`) when an adapter is attached.
    func addAdapter(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        guard let pair = adapter?.pair else { return }
        let r = pair.rank
        var t = [Float](repeating: 0, count: rows * r)
        t.withUnsafeMutableBufferPointer { t in
            pair.a.data.withUnsafeBufferPointer { a in
                BLAS.gemmTransposedB(m: rows, n: r, k: inFeatures, a: x, lda: inFeatures,
                                     b: a.baseAddress!, ldb: inFeatures, c: t.baseAddress!, ldc: r)
            }
            pair.b.data.withUnsafeBufferPointer { b in
                BLAS.gemmTransposedB(m: rows, n: outFeatures, k: r, alpha: pair.scale, a: UnsafePointer(t.baseAddress!), lda: r,
                                     b: b.baseAddress!, ldb: r, beta: 1, c: y, ldc: ldy)
            }
        }
        // DoRA, as PEFT's DoraLinearLayer.forward: bias + f·(W x + s·B(A x)), f = m / ‖W + s·B·A‖.
        if let factors = doraFactors {
            for row in 0..<rows {
                let out = y + row * ldy
                for i in 0..<outFeatures {
                    let b = bias?[i] ?? 0
                    out[i] = factors[i] * (out[i] - b) + b
                }
            }
        }
    }

    /// `y[rows, out] = x[rows, in] Wᵀ (+ adapter)`.
    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        storage.multiply(x, rows: rows, firstRow: rowOffset, count: outFeatures, into: y, ldy: outFeatures)
        addBias(rows: rows, into: y, ldy: outFeatures)
        addAdapter(x, rows: rows, into: y, ldy: outFeatures)
    }

    /// `x[rows, in] Wᵀ` as a new buffer.
    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: rows * outFeatures) { y, n in
            x.withUnsafeBufferPointer { apply($0.baseAddress!, rows: rows, into: y.baseAddress!) }
            n = rows * outFeatures
        }
    }
}

/// Linear layers of one input whose weights are consecutive rows of one storage (q/k/v, gate/up):
/// one matrix product gives all their outputs side by side, `[rows, Σ out_i]`.
struct LinearGroup {
    let layers: [LinearLayer]
    let storage: WeightStorage

    /// Stacks the weights of `parts` (`[out_i, in]` each, with an optional bias `[out_i]`) into one
    /// storage and makes a layer per part.
    init(parts: [(weight: WeightElements, out: Int, bias: [Float]?)], inFeatures: Int) {
        let storage = WeightStorage(stacking: parts.map(\.weight), columns: inFeatures)
        var offset = 0
        var layers: [LinearLayer] = []
        for part in parts {
            layers.append(LinearLayer(storage: storage, rowOffset: offset, outFeatures: part.out, bias: part.bias))
            offset += part.out
        }
        self.layers = layers
        self.storage = storage
    }

    var width: Int { storage.rows }

    /// `[rows, width]`: every layer's output, adapters included, in column blocks.
    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        let width = self.width
        return [Float](unsafeUninitializedCapacity: rows * width) { y, n in
            x.withUnsafeBufferPointer { x in
                storage.multiply(x.baseAddress!, rows: rows, firstRow: 0, count: width, into: y.baseAddress!, ldy: width)
                for layer in layers where layer.bias != nil {
                    layer.addBias(rows: rows, into: y.baseAddress! + layer.rowOffset, ldy: width)
                }
                for layer in layers where layer.adapter != nil {
                    layer.addAdapter(x.baseAddress!, rows: rows, into: y.baseAddress! + layer.rowOffset, ldy: width)
                }
            }
            n = rows * width
        }
    }
}
