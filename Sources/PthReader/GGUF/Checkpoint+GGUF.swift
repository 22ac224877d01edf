/// GGUF files opened as checkpoints: their header, stored types and quantization steps.
extension Checkpoint {
    /// The ggml type a GGUF tensor is stored as (nil for other formats or unknown names).
    public func ggufType(of name: String) -> GGUFTensorType? {
        gguf?.tensors.first { $0.name == name }?.type
    }

    /// The quantization steps (q8_0 block scales) of a tensor read from a q8_0 GGUF tensor — the
    /// largest and their root mean square — nil for a tensor that is not quantized.
    public func quantizationSteps(of t: TensorEntry) throws -> (largest: Float, rms: Float)? {
        guard let source = storages[t.storageKey]?.source as? Q8_0Source else { return nil }
        return try source.steps()
    }

    /// A checkpoint over the same storages whose tensors are `entries` (renamed or re-viewed tensors
    /// of this one), each checked against its storage. Used to present a GGUF file under another naming.
    package func remapped(_ entries: [TensorEntry]) throws -> Checkpoint {
        let items = entries.map { DictItem(key: .string($0.name), value: .tensor($0)) }
        return try Checkpoint(path: path, format: format, root: .dict(items, ordered: true), storages: storages,
                              configJSON: configJSON, adapterConfigJSON: adapterConfigJSON, gguf: gguf)
    }
}
