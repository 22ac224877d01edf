import Foundation
import PthReader

/// A LoRA adapter read from disk: MiniMind's `save_lora` files or a PEFT adapter.
///
/// Keys are parsed into per-module A/B pairs with their scale; nothing is checked against a base
/// model until `bind(to:)`, which either fits every key or throws one error listing all misfits.
public struct LoRAAdapter: Sendable {
    /// Which naming family the keys use.
    public enum Format: String, Sendable {
        /// `<module>.lora.A.weight` / `.lora.B.weight`, scale 1 (the seed's `save_lora`).
        case minimind
        /// `base_model.model.<module>.lora_A.weight` / `lora_B.weight` with `adapter_config.json`.
        case peft
    }

    /// One adapted module: its path (wrapper prefixes removed), A and B when present, and its scale.
    public struct Entry: Sendable {
        public var module: String
        public var aKey: String?
        public var bKey: String?
        public var a: Tensor?
        public var b: Tensor?
        public var scale: Float
        /// The rank `adapter_config.json` gives this module (PEFT only), checked against A and B.
        public var configRank: Int?
        /// DoRA's `lora_magnitude_vector` (one value per output feature), when present.
        public var magnitude: Tensor?
        public var magnitudeKey: String?
        /// Whether the keys were PEFT's `lora_embedding_A` / `lora_embedding_B` (an `nn.Embedding` target).
        public var isEmbedding: Bool

        public init(module: String, aKey: String? = nil, bKey: String? = nil, a: Tensor? = nil, b: Tensor? = nil, scale: Float, configRank: Int? = nil,
                    magnitude: Tensor? = nil, magnitudeKey: String? = nil, isEmbedding: Bool = false) {
            self.module = module
            self.aKey = aKey
            self.bKey = bKey
            self.a = a
            self.b = b
            self.scale = scale
            self.configRank = configRank
            self.magnitude = magnitude
            self.magnitudeKey = magnitudeKey
            self.isEmbedding = isEmbedding
        }

        /// The complete pair, when both halves are present and agree on the rank.
        public var pair: LoRAPair? {
            guard let a, let b, a.shape.count == 2, b.shape.count == 2, a.shape[0] == b.shape[1] else { return nil }
            return LoRAPair(a: a, b: b, scale: scale)
        }
    }

    public let path: String
    public let format: Format
    /// The decoded `adapter_config.json` (PEFT adapters only).
    public let config: PEFTAdapterConfig?
    /// Adapted modules in first-appearance order.
    public let entries: [Entry]
    /// Full tensors that replace base ones (PEFT `modules_to_save`), in file order.
    public let replacements: [Replacement]
    /// Keys that are not LoRA A/B weights (reported by `bind`).
    public let strayKeys: [String]

    /// One `modules_to_save` tensor: `parameter` of `module` is replaced by `tensor`.
    public struct Replacement: Sendable {
        public var key: String
        public var module: String
        public var parameter: String
        public var tensor: Tensor

        public init(key: String, module: String, parameter: String, tensor: Tensor) {
            self.key = key
            self.module = module
            self.parameter = parameter
            self.tensor = tensor
        }
    }

    /// An adapter built in memory from complete pairs (for tests and programmatic use).
    public init(path: String, format: Format = .minimind, pairs: [(module: String, pair: LoRAPair)]) {
        self.path = path
        self.format = format
        self.config = nil
        self.entries = pairs.map {
            Entry(module: $0.module, aKey: $0.module + ".lora.A.weight", bKey: $0.module + ".lora.B.weight",
                  a: $0.pair.a, b: $0.pair.b, scale: $0.pair.scale, configRank: nil)
        }
        self.replacements = []
        self.strayKeys = []
    }

    /// An adapter from parsed entries (possibly incomplete, for tests of binding errors).
    public init(path: String, format: Format, config: PEFTAdapterConfig?, entries: [Entry], replacements: [Replacement] = [], strayKeys: [String]) {
        self.path = path
        self.format = format
        self.config = config
        self.entries = entries
        self.replacements = replacements
        self.strayKeys = strayKeys
    }

    /// The complete pairs keyed by the adapter's module path.
    public var pairs: [String: LoRAPair] {
        var result: [String: LoRAPair] = [:]
        for e in entries { if let p = e.pair { result[e.module] = p } }
        return result
    }

    /// How many deltas of each kind (`AdapterDelta.kindName`) the adapter holds, before binding:
    /// low-rank entries by their keys (DoRA magnitude, `lora_embedding_*`), and `modules_to_save` tensors.
    public var kindCounts: [String: Int] {
        var counts: [String: Int] = [:]
        for e in entries { counts[AdapterDelta.kindName(embedding: e.isEmbedding, dora: e.magnitude != nil), default: 0] += 1 }
        if !replacements.isEmpty { counts[AdapterDelta.replacementKindName] = replacements.count }
        return counts
    }

    /// Module paths in the adapter's order.
    public var modules: [String] { entries.map(\.module) }

    /// Elements in all A and B matrices, magnitude vectors and replacement tensors.
    public var parameterCount: Int {
        entries.reduce(0) { $0 + ($1.a?.count ?? 0) + ($1.b?.count ?? 0) + ($1.magnitude?.count ?? 0) }
            + replacements.reduce(0) { $0 + $1.tensor.count }
    }

    // MARK: - Loading

    /// Prefixes the seed's `load_lora` strips (DDP) plus `torch.compile`'s wrapper.
    static let minimindWrappers = ["module.", "_orig_mod."]
    static let peftPrefix = "base_model.model."

    /// Reads an adapter: a MiniMind `.pth`, a PEFT directory, or a PEFT weights file
    /// (`adapter_config.json` is then looked for beside it).
    public static func load(path: String) throws -> LoRAAdapter {
        let checkpoint = try Checkpoint.open(path: path)
        return try load(checkpoint: checkpoint)
    }

    /// Reads an adapter from an opened checkpoint.
    public static func load(checkpoint: Checkpoint) throws -> LoRAAdapter {
        let path = checkpoint.path
        // Every adapter key contains `lora`: a file without one (a model of a million tensors) is
        // told apart in one scan, without copying its names.
        let anyLoRA = checkpoint.tensors.indices.contains { checkpoint.tensors[$0].name.containsBytes("lora") }
        let names = anyLoRA ? checkpoint.tensors.map(\.name) : []
        let isPEFT = checkpoint.adapterConfigJSON != nil || names.contains { $0.containsBytes(".lora_A") || $0.containsBytes(".lora_B") || $0.containsBytes("lora_magnitude_vector") || $0.containsBytes("lora_embedding_") }
        let isMiniMind = names.contains { $0.containsBytes(".lora.A.") || $0.containsBytes(".lora.B.") }
        if isPEFT {
            return try loadPEFT(checkpoint)
        }
        guard isMiniMind else {
            let count = checkpoint.tensors.count
            let sample = checkpoint.tensors.prefix(3).map(\.name).joined(separator: ", ")
            throw LoRAError.notAnAdapter(path: path, reason: count == 0 ? "it holds no tensors" : "no `*.lora.A.weight` / `*.lora_A.weight` keys among its \(count) tensors (\(sample)\(count > 3 ? ", ..." : ""))")
        }
        return try loadMiniMind(checkpoint)
    }

    private static func loadMiniMind(_ checkpoint: Checkpoint) throws -> LoRAAdapter {
        var order: [String] = []
        var byModule: [String: Entry] = [:]
        var stray: [String] = []
        for t in checkpoint.tensors {
            var key = t.name
            var stripped = true
            while stripped {
                stripped = false
                for w in minimindWrappers where key.hasPrefix(w) {
                    key.removeFirst(w.count)
                    stripped = true
                }
            }
            let half: Character
            let module: String
            if key.hasSuffix(".lora.A.weight") {
                half = "A"; module = String(key.dropLast(".lora.A.weight".count))
            } else if key.hasSuffix(".lora.B.weight") {
                half = "B"; module = String(key.dropLast(".lora.B.weight".count))
            } else {
                stray.append(t.name)
                continue
            }
            let tensor = try readTensor(checkpoint, t)
            if byModule[module] == nil {
                order.append(module)
                byModule[module] = Entry(module: module, scale: 1)
            }
            if half == "A" { byModule[module]!.a = tensor; byModule[module]!.aKey = t.name } else { byModule[module]!.b = tensor; byModule[module]!.bKey = t.name }
        }
        return LoRAAdapter(path: checkpoint.path, format: .minimind, config: nil, entries: order.map { byModule[$0]! }, strayKeys: stray)
    }

    static func readTensor(_ checkpoint: Checkpoint, _ t: TensorEntry) throws -> Tensor {
        guard t.dtype.isFloatingPoint else {
            throw LoRAError.notAnAdapter(path: checkpoint.path, reason: "\(t.name) is \(t.dtype.rawValue), LoRA weights are floating point")
        }
        return Tensor(shape: t.shape, data: try checkpoint.floats(of: t))
    }

    /// The keys of a top-level JSON object member in file order (PEFT tries pattern keys in that order).
    static func orderedKeys(of member: String, in data: Data) -> [String]? {
        JSONKeyScanner.keys(ofMember: member, in: data)
    }
}
