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
        // Every dotted suffix of every base weight name (`a.b.weight` → `a.b.weight`, `b.weight`,
        // `weight`): one set lookup per adapter entry instead of a scan of all names (quadratic).
        var suffixes = Set<Substring>()
        for name in checkpoint.tensors.lazy.map(\.name) where !name.containsBytes("lora") {
            var rest = Substring(name)
            while true {
                suffixes.insert(rest)
                guard let dot = rest.firstIndex(of: ".") else { break }
                rest = rest[rest.index(after: dot)...]
            }
        }
        let hasBase = lora.entries.contains { suffixes.contains(Substring($0.module + ".weight")) }
        if !hasBase { throw CLIError.adapterGivenAsModel(path: checkpoint.path, format: lora.format.rawValue) }
    }
}
