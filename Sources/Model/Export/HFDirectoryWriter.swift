import Foundation
import PthReader

/// Writes an `ExportModel` as a Hugging Face model directory that transformers loads without
/// remote code: `config.json`, `generation_config.json`, `model.safetensors` (or shards with
/// `model.safetensors.index.json`) and the tokenizer files.
///
/// Streaming: one tensor is computed, encoded and written at a time. Atomic: everything goes to a
/// temporary sibling directory that is renamed into place at the end.
public struct HFDirectoryWriter {
    public let model: ExportModel
    /// dtype of the floating-point weights written (default: the source's).
    public var dtype: DType
    /// Largest shard in bytes; a bigger model is split (HF's convention: 5 GB).
    public var maxShardSize: Int = 5_000_000_000
    public var tokenizer: TokenizerFiles?

    public init(model: ExportModel, dtype: DType? = nil, maxShardSize: Int = 5_000_000_000, tokenizer: TokenizerFiles? = nil) throws {
        let chosen = dtype ?? model.sourceDType
        guard [.float32, .float16, .bfloat16].contains(chosen) else { throw MergeError.unsupportedOutputDType(chosen.rawValue) }
        self.model = model
        self.dtype = chosen
        self.maxShardSize = maxShardSize
        self.tokenizer = tokenizer
    }

    /// One safetensors file of the output and the tensors (HF names) it holds.
    struct Shard {
        var file: String
        var tensors: [(name: String, tensor: ExportTensor)]
    }

    /// The transformers name of a tensor.
    static func name(of t: ExportTensor) -> String {
        let layer = "model.layers.\(t.layer ?? 0)."
        let expert = layer + "mlp.experts.\(t.expert ?? 0)."
        switch t.role {
        case .embedding: return "model.embed_tokens.weight"
        case .head: return "lm_head.weight"
        case .finalNorm: return "model.norm.weight"
        case .attentionNorm: return layer + "input_layernorm.weight"
        case .query: return layer + "self_attn.q_proj.weight"
        case .key: return layer + "self_attn.k_proj.weight"
        case .value: return layer + "self_attn.v_proj.weight"
        case .attentionOutput: return layer + "self_attn.o_proj.weight"
        case .queryNorm: return layer + "self_attn.q_norm.weight"
        case .keyNorm: return layer + "self_attn.k_norm.weight"
        case .queryBias: return layer + "self_attn.q_proj.bias"
        case .keyBias: return layer + "self_attn.k_proj.bias"
        case .valueBias: return layer + "self_attn.v_proj.bias"
        case .feedForwardNorm: return layer + "post_attention_layernorm.weight"
        case .gate: return layer + "mlp.gate_proj.weight"
        case .up: return layer + "mlp.up_proj.weight"
        case .down: return layer + "mlp.down_proj.weight"
        case .router: return layer + "mlp.gate.weight"
        case .expertGate: return expert + "gate_proj.weight"
        case .expertUp: return expert + "up_proj.weight"
        case .expertDown: return expert + "down_proj.weight"
        }
    }

    /// Splits the tensors into shards of at most `maxShardSize` bytes (a tensor larger than that gets its own).
    func shards() -> [Shard] {
        var groups: [[(String, ExportTensor)]] = [[]]
        var size = 0
        for t in model.tensors {
            let bytes = t.shape.reduce(1, *) * dtype.itemSize
            if !groups[groups.count - 1].isEmpty && size + bytes > maxShardSize {
                groups.append([])
                size = 0
            }
            groups[groups.count - 1].append((Self.name(of: t), t))
            size += bytes
        }
        if groups.count == 1 { return [Shard(file: "model.safetensors", tensors: groups[0])] }
        func five(_ n: Int) -> String { String(repeating: "0", count: max(0, 5 - String(n).count)) + String(n) }
        return groups.enumerated().map { Shard(file: "model-\(five($0.offset + 1))-of-\(five(groups.count)).safetensors", tensors: $0.element) }
    }

    /// The values written for a tensor: merged, with q/k rows moved to rotate-half for MiniMind2 `.pth`.
    func values(of t: ExportTensor) throws -> [Float] {
        let values = try model.values(of: t)
        guard model.family == .miniMindV1 else { return values }
        let c = model.configuration
        switch t.role {
        case .query: return RotaryLayout.adjacentToHalf(values, heads: c.headCount, headDim: c.headDim)
        case .key: return RotaryLayout.adjacentToHalf(values, heads: c.kvHeadCount, headDim: c.headDim)
        default: return values
        }
    }

    /// Whether `values(of:)` moves the rows of this tensor (q/k of MiniMind2 `.pth`).
    func movesRows(_ t: ExportTensor) -> Bool {
        model.family == .miniMindV1 && (t.role == .query || t.role == .key)
    }

    /// Writes the directory at `path` (replacing an earlier model directory there only when complete).
    public func write(to path: String, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> [String] {
        let output = try AtomicOutputDirectory(target: path)
        let plan = shards()
        let total = model.tensors.count
        var done = 0
        var weightMap: [String: String] = [:]
        for shard in plan {
            var items: [DictItem] = []
            var byName: [String: ExportTensor] = [:]
            for (name, t) in shard.tensors {
                byName[name] = t
                let entry = TensorEntry(name: name, dtype: t.shape.count == 0 ? .float32 : dtype, shape: t.shape,
                                        strides: TensorEntry.contiguousStrides(for: t.shape), storageOffset: 0, storageKey: name)
                items.append(DictItem(key: .string(name), value: .tensor(entry)))
                weightMap[name] = shard.file
            }
            try CheckpointWriter.write(root: .dict(items, ordered: true), to: output.path(shard.file), format: .safetensors) { entry in
                guard let t = byName[entry.name] else { throw MergeError.internalInconsistency("no export tensor \(entry.name)") }
                if !movesRows(t), let stored = try model.storedBytes(of: t, as: entry.dtype) {
                    done += 1
                    progress?(done, total)
                    return stored
                }
                let floats = try values(of: t)
                try CheckpointRewriter.checkRepresentable(floats, as: entry.dtype, path: model.checkpoint.path, tensor: t.source) {
                    try model.checkpoint.floats(of: model.checkpoint.tensor(named: t.source)!)
                }
                done += 1
                progress?(done, total)
                return CheckpointRewriter.encode(floats, as: entry.dtype)
            }
        }
        if plan.count > 1 {
            let totalSize = model.tensors.reduce(0) { $0 + $1.shape.reduce(1, *) * dtype.itemSize }
            let index: [String: Any] = ["metadata": ["total_size": totalSize], "weight_map": weightMap]
            try output.write(Self.json(index), to: "model.safetensors.index.json")
        }
        try output.write(Self.json(HFConfig.configuration(for: model, dtype: dtype, tokenizer: tokenizer)), to: "config.json")
        try output.write(Self.json(HFConfig.generationConfiguration(for: model, tokenizer: tokenizer)), to: "generation_config.json")
        var files = plan.map(\.file) + (plan.count > 1 ? ["model.safetensors.index.json"] : []) + ["config.json", "generation_config.json"]
        if let tokenizer {
            files += try HFConfig.writeTokenizer(tokenizer, into: output)
        }
        try output.commit()
        return files
    }

    /// Pretty, key-sorted JSON as transformers writes it.
    static func json(_ object: Any) throws -> Data {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        data.append(0x0A)
        return data
    }
}
