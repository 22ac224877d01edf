/// One pass over the opcodes `torch.save` writes for each tensor, without building their values.
///
/// For every tensor, `torch.save` (pickle protocol 2) writes about 25 opcodes after the
/// `_rebuild_tensor_v2` global:
///
///     MARK MARK 'storage' StorageClass key location numel TUPLE BINPERSID
///          offset (size…) (stride…) False OrderedDict () REDUCE TUPLE REDUCE
///
/// with `BINPUT` after most values and `BINGET` for the strings and globals seen before. Run one
/// by one, they build five tuples, a dict and their arrays, most of them only to be taken apart
/// again: a third of reading a million-tensor checkpoint. The lane reads exactly this sequence and
/// pushes the tensor that the opcodes would have built; the memo slots of the values it skipped
/// (tuples, the hooks dict) hold `.elided`. Anything else, anywhere in the sequence, rewinds the
/// cursor and the opcodes run one by one as always, so every refusal and message stays the same.
/// A later `GET` of an elided slot (no writer we know does that) throws `ElidedValueReferenced`
/// and `load` reads the whole stream again without the lane.
extension Unpickler {
    /// A `GET` reached a memo slot of a value the tensor lane did not build.
    struct ElidedValueReferenced: Error {}

    /// What the lane read for one tensor, before anything is committed.
    private struct LaneTensor {
        var storageClass: AllowedGlobal
        var key = "", location = ""
        var numel = 0, offset = 0
        var size: [Int] = [], stride: [Int] = []
        var requiresGrad = false
        var persidOffset = 0, reduceOffset = 0
        /// Values the opcodes would have pushed (the budget of `maxCreatedValues`).
        var pushes = 0
    }

    /// Takes the lane at the `MARK` (already read) after a `_rebuild_tensor_v2` global.
    ///
    /// Returns true when the tensor replaced the global on the stack and the cursor is past the
    /// `REDUCE`; false, with nothing changed, when the bytes are anything else. Throws only what
    /// the opcodes themselves would throw (the persistent load, an untyped storage).
    mutating func takeTensorLane() throws -> Bool {
        // The opcodes would pop the global at the final REDUCE: refused if it lies below a MARK.
        if let mark = marks.last, mark > stack.count - 1 { return false }
        let saved = cursor
        lanePuts.removeAll(keepingCapacity: true)
        guard let lane = try? readLane(), created <= maxCreatedValues - lane.pushes else {
            cursor = saved
            return false
        }
        for put in lanePuts { memoSet(put.index, put.value) }
        created += lane.pushes
        tensorsByLane += 1
        stack.removeLast()
        opcodeOffset = lane.persidOffset
        let storage = try persistentLoad([.string("storage"), .global(lane.storageClass), .string(lane.key),
                                          .string(lane.location), .int(lane.numel)])
        opcodeOffset = lane.reduceOffset
        guard let dtype = storage.dtype else { throw error("untyped storage '\(storage.key)' without a dtype") }
        stack.append(.tensor(TensorEntry(name: "", dtype: dtype, shape: intern(lane.size), strides: intern(lane.stride),
                                         storageOffset: lane.offset, storageKey: storage.key,
                                         requiresGrad: lane.requiresGrad)))
        return true
    }

    /// Reads one tensor's opcodes; nil at the first byte that is not the expected sequence.
    private mutating func readLane() throws -> LaneTensor? {
        guard try cursor.readByte() == PickleOpcode.mark.rawValue else { return nil }
        guard case .string("storage")? = try laneValue() else { return nil }
        guard case .global(let storageClass)? = try laneValue(), case .storageClass = storageClass else { return nil }
        var lane = LaneTensor(storageClass: storageClass)
        guard case .string(let key)? = try laneValue(), case .string(let location)? = try laneValue(),
              let numel = try laneInt() else { return nil }
        lane.key = key
        lane.location = location
        lane.numel = numel
        guard try cursor.readByte() == PickleOpcode.tuple.rawValue else { return nil }
        try lanePut(.elided)
        lane.persidOffset = cursor.offset
        guard try cursor.readByte() == PickleOpcode.binpersid.rawValue, let offset = try laneInt(),
              let size = try laneInts(), let stride = try laneInts(), size.count == stride.count else { return nil }
        lane.offset = offset
        lane.size = size
        lane.stride = stride
        switch try cursor.readByte() {
        case PickleOpcode.newfalse.rawValue: lane.requiresGrad = false
        case PickleOpcode.newtrue.rawValue: lane.requiresGrad = true
        default: return nil
        }
        // The backward hooks: an empty OrderedDict, `OrderedDict()` called with no arguments.
        guard case .global(.orderedDict)? = try laneValue(),
              try cursor.readByte() == PickleOpcode.emptyTuple.rawValue,
              try cursor.readByte() == PickleOpcode.reduce.rawValue else { return nil }
        try lanePut(.elided)
        guard try cursor.readByte() == PickleOpcode.tuple.rawValue else { return nil }
        try lanePut(.elided)
        lane.reduceOffset = cursor.offset
        guard try cursor.readByte() == PickleOpcode.reduce.rawValue else { return nil }
        // Pushes of the opcodes read: 4 values, numel, the pid tuple, the storage, the offset,
        // each size and stride with its tuple, requires_grad, the global, (), the hooks, the
        // argument tuple and the tensor.
        lane.pushes = 17 + size.count + stride.count
        return lane
    }

    /// A string or global: written out, or fetched from the memo; then an optional `BINPUT`.
    private mutating func laneValue() throws -> PickleValue? {
        let value: PickleValue
        switch try cursor.readByte() {
        case PickleOpcode.shortBinunicode.rawValue:
            guard let text = String(validating: try cursor.readBytes(Int(try cursor.readByte())), as: UTF8.self) else { return nil }
            value = .string(text)
        case PickleOpcode.binunicode.rawValue:
            let length = Int(try cursor.read(UInt32.self))
            guard let text = String(validating: try cursor.readBytes(length), as: UTF8.self) else { return nil }
            value = .string(text)
        case PickleOpcode.global.rawValue:
            let module = String(decoding: try cursor.readLine(), as: UTF8.self)
            let name = String(decoding: try cursor.readLine(), as: UTF8.self)
            guard let global = AllowedGlobal.resolve(module: module, name: name) else { return nil }
            value = .global(global)
        case PickleOpcode.binget.rawValue:
            guard let found = laneGet(Int(try cursor.readByte())) else { return nil }
            value = found
        case PickleOpcode.longBinget.rawValue:
            guard let found = laneGet(Int(try cursor.read(UInt32.self))) else { return nil }
            value = found
        default:
            return nil
        }
        switch value {
        case .string, .global(.storageClass), .global(.orderedDict): break
        default: return nil
        }
        try lanePut(value)
        return value
    }

    /// A memo slot as the lane sees it: its own writes first.
    private func laneGet(_ index: Int) -> PickleValue? {
        if let put = lanePuts.last(where: { $0.index == index }) { return put.value }
        return memoPeek(index)
    }

    /// Records the `BINPUT`/`LONG_BINPUT` that may follow a value.
    private mutating func lanePut(_ value: PickleValue) throws {
        let index: Int
        switch cursor.bytes[cursor.offset...].first {
        case PickleOpcode.binput.rawValue:
            try cursor.skip(1)
            index = Int(try cursor.readByte())
        case PickleOpcode.longBinput.rawValue:
            try cursor.skip(1)
            index = Int(try cursor.read(UInt32.self))
        default:
            return
        }
        lanePuts.append((index, value))
    }

    /// A small int as `torch.save` writes one (never memoized).
    private mutating func laneInt() throws -> Int? {
        switch try cursor.readByte() {
        case PickleOpcode.binint1.rawValue: return Int(try cursor.readByte())
        case PickleOpcode.binint2.rawValue: return Int(try cursor.read(UInt16.self))
        case PickleOpcode.binint.rawValue: return Int(try cursor.read(Int32.self))
        case PickleOpcode.long1.rawValue:
            let length = Int(try cursor.readByte())
            guard length <= 8, case .int(let value) = PickleLong.decode(Array(try cursor.readBytes(length))) else { return nil }
            return value
        default: return nil
        }
    }

    /// A tuple of ints (a size or a stride): `()`, one to three ints and `TUPLE1`–`TUPLE3`, or
    /// `MARK` ints `TUPLE`; then an optional `BINPUT` of the (elided) tuple.
    private mutating func laneInts() throws -> [Int]? {
        var values: [Int] = []
        if cursor.bytes[cursor.offset...].first == PickleOpcode.emptyTuple.rawValue {
            try cursor.skip(1)
        } else {
            let marked = cursor.bytes[cursor.offset...].first == PickleOpcode.mark.rawValue
            if marked { try cursor.skip(1) }
            while let next = cursor.bytes[cursor.offset...].first,
                  next == PickleOpcode.binint1.rawValue || next == PickleOpcode.binint2.rawValue
                    || next == PickleOpcode.binint.rawValue || next == PickleOpcode.long1.rawValue {
                guard values.count < 64, let value = try laneInt() else { return nil }
                values.append(value)
            }
            let closing = try cursor.readByte()
            let expected: UInt8
            if marked {
                expected = PickleOpcode.tuple.rawValue
            } else {
                switch values.count {
                case 1: expected = PickleOpcode.tuple1.rawValue
                case 2: expected = PickleOpcode.tuple2.rawValue
                case 3: expected = PickleOpcode.tuple3.rawValue
                default: return nil
                }
            }
            guard closing == expected else { return nil }
        }
        try lanePut(.elided)
        return values
    }
}
