/// A pickle virtual machine that builds values and never runs code.
///
/// Globals resolve only through `AllowedGlobal`; `REDUCE`/`NEWOBJ`/`BUILD` are interpreted for those
/// globals alone (see `Unpickler+Torch.swift`). Hostile input is bounded: nesting deeper than
/// `maxDepth`, reference cycles and trees larger than `maxNodes` are refused.
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
    private(set) var marks: [Int] = []
    /// The memo: dense indices (all that `pickle` writes) in an array, any others in a dictionary.
    private var memoDense: [PickleValue?] = []
    private var memoSparse: [Int: PickleValue] = [:]
    /// Distinct indices set (`len(memo)` for `MEMOIZE`).
    private var memoCount = 0
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

    private mutating func pop() throws -> PickleValue {
        guard let value = stack.popLast() else { throw error("stack underflow") }
        if let mark = marks.last, stack.count < mark { throw error("value popped across a MARK") }
        return value
    }

    private mutating func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw error("no MARK on the stack") }
        guard mark <= stack.count else { throw error("MARK beyond the stack") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    private mutating func push(_ value: PickleValue) throws {
        created += 1
        guard created <= maxCreatedValues else {
            throw error("the pickle creates more than \(maxCreatedValues) values (a decompression bomb?); refused while building")
        }
        stack.append(value)
    }

    private mutating func makeTuple(_ items: [PickleValue]) throws -> PickleValue {
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

    private mutating func appendItems(_ items: [PickleValue]) throws {
        guard case .list(let list)? = stack.last else { throw error("APPEND to a \(stack.last?.kind ?? "nothing"), not a list") }
        try raiseDepth(of: list, for: items)
        list.items.append(contentsOf: items)
    }

    private mutating func setItems(_ flat: [PickleValue]) throws {
        guard flat.count % 2 == 0 else { throw error("SETITEMS with an odd number of values") }
        guard case .dict(let dict)? = stack.last else { throw error("SETITEM on a \(stack.last?.kind ?? "nothing"), not a dict") }
        try raiseDepth(of: dict, for: flat)
        for i in stride(from: 0, to: flat.count, by: 2) {
            dict.set(flat[i], flat[i + 1])
        }
    }

    private mutating func newList(_ items: [PickleValue] = []) throws -> PickleValue {
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

    private mutating func memoGet(_ index: Int) throws -> PickleValue {
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

    private mutating func readString(length: Int) throws -> String {
        let raw = try cursor.readBytes(length)
        guard let text = String(validating: raw, as: UTF8.self) else { throw error("string is not valid UTF-8") }
        return text
    }

    private mutating func readLength<T: FixedWidthInteger>(_: T.Type) throws -> Int {
        let raw = try cursor.read(T.self)
        guard let length = Int(exactly: raw), length <= cursor.remaining else {
            ranOutOfBytes = true
            throw error("declared length \(raw) exceeds the \(cursor.remaining) bytes left")
        }
        return length
    }

    // MARK: - Opcodes

    private mutating func execute(_ op: PickleOpcode) throws {
        switch op {
        case .proto:
            let version = try cursor.readByte()
            guard (2...5).contains(version) else { throw error("pickle protocol \(version) is not supported (0 to 5 are)") }
        case .frame:
            _ = try cursor.read(UInt64.self)
        case .stop:
            break
        case .mark:
            marks.append(stack.count)
        case .pop:
            if let mark = marks.last, mark == stack.count { marks.removeLast() } else { _ = try pop() }
        case .popMark:
            _ = try popToMark()
        case .dup:
            guard let top = stack.last else { throw error("DUP on an empty stack") }
            try push(top)
        case .global:
            let module = String(decoding: try cursor.readLine(), as: UTF8.self)
            let name = String(decoding: try cursor.readLine(), as: UTF8.self)
            try pushGlobal(module: module, name: name)
        case .stackGlobal:
            let nameValue = try pop()
            let moduleValue = try pop()
            guard case .string(let name) = nameValue, case .string(let module) = moduleValue else {
                throw error("STACK_GLOBAL needs two strings")
            }
            try pushGlobal(module: module, name: name)
        case .binpersid:
            let pid = try pop()
            guard case .tuple(let box) = pid else { throw error("persistent id is a \(pid.kind), not a tuple") }
            try push(.storage(try persistentLoad(box.items)))
        case .reduce:
            let args = try pop()
            let callable = try pop()
            guard case .tuple(let box) = args else { throw error("REDUCE arguments are a \(args.kind), not a tuple") }
            try push(try call(callable, box.items))
        case .newobj:
            let args = try pop()
            let cls = try pop()
            guard case .tuple(let box) = args else { throw error("NEWOBJ arguments are a \(args.kind), not a tuple") }
            try push(try call(cls, box.items))
        case .build:
            let state = try pop()
            guard let target = stack.last else { throw error("BUILD on an empty stack") }
            try build(target, state: state)
        case .emptyDict:
            try push(.dict(newDict(ordered: false)))
        case .emptyList:
            try push(try newList())
        case .emptyTuple:
            try push(try makeTuple([]))
        case .tuple:
            try push(try makeTuple(try popToMark()))
        case .tuple1:
            let a = try pop()
            try push(try makeTuple([a]))
        case .tuple2:
            let b = try pop(), a = try pop()
            try push(try makeTuple([a, b]))
        case .tuple3:
            let c = try pop(), b = try pop(), a = try pop()
            try push(try makeTuple([a, b, c]))
        case .dict:
            let flat = try popToMark()
            try push(.dict(newDict(ordered: false)))
            try setItems(flat)
        case .list:
            try push(try newList(try popToMark()))
        case .setitem:
            let value = try pop(), key = try pop()
            try setItems([key, value])
        case .setitems:
            try setItems(try popToMark())
        case .append:
            try appendItems([try pop()])
        case .appends:
            try appendItems(try popToMark())
        case .binput:
            guard let top = stack.last else { throw error("BINPUT on an empty stack") }
            memoSet(Int(try cursor.readByte()), top)
        case .longBinput:
            guard let top = stack.last else { throw error("LONG_BINPUT on an empty stack") }
            memoSet(Int(try cursor.read(UInt32.self)), top)
        case .memoize:
            guard let top = stack.last else { throw error("MEMOIZE on an empty stack") }
            memoSet(memoCount, top)
        case .binget:
            try push(try memoGet(Int(try cursor.readByte())))
        case .longBinget:
            try push(try memoGet(Int(try cursor.read(UInt32.self))))
        case .binint:
            try push(.int(Int(try cursor.read(Int32.self))))
        case .binint1:
            try push(.int(Int(try cursor.readByte())))
        case .binint2:
            try push(.int(Int(try cursor.read(UInt16.self))))
        case .long1:
            let length = Int(try cursor.readByte())
            try push(PickleLong.decode(Array(try cursor.readBytes(length))))
        case .binfloat:
            try push(.double(try cursor.readBigEndianDouble()))
        case .binunicode:
            try push(.string(try readString(length: try readLength(UInt32.self))))
        case .shortBinunicode:
            try push(.string(try readString(length: Int(try cursor.readByte()))))
        case .binunicode8:
            try push(.string(try readString(length: try readLength(UInt64.self))))
        case .binbytes:
            try push(.bytes(Array(try cursor.readBytes(try readLength(UInt32.self)))))
        case .shortBinbytes:
            try push(.bytes(Array(try cursor.readBytes(Int(try cursor.readByte())))))
        case .binbytes8:
            try push(.bytes(Array(try cursor.readBytes(try readLength(UInt64.self)))))
        case .int:
            try push(try textInt(allowBool: true))
        case .long:
            try push(try textInt(allowBool: false))
        case .long4:
            try push(PickleLong.decode(Array(try cursor.readBytes(try readLength(Int32.self)))))
        case .float:
            let text = String(decoding: try cursor.readLine(), as: UTF8.self)
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)) else { throw error("FLOAT '\(text)' is not a number") }
            try push(.double(value))
        case .string:
            guard let text = PickleText.quoted(try cursor.readLine()) else { throw error("STRING is not a quoted string literal") }
            try push(.string(text))
        case .binstring:
            try push(.string(try readString(length: try readLength(Int32.self))))
        case .shortBinstring:
            try push(.string(try readString(length: Int(try cursor.readByte()))))
        case .unicode:
            guard let text = PickleText.rawUnicodeEscape(try cursor.readLine()) else { throw error("UNICODE holds a broken \\u escape") }
            try push(.string(text))
        case .put:
            guard let top = stack.last else { throw error("PUT on an empty stack") }
            memoSet(try textIndex(), top)
        case .get:
            try push(try memoGet(try textIndex()))
        case .persid:
            // Protocol 0 writes the persistent id as text; torch itself cannot load such a file.
            throw error("persistent id written as text (pickle protocol 0): torch.load refuses it too ('saved_id must be a tuple')")
        case .none:
            try push(.none)
        case .newtrue:
            try push(.bool(true))
        case .newfalse:
            try push(.bool(false))
        }
    }

    private mutating func pushGlobal(module: String, name: String) throws {
        guard let allowed = AllowedGlobal.resolve(module: module, name: name) else {
            if let type = AllowedGlobal.unsupportedTensorType(module: module, name: name) {
                throw PthReaderError.unsupportedDType(path: path, entry: entry, type: type)
            }
            throw PthReaderError.forbiddenGlobal(path: path, entry: entry, module: module, name: name)
        }
        if case .dtype(let dtype) = allowed { try push(.dtype(dtype)) } else { try push(.global(allowed)) }
    }

    /// The decimal line of `INT` (`I01`/`I00` are True/False) or `LONG` (`123L`).
    private mutating func textInt(allowBool: Bool) throws -> PickleValue {
        var text = String(decoding: try cursor.readLine(), as: UTF8.self)
        if allowBool && text == "01" { return .bool(true) }
        if allowBool && text == "00" { return .bool(false) }
        if !allowBool, text.hasSuffix("L") { text.removeLast() }
        guard let value = PickleText.integer(text) else { throw error("\(allowBool ? "INT" : "LONG") '\(text)' is not an integer") }
        return value
    }

    /// The decimal memo index of `PUT`/`GET`.
    private mutating func textIndex() throws -> Int {
        let text = String(decoding: try cursor.readLine(), as: UTF8.self)
        guard let index = Int(text), index >= 0 else { throw error("memo index '\(text)' is not a non-negative integer") }
        return index
    }
}
