/// Everything that can go wrong loading, binding or merging a LoRA adapter.
public enum LoRAError: Error, CustomStringConvertible, Equatable {
    /// The file holds no LoRA keys at all (`lora.A/B`, `lora_A/B`).
    case notAnAdapter(path: String, reason: String)
    /// `adapter_config.json` could not be decoded or says something unusable.
    case badConfig(path: String, reason: String)
    /// A PEFT feature this tool cannot merge correctly (DoRA, LoRA bias, embedding adapters, ...).
    case unsupported(path: String, feature: String)
    /// Adapter keys that do not fit the base model: no such Linear, A without B, wrong shapes.
    case mismatch(adapter: String, base: String, problems: [BindingProblem])
    /// A merge was asked on a weight buffer of the wrong size.
    case weightSize(module: String, expected: Int, got: Int)
    /// No Linear module of the checkpoint matches the requested selection.
    case noTargets(path: String, selector: TargetSelector, linears: [String])
    /// A LoRA rank that is not positive.
    case badRank(path: String, rank: Int)
    /// A delta that cannot be scaled, negated or removed (DoRA, `modules_to_save`).
    case notScalable(module: String, kind: String, reason: String)

    /// How many problems a message lists before "and N more".
    public static let listLimit = 8

    public var description: String {
        switch self {
        case .notAnAdapter(let path, let reason):
            return "\(path): not a LoRA adapter: \(reason)"
        case .badConfig(let path, let reason):
            return "\(path): adapter_config.json: \(reason)"
        case .unsupported(let path, let feature):
            return "\(path): unsupported adapter: \(feature)"
        case .mismatch(let adapter, let base, let problems):
            var lines = problems.prefix(LoRAError.listLimit).map(\.description)
            if problems.count > LoRAError.listLimit { lines.append("and \(problems.count - LoRAError.listLimit) more") }
            return "\(adapter): adapter does not fit \(base): \(problems.count) problem\(problems.count == 1 ? "" : "s"): " + lines.joined(separator: "; ")
        case .weightSize(let module, let expected, let got):
            return "\(module): weight buffer has \(got) values, expected \(expected)"
        case .noTargets(let path, let selector, let linears):
            let names = Array(Set(linears.map { $0.split(separator: ".").last.map(String.init) ?? $0 })).sorted()
            let available = names.isEmpty ? "the model has no Linear modules" : "Linear names here: " + names.joined(separator: ", ")
            return "\(path): no Linear module matches the selection \(selector.description) (\(available))"
        case .badRank(let path, let rank):
            return rank > 0 ? "\(path): LoRA rank \(rank): the adapter's parameter count at this rank overflows a 64-bit integer"
                : "\(path): LoRA rank \(rank) is not a positive integer"
        case .notScalable(let module, let kind, let reason):
            return "\(module): a \(kind) layer cannot be scaled, negated or unmerged: \(reason)"
        }
    }
}

/// One adapter key that cannot be bound to the base model.
public enum BindingProblem: Sendable, Equatable, CustomStringConvertible {
    /// The adapter names a module the base does not have.
    case noSuchModule(key: String)
    /// The module exists but is not a Linear (`kind` is its summary).
    case notLinear(key: String, kind: String)
    /// Only one of A and B is present.
    case missingPartner(key: String, missing: String)
    /// A or B does not fit the base weight.
    case shape(key: String, shape: [Int], expected: String)
    /// The key is not a LoRA key at all.
    case unrecognizedKey(key: String)

    public var key: String {
        switch self {
        case .noSuchModule(let k), .notLinear(let k, _), .missingPartner(let k, _), .shape(let k, _, _), .unrecognizedKey(let k): return k
        }
    }

    public var description: String {
        switch self {
        case .noSuchModule(let key): return "\(key): no such module in the base"
        case .notLinear(let key, let kind): return "\(key): base module is \(kind), not a Linear"
        case .missingPartner(let key, let missing): return "\(key): has no matching \(missing)"
        case .shape(let key, let shape, let expected): return "\(key): shape \(shape) does not fit, expected \(expected)"
        case .unrecognizedKey(let key): return "\(key): not a LoRA key"
        }
    }
}
