/// The element types a checkpoint tensor can have, spelled as torch spells them without `torch.`.
public enum DType: String, CaseIterable, Codable, Sendable {
    case float64, float32, float16, bfloat16
    case int64, int32, int16, int8, uint8
    case bool

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// Whether the type holds floating-point values.
    public var isFloatingPoint: Bool {
        switch self {
        case .float64, .float32, .float16, .bfloat16: return true
        default: return false
        }
    }

    /// The legacy typed-storage class name torch pickles (`FloatStorage` for float32).
    public var storageClassName: String {
        switch self {
        case .float64: return "DoubleStorage"
        case .float32: return "FloatStorage"
        case .float16: return "HalfStorage"
        case .bfloat16: return "BFloat16Storage"
        case .int64: return "LongStorage"
        case .int32: return "IntStorage"
        case .int16: return "ShortStorage"
        case .int8: return "CharStorage"
        case .uint8: return "ByteStorage"
        case .bool: return "BoolStorage"
        }
    }

    /// Looks a dtype up by its legacy storage class name (`HalfStorage` → float16).
    public init?(storageClassName: String) {
        guard let match = DType.allCases.first(where: { $0.storageClassName == storageClassName }) else { return nil }
        self = match
    }

    /// The dtype code safetensors uses in its header (`F16`, `BF16`, `I64`, `BOOL`, ...).
    public var safetensorsName: String {
        switch self {
        case .float64: return "F64"
        case .float32: return "F32"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        case .int64: return "I64"
        case .int32: return "I32"
        case .int16: return "I16"
        case .int8: return "I8"
        case .uint8: return "U8"
        case .bool: return "BOOL"
        }
    }

    /// Looks a dtype up by its safetensors code.
    public init?(safetensorsName: String) {
        guard let match = DType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else { return nil }
        self = match
    }

    /// Looks a dtype up by torch's attribute name, accepting torch's aliases (`half`, `float`, `long`, ...).
    public init?(torchName: String) {
        let name = torchName.hasPrefix("torch.") ? String(torchName.dropFirst(6)) : torchName
        switch name {
        case "half": self = .float16
        case "float": self = .float32
        case "double": self = .float64
        case "long": self = .int64
        case "int": self = .int32
        case "short": self = .int16
        default:
            guard let dtype = DType(rawValue: name) else { return nil }
            self = dtype
        }
    }
}
