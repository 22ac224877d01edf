import PthReader

/// Finds the model's state_dict inside a checkpoint that may be a training checkpoint.
///
/// The rule, applied to the checkpoint's object tree:
/// 1. If the root is a dict with a tensor directly among its values, the root is the state dict
///    (a plain `torch.save(model.state_dict())`, a safetensors file, a HF directory).
/// 2. Otherwise the first of the root keys `model`, `state_dict`, `model_state_dict`, `module`,
///    `net` whose value holds tensors is the state dict (`{"model": ..., "optimizer": ...}`);
///    optimizer state, scalers and other entries are left out.
/// 3. Otherwise every tensor of the file is used.
/// Then, while every remaining tensor name starts with `module.` (DistributedDataParallel) or
/// `_orig_mod.` (`torch.compile`), that wrapper prefix is added to the prefix too.
public enum StateDictLocator {
    /// Root keys tried, in order, for a nested state dict.
    public static let nestedKeys = ["model", "state_dict", "model_state_dict", "module", "net"]
    /// Wrapper prefixes stripped when every name carries them.
    public static let wrapperPrefixes = ["module.", "_orig_mod."]

    /// The dotted prefix (`""`, `"model."`, `"module."`) under which the model's tensors are.
    public static func prefix(root: Node, tensors: [TensorEntry]) -> String {
        var prefix = ""
        if case .dict(let items, _) = root {
            let direct = items.contains { if case .tensor = $0.value { return true }; return false }
            if !direct {
                for key in nestedKeys {
                    if let item = items.first(where: { $0.key == .string(key) }), item.value.containsTensor {
                        prefix = key + "."
                        break
                    }
                }
            }
        }
        // The tensors under `prefix` are looked at in place (no filtered copy of a million entries).
        var changed = true
        while changed && tensors.contains(where: { $0.name.hasPrefix(prefix) }) {
            changed = false
            for wrapper in wrapperPrefixes {
                let wrapped = prefix + wrapper
                guard tensors.allSatisfy({ !$0.name.hasPrefix(prefix) || $0.name.hasPrefix(wrapped) }) else { continue }
                prefix = wrapped
                changed = true
                break
            }
        }
        return prefix
    }

    /// The prefix of a checkpoint's model state dict (see the type's rule).
    public static func prefix(of checkpoint: Checkpoint) -> String {
        prefix(root: checkpoint.root, tensors: checkpoint.tensors)
    }

    /// The module tree of a checkpoint's model state dict.
    public static func moduleTree(of checkpoint: Checkpoint) -> ModuleTree {
        let p = prefix(of: checkpoint)
        return ModuleTree(tensors: checkpoint.tensors, prefix: p)
    }
}
