/// Keys and values of one attention layer for the tokens seen so far, rows of `kvHeads · headDim`.
public final class LayerKVCache: @unchecked Sendable {
    let width: Int
    /// `[count, width]` keys (rotary already applied), with spare capacity beyond `count` rows.
    private(set) var keys: [Float] = []
    private(set) var values: [Float] = []
    public private(set) var count = 0

    init(width: Int) {
        self.width = width
    }

    /// Appends `rows` rows of keys and values, read from rows `rowStride` values apart.
    func append(keys newKeys: UnsafePointer<Float>, values newValues: UnsafePointer<Float>, rowStride: Int, rows: Int) {
        let needed = (count + rows) * width
        if keys.count < needed {
            let capacity = max(needed, keys.count * 2, 64 * width)
            keys.append(contentsOf: repeatElement(0, count: capacity - keys.count))
            values.append(contentsOf: repeatElement(0, count: capacity - values.count))
        }
        let offset = count * width
        keys.withUnsafeMutableBufferPointer { k in
            values.withUnsafeMutableBufferPointer { v in
                for r in 0..<rows {
                    (k.baseAddress! + offset + r * width).update(from: newKeys + r * rowStride, count: width)
                    (v.baseAddress! + offset + r * width).update(from: newValues + r * rowStride, count: width)
                }
            }
        }
        count += rows
    }

    func reset() { count = 0 }
}

/// The per-layer key/value cache for token-by-token decoding with `TransformerModel.forward(tokens:cache:)`.
public final class KVCache: @unchecked Sendable {
    let layers: [LayerKVCache]
    let modelIdentifier: ObjectIdentifier

    init(layers: [LayerKVCache], model: ObjectIdentifier) {
        self.layers = layers
        self.modelIdentifier = model
    }

    /// Number of tokens cached so far (the position the next token gets).
    public var count: Int { layers.first?.count ?? 0 }

    /// Forgets every cached token, keeping the memory.
    public func reset() { layers.forEach { $0.reset() } }
}
