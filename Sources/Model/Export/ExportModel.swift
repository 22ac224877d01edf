import Foundation
import PthReader

/// The model families that can leave loratool for transformers and llama.cpp, each with the
/// transformers class and llama.cpp architecture that run it without remote code.
public enum ExportFamily: String, Sendable, Codable {
    /// MiniMind2 `.pth` (`tok_embeddings`, `layers.N.attention.wq`): RoPE on adjacent pairs.
    /// transformers: `LlamaForCausalLM` with q/k rows permuted to rotate-half; llama.cpp: `llama` as stored.
    case miniMindV1 = "minimind-v1"
    /// Llama-style names with rotate-half RoPE and no q/k norm (MiniMind2 HF-era, Llama).
    /// transformers: `LlamaForCausalLM` as stored; llama.cpp: `llama` with q/k rows permuted to adjacent pairs.
    case llama
    /// Llama-style names with per-head `q_norm`/`k_norm` (minimind-3, Qwen3): `Qwen3ForCausalLM`, `qwen3`.
    case qwen3
    /// Qwen3 attention with routed experts and no shared expert: `Qwen3MoeForCausalLM`, `qwen3moe`.
    case qwen3Moe = "qwen3moe"
    /// Llama-style names with q/k/v biases (Qwen2, Qwen2.5): `Qwen2ForCausalLM`, `qwen2`, as stored.
    case qwen2
}

/// What a tensor is in the model, whatever any ecosystem calls it.
public enum TensorRole: Hashable, Sendable {
    case embedding, head, finalNorm
    case attentionNorm, query, key, value, attentionOutput, queryNorm, keyNorm
    /// Biases of the q/k/v projections (Qwen2).
    case queryBias, keyBias, valueBias
    case feedForwardNorm, gate, up, down, router
    case expertGate, expertUp, expertDown
}

/// One tensor of the model to export: its role, where it sits, and its source tensor.
public struct ExportTensor: Sendable {
    public var role: TensorRole
    public var layer: Int?
    public var expert: Int?
    /// Full name of the source tensor in the checkpoint (prefix included).
    public var source: String
    /// Torch-order shape.
    public var shape: [Int]
}

/// A checkpoint (with an optional adapter folded in) seen as a model to export: its family,
/// hyper-parameters and tensors by role. Values are computed one tensor at a time.
public struct ExportModel {
    public let checkpoint: Checkpoint
    public let adapter: BoundAdapter?
    /// Multiplies every adapter pair's scale.
    public let multiplier: Float
    public let family: ExportFamily
    public let configuration: ResolvedModelConfiguration
    public let intermediateSize: Int
    public let expertCount: Int
    public let expertIntermediateSize: Int
    /// Whether the output head is the embedding matrix (stored once).
    public let tiedHead: Bool
    /// The floating-point dtype most weights are stored in.
    public let sourceDType: DType
    /// Every tensor in export order (embedding, layers, final norm, head when untied).
    public let tensors: [ExportTensor]
    /// The rotary scaling the model computes with (transformers' `llama3` or `yarn`), nil for plain RoPE.
    public let ropeScaling: RopeScaling?
    /// Context length (`max_position_embeddings`) and token ids the configuration gives, if any.
    public let contextLength: Int
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    /// Hyper-parameters taken from defaults instead of a configuration, one line each (said on stderr by the CLI).
    public let assumptions: [String]

    /// Analyses `checkpoint`: finds its naming and state dict, resolves the hyper-parameters from
    /// its `config.json` (or `configPath`) and the shapes, and lists its tensors by role.
    public init(checkpoint: Checkpoint, adapter: BoundAdapter? = nil, multiplier: Float = 1, configPath: String? = nil) throws {
        self.checkpoint = checkpoint
        self.adapter = adapter
        self.multiplier = multiplier
        let raw = try ExportModel.rawConfiguration(for: checkpoint, path: configPath)
        let given: ModelConfiguration
        if let configPath { given = try ModelConfiguration.load(path: configPath) } else { given = try ModelConfiguration.discovered(for: checkpoint) ?? ModelConfiguration() }
        let (architecture, prefix) = try TransformerModel.detect(checkpoint, modelType: given.modelType)
        let naming = architecture.naming
        let loader = WeightLoader(checkpoint: checkpoint, prefix: prefix)
        var resolver = ConfigurationResolver(given: given, architecture: architecture, loader: loader)
        let config = try resolver.resolve()
        configuration = config
        sourceDType = loader.dominantDType
        try ExportModel.checkExportable(config.ropeScaling, path: checkpoint.path)
        ropeScaling = config.ropeScaling
        var assumed = config.assumed
        if config.maxPositionEmbeddings == nil { assumed.append("assumed max_position_embeddings = 32768 (context length for the export)") }
        contextLength = config.maxPositionEmbeddings ?? 32768
        bosTokenID = raw["bos_token_id"] as? Int
        eosTokenID = raw["eos_token_id"] as? Int

        func has(_ name: String) -> Bool { checkpoint.tensor(named: prefix + name) != nil }
        func entry(_ name: String) throws -> TensorEntry {
            guard let t = checkpoint.tensor(named: prefix + name) else { throw InferenceError.missingTensor(path: checkpoint.path, name: prefix + name) }
            return t
        }
        var list: [ExportTensor] = []
        func add(_ role: TensorRole, _ name: String, layer: Int? = nil, expert: Int? = nil) throws {
            list.append(ExportTensor(role: role, layer: layer, expert: expert, source: prefix + name, shape: try entry(name).shape))
        }
        let embeddingName = has(naming.embedding + ".weight") || !has(naming.head + ".weight") ? naming.embedding : naming.head
        try add(.embedding, embeddingName + ".weight")

        let queryNorm = naming.queryNorm, keyNorm = naming.keyNorm
        let hasQKNorm = has(naming.layer(0, naming.attention, queryNorm) + ".weight")
        var experts = 0, expertHidden = 0, hidden = 0, anyShared = false, anyDense = false, hasBias = false
        for i in 0..<config.layerCount {
            try add(.attentionNorm, naming.layer(i, naming.attentionNorm) + ".weight", layer: i)
            try add(.query, naming.layer(i, naming.attention, naming.query) + ".weight", layer: i)
            try add(.key, naming.layer(i, naming.attention, naming.key) + ".weight", layer: i)
            try add(.value, naming.layer(i, naming.attention, naming.value) + ".weight", layer: i)
            try add(.attentionOutput, naming.layer(i, naming.attention, naming.output) + ".weight", layer: i)
            if has(naming.layer(i, naming.attention, naming.query) + ".bias") {
                hasBias = true
                try add(.queryBias, naming.layer(i, naming.attention, naming.query) + ".bias", layer: i)
                try add(.keyBias, naming.layer(i, naming.attention, naming.key) + ".bias", layer: i)
                try add(.valueBias, naming.layer(i, naming.attention, naming.value) + ".bias", layer: i)
            }
            if hasQKNorm {
                try add(.queryNorm, naming.layer(i, naming.attention, queryNorm) + ".weight", layer: i)
                try add(.keyNorm, naming.layer(i, naming.attention, keyNorm) + ".weight", layer: i)
            }
            try add(.feedForwardNorm, naming.layer(i, naming.feedForwardNorm) + ".weight", layer: i)
            let ffn = naming.layer(i, naming.feedForward)
            if has(ffn + "." + naming.router + ".weight") {
                try add(.router, ffn + "." + naming.router + ".weight", layer: i)
                let count = try entry(ffn + "." + naming.router + ".weight").shape.first ?? 0
                guard experts == 0 || experts == count else {
                    throw ExportError.unsupported(path: checkpoint.path, reason: "layers have different expert counts (\(experts) and \(count))")
                }
                experts = count
                for e in 0..<count {
                    let path = ffn + "." + naming.experts + ".\(e)."
                    try add(.expertGate, path + naming.gate + ".weight", layer: i, expert: e)
                    try add(.expertUp, path + naming.up + ".weight", layer: i, expert: e)
                    try add(.expertDown, path + naming.down + ".weight", layer: i, expert: e)
                    expertHidden = try entry(path + naming.gate + ".weight").shape.first ?? 0
                }
                anyShared = anyShared || checkpoint.tensors.contains { $0.name.hasPrefix(prefix + ffn + "." + naming.sharedExperts + ".") }
            } else {
                anyDense = true
                try add(.gate, ffn + "." + naming.gate + ".weight", layer: i)
                try add(.up, ffn + "." + naming.up + ".weight", layer: i)
                try add(.down, ffn + "." + naming.down + ".weight", layer: i)
                hidden = try entry(ffn + "." + naming.gate + ".weight").shape.first ?? 0
            }
        }
        try add(.finalNorm, naming.finalNorm + ".weight")

        // The head is tied when it is absent, the same view, or equal bytes, and no adapter changes it.
        let headName = naming.head + ".weight"
        let headAdapted = adapter?.layer(weightName: prefix + headName) != nil
        var tied = true
        if embeddingName != naming.head, let head = checkpoint.tensor(named: prefix + headName) {
            let embedding = try entry(embeddingName + ".weight")
            let equal = try checkpoint.contentsEqual(head, embedding)
            tied = !headAdapted && equal
            if !tied { try add(.head, headName) }
        } else if headAdapted {
            throw ExportError.unsupported(path: checkpoint.path, reason: "the adapter changes the output head, which is stored tied to the embedding")
        }
        tiedHead = tied

        // Every model tensor must have found a role: nothing is silently dropped.
        let used = Set(list.map(\.source) + [prefix + headName])
        let left = checkpoint.tensors.map(\.name).filter { $0.hasPrefix(prefix) && !used.contains($0) }
        guard left.isEmpty else {
            throw ExportError.unsupported(path: checkpoint.path, reason: "tensors with no place in the exported model: \(left.prefix(4).joined(separator: ", "))\(left.count > 4 ? ", ..." : "")")
        }
        tensors = list
        intermediateSize = hidden
        expertCount = experts
        expertIntermediateSize = expertHidden
        assumptions = assumed

        switch (naming.rotary, hasQKNorm, experts > 0) {
        case (.rotateHalf, false, false) where hasBias: family = .qwen2
        case _ where hasBias:
            throw ExportError.unsupported(path: checkpoint.path, reason: "attention biases outside a Qwen2-style model have no transformers/llama.cpp class here")
        case (.adjacentPairs, false, false): family = .miniMindV1
        case (.rotateHalf, false, false): family = .llama
        case (.rotateHalf, true, false): family = .qwen3
        case (.rotateHalf, true, true):
            guard !anyShared, !anyDense else {
                throw ExportError.unsupported(path: checkpoint.path, reason: "MoE with \(anyShared ? "shared experts" : "dense layers between expert layers") has no transformers/llama.cpp class that runs it without remote code")
            }
            guard config.normTopkProb else {
                throw ExportError.unsupported(path: checkpoint.path, reason: "norm_topk_prob false: llama.cpp's qwen3moe always renormalises the top-k weights")
            }
            family = .qwen3Moe
        default:
            throw ExportError.unsupported(path: checkpoint.path, reason: "a \(naming.architecture) model\(experts > 0 ? " with experts" : "")\(hasQKNorm ? " with q/k norm" : "") has no transformers/llama.cpp class that runs it without remote code")
        }
    }

    /// Refuses rotary scaling that transformers and llama.cpp would not compute as loratool does.
    static func checkExportable(_ scaling: RopeScaling?, path: String) throws {
        guard let scaling else { return }
        switch scaling.kind {
        case .llama3, .yarn:
            return
        case .miniMindYaRN:
            throw ExportError.unsupported(path: path, reason: "MiniMind's own YaRN (inference_rope_scaling) differs from transformers' and llama.cpp's yarn (ramp clamped to dim/2 - 1, frequencies f·(1 - γ + γ/s), attention factor 1), so no transformers class or llama.cpp setting computes it; export the model without inference_rope_scaling")
        case .linear:
            throw ExportError.unsupported(path: path, reason: "linear rotary scaling is not carried into exports yet (only llama3 and transformers' yarn are)")
        }
    }

    /// The float32 values of one tensor as the model computes with it: the adapter folded in when it
    /// targets this tensor (`W + multiplier·scale·B·A`), nothing else changed.
    public func values(of tensor: ExportTensor) throws -> [Float] {
        if let layer = adapter?.layer(weightName: tensor.source) {
            return try layer.mergedWeight(from: checkpoint, multiplier: multiplier)
        }
        guard let entry = checkpoint.tensor(named: tensor.source) else {
            throw InferenceError.missingTensor(path: checkpoint.path, name: tensor.source)
        }
        return try checkpoint.floats(of: entry)
    }

    /// The stored bytes of a tensor no adapter changes, when it is stored in `dtype` (contiguous,
    /// little-endian): written as they are, without a float32 copy. nil when it must be computed.
    public func storedBytes(of tensor: ExportTensor, as dtype: DType) throws -> [UInt8]? {
        guard adapter?.layer(weightName: tensor.source) == nil, let entry = checkpoint.tensor(named: tensor.source),
              entry.dtype == dtype else { return nil }
        return try checkpoint.bytes(of: entry)
    }

    /// The configuration JSON belonging to the checkpoint as a dictionary (empty when there is none).
    static func rawConfiguration(for checkpoint: Checkpoint, path: String?) throws -> [String: Any] {
        var data = checkpoint.configJSON
        var source = checkpoint.path
        func read(_ url: URL) throws -> Data {
            do { return try CompanionFile.contents(of: url) } catch {
                throw InferenceError.badConfiguration(path: url.path, reason: CompanionFile.reason(error))
            }
        }
        if let path {
            data = try read(URL(fileURLWithPath: path))
            source = path
        } else if data == nil, let beside = CompanionFile.beside(checkpoint.path, named: "config.json") {
            data = try read(beside)
            source = beside.path
        }
        guard let data else { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw InferenceError.badConfiguration(path: source, reason: "not a JSON object")
        }
        return object
    }
}
