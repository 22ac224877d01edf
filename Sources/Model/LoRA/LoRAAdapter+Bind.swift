import PthReader

/// One adapter pair fitted to a base Linear.
public struct BoundLoRA: Sendable {
    /// The base module path relative to the model (`layers.0.attention.wq`).
    public var module: String
    /// The full tensor name of the base weight in the checkpoint (`model.layers.0.attention.wq.weight` in a training checkpoint).
    public var weightName: String
    /// The base weight's entry (dtype and shape).
    public var weight: TensorEntry
    public var pair: LoRAPair
    /// Whether the base weight is stored `[in, out]` (PEFT `fan_in_fan_out`, GPT-2 Conv1D).
    public var transposed: Bool

    /// Reads the base weight as float32, adds `scale · B·A` in float32, and returns it (not rounded).
    public func mergedWeight(from base: Checkpoint) throws -> [Float] {
        var w = try base.floats(of: weight)
        try pair.merge(into: &w, transposed: transposed, module: module)
        return w
    }
}

/// An adapter whose every key fits a base model.
public struct BoundAdapter: Sendable {
    public let adapterPath: String
    public let basePath: String
    /// Fitted pairs in the base model's module order.
    public let layers: [BoundLoRA]

    /// Pairs keyed by base module path.
    public var pairs: [String: LoRAPair] {
        Dictionary(layers.map { ($0.module, $0.pair) }, uniquingKeysWith: { a, _ in a })
    }

    /// The fitted pair whose base weight has this full tensor name.
    public func layer(weightName: String) -> BoundLoRA? {
        layers.first { $0.weightName == weightName }
    }
}

extension LoRAAdapter {
    /// Fits every adapter key to a Linear of the base checkpoint's model state dict.
    ///
    /// The base's state dict is found with `StateDictLocator` (so a training checkpoint's `model.`
    /// prefix is honoured). Throws `LoRAError.mismatch` listing every key that does not fit:
    /// stray keys, an A without its B, modules the base lacks or that are not Linear, wrong shapes.
    public func bind(to base: Checkpoint) throws -> BoundAdapter {
        try bind(to: StateDictLocator.moduleTree(of: base), basePath: base.path)
    }

    /// Fits every adapter key to a Linear of `tree`; see `bind(to:)`.
    public func bind(to tree: ModuleTree, basePath: String) throws -> BoundAdapter {
        var problems: [BindingProblem] = strayKeys.map { .unrecognizedKey(key: $0) }
        var bound: [BoundLoRA] = []
        let transposed = config?.fanInFanOut ?? false
        for entry in entries {
            let aKey = entry.aKey ?? entry.module + ".A"
            let bKey = entry.bKey ?? entry.module + ".B"
            guard let a = entry.a, let b = entry.b else {
                if entry.a != nil { problems.append(.missingPartner(key: aKey, missing: format == .peft ? "lora_B" : "lora.B")) }
                if entry.b != nil { problems.append(.missingPartner(key: bKey, missing: format == .peft ? "lora_A" : "lora.A")) }
                continue
            }
            guard let module = tree.module(at: entry.module) else {
                problems.append(.noSuchModule(key: aKey))
                problems.append(.noSuchModule(key: bKey))
                continue
            }
            // A Conv1D (`fan_in_fan_out`) weight [in, out] with bias [out] is not inferred as a Linear; accept any 2-D weight then.
            let isConv1D: Bool
            if transposed, case .generic(let params) = module.kind {
                isConv1D = Set(params.map(\.name)).isSubset(of: ["weight", "bias"]) && params.first { $0.name == "weight" }?.shape.count == 2
            } else {
                isConv1D = false
            }
            guard module.kind.isLinear || isConv1D, let weight = module.parameter("weight"), weight.shape.count == 2 else {
                problems.append(.notLinear(key: aKey, kind: module.summary))
                continue
            }
            // The torch weight is [out, in]; with fan_in_fan_out it is stored [in, out].
            let nOut = transposed ? weight.shape[1] : weight.shape[0]
            let nIn = transposed ? weight.shape[0] : weight.shape[1]
            let r = entry.configRank ?? (a.shape.first ?? 0)
            var fits = true
            if a.shape != [r, nIn] {
                problems.append(.shape(key: aKey, shape: a.shape, expected: "[\(r), \(nIn)] for \(module.path) [\(nOut), \(nIn)]"))
                fits = false
            }
            if b.shape != [nOut, r] {
                problems.append(.shape(key: bKey, shape: b.shape, expected: "[\(nOut), \(r)] for \(module.path) [\(nOut), \(nIn)]"))
                fits = false
            }
            if fits, let pair = entry.pair {
                bound.append(BoundLoRA(module: module.path, weightName: weight.name, weight: weight, pair: pair, transposed: transposed))
            }
        }
        if entries.isEmpty && problems.isEmpty {
            throw LoRAError.notAnAdapter(path: path, reason: "no LoRA pairs")
        }
        if !problems.isEmpty {
            throw LoRAError.mismatch(adapter: path, base: basePath, problems: problems)
        }
        let order = Dictionary(tree.allModules.enumerated().map { ($1.path, $0) }, uniquingKeysWith: { a, _ in a })
        bound.sort { (order[$0.module] ?? 0) < (order[$1.module] ?? 0) }
        return BoundAdapter(adapterPath: path, basePath: basePath, layers: bound)
    }
}
