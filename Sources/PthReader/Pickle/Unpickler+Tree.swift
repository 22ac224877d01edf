/// The unpickler's result turned into a `Node` tree: budgets, depth and cycles checked once more.
extension Unpickler {
    /// Converts `value` (and everything under it) into a `Node`, refusing trees larger than
    /// `maxNodes`, deeper than `maxDepth`, a container inside itself, and values that have no
    /// `Node` (a bare global, a bare storage).
    func node(from value: PickleValue, depth: Int, budget: inout Int, onPath: inout Set<ObjectIdentifier>) throws -> Node {
        budget -= 1
        guard budget >= 0 else { throw error("object tree has more than \(Unpickler.maxNodes) values") }
        guard depth <= Unpickler.maxDepth else { throw error("containers nested deeper than \(Unpickler.maxDepth)") }
        func enter(_ box: AnyObject) throws -> ObjectIdentifier {
            let id = ObjectIdentifier(box)
            guard onPath.insert(id).inserted else { throw error("a container contains itself") }
            return id
        }
        switch value {
        case .none: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .bigInt(let s): return .bigInt(s)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .bytes(let b): return .bytes(b)
        case .tensor(let t): return .tensor(t)
        case .dtype(let d): return .dtype(d)
        case .device(let d): return .device(d)
        case .size(let s): return .size(s)
        case .list(let box):
            let id = try enter(box)
            defer { onPath.remove(id) }
            return .list(try box.items.map { try node(from: $0, depth: depth + 1, budget: &budget, onPath: &onPath) })
        case .tuple(let box):
            let id = try enter(box)
            defer { onPath.remove(id) }
            return .tuple(try box.items.map { try node(from: $0, depth: depth + 1, budget: &budget, onPath: &onPath) })
        case .dict(let box):
            let id = try enter(box)
            defer { onPath.remove(id) }
            return .dict(try box.items.map {
                DictItem(key: try node(from: $0.key, depth: depth + 1, budget: &budget, onPath: &onPath),
                         value: try node(from: $0.value, depth: depth + 1, budget: &budget, onPath: &onPath))
            }, ordered: box.ordered)
        case .global(let g):
            throw error("the object tree holds the bare global \(g.qualifiedName), which cannot be represented")
        case .elided:
            throw error("the object tree holds a value the tensor lane did not build")
        case .storage(let s):
            throw error("the object tree holds a bare storage '\(s.key)' outside a tensor, which is not supported")
        }
    }
}
