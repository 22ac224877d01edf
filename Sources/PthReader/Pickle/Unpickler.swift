/// A pickle virtual machine that builds values and never runs code.
///
/// Globals resolve only through `AllowedGlobal`; `REDUCE`/`NEWOBJ`/`BUILD` are interpreted for those
/// globals alone (see `Unpickler+Torch.swift`). Hostile input is bounded: nesting deeper than
/// `maxDepth`, reference cycles and trees larger than `maxNodes` are refused. The opcodes are in
/// `Unpickler+Opcodes.swift`, `torch.save`'s per-tensor fast path in `Unpickler+TensorLane.swift`,
/// the conversion to `Node` in `Unpickler+Tree.swift`.
struct Unpickler {
    static let maxDepth = 200
    static let maxNodes = 20_000_000
    /// Values the stream may create while it is run (each costs 24 bytes or more while alive):
    /// refuses a small, valid pickle that unrolls into a list of hundreds of millions of values
    /// before the tree budget `maxNodes` could see it. A torch state dict creates about 25 per tensor.
    static let defaultMaxCreatedValues = 40_000_000
    /// This unpickler's limit on created values (`defaultMaxCreatedValues`; lowered by tests).
    var maxCreatedValues = Unpickler.defaultMaxCreatedValues

    /// Turns a persistent id (the tuple after `BINPERSID`) into a storage.
    typealias PersistentLoad = (_ pid: [PickleValue]) throws -> StorageRef

    let path: String
    let entry: String
    /// The stream as given, for `load`'s second reading without the tensor lane.
    private let start: ByteCursor
    var cursor: ByteCursor
    var stack: [PickleValue] = []
    var marks: [Int] = []
    /// The memo: dense indices (all that `pickle` writes) in an array, any others in a dictionary.
    private var memoDense: [PickleValue?] = []
    private var memoSparse: [Int: PickleValue] = [:]
    /// Distinct indices set (`len(memo)` for `MEMOIZE`).
    var memoCount = 0
    private var containers: [AnyObject] = []
    /// Shapes and strides already seen (see `intern`).
    var layouts: [[Int]: [Int]] = [:]
    var opcodeOffset = 0
    var created = 0
    let persistentLoad: PersistentLoad
    /// Whether `torch.save`'s per-tensor opcodes take the tensor lane (`Unpickler+TensorLane.swift`).
    var tensorLane = false
    /// Tensors the lane read (for tests: the lane is taken, not just harmless).
    var tensorsByLane = 0
    /// Memo writes of the tensor lane, applied when it commits.
    var lanePuts: [(index: Int, value: PickleValue)] = []
    /// Set when a read ran past the end of the bytes (the legacy reader then reads more and retries).
    private(set) var ranOutOfBytes = false

    init(bytes: [UInt8], offset: Int = 0, path: String, entry: String, persistentLoad: @escaping PersistentLoad) {
        self.cursor = ByteCursor(bytes, offset: offset)
        self.start = cursor
        self.path = path
        self.entry = entry
        self.persistentLoad = persistentLoad
    }

    /// Offset just past the last `STOP` read.
    var offset: Int { cursor.offset }

    /// Runs the stream to its `STOP` and returns the result as a `Node` tree.
    mutating func load() throws -> Node {
        defer { teardown() }
        let value: PickleValue
        do {
            value = try run()
        } catch is ElidedValueReferenced {
            // An opcode referred to a value the tensor lane did not build: read the stream again,
            // every opcode on its own. Persistent loads see the same ids in the same order again.
            teardown()
            cursor = start
            marks.removeAll()
            memoCount = 0
            created = 0
            ranOutOfBytes = false
            tensorLane = false
            tensorsByLane = 0
            value = try run()
        }
        var budget = Unpickler.maxNodes
        var path = Set<ObjectIdentifier>()
        return try node(from: value, depth: 0, budget: &budget, onPath: &path)
    }

    func error(_ reason: String) -> PthReaderError {
        .pickle(path: path, entry: entry, offset: opcodeOffset, reason: reason)
    }

    /// Empties every list and dict so that deep structures are freed without deep recursion.
    private mutating func teardown() {
        for box in containers {
            if let list = box as? ListBox { list.items.removeAll() }
            if let dict = box as? DictBox { dict.removeAll() }
        }
        containers.removeAll()
        stack.removeAll()
        memoDense.removeAll()
        memoSparse.removeAll()
    }

    private mutating func run() throws -> PickleValue {
        do {
            while true {
                opcodeOffset = cursor.offset
                let byte = try cursor.readByte()
                if byte == PickleOpcode.mark.rawValue, tensorLane, case .global(.rebuildTensorV2)? = stack.last,
                   try takeTensorLane() {
                    continue
                }
                guard let op = PickleOpcode(rawValue: byte) else {
                    throw error("unsupported pickle opcode \(PickleOpcode.name(of: byte))")
                }
                if op == .stop {
                    guard stack.count == 1, marks.isEmpty else { throw error("STOP with \(stack.count) values on the stack") }
                    return stack.removeLast()
                }
                try execute(op)
            }
        } catch let long as ByteCursor.LineTooLong {
            throw error("text line longer than \(long.limit) bytes")
        } catch let outOfBounds as ByteCursor.OutOfBounds {
            ranOutOfBytes = true
            throw error("data ends early (needed \(outOfBounds.wanted) bytes at \(outOfBounds.offset))")
        }
    }

    // MARK: - Stack helpers

    mutating func pop() throws -> PickleValue {
        guard let value = stack.popLast() else { throw error("stack underflow") }
        if let mark = marks.last, stack.count < mark { throw error("value popped across a MARK") }
        return value
    }

    mutating func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw error("no MARK on the stack") }
        guard mark <= stack.count else { throw error("MARK beyond the stack") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    mutating func push(_ value: PickleValue) throws {
        created += 1
        guard created <= maxCreatedValues else {
            throw error("the pickle creates more than \(maxCreatedValues) values (a decompression bomb?); refused while building")
        }
        stack.append(value)
    }

    mutating func makeTuple(_ items: [PickleValue]) throws -> PickleValue {
        let box = TupleBox(items)
        guard box.depth <= Unpickler.maxDepth else { throw error("containers nested deeper than \(Unpickler.maxDepth)") }
        return .tuple(box)
    }

    /// Raises a container's depth to hold `child`, refusing nesting past `maxDepth`.
    ///
    /// The child's depth is read before the parent's is written: a container may be added to itself.
    private func noteDepth(of child: PickleValue, in parentDepth: inout Int) throws {
        let childDepth = child.depth
        parentDepth = Swift.max(parentDepth, childDepth + 1)
        guard parentDepth <= Unpickler.maxDepth else { throw error("containers nested deeper than \(Unpickler.maxDepth)") }
    }

    private func raiseDepth(of box: ListBox, for items: [PickleValue]) throws {
        var depth = box.depth
        for item in items { try noteDepth(of: item, in: &depth) }
        box.depth = depth
    }

    private func raiseDepth(of box: DictBox, for items: [PickleValue]) throws {
        var depth = box.depth
        for item in items { try noteDepth(of: item, in: &depth) }
        box.depth = depth
    }

    mutating func appendItems(_ items: [PickleValue]) throws {
        guard case .list(let list)? = stack.last else { throw error("APPEND to a \(stack.last?.kind ?? "nothing"), not a list") }
        try raiseDepth(of: list, for: items)
        list.items.append(contentsOf: items)
    }

    mutating func setItems(_ flat: [PickleValue]) throws {
        guard flat.count % 2 == 0 else { throw error("SETITEMS with an odd number of values") }
        guard case .dict(let dict)? = stack.last else { throw error("SETITEM on a \(stack.last?.kind ?? "nothing"), not a dict") }
        try raiseDepth(of: dict, for: flat)
        for i in stride(from: 0, to: flat.count, by: 2) {
            dict.set(flat[i], flat[i + 1])
        }
    }

    mutating func newList(_ items: [PickleValue] = []) throws -> PickleValue {
        let box = ListBox()
        containers.append(box)
        try raiseDepth(of: box, for: items)
        box.items = items
        return .list(box)
    }

    mutating func newDict(ordered: Bool) -> DictBox {
        let box = DictBox(ordered: ordered)
        containers.append(box)
        return box
    }

    mutating func memoGet(_ index: Int) throws -> PickleValue {
        let found: PickleValue
        if index < memoDense.count, let value = memoDense[index] {
            found = value
        } else {
            guard let value = memoSparse[index] else { throw error("memo reference \(index) to nothing") }
            found = value
        }
        if case .elided = found { throw ElidedValueReferenced() }
        return found
    }

    /// `memo[index]` without the checks of `GET`, for the tensor lane (nil if absent).
    func memoPeek(_ index: Int) -> PickleValue? {
        if index < memoDense.count, let value = memoDense[index] { return value }
        return memoSparse[index]
    }

    /// `memo[index] = value`; an index in the dense range shadows any sparse entry of it.
    mutating func memoSet(_ index: Int, _ value: PickleValue) {
        if index < memoDense.count {
            if memoDense[index] == nil && memoSparse[index] == nil { memoCount += 1 }
            memoDense[index] = value
        } else if index == memoDense.count {
            if memoSparse[index] == nil { memoCount += 1 }
            memoDense.append(value)
        } else {
            if memoSparse.updateValue(value, forKey: index) == nil { memoCount += 1 }
        }
    }

    mutating func readString(length: Int) throws -> String {
        let raw = try cursor.readBytes(length)
        guard let text = String(validating: raw, as: UTF8.self) else { throw error("string is not valid UTF-8") }
        return text
    }

    mutating func readLength<T: FixedWidthInteger>(_: T.Type) throws -> Int {
        let raw = try cursor.read(T.self)
        guard let length = Int(exactly: raw), length <= cursor.remaining else {
            ranOutOfBytes = true
            throw error("declared length \(raw) exceeds the \(cursor.remaining) bytes left")
        }
        return length
    }
}
