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
    /// A memo slot for a value the tensor lane skipped building (an argument tuple of
    /// `_rebuild_tensor_v2`); never on the stack: `GET` of it makes `load` read the stream again
    /// without the lane.
    case elided

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
        case .elided: return "value"
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
/// Nothing reads a dict while the pickle builds it, so `set` only appends and `items` resolves
/// repeated keys once, with one hash per key into a table of the right size (growing a table
/// key by key rehashed a million-key state dict twice over). So that a pickle setting one key
/// again and again cannot grow the items without bound, they are also resolved whenever they
/// reach `compactAt`: never more than twice the distinct keys, or 2^20, are held.
final class DictBox {
    private var raw: [(key: PickleValue, value: PickleValue)] = []
    /// Whether `raw` may hold a key twice.
    private var unresolved = false
    /// The item count at which `set` resolves repeated keys.
    private var compactAt = DictBox.smallestCompaction
    static let smallestCompaction = 1 << 20
    /// Items held, repeated keys included (for tests of the bound).
    var heldCount: Int { raw.count }
    let ordered: Bool
    var depth = 1
    init(ordered: Bool) { self.ordered = ordered }

    /// The items, each key once, in the order of its first setting.
    var items: [(key: PickleValue, value: PickleValue)] {
        if unresolved {
            raw = DictBox.resolve(raw)
            unresolved = false
        }
        return raw
    }

    /// `dict[key] = value`.
    func set(_ key: PickleValue, _ value: PickleValue) {
        raw.append((key, value))
        unresolved = raw.count > 1
        if raw.count >= compactAt {
            raw = DictBox.resolve(raw)
            unresolved = false
            compactAt = Swift.max(DictBox.smallestCompaction, 2 * raw.count)
        }
    }

    /// Keeps the first position of each key with the last value set for it.
    private static func resolve(_ raw: [(key: PickleValue, value: PickleValue)]) -> [(key: PickleValue, value: PickleValue)] {
        var positions: [PickleKey: Int] = [:]
        positions.reserveCapacity(raw.count)
        // Copied only from the first repeated key on: until then positions in `raw` are final.
        var merged: [(key: PickleValue, value: PickleValue)]?
        for i in raw.indices {
            guard let identity = PickleKey(raw[i].key) else {
                merged?.append(raw[i])
                continue
            }
            let next = merged?.count ?? i
            let position = DictBox.claim(&positions[identity, default: next])
            if position == next {
                merged?.append(raw[i])
            } else {
                if merged == nil { merged = Array(raw[..<i]) }
                merged![position].value = raw[i].value
            }
        }
        return merged ?? raw
    }

    private static func claim(_ slot: inout Int) -> Int { slot }

    /// Drops every item (teardown of deep structures without deep recursion).
    func removeAll() {
        raw.removeAll()
        unresolved = false
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
