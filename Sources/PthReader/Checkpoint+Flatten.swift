extension Checkpoint {
    /// Walks the tree depth-first, naming each tensor by its dotted path and collecting the plain leaves.
    static func flatten(_ node: Node, prefix: String, tensors: inout [TensorEntry], metadata: inout [(String, Node)]) -> Node {
        func join(_ component: String) -> String { prefix.isEmpty ? component : prefix + "." + component }
        switch node {
        case .tensor(var entry):
            // A tensor already named by its path (safetensors) keeps its node: no new allocation.
            if entry.name.sameBytes(as: prefix) {
                tensors.append(entry)
                return node
            }
            entry.name = prefix
            tensors.append(entry)
            return .tensor(entry)
        case .dict(let items, let ordered):
            return .dict(items.map {
                DictItem(key: $0.key, value: flatten($0.value, prefix: join($0.key.pathComponent), tensors: &tensors, metadata: &metadata))
            }, ordered: ordered)
        case .list(let items) where !items.allSatisfy(\.isScalar):
            return .list(items.enumerated().map { flatten($1, prefix: join(String($0)), tensors: &tensors, metadata: &metadata) })
        case .tuple(let items) where !items.allSatisfy(\.isScalar):
            return .tuple(items.enumerated().map { flatten($1, prefix: join(String($0)), tensors: &tensors, metadata: &metadata) })
        default:
            metadata.append((prefix, node))
            return node
        }
    }
}
