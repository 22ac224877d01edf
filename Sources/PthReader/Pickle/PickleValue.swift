/// A value on the unpickler's stack or in its memo.
///
/// Lists and dicts are reference boxes because pickles mutate them after memoizing them.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case bigInt(String)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case list(ListBox)
    case dict(DictBox)
    case tuple(TupleBox)
    /// An allowlisted global (class or function), resolved but never executed.
    case global(AllowedGlobal)
    /// A storage handed back by the checkpoint's persistent-id loader.
    case storage(StorageRef)
    /// Indirect so that the enum stays small (24-byte stride): a pickle may hold tens of millions of values.
    indirect case tensor(TensorEntry)
    case dtype(DType)
    case device(String)
    case size([Int])

    /// Nesting depth of this value (0 for a leaf), used to refuse hostile nesting.
    var depth: Int {
        switch self {
        case .list(let box): return box.depth
        case .dict(let box): return box.depth
        case .tuple(let box): return box.depth
        default: return 0
        }
    }

    /// A short description of the kind of value, for error messages.
    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .double: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .list: return "list"
        case .dict: return "dict"
        case .tuple: return "tuple"
        case .global(let g): return "global \(g.qualifiedName)"
        case .storage: return "storage"
        case .tensor: return "tensor"
        case .dtype: return "dtype"
        case .device: return "device"
        case .size: return "torch.Size"
        }
    }
}

/// A mutable list built by the pickle.
final class ListBox {
    var items: [PickleValue] = []
    var depth = 1
}

/// A mutable dict (or OrderedDict) built by the pickle; items keep insertion order.
///
/// Like a Python dict, setting a key that is already present replaces its value in place (the
/// last value wins, at the first key's position). Keys compare as Python compares them: strings
/// byte for byte (never by Unicode canonical equivalence), and `1`, `True` and `1.0` as one key.
final class DictBox {
    private(set) var items: [(key: PickleValue, value: PickleValue)] = []
    private var positions: [PickleKey: Int] = [:]
    let ordered: Bool
    var depth = 1
    init(ordered: Bool) { self.ordered = ordered }

    /// `dict[key] = value`.
    func set(_ key: PickleValue, _ value: PickleValue) {
        if let identity = PickleKey(key) {
            // One hash lookup: the slot is created holding the new position, or keeps the old one.
            let next = items.count
            let position = DictBox.claim(&positions[identity, default: next])
            if position != next {
                items[position].value = value
                return
            }
        }
        items.append((key, value))
    }

    private static func claim(_ slot: inout Int) -> Int { slot }

    /// Drops every item (teardown of deep structures without deep recursion).
    func removeAll() {
        items.removeAll()
        positions.removeAll()
    }
}

/// The identity of a hashable pickle value as a Python dict key.
enum PickleKey: Hashable {
    case text(UTF8Key), number(Int), big(String), float(UInt64), bytes([UInt8]), none

    init?(_ value: PickleValue) {
        switch value {
        case .string(let s): self = .text(UTF8Key(s))
        case .int(let i): self = .number(i)
        case .bool(let b): self = .number(b ? 1 : 0)
        case .bigInt(let s): self = .big(s)
        case .double(let d):
            if d == d.rounded(), let i = Int(exactly: d) { self = .number(i) } else { self = .float(d.bitPattern) }
        case .bytes(let b): self = .bytes(b)
        case .none: self = .none
        default: return nil
        }
    }
}

/// A string compared and hashed by its UTF-8 bytes (never by Unicode canonical equivalence),
/// without copying them into an array.
struct UTF8Key: Hashable {
    let text: String
    init(_ text: String) { self.text = text }

    static func == (a: UTF8Key, b: UTF8Key) -> Bool { a.text.sameBytes(as: b.text) }

    func hash(into hasher: inout Hasher) {
        var copy = text
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(text.utf8.count)
    }
}

/// An immutable tuple; its depth is fixed when it is built.
final class TupleBox {
    let items: [PickleValue]
    let depth: Int
    init(_ items: [PickleValue]) {
        self.items = items
        self.depth = 1 + (items.map(\.depth).max() ?? 0)
    }
}

/// A storage named by a persistent id: its key inside the checkpoint and declared type and size.
struct StorageRef {
    let key: String
    /// nil for `torch.UntypedStorage`, whose dtype comes from `_rebuild_tensor_v3`.
    let dtype: DType?
    /// Elements the pickle declares (bytes for an untyped storage).
    let declaredCount: Int
}
