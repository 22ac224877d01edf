import Foundation
import PthReader

/// An adapter to write (from `combine`, `extract` or `convert`): low-rank layers of scale 1 and
/// full tensors for `modules_to_save`, as a PEFT directory or a MiniMind `.pth`.
///
/// Every layer's scale is folded into its B, so a PEFT config gets `lora_alpha = r` (scale exactly
/// 1; modules of another rank get matching `rank_pattern` / `alpha_pattern` entries) and MiniMind's
/// implicit scale 1 holds as well.
public struct AdapterWriter {
    /// Where the output goes, decided by its name.
    public enum Format: String, Sendable, Codable {
        /// A directory with `adapter_config.json` and `adapter_model.safetensors`.
        case peft
        /// One torch file of `<module>.lora.A.weight` / `.lora.B.weight` (the seed's `save_lora`).
        case minimind

        /// `.pth`, `.pt` and `.bin` names are MiniMind files; anything else is a PEFT directory.
        public init(path: String) {
            let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
            self = ["pth", "pt", "bin"].contains(ext) ? .minimind : .peft
        }
    }

    /// One low-rank layer: `W' = W + B·A` (scale 1), in `B·A` orientation (`embedding`: PEFT's
    /// `lora_embedding_A [r, count]` / `lora_embedding_B [dim, r]`).
    public struct Layer: Sendable {
        public var module: String
        public var a: Tensor
        public var b: Tensor
        public var embedding: Bool

        public init(module: String, a: Tensor, b: Tensor, embedding: Bool = false) {
            self.module = module
            self.a = a
            self.b = b
            self.embedding = embedding
        }

        public var rank: Int { a.shape[0] }
    }

    /// One full tensor of a `modules_to_save` module, read from `source` when written.
    public struct Saved {
        public var module: String
        public var parameter: String
        public var source: Checkpoint
        public var entry: TensorEntry

        public init(module: String, parameter: String, source: Checkpoint, entry: TensorEntry) {
            self.module = module
            self.parameter = parameter
            self.source = source
            self.entry = entry
        }
    }

    public var layers: [Layer]
    public var saved: [Saved]
    /// `base_model_name_or_path` for the PEFT config.
    public var baseModel: String?
    /// dtype of A and B in the file (saved tensors keep theirs unless `savedDType` is set).
    public var dtype: DType = .float32
    public var savedDType: DType?

    public init(layers: [Layer], saved: [Saved] = [], baseModel: String? = nil) {
        self.layers = layers
        self.saved = saved
        self.baseModel = baseModel
    }

    static let prefix = "base_model.model."

    /// The tensors in file order: key, entry to write, and where its bytes come from.
    func tensors(format: Format) throws -> [(key: String, entry: TensorEntry, bytes: () throws -> [UInt8])] {
        var out: [(String, TensorEntry, () throws -> [UInt8])] = []
        func add(_ key: String, _ t: Tensor) {
            let entry = TensorEntry(name: key, dtype: dtype, shape: t.shape, strides: TensorEntry.contiguousStrides(for: t.shape),
                                    storageOffset: 0, storageKey: key)
            let dt = dtype
            out.append((key, entry, { CheckpointRewriter.encode(t.data, as: dt) }))
        }
        switch format {
        case .minimind:
            if let e = layers.first(where: \.embedding) {
                throw AdapterWriterError.notRepresentable(what: "\(e.module): an embedding adapter", format: "a MiniMind .pth (it holds Linear LoRA only)")
            }
            if let s = saved.first {
                throw AdapterWriterError.notRepresentable(what: "\(s.module).\(s.parameter): a modules_to_save tensor", format: "a MiniMind .pth (it holds Linear LoRA only)")
            }
            for l in layers {
                add(l.module + ".lora.A.weight", l.a)
                add(l.module + ".lora.B.weight", l.b)
            }
        case .peft:
            for l in layers {
                if l.embedding {
                    add(Self.prefix + l.module + ".lora_embedding_A", l.a)
                    add(Self.prefix + l.module + ".lora_embedding_B", l.b)
                } else {
                    add(Self.prefix + l.module + ".lora_A.weight", l.a)
                    add(Self.prefix + l.module + ".lora_B.weight", l.b)
                }
            }
            for s in saved {
                let key = Self.prefix + s.module + "." + s.parameter
                let outDType = savedDType ?? s.entry.dtype
                let entry = TensorEntry(name: key, dtype: outDType, shape: s.entry.shape,
                                        strides: TensorEntry.contiguousStrides(for: s.entry.shape), storageOffset: 0, storageKey: key)
                let source = s.source, original = s.entry
                out.append((key, entry, {
                    outDType == original.dtype ? try source.bytes(of: original)
                        : CheckpointRewriter.encode(try source.floats(of: original), as: outDType)
                }))
            }
        }
        return out
    }

    /// The `adapter_config.json` object: scale 1 everywhere.
    public func peftConfig() -> [String: Any] {
        var counts: [Int: Int] = [:]
        for l in layers { counts[l.rank, default: 0] += 1 }
        let r = counts.max { ($0.value, -$0.key) < ($1.value, -$1.key) }?.key ?? 8
        var rankPattern: [String: Int] = [:]
        for l in layers where l.rank != r { rankPattern[NSRegularExpression.escapedPattern(for: l.module)] = l.rank }
        let modulesToSave = Array(Set(saved.map(\.module))).sorted()
        return [
            "peft_type": "LORA", "task_type": NSNull(), "r": r, "lora_alpha": r,
            "target_modules": layers.map(\.module).sorted(),
            "modules_to_save": modulesToSave.isEmpty ? NSNull() : modulesToSave,
            "rank_pattern": rankPattern, "alpha_pattern": rankPattern,
            "use_rslora": false, "use_dora": false, "fan_in_fan_out": false, "bias": "none", "lora_bias": false,
            "lora_dropout": 0.0, "init_lora_weights": true, "inference_mode": true,
            "layers_to_transform": NSNull(), "layers_pattern": NSNull(), "revision": NSNull(),
            "base_model_name_or_path": baseModel.map { $0 as Any } ?? NSNull(),
        ]
    }

    /// Writes the adapter to `path` (format from its name unless given); returns the format.
    ///
    /// A PEFT directory is created if missing; its weights file is written atomically, then the config.
    @discardableResult
    public func write(to path: String, format: Format? = nil, progress: ((Int, Int) -> Void)? = nil) throws -> Format {
        let format = format ?? Format(path: path)
        let items = try tensors(format: format)
        guard !items.isEmpty else { throw AdapterWriterError.empty(path: path) }
        let root = Node.dict(items.map { DictItem(key: .string($0.key), value: .tensor($0.entry)) }, ordered: true)
        var providers: [String: () throws -> [UInt8]] = [:]
        for item in items { providers[item.key] = item.bytes }
        func provide(_ e: TensorEntry) throws -> [UInt8] { try providers[e.name]!() }
        switch format {
        case .minimind:
            try CheckpointWriter.write(root: root, to: path, format: .torchZip, progress: progress, provide: provide)
        case .peft:
            let fm = FileManager.default
            let created = !fm.fileExists(atPath: path)
            do {
                try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
                try CheckpointWriter.write(root: root, to: path + "/adapter_model.safetensors", format: .safetensors, progress: progress, provide: provide)
                let json = try JSONSerialization.data(withJSONObject: peftConfig(), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                try (json + Data("\n".utf8)).write(to: URL(fileURLWithPath: path + "/adapter_config.json"), options: .atomic)
            } catch {
                if created { try? fm.removeItem(atPath: path) }
                throw error
            }
        }
        return format
    }
}

/// What can go wrong writing an adapter.
public enum AdapterWriterError: Error, CustomStringConvertible, Equatable {
    case notRepresentable(what: String, format: String)
    case empty(path: String)

    public var description: String {
        switch self {
        case .notRepresentable(let what, let format): return "\(what) cannot be written as \(format); write a PEFT directory instead"
        case .empty(let path): return "\(path): nothing to write: no layer changed"
        }
    }
}
