import PthReader

/// Reads a checkpoint's tensors strictly: each requested by name and shape (widened to float32,
/// or for weight matrices kept in their 16-bit width), and at the end every tensor nobody asked
/// for is reported as an error.
final class WeightLoader {
    let checkpoint: Checkpoint
    /// The prefix of the model's state dict in the file (`model.`, `module.`, `_orig_mod.`), or "".
    let prefix: String
    private var used = Set<String>()
    /// Floats already read, by storage view, so tied tensors are read and held once.
    private var cache: [String: [Float]] = [:]
    /// Weight matrices already read, by storage view (a tied head and embedding are held once).
    private var weightCache: [String: WeightElements] = [:]

    init(checkpoint: Checkpoint, prefix: String) {
        self.checkpoint = checkpoint
        self.prefix = prefix
    }

    var path: String { checkpoint.path }

    /// Whether the checkpoint has this tensor (name without prefix).
    func has(_ name: String) -> Bool { checkpoint.tensor(named: prefix + name) != nil }

    /// The entry of a tensor the architecture needs.
    func entry(_ name: String) throws -> TensorEntry {
        guard let t = checkpoint.tensor(named: prefix + name) else {
            throw InferenceError.missingTensor(path: path, name: prefix + name)
        }
        guard t.dtype.isFloatingPoint else {
            throw InferenceError.notFloatingPoint(path: path, name: t.name, dtype: t.dtype.rawValue)
        }
        return t
    }

    /// The shape of a needed tensor.
    func shape(_ name: String) throws -> [Int] { try entry(name).shape }

    /// Reads a needed tensor of exactly `shape` as float32 and marks it used.
    func take(_ name: String, shape: [Int]) throws -> [Float] {
        let (t, key) = try checked(name, shape: shape)
        if let floats = cache[key] { return floats }
        let floats = try checkpoint.floats(of: t)
        cache[key] = floats
        return floats
    }

    /// Reads a needed weight matrix of exactly `shape` and marks it used: float16 and bfloat16
    /// elements stay 16-bit (widened inside the products), every other dtype becomes float32.
    func takeWeight(_ name: String, shape: [Int]) throws -> WeightElements {
        let (t, key) = try checked(name, shape: shape)
        if let elements = weightCache[key] { return elements }
        let elements: WeightElements
        switch t.dtype {
        case .float16: elements = .float16(try halfBits(of: t))
        case .bfloat16: elements = .bfloat16(try halfBits(of: t))
        default: elements = .float32(try checkpoint.floats(of: t))
        }
        weightCache[key] = elements
        return elements
    }

    /// A needed tensor checked against `shape` and marked used, with its storage-view cache key.
    private func checked(_ name: String, shape: [Int]) throws -> (TensorEntry, String) {
        let t = try entry(name)
        guard t.shape == shape else {
            throw InferenceError.wrongShape(path: path, name: t.name, expected: shape, found: t.shape)
        }
        used.insert(t.name)
        return (t, "\(t.storageKey)|\(t.storageOffset)|\(t.shape)|\(t.strides)|\(t.dtype.rawValue)")
    }

    /// A 2-byte tensor's elements as little-endian 16-bit patterns, row-major.
    private func halfBits(of t: TensorEntry) throws -> [UInt16] {
        let raw = try checkpoint.bytes(of: t)
        return [UInt16](unsafeUninitializedCapacity: t.elementCount) { out, n in
            raw.withUnsafeBytes { src in
                for i in 0..<t.elementCount { out[i] = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            }
            n = t.elementCount
        }
    }

    /// The dtype most of the weights are stored in (for reporting).
    var dominantDType: DType {
        var counts: [DType: Int] = [:]
        for t in checkpoint.tensors where t.name.hasPrefix(prefix) && t.dtype.isFloatingPoint { counts[t.dtype, default: 0] += t.elementCount }
        return counts.max { $0.value < $1.value }?.key ?? .float32
    }

    /// Throws when the checkpoint holds tensors the architecture did not read.
    func finish() throws {
        // Only the model's state dict counts: a training checkpoint's optimizer state is not model weights.
        let unused = checkpoint.tensors.map(\.name).filter { $0.hasPrefix(prefix) && !used.contains($0) }
        if !unused.isEmpty { throw InferenceError.unusedTensors(path: path, names: unused) }
    }
}
