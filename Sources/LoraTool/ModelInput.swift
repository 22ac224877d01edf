import Model
import PthReader

/// Opening a checkpoint given where a model is expected.
enum ModelInput {
    /// Opens `path` and refuses it, saying so, when it is a LoRA adapter rather than a model.
    static func open(_ path: String) throws -> Checkpoint {
        let checkpoint = try Checkpoint.open(path: path)
        try refuseAdapter(checkpoint)
        return checkpoint
    }

    /// Throws `adapterGivenAsModel` when the checkpoint holds LoRA A/B matrices but not the weights
    /// of the modules they adapt (a training checkpoint holding both is a model).
    static func refuseAdapter(_ checkpoint: Checkpoint) throws {
        guard let lora = try? LoRAAdapter.load(checkpoint: checkpoint), !lora.entries.isEmpty else { return }
        let baseWeights = checkpoint.tensors.map(\.name).filter { !$0.contains("lora") }
        let hasBase = lora.entries.contains { entry in
            baseWeights.contains { $0 == entry.module + ".weight" || $0.hasSuffix("." + entry.module + ".weight") }
        }
        if !hasBase { throw CLIError.adapterGivenAsModel(path: checkpoint.path, format: lora.format.rawValue) }
    }
}
