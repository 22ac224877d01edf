/// Builds a pickle (protocol 2) of a `Node` tree the way `torch.save` does, for `data.pkl`.
///
/// Only opcodes and globals that `torch.load(weights_only=True)` accepts are emitted: containers,
/// scalars, `collections.OrderedDict`, `torch.Size`, `torch.device`, dtypes, `_codecs.encode` for
/// bytes, and `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter` with a persistent id per
/// storage. Globals are memoized (BINPUT/BINGET) as Python's pickler does.
struct PickleWriter {
    /// How one tensor leaf refers to its storage record.
    struct StorageReference {
        /// The record key (`"0"` for `<stem>/data/0`).
        var key: String
        /// Element count of the whole storage.
        var elementCount: Int
    }

    private(set) var bytes: [UInt8] = [Opcode.proto, 2]
    private var memo: [String: Int] = [:]
    private var nextMemo = 0
    /// The output path, for error messages.
    private var path = ""

    private enum Opcode {
        static let proto: UInt8 = 0x80
        static let stop = UInt8(ascii: ".")
        static let global = UInt8(ascii: "c")
        static let binput = UInt8(ascii: "q")
        static let longBinput = UInt8(ascii: "r")
        static let binget = UInt8(ascii: "h")
        static let longBinget = UInt8(ascii: "j")
        static let mark = UInt8(ascii: "(")
        static let emptyTuple = UInt8(ascii: ")")
        static let tuple = UInt8(ascii: "t")
        static let tuple1: UInt8 = 0x85
        static let tuple2: UInt8 = 0x86
        static let tuple3: UInt8 = 0x87
        static let reduce = UInt8(ascii: "R")
        static let emptyDict = UInt8(ascii: "}")
        static let setitems = UInt8(ascii: "u")
        static let emptyList = UInt8(ascii: "]")
        static let appends = UInt8(ascii: "e")
        static let none = UInt8(ascii: "N")
        static let newTrue: UInt8 = 0x88
        static let newFalse: UInt8 = 0x89
        static let binint1 = UInt8(ascii: "K")
        static let binint2 = UInt8(ascii: "M")
        static let binint = UInt8(ascii: "J")
        static let long1: UInt8 = 0x8A
        static let binfloat = UInt8(ascii: "G")
        static let binunicode = UInt8(ascii: "X")
        static let binpersid = UInt8(ascii: "Q")
    }

    /// Items per MARK ... SETITEMS / APPENDS batch, as Python's pickler batches them.
    private static let batchSize = 1000

    /// Pickles `root` and appends STOP; `storage` says which storage record each tensor leaf uses.
    static func pickle(_ root: Node, path: String, storage: (TensorEntry) throws -> StorageReference) throws -> [UInt8] {
        var writer = PickleWriter()
        writer.path = path
        try writer.write(root, storage: storage)
        writer.bytes.append(Opcode.stop)
        return writer.bytes
    }

    private mutating func write(_ node: Node, storage: (TensorEntry) throws -> StorageReference) throws {
        switch node {
        case .tensor(let entry):
            try writeTensor(entry, reference: storage(entry))
        case .dict(let items, let ordered):
            if ordered {
                global("collections", "OrderedDict")
                bytes.append(Opcode.emptyTuple)
                bytes.append(Opcode.reduce)
            } else {
                bytes.append(Opcode.emptyDict)
            }
            var start = 0
            while start < items.count {
                let end = min(start + PickleWriter.batchSize, items.count)
                bytes.append(Opcode.mark)
                for item in items[start..<end] {
                    try write(item.key, storage: storage)
                    try write(item.value, storage: storage)
                }
                bytes.append(Opcode.setitems)
                start = end
            }
        case .list(let items):
            bytes.append(Opcode.emptyList)
            var start = 0
            while start < items.count {
                let end = min(start + PickleWriter.batchSize, items.count)
                bytes.append(Opcode.mark)
                for item in items[start..<end] { try write(item, storage: storage) }
                bytes.append(Opcode.appends)
                start = end
            }
        case .tuple(let items):
            try writeTuple(items.count) { writer, i in try writer.write(items[i], storage: storage) }
        case .int(let value):
            int(value)
        case .bigInt(let text):
            guard let encoded = PickleWriter.twosComplement(decimal: text) else {
                throw CheckpointWriterError.unsupportedValue(path: path, reason: "integer '\(text)' is not decimal text or needs more than 255 bytes")
            }
            long1(encoded)
        case .double(let value):
            bytes.append(Opcode.binfloat)
            appendBigEndian(value.bitPattern)
        case .string(let text):
            string(text)
        case .bytes(let raw):
            // Protocol 2 spells bytes as _codecs.encode(latin-1 text, 'latin1'); this also covers b''.
            global("_codecs", "encode")
            string(String(String.UnicodeScalarView(raw.map { Unicode.Scalar($0) })))
            string("latin1")
            bytes.append(Opcode.tuple2)
            bytes.append(Opcode.reduce)
        case .bool(let value):
            bytes.append(value ? Opcode.newTrue : Opcode.newFalse)
        case .none:
            bytes.append(Opcode.none)
        case .dtype(let dtype):
            global("torch", dtype.rawValue)
        case .device(let text):
            global("torch", "device")
            string(text)
            bytes.append(Opcode.tuple1)
            bytes.append(Opcode.reduce)
        case .size(let dims):
            global("torch", "Size")
            writeTuple(dims.count) { writer, i in writer.int(dims[i]) }
            bytes.append(Opcode.tuple1)
            bytes.append(Opcode.reduce)
        }
    }

    /// `_rebuild_tensor_v2(persistent_id, 0, shape, contiguous strides, requires_grad, OrderedDict())`,
    /// wrapped in `_rebuild_parameter` for a tensor stored as an `nn.Parameter`.
    private mutating func writeTensor(_ entry: TensorEntry, reference: StorageReference) {
        if entry.requiresGrad { global("torch._utils", "_rebuild_parameter") }
        global("torch._utils", "_rebuild_tensor_v2")
        bytes.append(Opcode.mark)
        // Persistent id: ('storage', torch.<Type>Storage, key, 'cpu', numel).
        bytes.append(Opcode.mark)
        string("storage")
        global("torch", entry.dtype.storageClassName)
        string(reference.key)
        string("cpu")
        int(reference.elementCount)
        bytes.append(Opcode.tuple)
        bytes.append(Opcode.binpersid)
        int(0)
        writeTuple(entry.shape.count) { writer, i in writer.int(entry.shape[i]) }
        let strides = TensorEntry.contiguousStrides(for: entry.shape)
        writeTuple(strides.count) { writer, i in writer.int(strides[i]) }
        // Inside a parameter the tensor itself does not require grad; the parameter does.
        bytes.append(Opcode.newFalse)
        global("collections", "OrderedDict")
        bytes.append(Opcode.emptyTuple)
        bytes.append(Opcode.reduce)
        bytes.append(Opcode.tuple)
        bytes.append(Opcode.reduce)
        if entry.requiresGrad {
            // _rebuild_parameter(tensor, requires_grad=True, OrderedDict())
            bytes.append(Opcode.newTrue)
            global("collections", "OrderedDict")
            bytes.append(Opcode.emptyTuple)
            bytes.append(Opcode.reduce)
            bytes.append(Opcode.tuple3)
            bytes.append(Opcode.reduce)
        }
    }

    private mutating func writeTuple(_ count: Int, element: (inout PickleWriter, Int) throws -> Void) rethrows {
        switch count {
        case 0:
            bytes.append(Opcode.emptyTuple)
        case 1...3:
            for i in 0..<count { try element(&self, i) }
            bytes.append([Opcode.tuple1, Opcode.tuple2, Opcode.tuple3][count - 1])
        default:
            bytes.append(Opcode.mark)
            for i in 0..<count { try element(&self, i) }
            bytes.append(Opcode.tuple)
        }
    }

    /// GLOBAL `module name`, memoized so that repeats are a BINGET.
    private mutating func global(_ module: String, _ name: String) {
        let key = module + "\n" + name
        if let index = memo[key] {
            if index < 256 {
                bytes.append(Opcode.binget)
                bytes.append(UInt8(index))
            } else {
                bytes.append(Opcode.longBinget)
                appendLittleEndian(UInt32(index))
            }
            return
        }
        bytes.append(Opcode.global)
        bytes.append(contentsOf: Array(module.utf8))
        bytes.append(0x0A)
        bytes.append(contentsOf: Array(name.utf8))
        bytes.append(0x0A)
        let index = nextMemo
        nextMemo += 1
        memo[key] = index
        if index < 256 {
            bytes.append(Opcode.binput)
            bytes.append(UInt8(index))
        } else {
            bytes.append(Opcode.longBinput)
            appendLittleEndian(UInt32(index))
        }
    }

    private mutating func string(_ text: String) {
        let utf8 = Array(text.utf8)
        bytes.append(Opcode.binunicode)
        appendLittleEndian(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    private mutating func int(_ value: Int) {
        switch value {
        case 0...0xFF:
            bytes.append(Opcode.binint1)
            bytes.append(UInt8(value))
        case 0x100...0xFFFF:
            bytes.append(Opcode.binint2)
            appendLittleEndian(UInt16(value))
        case Int(Int32.min)...Int(Int32.max):
            bytes.append(Opcode.binint)
            appendLittleEndian(UInt32(bitPattern: Int32(value)))
        default:
            var raw = withUnsafeBytes(of: Int64(value).littleEndian) { Array($0) }
            PickleWriter.trimTwosComplement(&raw)
            long1(raw)
        }
    }

    private mutating func long1(_ encoded: [UInt8]) {
        bytes.append(Opcode.long1)
        bytes.append(UInt8(encoded.count))
        bytes.append(contentsOf: encoded)
    }

    private mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Drops redundant sign bytes from a little-endian two's-complement number (Python's minimal form).
    static func trimTwosComplement(_ raw: inout [UInt8]) {
        while raw.count > 1 {
            let last = raw[raw.count - 1], previous = raw[raw.count - 2]
            if (last == 0x00 && previous < 0x80) || (last == 0xFF && previous >= 0x80) {
                raw.removeLast()
            } else {
                break
            }
        }
    }

    /// Minimal little-endian two's complement of a decimal integer text (`-123456789012345678901234`),
    /// or nil when the text is not an integer or needs more than 255 bytes (LONG1's limit).
    static func twosComplement(decimal text: String) -> [UInt8]? {
        var digits = Substring(text)
        var negative = false
        if digits.first == "-" || digits.first == "+" {
            negative = digits.first == "-"
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        // Magnitude, little-endian base 256, by repeated division of the decimal digits.
        var decimal = digits.map { Int($0.asciiValue! - 48) }
        var magnitude: [UInt8] = []
        while decimal.contains(where: { $0 != 0 }) {
            var remainder = 0
            var quotient: [Int] = []
            quotient.reserveCapacity(decimal.count)
            for d in decimal {
                let value = remainder * 10 + d
                quotient.append(value / 256)
                remainder = value % 256
            }
            magnitude.append(UInt8(remainder))
            decimal = Array(quotient.drop(while: { $0 == 0 }))
        }
        if magnitude.isEmpty { return [] }
        var result: [UInt8]
        if negative {
            // 2^(8k) - m: invert and add one.
            result = magnitude.map { ~$0 }
            var carry = 1
            for i in result.indices where carry != 0 {
                let sum = Int(result[i]) + carry
                result[i] = UInt8(sum & 0xFF)
                carry = sum >> 8
            }
            if result[result.count - 1] < 0x80 { result.append(0xFF) }
        } else {
            result = magnitude
            if result[result.count - 1] >= 0x80 { result.append(0x00) }
        }
        trimTwosComplement(&result)
        return result.count <= 255 ? result : nil
    }
}
