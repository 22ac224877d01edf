import Foundation
import PthReader

extension TransformerModel {
    /// Opens a checkpoint and builds the model.
    ///
    /// `configuration` `nil` uses the `config.json` belonging to the checkpoint (`ModelConfiguration.discovered`),
    /// if any; `overrides` then replace single fields; the rest comes from the shapes and the family's defaults.
    public static func load(path: String, configuration: ModelConfiguration? = nil, overrides: ModelConfiguration = ModelConfiguration(),
                            adapters: [String: AdapterDelta] = [:], mode: AdapterMode = .unmerged) throws -> TransformerModel {
        let checkpoint = try Checkpoint.open(path: path)
        let file = try configuration ?? ModelConfiguration.discovered(for: checkpoint) ?? ModelConfiguration()
        return try load(checkpoint, configuration: file.overridden(by: overrides), adapters: adapters, mode: mode)
    }

    /// Builds the model from a checkpoint's tensors, applying `adapters` as `mode` says.
    ///
    /// `adapters` are keyed by base tensor name (`BoundAdapter.deltas`: `model.layers.0.self_attn.q_proj.weight`,
    /// the state dict's prefix optional). Strict: every tensor of the model's state dict must be used,
    /// every delta must find its tensor.
    public static func load(_ checkpoint: Checkpoint, configuration given: ModelConfiguration = ModelConfiguration(),
                            adapters: [String: AdapterDelta] = [:], mode: AdapterMode = .unmerged) throws -> TransformerModel {
        // A GGUF file runs under the checkpoint names whose RoPE layout it has (Export/GGUFImport.swift).
        let checkpoint = try GGUFImport.modelCheckpoint(checkpoint)
        let (architecture, prefix) = try detect(checkpoint, modelType: given.modelType)
        let loader = WeightLoader(checkpoint: checkpoint, prefix: prefix)
        var resolver = ConfigurationResolver(given: given, architecture: architecture, loader: loader)
        let config = try resolver.resolve()
        var builder = ModelBuilder(architecture: architecture, config: config, given: given, loader: loader, adapters: adapters, mode: mode)
        let naming = architecture.naming
        let embeddingName = ConfigurationResolver.embeddingName(naming, loader: loader)
        let embedding = try builder.embedding(embeddingName)
        let blocks = try (0..<config.layerCount).map { try builder.block($0) }
        let finalNorm = RMSNorm(weight: try builder.tensor(naming.finalNorm + ".weight", shape: [config.hiddenSize]), eps: config.normEps)
        let head = try builder.head(tied: embedding.tied, embeddingName: embeddingName)
        try loader.finish()
        try builder.checkAllAdaptersUsed()
        let (frequencies, scaling) = try config.ropeScaling?.inverseFrequencies(headDim: config.headDim, theta: config.ropeTheta)
            ?? (RopeScaling.defaultInverseFrequencies(headDim: config.headDim, theta: config.ropeTheta), 1)
        let rope = RotaryEmbedding(headDim: config.headDim, frequencies: frequencies, attentionScaling: scaling, style: naming.rotary)
        return TransformerModel(configuration: config, architecture: architecture, linearModulePaths: builder.linearPaths, weightDType: loader.dominantDType,
                                isMixtureOfExperts: builder.anyMixture, embedding: WeightStorage(embedding.lookup, columns: config.hiddenSize),
                                embeddingAdapter: embedding.adapter, blocks: blocks, finalNorm: finalNorm, head: head.layer, headIsTied: head.isTied, rope: rope)
    }

    /// Finds the model's state dict (`StateDictLocator`: a training checkpoint's `model.`, a `module.` /
    /// `_orig_mod.` wrapper) and the first family of `Architecture.all` that matches it and `modelType`.
    static func detect(_ checkpoint: Checkpoint, modelType: String?) throws -> (Architecture, String) {
        let located = StateDictLocator.prefix(of: checkpoint)
        for prefix in Set([located, ""]).sorted(by: { $0.count > $1.count }) {
            let has = { (name: String) in checkpoint.tensor(named: prefix + name) != nil }
            if let architecture = Architecture.all.first(where: { $0.matches(modelType: modelType, has: has) }) {
                return (architecture, prefix)
            }
            if let modelType, Architecture.all.contains(where: { $0.matches(modelType: nil, has: has) || $0.modelTypes.contains(modelType) }) {
                let families = Architecture.all.filter { $0.modelTypes.contains(modelType) }.map(\.name)
                throw InferenceError.unknownArchitecture(path: checkpoint.path, sample: [
                    families.isEmpty ? "config.json model_type '\(modelType)' is not a supported family (supported: \(Set(Architecture.all.flatMap(\.modelTypes)).sorted().joined(separator: ", ")))"
                        : "config.json model_type '\(modelType)' (\(families.joined(separator: "/"))) does not fit these tensor names"])
            }
        }
        throw InferenceError.unknownArchitecture(path: checkpoint.path, sample: Array(checkpoint.tensors.prefix(4).map(\.name)))
    }
}
