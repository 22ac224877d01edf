import PthReader

/// The modules of a model, rebuilt from a state dict's tensor names in PyTorch `named_modules()` order.
///
/// Every dotted tensor name `a.b.c.weight` makes `a`, `a.b` and `a.b.c` modules and gives `a.b.c`
/// the parameter `weight`. Modules come pre-order (a module before its children), children in the
/// order their first parameter appears, which is the order PyTorch registers and saves them.
public struct ModuleTree: Sendable {
    /// Every module, pre-order, starting with the root `""`.
    public let allModules: [Module]
    /// The prefix stripped from tensor names to get module paths (`"model."` for a training checkpoint).
    public let prefix: String
    private let index: [String: Int]

    /// Builds the tree from tensors; names must start with `prefix`, which is removed to form module paths.
    ///
    /// Tensors whose names do not start with `prefix` are ignored. Parameters keep their full names.
    public init(tensors: [TensorEntry], prefix: String = "") {
        self.prefix = prefix
        var order: [String] = [""]
        var children: [String: [String]] = ["": []]
        var params: [String: [TensorEntry]] = [:]

        func ensure(_ path: String) {
            guard children[path] == nil else { return }
            let parent = ModuleTree.parentPath(of: path)
            ensure(parent)
            children[path] = []
            children[parent, default: []].append(path)
            order.append(path)
        }

        for tensor in tensors {
            guard tensor.name.hasPrefix(prefix) else { continue }
            let local = String(tensor.name.dropFirst(prefix.count))
            let modulePath: String
            if let dot = local.lastIndex(of: ".") {
                modulePath = String(local[..<dot])
            } else {
                modulePath = ""
            }
            ensure(modulePath)
            params[modulePath, default: []].append(tensor)
        }

        // Pre-order walk.
        var result: [Module] = []
        var stack: [String] = [""]
        while let path = stack.popLast() {
            let kids = children[path] ?? []
            let own = params[path] ?? []
            let kind = ModuleTree.inferKind(path: path, parameters: own, prefix: prefix, children: kids, siblings: children[ModuleTree.parentPath(of: path)] ?? [])
            let isHead = kind.isLinear && ModuleTree.headNames.contains(ModuleTree.lastComponent(path))
            result.append(Module(path: path, kind: kind, parameters: own, isHead: isHead, children: kids))
            stack.append(contentsOf: kids.reversed())
        }
        allModules = result
        var index: [String: Int] = [:]
        for (i, m) in result.enumerated() { index[m.path] = i }
        self.index = index
    }

    /// The modules as `named_modules()` lists them; the root `""` only when `includeRoot`.
    public func namedModules(includeRoot: Bool = true) -> [Module] {
        includeRoot ? allModules : Array(allModules.dropFirst())
    }

    /// The module at a dotted path (`""` is the root).
    public func module(at path: String) -> Module? {
        index[path].map { allModules[$0] }
    }

    /// Every `nn.Linear`, in module order (the head included).
    public var linears: [Module] { allModules.filter { $0.kind.isLinear } }

    /// The output head, if one is recognised.
    public var head: Module? { allModules.first { $0.isHead } }

    /// The full tensor name of a module's parameter (`layers.0.attention.wq` + `weight` → `model.layers.0.attention.wq.weight`).
    public func tensorName(module path: String, parameter: String) -> String {
        prefix + (path.isEmpty ? parameter : path + "." + parameter)
    }

    // MARK: - Inference rules

    /// Names of output heads: Linears with these last components are marked `isHead`.
    public static let headNames: Set<String> = ["output", "lm_head", "embed_out"]

    /// Names that make a 2-D weight an embedding even without `embed` in them.
    public static let embeddingNames: Set<String> = ["tok_embeddings", "embed_tokens", "wte", "wpe", "word_embeddings", "position_embeddings", "token_type_embeddings"]

    static func parentPath(of path: String) -> String {
        guard let dot = path.lastIndex(of: ".") else { return "" }
        return String(path[..<dot])
    }

    static func lastComponent(_ path: String) -> String {
        guard let dot = path.lastIndex(of: ".") else { return path }
        return String(path[path.index(after: dot)...])
    }

    /// Whether a `gate` under `parent` is a mixture-of-experts router: its parent is a
    /// `feed_forward`/`mlp` block or it has an `experts` sibling.
    static func isMoEGateParent(_ parent: String, siblings: [String]) -> Bool {
        let parentName = lastComponent(parent)
        return parentName == "feed_forward" || parentName == "mlp" || siblings.contains { lastComponent($0) == "experts" }
    }

    /// Infers a module's kind from its own parameters, its name, its children and its siblings.
    static func inferKind(path: String, parameters: [TensorEntry], prefix: String, children: [String], siblings: [String]) -> ModuleKind {
        let name = lastComponent(path)
        let lower = name.lowercased()
        func local(_ t: TensorEntry) -> String { lastComponent(t.name) }
        let byName = Dictionary(parameters.map { (local($0), $0) }, uniquingKeysWith: { first, _ in first })
        let weight = byName["weight"]
        let bias = byName["bias"]
        let onlyWeightAndBias = Set(byName.keys).isSubset(of: ["weight", "bias"])

        if let w = weight, onlyWeightAndBias {
            if w.shape.count == 2 {
                let isHead = headNames.contains(name)
                if !isHead && (embeddingNames.contains(name) || lower.contains("embed")) {
                    return .embedding(count: w.shape[0], dim: w.shape[1])
                }
                // Siblings are looked at only for a `gate`: scanning them for every module would
                // cost O(siblings) each, quadratic in a flat list of a million modules.
                if name == "gate" && bias == nil && isMoEGateParent(parentPath(of: path), siblings: siblings) {
                    return .moeGate(experts: w.shape[0], dim: w.shape[1])
                }
                if bias == nil || bias!.shape == [w.shape[0]] {
                    return .linear(inFeatures: w.shape[1], outFeatures: w.shape[0], bias: bias != nil)
                }
            } else if w.shape.count == 1 && (lower.contains("norm") || lower.hasPrefix("ln_") || lower == "ln") {
                if let b = bias {
                    if b.shape == w.shape { return .layerNorm(dim: w.shape[0]) }
                } else {
                    return .rmsNorm(dim: w.shape[0])
                }
            }
        }
        if !parameters.isEmpty {
            return .generic(parameters: parameters.map { ParameterShape(name: local($0), shape: $0.shape) })
        }
        if !children.isEmpty && children.allSatisfy({ Int(lastComponent($0)) != nil }) {
            return .moduleList(count: children.count)
        }
        return .container
    }
}
