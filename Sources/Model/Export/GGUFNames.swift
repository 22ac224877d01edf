import PthReader

/// llama.cpp's names: the architecture of each family and each tensor's name in its tensor map.
public enum GGUFNames {
    /// `general.architecture` of a family.
    public static func architecture(of family: ExportFamily) -> String {
        switch family {
        case .miniMindV1, .llama: return "llama"
        case .qwen3: return "qwen3"
        case .qwen3Moe: return "qwen3moe"
        case .qwen2: return "qwen2"
        }
    }

    /// The GGUF tensor name of a role (`blk.3.attn_q.weight`); experts of one layer share one stacked tensor.
    public static func tensorName(_ role: TensorRole, layer: Int?) -> String {
        let block = "blk.\(layer ?? 0)."
        switch role {
        case .embedding: return "token_embd.weight"
        case .head: return "output.weight"
        case .finalNorm: return "output_norm.weight"
        case .attentionNorm: return block + "attn_norm.weight"
        case .query: return block + "attn_q.weight"
        case .key: return block + "attn_k.weight"
        case .value: return block + "attn_v.weight"
        case .attentionOutput: return block + "attn_output.weight"
        case .queryNorm: return block + "attn_q_norm.weight"
        case .keyNorm: return block + "attn_k_norm.weight"
        case .queryBias: return block + "attn_q.bias"
        case .keyBias: return block + "attn_k.bias"
        case .valueBias: return block + "attn_v.bias"
        case .feedForwardNorm: return block + "ffn_norm.weight"
        case .gate: return block + "ffn_gate.weight"
        case .up: return block + "ffn_up.weight"
        case .down: return block + "ffn_down.weight"
        case .router: return block + "ffn_gate_inp.weight"
        case .expertGate: return block + "ffn_gate_exps.weight"
        case .expertUp: return block + "ffn_up_exps.weight"
        case .expertDown: return block + "ffn_down_exps.weight"
        }
    }

    /// The role and layer of a GGUF tensor name (the inverse of `tensorName`), nil for names llama.cpp does not use here.
    public static func role(of name: String) -> (role: TensorRole, layer: Int?)? {
        let global: [String: TensorRole] = ["token_embd.weight": .embedding, "output.weight": .head, "output_norm.weight": .finalNorm]
        if let role = global[name] { return (role, nil) }
        let parts = name.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]) else { return nil }
        let local: [String: TensorRole] = [
            "attn_norm.weight": .attentionNorm, "attn_q.weight": .query, "attn_k.weight": .key, "attn_v.weight": .value,
            "attn_output.weight": .attentionOutput, "attn_q_norm.weight": .queryNorm, "attn_k_norm.weight": .keyNorm,
            "ffn_norm.weight": .feedForwardNorm, "ffn_gate.weight": .gate, "ffn_up.weight": .up, "ffn_down.weight": .down,
            "ffn_gate_inp.weight": .router, "ffn_gate_exps.weight": .expertGate, "ffn_up_exps.weight": .expertUp,
            "ffn_down_exps.weight": .expertDown, "attn_q.bias": .queryBias, "attn_k.bias": .keyBias, "attn_v.bias": .valueBias,
        ]
        return local[String(parts[2])].map { ($0, layer) }
    }

    /// `general.file_type` (llama.cpp's `LLAMA_FTYPE_*`) of a weight type.
    public static func fileType(of type: GGUFTensorType) -> UInt32 {
        switch type {
        case .f32: return 0
        case .f16: return 1
        case .q8_0: return 7
        case .bf16: return 32
        }
    }
}
