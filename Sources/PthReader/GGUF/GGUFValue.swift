/// The value types of GGUF metadata, numbered as the GGUF specification numbers them.
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value of a fixed-size type; nil for strings and arrays.
    var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }
}

/// One GGUF metadata value.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String)
    /// An array of values all of `elementType` (nested arrays are allowed by the format).
    case array(GGUFValueType, [GGUFValue])
    case uint64(UInt64), int64(Int64), float64(Double)

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        }
    }

    /// The value as an integer, for any integer type.
    public var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// The value as a floating-point number, for float and integer types.
    public var doubleValue: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return intValue.map(Double.init)
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The elements of an array value.
    public var arrayValue: [GGUFValue]? {
        if case .array(_, let items) = self { return items }
        return nil
    }

    /// Whether every array (at any depth) holds only values of its declared element type.
    var isWellTyped: Bool {
        guard case .array(let type, let items) = self else { return true }
        return items.allSatisfy { $0.type == type && $0.isWellTyped }
    }

    /// A short human rendering (arrays summarised past a few elements).
    public var summary: String {
        switch self {
        case .string(let s): return s.count > 60 ? "\"\(s.prefix(57))...\" (\(s.count) chars)" : "\"\(s)\""
        case .bool(let b): return b ? "true" : "false"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .array(let type, let items):
            let head = items.prefix(3).map(\.summary).joined(separator: ", ")
            return items.count > 3 ? "[\(head), ...] (\(items.count) \(type))" : "[\(head)]"
        default: return intValue.map(String.init) ?? "?"
        }
    }
}

/// The tensor element types of GGUF files that loratool reads and writes (ggml's numbering).
public enum GGUFTensorType: UInt32, Sendable, CaseIterable {
    case f32 = 0
    case f16 = 1
    case q8_0 = 8
    case bf16 = 30

    /// ggml's name (`f32`, `q8_0`, ...).
    public var name: String {
        switch self {
        case .f32: return "f32"
        case .f16: return "f16"
        case .q8_0: return "q8_0"
        case .bf16: return "bf16"
        }
    }

    /// Elements per block (32 for q8_0, else 1).
    public var blockSize: Int { self == .q8_0 ? Q8_0.blockSize : 1 }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q8_0: return Q8_0.blockBytes
        }
    }

    /// Bytes of `count` elements (count must be a whole number of blocks).
    public func byteCount(elements count: Int) -> Int { count / blockSize * blockBytes }

    /// Parses `f32`, `f16`, `bf16`, `q8_0` (case-insensitive).
    public init?(name: String) {
        guard let match = GGUFTensorType.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = match
    }

    /// The dtype a non-quantized type holds.
    public var dtype: DType? {
        switch self {
        case .f32: return .float32
        case .f16: return .float16
        case .bf16: return .bfloat16
        case .q8_0: return nil
        }
    }

    /// ggml's names of the types this reader does not decode, for error messages.
    static func ggmlName(_ raw: UInt32) -> String {
        let names: [UInt32: String] = [2: "q4_0", 3: "q4_1", 6: "q5_0", 7: "q5_1", 9: "q8_1", 10: "q2_K", 11: "q3_K", 12: "q4_K",
                                       13: "q5_K", 14: "q6_K", 15: "q8_K", 24: "i8", 25: "i16", 26: "i32", 27: "i64", 28: "f64"]
        return names[raw] ?? "ggml type \(raw)"
    }
}
