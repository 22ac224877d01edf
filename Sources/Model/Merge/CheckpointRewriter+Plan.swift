import PthReader

extension CheckpointRewriter {
    /// What `write(to:format:)` would write, found without writing anything (a dry run).
    public struct Plan: Sendable, Equatable {
        /// Every tensor as it would be written: names, shapes and output dtypes, in file order.
        public var tensors: [TensorEntry]
        /// Base weight names the adapter would be folded into, in file order.
        public var mergedTensors: [String]
        /// Bytes of tensor data, each exact alias (tied weights) counted once.
        public var tensorBytes: Int
    }

    /// Merges every adapter layer in memory and checks the result fits the output dtype, exactly as
    /// `write` does, but writes nothing; throws the same errors `write` would before its first byte.
    public func plan() throws -> Plan {
        var layers: [String: BoundLoRA] = [:]
        for layer in adapter?.layers ?? [] { layers[layer.weightName] = layer }
        var tensors: [TensorEntry] = []
        var merged: [String] = []
        var seenViews = Set<String>()
        var bytes = 0
        let prefix = selectionPrefix
        for original in source.tensors where original.name.hasPrefix(prefix) {
            var out = original
            out.name = String(original.name.dropFirst(prefix.count))
            if let dtype = outputDType, out.dtype.isFloatingPoint { out.dtype = dtype }
            if let layer = layers[original.name], !merged.contains(original.name) {
                let values = try layer.mergedWeight(from: source, multiplier: multiplier)
                try Self.checkRepresentable(values, as: out.dtype, path: source.path, tensor: out.name, base: { try source.floats(of: original) })
                merged.append(original.name)
            }
            let view = "\(original.storageKey)|\(original.storageOffset)|\(original.shape)|\(original.strides)"
            if seenViews.insert(view).inserted { bytes += out.byteCount }
            tensors.append(out)
        }
        for layer in adapter?.addedTensors ?? [] where layer.weightName.hasPrefix(prefix) {
            var out = layer.weight
            out.name = String(layer.weightName.dropFirst(prefix.count))
            if let dtype = outputDType, out.dtype.isFloatingPoint { out.dtype = dtype }
            let values = try layer.mergedWeight(from: source, multiplier: multiplier)
            try Self.checkRepresentable(values, as: out.dtype, path: source.path, tensor: out.name, base: { try source.floats(of: layer.weight) })
            merged.append(layer.weightName)
            bytes += out.byteCount
            tensors.append(out)
        }
        return Plan(tensors: tensors, mergedTensors: merged, tensorBytes: bytes)
    }

    /// Bytes of tensor data `write` hands to the writer (exact aliases once), for progress reports.
    public var outputTensorBytes: Int {
        var seenViews = Set<String>()
        var bytes = 0
        for t in source.tensors where t.name.hasPrefix(selectionPrefix) {
            let size = t.elementCount * (outputDType.flatMap { t.dtype.isFloatingPoint ? $0 : nil } ?? t.dtype).itemSize
            if seenViews.insert("\(t.storageKey)|\(t.storageOffset)|\(t.shape)|\(t.strides)").inserted { bytes += size }
        }
        return bytes
    }
}
