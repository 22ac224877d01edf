import Foundation

/// Which Linear modules get LoRA adapters.
///
/// - `squareLinear` is the seed's `apply_lora` rule: every `nn.Linear` whose weight is square
///   (`in_features == out_features`). The head is not excluded by name; it is simply never square
///   in practice (`64 → 6400`).
/// - `allLinear` is PEFT's `all-linear`: every Linear except the output head.
/// - `names` is PEFT's list form of `target_modules`: a module matches when its path equals an
///   entry or ends with `.` + entry (`q_proj` matches `model.layers.0.self_attn.q_proj`).
/// - `regex` is PEFT's string form: the whole module path must match the regular expression.
/// Only Linear modules are ever selected (LoRA here merges into Linear weights only).
public enum TargetSelector: Sendable, Equatable {
    case squareLinear
    case allLinear
    case names([String])
    case regex(String)

    /// Parses a `--modules` value: empty/nil → the seed's rule, `all-linear`, or a comma-separated list.
    public init(modules: String?) {
        guard let text = modules?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
            self = .squareLinear
            return
        }
        if text.lowercased() == "all-linear" {
            self = .allLinear
            return
        }
        self = .names(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// Whether a module path matches a PEFT-style list of names.
    public static func pathMatches(_ path: String, names: [String]) -> Bool {
        names.contains { path == $0 || path.hasSuffix("." + $0) }
    }

    /// Whether a module path fully matches a regular expression (invalid patterns match nothing).
    public static func pathMatches(_ path: String, regex pattern: String) -> Bool {
        guard let re = try? NSRegularExpression(pattern: "^(?:" + pattern + ")$") else { return false }
        return re.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil
    }

    /// Whether this selector picks module `m` of a table (as `selects(_:)` picks the same module).
    public func selects(_ m: Int, in table: ModuleTable) -> Bool {
        guard case .linear(let i, let o, _) = table.kinds[m] else { return false }
        switch self {
        case .squareLinear: return i == o
        case .allLinear: return !table.heads[m]
        case .names(let names): return TargetSelector.pathMatches(table.path(m), names: names)
        case .regex(let pattern): return TargetSelector.pathMatches(table.path(m), regex: pattern)
        }
    }

    /// Whether this selector picks the module.
    public func selects(_ module: Module) -> Bool {
        guard case .linear(let i, let o, _) = module.kind else { return false }
        switch self {
        case .squareLinear: return i == o
        case .allLinear: return !module.isHead
        case .names(let names): return TargetSelector.pathMatches(module.path, names: names)
        case .regex(let pattern): return TargetSelector.pathMatches(module.path, regex: pattern)
        }
    }

    /// The selected modules in `named_modules()` order.
    public func select(in tree: ModuleTree) -> [Module] {
        tree.allModules.dropFirst().filter(selects)
    }

    /// How the selection was asked for, for messages (`q_proj,v_proj`, `all-linear`, ...).
    public var description: String {
        switch self {
        case .squareLinear: return "square Linear layers (in_features == out_features)"
        case .allLinear: return "all-linear"
        case .names(let names): return names.joined(separator: ",")
        case .regex(let pattern): return pattern
        }
    }
}

/// One module picked for an adapter, with the adapter's size at a rank.
public struct LoRATarget: Sendable, Equatable, Codable {
    public var module: String
    public var inFeatures: Int
    public var outFeatures: Int
    /// `r · (in + out)`: the elements of A `[r, in]` plus B `[out, r]`.
    public var loraParameters: Int

    public init(module: String, inFeatures: Int, outFeatures: Int, rank: Int) {
        self.module = module
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        // Saturates rather than traps; `TargetsReport.make` refuses a rank whose sizes overflow.
        let (sum, o1) = inFeatures.addingReportingOverflow(outFeatures)
        let (product, o2) = rank.multipliedReportingOverflow(by: sum)
        self.loraParameters = o1 || o2 ? Int.max : product
    }

    enum CodingKeys: String, CodingKey {
        case module
        case inFeatures = "in_features"
        case outFeatures = "out_features"
        case loraParameters = "lora_parameters"
    }

    /// The targets a selector picks in a tree, at `rank`.
    public static func targets(in tree: ModuleTree, selector: TargetSelector, rank: Int) -> [LoRATarget] {
        // By index, without a copy of every selected module first.
        let modules = tree.allModules
        return modules.indices.dropFirst().compactMap { i in
            guard selector.selects(modules[i]), let f = modules[i].kind.linearFeatures else { return nil }
            return LoRATarget(module: modules[i].path, inFeatures: f.inFeatures, outFeatures: f.outFeatures, rank: rank)
        }
    }

    /// The targets a selector picks in a module table, at `rank` (as `targets(in: ModuleTree, ...)`).
    public static func targets(in table: ModuleTable, selector: TargetSelector, rank: Int) -> [LoRATarget] {
        (1..<max(table.count, 1)).compactMap { m in
            guard selector.selects(m, in: table), let f = table.kinds[m].linearFeatures else { return nil }
            return LoRATarget(module: table.path(m), inFeatures: f.inFeatures, outFeatures: f.outFeatures, rank: rank)
        }
    }
}
