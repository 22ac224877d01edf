/// The opcodes one by one: what each pushes, pops and refuses (protocols 0 to 5).
extension Unpickler {
    /// Runs one opcode whose byte the cursor has just read.
    mutating func execute(_ op: PickleOpcode) throws {
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
