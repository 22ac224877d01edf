import Foundation
import PthReader

/// What a checkpoint holds, module by module: the data behind `loratool inspect` and its `--json`.
///
/// The JSON form (`JSONEncoder` with sorted keys) is a stable interface that scripts rely on;
/// docs/inspect.md describes every field. Add fields, never rename or remove them.
public struct InspectionReport: Codable, Sendable, Equatable {
    /// Schema version of this JSON; bumped only on an incompatible change.
    public var schemaVersion = 1
    public var path: String
    /// `torch-zip`, `torch-legacy`, `safetensors`, `hf-directory` or `peft-directory`.
    public var format: String
    /// Dotted prefix of the model's state dict inside the file (`""`, or `"model."` for a training checkpoint).
    public var stateDictPrefix: String
    public var tensors: [TensorInfo]
    public var modules: [ModuleInfo]
    /// Elements of the model's state dict, storage shared by several names counted once and a
    /// head tied to the embedding counted once, like `sum(p.numel() for p in model.parameters())`.
    public var parameters: Int
    /// The output head tied to the embedding, if it is.
    public var tiedHead: TiedWeight?
    /// Elements of every tensor in the file (optimizer state included), shared storage counted once.
    public var totalElements: Int
    /// Bytes of tensor storage in the file, each storage once.
    public var tensorBytes: Int
    /// Non-tensor values by dotted name (`epoch`, `args.lr`).
    public var metadata: [String: MetadataValue]
    /// What the file is as a LoRA adapter, when it is one (MiniMind or PEFT keys).
    public var adapter: AdapterSummary?

    /// A LoRA adapter's shape at a glance.
    public struct AdapterSummary: Codable, Sendable, Equatable {
        /// `minimind` (`*.lora.A.weight`, scale 1) or `peft` (`*.lora_A.weight`, `adapter_config.json`).
        public var format: String
        /// Adapted modules.
        public var modules: Int
        /// The distinct ranks, ascending (one unless `rank_pattern` varies them).
        public var ranks: [Int]
        /// The distinct scales the merge applies (`lora_alpha / r` for PEFT), ascending.
        public var scales: [Float]
        /// Elements of all A and B matrices.
        public var loraParameters: Int
        /// Tensors that are not adapter keys, when the file also holds a model (a LoRA-training
        /// checkpoint: base weights and `.lora.` keys in one state dict); nil for a plain adapter.
        public var baseTensors: Int?
        /// Elements of those base tensors (tied weights once).
        public var baseParameters: Int?
        /// Deltas by kind (`AdapterDelta.kindName`: `lora`, `dora`, `embedding-lora`, `modules_to_save`, ...).
        public var kinds: [String: Int]?

        public init(format: String, modules: Int, ranks: [Int], scales: [Float], loraParameters: Int, baseTensors: Int? = nil, baseParameters: Int? = nil) {
            self.baseTensors = baseTensors
            self.baseParameters = baseParameters
            self.format = format
            self.modules = modules
            self.ranks = ranks
            self.scales = scales
            self.loraParameters = loraParameters
        }

        enum CodingKeys: String, CodingKey {
            case format, modules, ranks, scales, loraParameters = "lora_parameters"
            case baseTensors = "base_tensors", baseParameters = "base_parameters", kinds
        }
    }

    /// One tensor of the file.
    public struct TensorInfo: Codable, Sendable, Equatable {
        public var name: String
        public var dtype: String
        public var shape: [Int]
        public var elements: Int
        public var bytes: Int
        /// Storage identifier; tensors with the same one share bytes (tied weights).
        public var storage: String
        public var storageOffset: Int
        public var strides: [Int]
        public var contiguous: Bool

        enum CodingKeys: String, CodingKey {
            case name, dtype, shape, elements, bytes, storage, storageOffset = "storage_offset", strides, contiguous
        }
    }

    /// One module in `named_modules()` order (the root, path `""`, is left out).
    public struct ModuleInfo: Codable, Sendable, Equatable {
        public var path: String
        /// `linear`, `embedding`, `rms_norm`, `layer_norm`, `moe_gate`, `module_list`, `container` or `module`.
        public var kind: String
        /// PyTorch-repr-style description: `Linear(in=64, out=64, bias=False)`.
        public var summary: String
        /// Full tensor names of the module's own parameters.
        public var parameters: [String]
        public var isHead: Bool
        /// Positions of `parameters` in the report's `tensors` (not encoded; empty when built by hand).
        public var parameterIndices: [Int] = []

        enum CodingKeys: String, CodingKey {
            case path, kind, summary, parameters, isHead = "is_head"
        }
    }

    /// A plain value kept from the checkpoint.
    public enum MetadataValue: Codable, Sendable, Equatable {
        case int(Int), double(Double), string(String), bool(Bool), null, list([MetadataValue])

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null }
            else if let b = try? container.decode(Bool.self) { self = .bool(b) }
            else if let i = try? container.decode(Int.self) { self = .int(i) }
            else if let d = try? container.decode(Double.self) { self = .double(d) }
            else if let s = try? container.decode(String.self) { self = .string(s) }
            else { self = .list(try container.decode([MetadataValue].self)) }
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .int(let i): try container.encode(i)
            case .double(let d): if d.isFinite { try container.encode(d) } else { try container.encode(String(d)) }
            case .string(let s): try container.encode(s)
            case .bool(let b): try container.encode(b)
            case .null: try container.encodeNil()
            case .list(let items): try container.encode(items)
            }
        }

        /// The value of a non-tensor node; containers become lists, bytes a length note.
        public init(_ node: Node) {
            switch node {
            case .int(let i): self = .int(i)
            case .bigInt(let s): self = .string(s)
            case .double(let d): self = .double(d)
            case .string(let s): self = .string(s)
            case .bool(let b): self = .bool(b)
            case .none: self = .null
            case .bytes(let b): self = .string("<\(b.count) bytes>")
            case .dtype(let d): self = .string(d.rawValue)
            case .device(let d): self = .string(d)
            case .size(let s): self = .list(s.map { .int($0) })
            case .list(let items), .tuple(let items): self = .list(items.map(MetadataValue.init))
            case .dict, .tensor: self = .null
            }
        }

        /// Python-like text for the human listing (`3`, `'run'`, `None`).
        public var text: String {
            switch self {
            case .int(let i): return String(i)
            case .double(let d): return String(d)
            case .string(let s): return "'\(s)'"
            case .bool(let b): return b ? "True" : "False"
            case .null: return "None"
            case .list(let items): return "[" + items.map(\.text).joined(separator: ", ") + "]"
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", path, format, stateDictPrefix = "state_dict_prefix", tensors, modules
        case parameters, tiedHead = "tied_head", totalElements = "total_elements", tensorBytes = "tensor_bytes", metadata, adapter
    }

    /// Builds the report from an opened checkpoint: `InspectionListing`'s report with its tensors
    /// and modules filled in.
    ///
    /// Reads no tensor bytes except the head and embedding weights when they are stored apart,
    /// to tell whether they are tied (see `ModuleTree.tiedHead(in:)`).
    public init(checkpoint: Checkpoint) throws {
        let listing = try InspectionListing(checkpoint: checkpoint)
        self = listing.report
        tensors = checkpoint.tensors.indices.map(listing.tensorInfo)
        modules = (1..<listing.table.count).map(listing.moduleInfo)
    }

    /// The report without its tensors and modules, which `table` and the checkpoint hold.
    ///
    /// `dtypeNames` receives the GGUF type names of tensors without a torch dtype, by position.
    init(shellOf checkpoint: Checkpoint, table: ModuleTable, dtypeNames: inout [Int: String]) throws {
        let prefix = table.prefix
        path = checkpoint.path
        format = checkpoint.format.rawValue
        stateDictPrefix = prefix
        tensors = []
        modules = []
        (parameters, tiedHead) = try table.parameterCount(in: checkpoint)
        totalElements = checkpoint.parameterCount(under: "")
        tensorBytes = checkpoint.storageByteCount
        var metadata: [String: MetadataValue] = [:]
        for item in checkpoint.metadata { metadata[item.name] = MetadataValue(item.value) }
        if let gguf = checkpoint.gguf {
            for (key, value) in gguf.metadata { metadata[key] = MetadataValue(gguf: value) }
            for i in checkpoint.tensors.indices {
                if let type = checkpoint.ggufType(of: checkpoint.tensors[i].name), type.dtype == nil { dtypeNames[i] = type.name }
            }
        }
        self.metadata = metadata
        // An adapter's A/B matrices are small; a file that is not an adapter is told apart by its names
        // alone. An adapter_config.json beside it that cannot be used is an error, not a missing summary.
        let lora: LoRAAdapter
        do { lora = try LoRAAdapter.load(checkpoint: checkpoint) } catch LoRAError.badConfig(let path, let reason) where checkpoint.adapterConfigJSON != nil {
            throw LoRAError.badConfig(path: path, reason: reason)
        } catch { return }
        if !lora.entries.isEmpty {
            adapter = AdapterSummary(format: lora.format.rawValue, modules: lora.entries.count,
                                     ranks: Set(lora.entries.compactMap { $0.a?.shape.first }).sorted(),
                                     scales: Set(lora.entries.map(\.scale)).sorted(), loraParameters: lora.parameterCount)
            adapter?.kinds = lora.kindCounts
            if let split = try LoRAAdapter.splitEmbedded(checkpoint), split.adapter.format == .minimind {
                adapter?.baseTensors = split.base.tensors.count
                adapter?.baseParameters = try ModuleTree(tensors: split.base.tensors, prefix: prefix).parameterCount(in: split.base).0
            }
        }
    }
}

extension ModuleKind {
    /// The snake_case kind name used in JSON output.
    public var identifier: String {
        switch self {
        case .linear: return "linear"
        case .embedding: return "embedding"
        case .rmsNorm: return "rms_norm"
        case .layerNorm: return "layer_norm"
        case .moeGate: return "moe_gate"
        case .moduleList: return "module_list"
        case .container: return "container"
        case .generic: return "module"
        }
    }
}
