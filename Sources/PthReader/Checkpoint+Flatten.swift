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

extension Node {
    /// Whether this is one dict of tensors under ASCII string keys (a plain state dict).
    ///
    /// Its keys are the tensor names, and the pickle's dict semantics already made them distinct
    /// byte for byte; ASCII names are canonically equal only when byte-equal, so no two names can
    /// collide and `Checkpoint` need not index them to find out (`namesUnique`).
    var isFlatDictOfTensorsWithASCIIKeys: Bool {
        guard case .dict(let items, _) = self else { return false }
        for item in items {
            guard case .tensor = item.value, case .string(var key) = item.key else { return false }
            let ascii = key.withUTF8 { bytes in bytes.allSatisfy { $0 < 0x80 } }
            guard ascii else { return false }
        }
        return true
    }
}
