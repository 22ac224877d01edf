/// The globals a checkpoint pickle may name: an allowlist, never a blocklist.
///
/// Each case is a class or function whose effect this reader reproduces itself; nothing named
/// in a file is ever imported or called. Any other `module.name` is refused before it is used.
enum AllowedGlobal: Equatable {
    case orderedDict
    case rebuildTensorV2
    case rebuildTensorV3
    case rebuildParameter
    case rebuildParameterWithState
    case rebuildFromTypeV2
    /// `torch.nn.parameter.Parameter` and `torch.Tensor`, as classes.
    case tensorClass(String)
    /// A typed storage class (`torch.HalfStorage`) or, with nil, `torch.UntypedStorage`.
    case storageClass(DType?)
    case dtype(DType)
    case size
    case device
    case codecsEncode

    var qualifiedName: String {
        switch self {
        case .orderedDict: return "collections.OrderedDict"
        case .rebuildTensorV2: return "torch._utils._rebuild_tensor_v2"
        case .rebuildTensorV3: return "torch._utils._rebuild_tensor_v3"
        case .rebuildParameter: return "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: return "torch._utils._rebuild_parameter_with_state"
        case .rebuildFromTypeV2: return "torch._tensor._rebuild_from_type_v2"
        case .tensorClass(let name): return name
        case .storageClass(let dtype): return "torch." + (dtype?.storageClassName ?? "UntypedStorage")
        case .dtype(let dtype): return "torch." + dtype.rawValue
        case .size: return "torch.Size"
        case .device: return "torch.device"
        case .codecsEncode: return "_codecs.encode"
        }
    }

    /// Resolves `module.name` against the allowlist; nil means refused.
    static func resolve(module: String, name: String) -> AllowedGlobal? {
        switch (module, name) {
        case ("collections", "OrderedDict"): return .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): return .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor_v3"): return .rebuildTensorV3
        case ("torch._utils", "_rebuild_parameter"): return .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): return .rebuildParameterWithState
        case ("torch._tensor", "_rebuild_from_type_v2"): return .rebuildFromTypeV2
        case ("torch.nn.parameter", "Parameter"), ("torch", "Tensor"): return .tensorClass(module + "." + name)
        case ("torch", "Size"): return .size
        case ("torch", "device"): return .device
        case ("_codecs", "encode"): return .codecsEncode
        case ("torch", "UntypedStorage"), ("torch.storage", "UntypedStorage"): return .storageClass(nil)
        case ("torch", _):
            if let dtype = DType(storageClassName: name) { return .storageClass(dtype) }
            if let dtype = DType(torchName: name) { return .dtype(dtype) }
            return nil
        default:
            return nil
        }
    }

    /// Torch element types and tensor kinds that are real but not supported (complex, float8,
    /// wide unsigned, quantized): named so that the error says "unsupported type", not "refused".
    static func unsupportedTensorType(module: String, name: String) -> String? {
        let dtypes: Set<String> = [
            "complex32", "complex64", "complex128", "chalf", "cfloat", "cdouble",
            "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2",
            "uint16", "uint32", "uint64", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
        ]
        switch module {
        case "torch" where dtypes.contains(name) || name.hasSuffix("Storage"):
            return "torch." + name
        case "torch._utils" where name.hasPrefix("_rebuild_qtensor") || name == "_rebuild_sparse_tensor" || name == "_rebuild_nested_tensor":
            return "torch._utils." + name + " (quantized, sparse or nested tensor)"
        default:
            return nil
        }
    }
}
