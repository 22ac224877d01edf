/// Where one tensor's elements live: its storage, offset, shape and strides (all in elements).
///
/// Entries are cheap descriptions; reading the bytes is `Checkpoint.bytes(of:)`.
public struct TensorEntry: Sendable, Equatable, Hashable {
    /// Dotted path of dict keys and list indices (`model.layers.0.attention.wq.weight`).
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public var strides: [Int]
    /// Offset of element 0 within the storage, in elements.
    public var storageOffset: Int
    /// Identifies the storage inside its checkpoint; tensors sharing a key share bytes (tied weights).
    public var storageKey: String
    /// Whether the file stored it as an `nn.Parameter` with `requires_grad`.
    public var requiresGrad: Bool

    public init(name: String, dtype: DType, shape: [Int], strides: [Int], storageOffset: Int,
                storageKey: String, requiresGrad: Bool = false) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.strides = strides
        self.storageOffset = storageOffset
        self.storageKey = storageKey
        self.requiresGrad = requiresGrad
    }

    /// Number of elements (1 for a 0-d scalar, 0 for an empty tensor).
    ///
    /// Every tensor of an opened `Checkpoint` has a `byteCount` that fits `Int` (checked when it
    /// is opened), so this and `byteCount` cannot overflow there; use `checkedByteCount` for
    /// entries from elsewhere.
    public var elementCount: Int { checkedElementCount ?? Int.max }

    /// Bytes the tensor occupies when written contiguously (see `elementCount`).
    public var byteCount: Int { checkedByteCount ?? Int.max }

    /// The element count, or nil when it overflows `Int` (a stride-0 view may be that large).
    public var checkedElementCount: Int? {
        var count = 1
        if shape.contains(0) { return 0 }
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            if overflow || size < 0 { return nil }
            count = product
        }
        return count
    }

    /// The contiguous byte count, or nil when it overflows `Int`.
    public var checkedByteCount: Int? {
        guard let count = checkedElementCount else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
        return overflow ? nil : bytes
    }

    /// Row-major strides for `shape`.
    public static func contiguousStrides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running = running.multipliedReportingOverflow(by: Swift.max(shape[axis], 1)).partialValue
        }
        return strides
    }

    /// Whether the elements are laid out row-major without gaps (size-1 axes ignored).
    public var isContiguous: Bool {
        // `contiguousStrides(for: shape)` axis by axis, without making the array.
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            if shape[axis] != 1 && strides[axis] != running { return false }
            running = running.multipliedReportingOverflow(by: Swift.max(shape[axis], 1)).partialValue
        }
        return true
    }
}

/// The exact elements a tensor views: tensors with equal views are aliases of one another
/// (tied weights), counted once and written once.
struct TensorView: Hashable {
    let storageKey: String, storageOffset: Int, shape: [Int], strides: [Int], dtype: DType

    init(_ t: TensorEntry) {
        storageKey = t.storageKey
        storageOffset = t.storageOffset
        shape = t.shape
        strides = t.strides
        dtype = t.dtype
    }
}
