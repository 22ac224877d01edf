extension Checkpoint {
    /// The same checkpoint without the dict entries whose value is a tensor `excluded` picks (by dotted name).
    ///
    /// Tensor bytes are still read from the same file; nothing is copied. Used to split a state dict
    /// that holds two things, such as a training checkpoint's base weights and its adapter keys.
    public func removingTensors(where excluded: (String) -> Bool) throws -> Checkpoint {
        func filter(_ node: Node) -> Node {
            switch node {
            case .dict(let items, let ordered):
                return .dict(items.compactMap { item in
                    if case .tensor(let entry) = item.value, excluded(entry.name) { return nil }
                    return DictItem(key: item.key, value: filter(item.value))
                }, ordered: ordered)
            case .list(let items):
                return .list(items.map(filter))
            case .tuple(let items):
                return .tuple(items.map(filter))
            default:
                return node
            }
        }
        return try Checkpoint(path: path, format: format, root: filter(root), storages: storages,
                              configJSON: configJSON, adapterConfigJSON: adapterConfigJSON)
    }
}
