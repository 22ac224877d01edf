import PthReader

/// How the builder applies `AdapterDelta`s: a `modules_to_save` replacement takes the place of the
/// tensor it names (in both modes, as PEFT's `ModulesToSaveWrapper` forward and its merge do); a
/// low-rank delta on a Linear is attached beside it (`.unmerged`) or folded in with the one merge
/// kernel (`.merged`); an embedding LoRA is added to the looked-up rows or folded into the matrix.
extension ModelBuilder {
    /// Removes and returns the delta for base tensor `name` (given with or without the loader's prefix).
    mutating func takeDelta(_ name: String) -> AdapterDelta? {
        if let delta = remaining.removeValue(forKey: loader.prefix + name) { return delta }
        return remaining.removeValue(forKey: name)
    }

    /// The delta for `name`, left in place.
    func delta(for name: String) -> AdapterDelta? {
        remaining[loader.prefix + name] ?? remaining[name]
    }

    /// A `modules_to_save` tensor for `name`, checked against `shape` and marked used; nil when none was given.
    mutating func replacement(_ name: String, shape: [Int]) throws -> [Float]? {
        guard case .replacement(let tensor) = delta(for: name) else { return nil }
        _ = takeDelta(name)
        guard tensor.shape == shape else {
            throw InferenceError.adapterMismatch("modules_to_save tensor for '\(name)' is \(tensor.shape) but the model needs \(shape)")
        }
        return tensor.data
    }

    /// Reads a needed tensor (strictly, like `WeightLoader.take`) and gives the adapter's
    /// `modules_to_save` replacement instead when there is one.
    mutating func tensor(_ name: String, shape: [Int]) throws -> [Float] {
        let base = try loader.take(name, shape: shape)
        return try replacement(name, shape: shape) ?? base
    }

    /// Reads a needed weight matrix in its stored width (`WeightLoader.takeWeight`), or gives the
    /// adapter's `modules_to_save` replacement (float32) instead when there is one.
    mutating func weight(_ name: String, shape: [Int]) throws -> WeightElements {
        let base = try loader.takeWeight(name, shape: shape)
        return try replacement(name, shape: shape).map { .float32($0) } ?? base
    }

    /// Attaches or merges the low-rank delta of the Linear at `path` (tensor `path.weight`), if one was given.
    mutating func adapt(_ layer: LinearLayer, path: String) throws {
        linearPaths.append(path)
        let name = path + ".weight"
        guard let delta = delta(for: name) else { return }
        guard let pair = delta.pair else { return }  // a replacement was already used (or is reported as unused)
        _ = takeDelta(name)
        guard delta.layout == .linear else {
            throw InferenceError.unsupportedAdapter(module: path, kind: delta.kindName, reason: "'\(path)' is an nn.Linear here; the adapter's layout is \(delta.layout?.rawValue ?? "?")")
        }
        guard pair.inFeatures == layer.inFeatures, pair.outFeatures == layer.outFeatures else {
            throw InferenceError.adapterMismatch("'\(path)' is [\(layer.outFeatures), \(layer.inFeatures)] but the adapter pair is [\(pair.outFeatures), \(pair.inFeatures)] (rank \(pair.rank))")
        }
        switch mode {
        case .unmerged: try layer.attach(delta)
        case .merged: try layer.merge(delta, module: path)
        }
    }

    /// The input embedding `[vocab, dim]` as the forward pass uses it, the matrix a tied head
    /// shares, and the embedding LoRA to add to looked-up rows (unmerged mode only).
    ///
    /// A `modules_to_save` embedding replaces what the forward looks up but not the tied head (PEFT
    /// wraps a copy of the module; the head keeps the original parameter). A merged embedding LoRA
    /// changes the shared parameter, so the tied head too (PEFT merges in place).
    mutating func embedding(_ embeddingName: String) throws -> (lookup: WeightElements, tied: WeightElements, adapter: AdapterDelta?) {
        let name = embeddingName + ".weight"
        let shape = [config.vocabSize, config.hiddenSize]
        let base = try loader.takeWeight(name, shape: shape)
        if let saved = try replacement(name, shape: shape) { return (.float32(saved), base, nil) }
        guard let delta = delta(for: name) else { return (base, base, nil) }
        _ = takeDelta(name)
        guard delta.weightShape == shape else {
            throw InferenceError.adapterMismatch("'\(embeddingName)' is \(shape) but the adapter's \(delta.kindName) delta is for \(delta.weightShape)")
        }
        switch (mode, delta) {
        case (.merged, _):
            var merged = base.floats
            try delta.apply(to: &merged, module: embeddingName)
            return (.float32(merged), .float32(merged), nil)
        case (.unmerged, .lora(_, .embedding)):
            return (base, base, delta)
        default:
            throw InferenceError.unsupportedAdapter(module: embeddingName, kind: delta.kindName, reason: "the unmerged forward adds an embedding LoRA (lora_embedding_A/B) to the looked-up rows; merge this adapter instead")
        }
    }
}
