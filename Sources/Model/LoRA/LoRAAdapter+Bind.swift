import Foundation
import PthReader

/// One adapter delta fitted to a base tensor.
public struct BoundLoRA: Sendable {
    /// The base module path relative to the model (`layers.0.attention.wq`).
    public var module: String
    /// The full tensor name of the base weight in the checkpoint (`model.layers.0.attention.wq.weight` in a training checkpoint).
    public var weightName: String
    /// The base weight's entry (dtype and shape).
    public var weight: TensorEntry
    /// What the adapter does to that tensor.
    public var delta: AdapterDelta

    public init(module: String, weightName: String, weight: TensorEntry, delta: AdapterDelta) {
        self.module = module
        self.weightName = weightName
        self.weight = weight
        self.delta = delta
    }

    /// Reads the base weight as float32, applies the delta in float32, and returns it (not rounded).
    public func mergedWeight(from base: Checkpoint, multiplier: Float = 1) throws -> [Float] {
        var w = try base.floats(of: weight)
        try delta.scaled(by: multiplier, module: module).apply(to: &w, module: module)
        return w
    }
}

/// An adapter whose every key fits a base model.
public struct BoundAdapter: Sendable {
    public let adapterPath: String
    public let basePath: String
    /// Fitted deltas in the base model's module order.
    public let layers: [BoundLoRA]

    public init(adapterPath: String, basePath: String, layers: [BoundLoRA]) {
        self.adapterPath = adapterPath
        self.basePath = basePath
        self.layers = layers
    }

    /// Deltas keyed by the base tensor name: what merge, the wrapped forward (`TransformerModel.load`,
    /// `MergeVerifier.verify`) and the writers take.
    public var deltas: [String: AdapterDelta] {
        Dictionary(layers.map { ($0.weightName, $0.delta) }, uniquingKeysWith: { a, _ in a })
    }

    /// The `modules_to_save` tensors that stand for a tied head the base stores once (as part of
    /// the embedding): `merge` writes them as new tensors beside the embedding.
    public var addedTensors: [BoundLoRA] {
        layers.filter { $0.weight.name != $0.weightName }
    }

    /// The same adapter with every delta's scale multiplied by `factor` (throws for DoRA / replacements unless 1).
    public func scaled(by factor: Float) throws -> BoundAdapter {
        BoundAdapter(adapterPath: adapterPath, basePath: basePath,
                     layers: try layers.map { var l = $0; l.delta = try l.delta.scaled(by: factor, module: l.module); return l })
    }

    /// The fitted delta whose base weight has this full tensor name.
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
        // PEFT forces fan_in_fan_out to false on nn.Linear targets (every target here), with a warning.
        let transposed = false
        if config?.fanInFanOut == true {
            let note = "note: adapter_config.json sets fan_in_fan_out: true, but its targets are nn.Linear layers; like PEFT, loratool sets it to false\n"
            _ = note.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        }
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
            if let layer = bindLowRank(entry, a: a, b: b, module: module, aKey: aKey, bKey: bKey, transposed: transposed, problems: &problems) {
                bound.append(layer)
            }
        }
        for r in replacements {
            if tree.module(at: r.module) == nil, let tied = tiedHeadReplacement(r, tree: tree) {
                bound.append(tied)
                continue
            }
            guard let module = tree.module(at: r.module), let parameter = module.parameter(r.parameter) else {
                problems.append(.noSuchModule(key: r.key))
                continue
            }
            guard parameter.shape == r.tensor.shape else {
                problems.append(.shape(key: r.key, shape: r.tensor.shape, expected: "\(parameter.shape) like \(parameter.name) (modules_to_save replaces it)"))
                continue
            }
            bound.append(BoundLoRA(module: module.path, weightName: parameter.name, weight: parameter, delta: .replacement(r.tensor)))
        }
        if entries.isEmpty && replacements.isEmpty && problems.isEmpty {
            throw LoRAError.notAnAdapter(path: path, reason: "no LoRA pairs")
        }
        if !problems.isEmpty {
            throw LoRAError.mismatch(adapter: path, base: basePath, problems: problems)
        }
        let order = Dictionary(tree.allModules.enumerated().map { ($1.path, $0) }, uniquingKeysWith: { a, _ in a })
        let last = tree.allModules.count
        let sorted = bound.enumerated().sorted { (order[$0.element.module] ?? last, $0.offset) < (order[$1.element.module] ?? last, $1.offset) }
        return BoundAdapter(adapterPath: path, basePath: basePath, layers: sorted.map(\.element))
    }
}

extension LoRAAdapter {
    /// A `modules_to_save` head (`lm_head.weight`) for a base that stores its tied head once, inside
    /// the embedding (HF safetensors with `tie_word_embeddings`): PEFT wraps a copy of the tied head,
    /// so the saved tensor becomes the head and the embedding keeps its values. Bound with the
    /// embedding's entry as `weight` (same shape and dtype) and the head's own name as `weightName`.
    func tiedHeadReplacement(_ r: Replacement, tree: ModuleTree) -> BoundLoRA? {
        guard r.parameter == "weight", tree.head == nil, ModuleTree.headNames.contains(ModuleTree.lastComponent(r.module)),
              !r.module.contains(".") else { return nil }
        let embeddings = tree.allModules.compactMap { module -> TensorEntry? in
            guard case .embedding = module.kind, let weight = module.parameter("weight"), weight.shape == r.tensor.shape else { return nil }
            return weight
        }
        guard embeddings.count == 1, let embedding = embeddings.first else { return nil }
        return BoundLoRA(module: r.module, weightName: tree.tensorName(module: r.module, parameter: "weight"), weight: embedding, delta: .replacement(r.tensor))
    }

    /// Fits one A/B entry (and its DoRA magnitude) to a Linear, a Conv1D or an embedding; records problems.
    func bindLowRank(_ entry: Entry, a: Tensor, b: Tensor, module: Module, aKey: String, bKey: String, transposed: Bool,
                     problems: inout [BindingProblem]) -> BoundLoRA? {
        // A Conv1D (`fan_in_fan_out`) weight [in, out] with bias [out] is not inferred as a Linear; accept any 2-D weight then.
        let isConv1D: Bool
        if transposed, case .generic(let params) = module.kind {
            isConv1D = Set(params.map(\.name)).isSubset(of: ["weight", "bias"]) && params.first { $0.name == "weight" }?.shape.count == 2
        } else {
            isConv1D = false
        }
        var isEmbedding = false
        if case .embedding = module.kind { isEmbedding = true }
        let fits = entry.isEmbedding ? isEmbedding : (module.kind.isLinear || isConv1D)
        guard fits, let weight = module.parameter("weight"), weight.shape.count == 2 else {
            problems.append(.notLinear(key: aKey, kind: module.summary + (entry.isEmbedding ? " (lora_embedding keys need an Embedding)" : "")))
            return nil
        }
        let layout: AdapterDelta.WeightLayout = isEmbedding ? .embedding : (transposed ? .conv1D : .linear)
        // The torch weight is [out, in]; with fan_in_fan_out it is stored [in, out]; an embedding [count, dim] has out = dim.
        let nOut = layout.isTransposed ? weight.shape[1] : weight.shape[0]
        let nIn = layout.isTransposed ? weight.shape[0] : weight.shape[1]
        let r = entry.configRank ?? (a.shape.first ?? 0)
        var ok = true
        if a.shape != [r, nIn] {
            problems.append(.shape(key: aKey, shape: a.shape, expected: "[\(r), \(nIn)] for \(module.path) \(weight.shape)"))
            ok = false
        }
        if b.shape != [nOut, r] {
            problems.append(.shape(key: bKey, shape: b.shape, expected: "[\(nOut), \(r)] for \(module.path) \(weight.shape)"))
            ok = false
        }
        if let m = entry.magnitude, m.count != nOut || m.shape.count != 1 {
            problems.append(.shape(key: entry.magnitudeKey ?? entry.module, shape: m.shape, expected: "[\(nOut)] (one magnitude per output feature of \(module.path))"))
            ok = false
        }
        guard ok, let pair = entry.pair else { return nil }
        let delta: AdapterDelta = entry.magnitude.map { .dora(pair, magnitude: $0.data, layout: layout) } ?? .lora(pair, layout: layout)
        return BoundLoRA(module: module.path, weightName: weight.name, weight: weight, delta: delta)
    }
}
