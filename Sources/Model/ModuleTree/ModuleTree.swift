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
    /// Module number (creation order) by module path, and the position in `allModules` of each
    /// number: the dictionary built while reading the names serves lookups as it is.
    private let index: [Substring: Int]
    private let position: [Int]

    /// Builds the tree from tensors; names must start with `prefix`, which is removed to form module paths.
    ///
    /// Tensors whose names do not start with `prefix` are ignored. Parameters keep their full names.
    /// Linear in the number of tensors: one dictionary lookup per tensor (module paths are looked
    /// up as slices of the names, not copied), modules linked by integer index.
    public init(tensors: [TensorEntry], prefix: String = "") {
        self.prefix = prefix
        // Modules in creation order; 0 is the root.
        var paths: [Substring] = [""]
        var parent: [Int] = [-1]
        var firstChild: [Int] = [-1], lastChild: [Int] = [-1], nextSibling: [Int] = [-1]
        var firstParam: [Int] = [-1], lastParam: [Int] = [-1]
        var nextParam = [Int](repeating: -1, count: tensors.count)
        var byPath: [Substring: Int] = ["": 0]
        byPath.reserveCapacity(tensors.count + 1)

        // Iterative (a name may have any number of dots): climb to the nearest known ancestor,
        // then create the missing modules from the top down.
        var missing: [Substring] = []
        func ensure(_ path: Substring) -> Int {
            if let known = byPath[path] { return known }
            missing.removeAll(keepingCapacity: true)
            var p = path
            var up = 0
            while true {
                missing.append(p)
                let q = ModuleTree.split(p)?.parent ?? ""
                if let known = byPath[q] { up = known; break }
                p = q
            }
            for path in missing.reversed() {
                let id = paths.count
                paths.append(path)
                parent.append(up)
                firstChild.append(-1); lastChild.append(-1); nextSibling.append(-1)
                firstParam.append(-1); lastParam.append(-1)
                if lastChild[up] < 0 { firstChild[up] = id } else { nextSibling[lastChild[up]] = id }
                lastChild[up] = id
                byPath[path] = id
                up = id
            }
            return up
        }

        var previous = -1
        var previousPath: Substring = ""
        for (t, tensor) in tensors.enumerated() {
            guard prefix.isEmpty || tensor.name.hasPrefix(prefix) else { continue }
            let local: Substring = prefix.isEmpty ? Substring(tensor.name) : tensor.name.dropFirst(prefix.count)
            let modulePath = ModuleTree.split(local)?.parent ?? ""
            // Consecutive tensors of one module (weight, bias) skip the lookup.
            let id: Int
            if previous >= 0, modulePath.sameBytes(as: previousPath) { id = previous } else { id = ensure(modulePath) }
            previous = id
            previousPath = modulePath
            if lastParam[id] < 0 { firstParam[id] = t } else { nextParam[lastParam[id]] = t }
            lastParam[id] = t
        }

        // Pre-order walk.
        let count = paths.count
        var strings = [String](repeating: "", count: count)
        var numeric = [Bool](repeating: false, count: count)
        for id in 1..<max(count, 1) {
            strings[id] = String(paths[id])
            numeric[id] = Int(ModuleTree.split(paths[id])?.last ?? paths[id]) != nil
        }
        var result: [Module] = []
        result.reserveCapacity(count)
        var position = [Int](repeating: 0, count: count)
        var stack: [Int] = [0]
        var kids: [Int] = []
        while let id = stack.popLast() {
            kids.removeAll(keepingCapacity: true)
            var c = firstChild[id]
            while c >= 0 { kids.append(c); c = nextSibling[c] }
            var own: [TensorEntry] = []
            var ownIndices: [Int] = []
            var p = firstParam[id]
            while p >= 0 { own.append(tensors[p]); ownIndices.append(p); p = nextParam[p] }
            let name = ModuleTree.split(paths[id])?.last ?? paths[id]
            let kind = ModuleTree.inferKind(name: name, parameters: own, childCount: kids.count,
                                            childrenNumbered: kids.allSatisfy { numeric[$0] },
                                            parentName: { id == 0 ? "" : ModuleTree.split(paths[parent[id]])?.last ?? paths[parent[id]] },
                                            siblingNames: { (id == 0 ? [] : ModuleTree.children(of: parent[id], firstChild, nextSibling)).map { ModuleTree.split(paths[$0])?.last ?? paths[$0] } })
            let isHead = kind.isLinear && ModuleTree.headNames.contains { $0 == name }
            position[id] = result.count
            result.append(Module(path: strings[id], kind: kind, parameters: own, isHead: isHead, children: kids.map { strings[$0] },
                                 parameterIndices: ownIndices))
            stack.append(contentsOf: kids.reversed())
        }
        allModules = result
        index = byPath
        self.position = position
    }

    private static func children(of id: Int, _ firstChild: [Int], _ nextSibling: [Int]) -> [Int] {
        var out: [Int] = []
        var c = firstChild[id]
        while c >= 0 { out.append(c); c = nextSibling[c] }
        return out
    }

    /// The modules as `named_modules()` lists them; the root `""` only when `includeRoot`.
    public func namedModules(includeRoot: Bool = true) -> [Module] {
        includeRoot ? allModules : Array(allModules.dropFirst())
    }

    /// The module at a dotted path (`""` is the root).
    public func module(at path: String) -> Module? {
        index[Substring(path)].map { allModules[position[$0]] }
    }

    /// Every `nn.Linear`, in module order (the head included).
    public var linears: [Module] { allModules.filter { $0.kind.isLinear } }

    /// The output head, if one is recognised.
    public var head: Module? {
        // By index: `first(where:)` would copy each of a million modules to test one flag.
        allModules.indices.first { allModules[$0].isHead }.map { allModules[$0] }
    }

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
        split(Substring(path)).map { String($0.parent) } ?? ""
    }

    static func lastComponent(_ path: String) -> String {
        split(Substring(path)).map { String($0.last) } ?? path
    }

    /// A dotted path cut at its last `.` (as a `Character`), or nil without one.
    ///
    /// Cut on the bytes when the last `.` has ASCII neighbours; otherwise by `Character`, where a
    /// `.` followed by a combining mark is not a `.`: both give what `lastIndex(of: ".")` gives.
    static func split(_ path: Substring) -> (parent: Substring, last: Substring)? {
        let utf8 = path.utf8
        // The last `.` byte is the last `.` Character when its neighbours are ASCII (an ASCII
        // byte never extends a grapheme cluster, and only a non-ASCII one can prepend to one).
        guard let dot = utf8.lastIndex(of: UInt8(ascii: ".")) else { return nil }
        let after = utf8.index(after: dot)
        if (dot == utf8.startIndex || utf8[utf8.index(before: dot)] < 0x80) && (after == utf8.endIndex || utf8[after] < 0x80) {
            return (path[..<dot], path[after...])
        }
        guard let dot = path.lastIndex(of: ".") else { return nil }
        return (path[..<dot], path[path.index(after: dot)...])
    }

    /// Whether `name`, lowercased, contains `needle` (ASCII lowercase letters): on the bytes for an
    /// ASCII name, by `Character` otherwise (as `name.lowercased().contains(needle)`).
    static func lowercasedContains(_ name: Substring, _ needle: String) -> Bool {
        // On the bytes in place when both are stored contiguously (native strings are): nil when
        // they are not, or the name is not ASCII.
        let inPlace: Bool?? = name.utf8.withContiguousStorageIfAvailable { h in
            guard h.allSatisfy({ $0 < 0x80 }) else { return nil }
            return needle.utf8.withContiguousStorageIfAvailable { n in asciiLowercasedContains(h, n) }
        }
        if case .some(.some(let found)) = inPlace { return found }
        if name.utf8.allSatisfy({ $0 < 0x80 }) {
            return Array(name.utf8).withUnsafeBufferPointer { h in
                Array(needle.utf8).withUnsafeBufferPointer { n in asciiLowercasedContains(h, n) }
            }
        }
        return name.lowercased().contains(needle)
    }

    /// Whether ASCII bytes `h`, lowercased, contain `n` (lowercase ASCII).
    private static func asciiLowercasedContains(_ h: UnsafeBufferPointer<UInt8>, _ n: UnsafeBufferPointer<UInt8>) -> Bool {
        guard h.count >= n.count else { return false }
        for start in 0...(h.count - n.count) {
            var matched = true
            for k in 0..<n.count {
                let c = h[start + k]
                if (c | (c >= 0x41 && c <= 0x5A ? 0x20 : 0)) != n[k] { matched = false; break }
            }
            if matched { return true }
        }
        return false
    }

    /// Infers a module's kind from its own parameters, its name, its children and (for a `gate`
    /// only) its parent's name and its siblings' names.
    ///
    /// Siblings are looked at only for a `gate`: scanning them for every module would cost
    /// O(siblings) each, quadratic in a flat list of a million modules.
    static func inferKind(name: Substring, parameters: [TensorEntry], childCount: Int, childrenNumbered: Bool,
                          parentName: () -> Substring, siblingNames: () -> [Substring]) -> ModuleKind {
        func local(_ t: TensorEntry) -> Substring { split(Substring(t.name))?.last ?? Substring(t.name) }
        var weight: TensorEntry?, bias: TensorEntry?
        var onlyWeightAndBias = true
        for t in parameters {
            let l = local(t)
            if l == "weight" { if weight == nil { weight = t } }
            else if l == "bias" { if bias == nil { bias = t } }
            else { onlyWeightAndBias = false }
        }

        if let w = weight, onlyWeightAndBias {
            if w.shape.count == 2 {
                let isHead = headNames.contains { $0 == name }
                if !isHead && (embeddingNames.contains { $0 == name } || lowercasedContains(name, "embed")) {
                    return .embedding(count: w.shape[0], dim: w.shape[1])
                }
                if name == "gate" && bias == nil {
                    let parent = parentName()
                    if parent == "feed_forward" || parent == "mlp" || siblingNames().contains(where: { $0 == "experts" }) {
                        return .moeGate(experts: w.shape[0], dim: w.shape[1])
                    }
                }
                if bias == nil || bias!.shape == [w.shape[0]] {
                    return .linear(inFeatures: w.shape[1], outFeatures: w.shape[0], bias: bias != nil)
                }
            } else if w.shape.count == 1 {
                let lower = name.utf8.allSatisfy({ $0 < 0x80 }) ? nil : name.lowercased()
                let isNorm = lower.map { $0.contains("norm") || $0.hasPrefix("ln_") || $0 == "ln" }
                    ?? (lowercasedContains(name, "norm") || lowercasedContains(name.prefix(3), "ln_") && name.count >= 3
                        || name.count == 2 && lowercasedContains(name, "ln"))
                if isNorm {
                    if let b = bias {
                        if b.shape == w.shape { return .layerNorm(dim: w.shape[0]) }
                    } else {
                        return .rmsNorm(dim: w.shape[0])
                    }
                }
            }
        }
        if !parameters.isEmpty {
            return .generic(parameters: parameters.map { ParameterShape(name: String(local($0)), shape: $0.shape) })
        }
        if childCount > 0 && childrenNumbered {
            return .moduleList(count: childCount)
        }
        return .container
    }
}
