import PthReader

extension LoRAAdapter {
    /// Whether a tensor name is one of MiniMind's adapter keys (`<module>.lora.A.weight`).
    public static func isEmbeddedAdapterKey(_ name: String) -> Bool {
        name.containsBytes(".lora.A.") || name.containsBytes(".lora.B.")
    }

    /// The adapter a LoRA-training checkpoint carries beside its base weights (upstream
    /// `lm_checkpoint` saves both in one state dict), split from them: `(base, adapter)`, or nil
    /// when the checkpoint holds no `.lora.` keys or nothing else.
    public static func splitEmbedded(_ checkpoint: Checkpoint) throws -> (base: Checkpoint, adapter: LoRAAdapter)? {
        let names = checkpoint.tensors.map(\.name)
        guard names.contains(where: isEmbeddedAdapterKey), names.contains(where: { !isEmbeddedAdapterKey($0) }) else { return nil }
        let base = try checkpoint.removingTensors(where: isEmbeddedAdapterKey)
        let adapter = try load(checkpoint: try checkpoint.removingTensors { !isEmbeddedAdapterKey($0) })
        return (base, adapter)
    }
}

extension LoRAAdapter {
    /// The base checkpoint and the adapter for `merge` / `verify`: `adapterPath`'s adapter on `basePath`,
    /// or, without an adapter path, the adapter a LoRA-training checkpoint carries in its own state dict
    /// (the base is then that checkpoint without its `.lora.` keys).
    public static func openWithAdapter(basePath: String, adapterPath: String?) throws -> (base: Checkpoint, adapter: LoRAAdapter) {
        let checkpoint = try Checkpoint.open(path: basePath)
        if let adapterPath { return (checkpoint, try load(path: adapterPath)) }
        guard let split = try splitEmbedded(checkpoint) else {
            throw LoRAError.notAnAdapter(path: basePath, reason: "no adapter was given and it carries no `<module>.lora.A.weight` / `.lora.B.weight` keys beside its weights (give the adapter as the second argument)")
        }
        return split
    }
}
