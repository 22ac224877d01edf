/// One value of a checkpoint's object tree, as the pickle (or header) describes it.
///
/// Tensors appear as `.tensor` leaves that describe where their bytes live; no tensor data is
/// held here. Writers walk the same tree to keep a checkpoint's structure when they write it back.
public indirect enum Node: Sendable, Equatable {
    case tensor(TensorEntry)
    /// A dict or `collections.OrderedDict` (`ordered`), items in file order.
    case dict([DictItem], ordered: Bool)
    case list([Node])
    case tuple([Node])
    case int(Int)
    /// An integer too wide for `Int`, kept as its decimal text.
    case bigInt(String)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case bool(Bool)
    case none
    /// A `torch.dtype` value (e.g. a training script's `args.dtype`).
    case dtype(DType)
    /// A `torch.device` value, by its text (`cpu`, `cuda:0`).
    case device(String)
    /// A `torch.Size`, kept apart from a plain tuple so it writes back as one.
    case size([Int])
}

/// A key/value pair of a `.dict` node.
public struct DictItem: Sendable, Equatable {
    public var key: Node
    public var value: Node
    public init(key: Node, value: Node) {
        self.key = key
        self.value = value
    }
}

extension Node {
    /// The text a dict key contributes to a dotted tensor name (`layers`, `0`).
    public var pathComponent: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bigInt(let s): return s
        case .double(let d): return String(d)
        case .bool(let b): return b ? "True" : "False"
        case .none: return "None"
        default: return "?"
        }
    }
}

extension Node {
    /// Whether a tensor appears anywhere in this subtree.
    public var containsTensor: Bool {
        switch self {
        case .tensor: return true
        case .dict(let items, _): return items.contains { $0.value.containsTensor }
        case .list(let items), .tuple(let items): return items.contains { $0.containsTensor }
        default: return false
        }
    }
}

extension Node {
    /// Whether this is a single plain value: no tensor, dict, list or tuple.
    public var isScalar: Bool {
        switch self {
        case .tensor, .dict, .list, .tuple: return false
        default: return true
        }
    }
}
