/// The pickle opcodes this reader understands: what torch emits with protocols 2 to 5, and the
/// text opcodes of protocols 0 and 1 (`INT`, `LONG`, `FLOAT`, `STRING`, `UNICODE`, `PUT`, `GET`, `PERSID`).
///
/// Anything else is refused by name, see `PickleOpcode.name(of:)`.
enum PickleOpcode: UInt8 {
    case proto = 0x80, frame = 0x95, stop = 0x2E
    case mark = 0x28, pop = 0x30, popMark = 0x31, dup = 0x32
    case global = 0x63, stackGlobal = 0x93
    case binpersid = 0x51
    case reduce = 0x52, build = 0x62, newobj = 0x81
    case emptyDict = 0x7D, emptyList = 0x5D, emptyTuple = 0x29
    case tuple = 0x74, tuple1 = 0x85, tuple2 = 0x86, tuple3 = 0x87
    case dict = 0x64, list = 0x6C
    case setitem = 0x73, setitems = 0x75, append = 0x61, appends = 0x65
    case binput = 0x71, longBinput = 0x72, memoize = 0x94
    case binget = 0x68, longBinget = 0x6A
    case binint = 0x4A, binint1 = 0x4B, binint2 = 0x4D, long1 = 0x8A
    case binfloat = 0x47
    case binunicode = 0x58, shortBinunicode = 0x8C, binunicode8 = 0x8D
    case binbytes = 0x42, shortBinbytes = 0x43, binbytes8 = 0x8E
    case none = 0x4E, newtrue = 0x88, newfalse = 0x89
    case int = 0x49, long = 0x4C, long4 = 0x8B, float = 0x46
    case string = 0x53, binstring = 0x54, shortBinstring = 0x55, unicode = 0x56
    case put = 0x70, get = 0x67, persid = 0x50

    /// A readable name for any opcode byte, including ones this reader refuses.
    static func name(of byte: UInt8) -> String {
        let known: [UInt8: String] = [
            0x69: "INST", 0x6F: "OBJ", 0x92: "NEWOBJ_EX", 0x50: "PERSID", 0x49: "INT", 0x4C: "LONG",
            0x8B: "LONG4", 0x46: "FLOAT", 0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING",
            0x56: "UNICODE", 0x70: "PUT", 0x67: "GET", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
            0x8F: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x96: "BYTEARRAY8",
            0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
        ]
        if let name = known[byte] { return name }
        if let op = PickleOpcode(rawValue: byte) { return String(describing: op).uppercased() }
        return "0x" + String(byte, radix: 16)
    }
}
