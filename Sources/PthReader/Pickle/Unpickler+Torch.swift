/// The meaning of each allowlisted global when a pickle calls it, reproduced without running code.
extension Unpickler {
    /// Interprets `REDUCE`/`NEWOBJ` of an allowlisted global with `args`.
    mutating func call(_ callable: PickleValue, _ args: [PickleValue]) throws -> PickleValue {
        guard case .global(let global) = callable else { throw error("call of a \(callable.kind), which is not an allowlisted global") }
        switch global {
        case .orderedDict:
            let dict = newDict(ordered: true)
            if let first = args.first {
                guard args.count == 1, case .list(let pairs) = first else { throw error("OrderedDict expects no arguments or one list of pairs") }
                for pair in pairs.items {
                    guard case .tuple(let kv) = pair, kv.items.count == 2 else { throw error("OrderedDict item is not a pair") }
                    dict.set(kv.items[0], kv.items[1])
                    dict.depth = Swift.max(dict.depth, kv.depth + 1)
                }
            }
            return .dict(dict)
        case .rebuildTensorV2:
            guard (6...7).contains(args.count) else { throw error("_rebuild_tensor_v2 expects 6 or 7 arguments, got \(args.count)") }
            return .tensor(try rebuildTensor(args, dtype: nil))
        case .rebuildTensorV3:
            guard (7...8).contains(args.count), case .dtype(let dtype) = args[6] else {
                throw error("_rebuild_tensor_v3 expects (storage, offset, size, stride, requires_grad, hooks, dtype[, metadata])")
            }
            return .tensor(try rebuildTensor(args, dtype: dtype))
        case .rebuildParameter, .rebuildParameterWithState:
            guard args.count >= 2, case .tensor(var tensor) = args[0] else { throw error("\(global.qualifiedName) expects a tensor first") }
            tensor.requiresGrad = try bool(args[1], "requires_grad")
            return .tensor(tensor)
        case .rebuildFromTypeV2:
            guard args.count == 4, case .tuple(let inner) = args[2] else {
                throw error("_rebuild_from_type_v2 expects (func, type, args, state)")
            }
            guard case .global(.tensorClass) = args[1] else { throw error("_rebuild_from_type_v2 may only build torch.Tensor or Parameter") }
            return try call(args[0], inner.items)
        case .tensorClass(let name):
            guard name == "torch.nn.parameter.Parameter", let first = args.first, case .tensor(var tensor) = first else {
                throw error("\(name) can only wrap a tensor")
            }
            tensor.requiresGrad = args.count > 1 ? try bool(args[1], "requires_grad") : true
            return .tensor(tensor)
        case .size:
            guard args.count <= 1 else { throw error("torch.Size expects one tuple") }
            guard let first = args.first else { return .size([]) }
            return .size(try ints(first, "torch.Size"))
        case .device:
            guard case .string(let kind)? = args.first else { throw error("torch.device expects a string") }
            if args.count == 2, case .int(let index) = args[1] { return .device("\(kind):\(index)") }
            return .device(kind)
        case .codecsEncode:
            guard case .string(let text)? = args.first else { throw error("_codecs.encode expects a string") }
            let encoding: String
            if args.count > 1, case .string(let e) = args[1] { encoding = e.lowercased() } else { encoding = "utf-8" }
            if encoding == "latin1" || encoding == "latin-1" || encoding == "iso-8859-1" {
                var bytes: [UInt8] = []
                for scalar in text.unicodeScalars {
                    guard scalar.value < 256 else { throw error("_codecs.encode: text is not latin-1") }
                    bytes.append(UInt8(scalar.value))
                }
                return .bytes(bytes)
            }
            guard encoding == "utf-8" || encoding == "utf8" else { throw error("_codecs.encode: unsupported encoding \(encoding)") }
            return .bytes(Array(text.utf8))
        case .storageClass, .dtype:
            throw error("\(global.qualifiedName) cannot be called")
        }
    }

    /// Interprets `BUILD` (setting an object's state) for the objects the allowlist can create.
    mutating func build(_ target: PickleValue, state: PickleValue) throws {
        switch target {
        case .dict, .tensor:
            // OrderedDict state carries `_metadata` (module versions); tensor state carries Python
            // attributes. Neither changes the tensors, so both are dropped once their shape is
            // one Python's `load_build` accepts: a dict, None, a (dict, slots) pair, or a falsy value.
            switch state {
            case .dict, .none: return
            case .tuple(let pair) where pair.items.count == 2: return
            case .int(0), .bool(false): return
            case .string(let s) where s.isEmpty: return
            case .list(let l) where l.items.isEmpty: return
            default: throw error("BUILD state is a \(state.kind), not a dict (torch refuses it too)")
            }
        default:
            throw error("BUILD on a \(target.kind), which the allowlist does not build")
        }
    }

    private mutating func rebuildTensor(_ args: [PickleValue], dtype explicit: DType?) throws -> TensorEntry {
        guard case .storage(let storage) = args[0] else { throw error("tensor rebuilt from a \(args[0].kind), not a storage") }
        guard let dtype = explicit ?? storage.dtype else { throw error("untyped storage '\(storage.key)' without a dtype") }
        let offset = try int(args[1], "storage_offset")
        let shape = intern(try ints(args[2], "size"))
        let strides = intern(try ints(args[3], "stride"))
        let requiresGrad = try bool(args[4], "requires_grad")
        guard shape.count == strides.count else { throw error("size has \(shape.count) dimensions but stride \(strides.count)") }
        return TensorEntry(name: "", dtype: dtype, shape: shape, strides: strides, storageOffset: offset,
                           storageKey: storage.key, requiresGrad: requiresGrad)
    }

    /// One shared array per distinct shape or strides (a million tensors repeat a few of them).
    mutating func intern(_ values: [Int]) -> [Int] {
        if let known = layouts[values] { return known }
        if layouts.count < 4096 { layouts[values] = values }
        return values
    }

    private func int(_ value: PickleValue, _ what: String) throws -> Int {
        guard case .int(let i) = value else { throw error("\(what) is a \(value.kind), not an int") }
        return i
    }

    private func bool(_ value: PickleValue, _ what: String) throws -> Bool {
        switch value {
        case .bool(let b): return b
        case .int(let i): return i != 0
        default: throw error("\(what) is a \(value.kind), not a bool")
        }
    }

    private func ints(_ value: PickleValue, _ what: String) throws -> [Int] {
        switch value {
        case .tuple(let box): return try box.items.map { try int($0, what) }
        case .list(let box): return try box.items.map { try int($0, what) }
        case .size(let s): return s
        default: throw error("\(what) is a \(value.kind), not a tuple of ints")
        }
    }
}
