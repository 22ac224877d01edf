import Foundation
import PthReader

/// Streams a checkpoint into a new file, optionally folding a bound LoRA adapter into its weights
/// and changing the floating-point dtype: the engine behind `loratool merge` and `convert`.
///
/// Tensors are read, merged and written in a pipeline (`MergePipeline`: read, merge and write on
/// three threads, at most three tensors in memory at once) or, on one core, one at a time. A
/// LoRA-merged weight is computed as `W + multiplier · scale · B·A` in float32 by `FusedMerge`
/// (cache-sized blocks, a SIMD range check) and rounded once into the output dtype; DoRA and
/// `modules_to_save` go through the whole-tensor kernel (`AdapterDelta.apply`). Every other tensor keeps its bytes (or is re-encoded when
/// `outputDType` changes it); the tree, names, metadata and ties are kept, except that a merged
/// weight that shared storage with another tensor gets its own storage.
public struct CheckpointRewriter {
    public let source: Checkpoint
    public let adapter: BoundAdapter?
    /// How to rewrite, fixed at `init`: a rewriter cannot be changed into an invalid state later.
    public let options: Options

    /// The choices of one rewrite, checked once when made (an integer output dtype is refused).
    public struct Options: Sendable, Equatable {
        /// Multiplies every low-rank delta's own scale (1 keeps MiniMind's 1 and PEFT's alpha/r; DoRA and `modules_to_save` only accept 1).
        public let multiplier: Float
        /// New dtype for floating-point tensors; nil keeps each tensor's dtype. Always floating-point.
        public let outputDType: DType?
        /// A top-level dict key whose subtree alone is written, its `key.` prefix dropped from every
        /// name (`model` keeps a training checkpoint's weights without the optimizer state).
        public let selection: String?
        /// Whether reading, merging and writing overlap on three threads; nil: when two or more cores are available.
        public let pipelined: Bool?

        /// Checks the choices: `outputDType`, when given, must be a floating-point dtype.
        public init(multiplier: Float = 1, outputDType: DType? = nil, selection: String? = nil, pipelined: Bool? = nil) throws {
            if let dtype = outputDType, !dtype.isFloatingPoint {
                throw MergeError.unsupportedOutputDType(dtype.rawValue)
            }
            self.multiplier = multiplier
            self.outputDType = outputDType
            self.selection = selection
            self.pipelined = pipelined
        }

        private init() {
            multiplier = 1
            outputDType = nil
            selection = nil
            pipelined = nil
        }

        /// Every tensor kept as it is: multiplier 1, dtypes kept, the whole tree, pipelined on two or more cores.
        public static let standard = Options()
    }

    public init(source: Checkpoint, adapter: BoundAdapter? = nil, options: Options = .standard) {
        self.source = source
        self.adapter = adapter
        self.options = options
    }

    /// Multiplies every low-rank delta's own scale (see `Options.multiplier`).
    public var multiplier: Float { options.multiplier }
    /// New dtype for floating-point tensors (see `Options.outputDType`).
    public var outputDType: DType? { options.outputDType }
    /// The top-level dict written alone (see `Options.selection`).
    public var selection: String? { options.selection }
    /// Whether the stages overlap on three threads (see `Options.pipelined`).
    public var pipelined: Bool? { options.pipelined }

    /// What a rewrite did.
    public struct Summary: Codable, Sendable, Equatable {
        public var output: String
        public var format: String
        public var tensors: Int
        /// Base weight names that an adapter was folded into, in file order.
        public var mergedTensors: [String]
        public var outputBytes: Int
        public var seconds: Double

        enum CodingKeys: String, CodingKey {
            case output, format, tensors, mergedTensors = "merged_tensors", outputBytes = "output_bytes", seconds
        }
    }

    /// The `selection.` prefix of source names (empty without a selection).
    var selectionPrefix: String { selection.map { $0 + "." } ?? "" }

    /// The output tree: the selected subtree, dtypes changed where asked, merged weights untied from their aliases.
    func outputTree() throws -> Node {
        let merged = Set(adapter?.layers.map(\.weightName) ?? [])
        var root = source.root
        if let selection {
            guard case .dict(let items, _) = source.root,
                  let item = items.first(where: { $0.key.pathComponent == selection }), case .dict = item.value else {
                throw MergeError.selectionNotFound(path: source.path, key: selection, available: Self.topLevelDicts(source.root))
            }
            root = item.value
        }
        let prefix = selectionPrefix
        let added = adapter?.addedTensors ?? []
        func output(_ source: TensorEntry, named name: String) -> TensorEntry {
            var entry = source
            entry.name = String(name.dropFirst(prefix.count))
            if let dtype = outputDType, entry.dtype.isFloatingPoint { entry.dtype = dtype }
            if merged.contains(name) { entry.storageKey = "merged:" + entry.name }
            return entry
        }
        func rewrite(_ node: Node) -> Node {
            switch node {
            case .tensor(let entry):
                return .tensor(output(entry, named: entry.name))
            case .dict(let items, let ordered):
                var out: [DictItem] = []
                for item in items {
                    out.append(DictItem(key: item.key, value: rewrite(item.value)))
                    // A modules_to_save head of a base that stores its tied head once: a new tensor beside the embedding.
                    guard case .tensor(let source) = item.value, case .string(let key) = item.key, source.name.hasSuffix(key) else { continue }
                    let dictPrefix = String(source.name.dropLast(key.count))
                    for layer in added where layer.weight.name == source.name && layer.weightName.hasPrefix(dictPrefix) && layer.weightName.hasPrefix(prefix) {
                        out.append(DictItem(key: .string(String(layer.weightName.dropFirst(dictPrefix.count))), value: .tensor(output(source, named: layer.weightName))))
                    }
                }
                return .dict(out, ordered: ordered)
            case .list(let items):
                return .list(items.map(rewrite))
            case .tuple(let items):
                return .tuple(items.map(rewrite))
            default:
                return node
            }
        }
        return rewrite(root)
    }

    /// The keys of the top-level dict whose values are dicts holding tensors (what `selection` may name).
    static func topLevelDicts(_ root: Node) -> [String] {
        guard case .dict(let items, _) = root else { return [] }
        return items.filter { if case .dict = $0.value { return $0.value.containsTensor } else { return false } }.map(\.key.pathComponent)
    }

    /// Writes the result to `path` in `format`, atomically; returns what was done.
    ///
    /// `progress` gets the storages written so far and their total; `bytes`, the size of each
    /// tensor's data as it is handed to the writer (see `outputTensorBytes` for the total).
    ///
    /// With two or more cores (and `pipelined` not false), reading, merging and writing overlap on
    /// three threads (`MergePipeline`), with at most three tensors in memory at once; otherwise each
    /// tensor is read, merged and written in turn on the calling thread. Either way a LoRA-merged
    /// weight goes through `FusedMerge` (cache-sized blocks, one rounding).
    public func write(to path: String, format: OutputFormat,
                      progress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                      bytes: ((_ count: Int) -> Void)? = nil) throws -> Summary {
        let start = Date()
        var byName: [String: TensorEntry] = [:]
        for t in source.tensors where byName[t.name] == nil { byName[t.name] = t }
        for layer in adapter?.addedTensors ?? [] { byName[layer.weightName] = layer.weight }
        var layers: [String: BoundLoRA] = [:]
        for layer in adapter?.layers ?? [] { layers[layer.weightName] = layer }
        let prefix = selectionPrefix
        let tree = try outputTree()
        try ResourceLimits.checkDiskSpace(forWriting: tree, to: path)
        let order = try CheckpointWriter.provisionOrder(root: tree, path: path, format: format)
        let stage = Stages(source: source, byName: byName, layers: layers, multiplier: multiplier, prefix: prefix)
        var pipeline: MergePipeline<TensorData>?
        if pipelined ?? (ProcessInfo.processInfo.activeProcessorCount >= 2), order.count > 1 {
            let merger = FusedMerge()
            let p = MergePipeline(count: order.count,
                                  prepare: { try stage.span(order[$0]) },
                                  read: { try stage.read(order[$0]) },
                                  transform: { try stage.transform(order[$0], $1, merger: merger) })
            p.start()
            pipeline = p
        }
        defer { pipeline?.stop() }
        let merger = FusedMerge()
        var mergedNames: [String] = []
        var next = 0
        try CheckpointWriter.write(root: tree, to: path, format: format, progress: progress, provideData: { out in
            guard next < order.count, order[next] == out else {
                throw MergeError.internalInconsistency("the writer asked for \(out.name) out of the planned order")
            }
            defer { next += 1 }
            let data = try pipeline?.take(next) ?? stage.transform(out, try stage.read(out), merger: merger)
            if layers[prefix + out.name] != nil { mergedNames.append(prefix + out.name) }
            bytes?(data.count)
            return data
        })
        let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
        let written = source.tensors.filter { $0.name.hasPrefix(prefix) }.count + (adapter?.addedTensors.filter { $0.weightName.hasPrefix(prefix) }.count ?? 0)
        return Summary(output: path, format: format.rawValue, tensors: written, mergedTensors: mergedNames,
                       outputBytes: size, seconds: Date().timeIntervalSince(start))
    }

    /// The two halves of producing one output tensor, safe to run on other threads.
    private struct Stages: Sendable {
        let source: Checkpoint
        let byName: [String: TensorEntry]
        let layers: [String: BoundLoRA]
        let multiplier: Float
        let prefix: String

        private func original(of out: TensorEntry) throws -> TensorEntry {
            guard let original = byName[prefix + out.name] else {
                throw MergeError.internalInconsistency("no source tensor named \(prefix + out.name)")
            }
            return original
        }

        /// A tensor written unchanged as a span of the input file when it can be one
        /// (`Checkpoint.span(of:)`), which the writer copies straight from the page cache,
        /// checking its record's CRC-32 on the way; nil when it must be read (`read`).
        func span(_ out: TensorEntry) throws -> TensorData? {
            let original = try original(of: out)
            guard layers[prefix + out.name] == nil, out.dtype == original.dtype,
                  let span = try source.span(of: original) else { return nil }
            return .span(span)
        }

        /// The source tensor as a span (see `span`), or its bytes, read and CRC-checked.
        func read(_ out: TensorEntry) throws -> TensorData {
            if let span = try span(out) { return span }
            return .bytes(try source.bytes(of: try original(of: out)))
        }

        /// The output: merged, re-encoded into another dtype, or unchanged (a span passes through).
        func transform(_ out: TensorEntry, _ data: TensorData, merger: FusedMerge) throws -> TensorData {
            guard case .bytes(let raw) = data else { return data }
            return .bytes(try transform(out, raw, merger: merger))
        }

        private func transform(_ out: TensorEntry, _ raw: [UInt8], merger: FusedMerge) throws -> [UInt8] {
            let original = try original(of: out)
            if let layer = layers[prefix + out.name] {
                let delta = try layer.delta.scaled(by: multiplier, module: layer.module)
                if case .lora(let pair, let layout) = delta {
                    return try merger.merge(raw, dtype: original.dtype, pair: pair, transposed: layout.isTransposed,
                                            module: layer.module, output: out, path: source.path)
                }
                // DoRA and modules_to_save: the whole-tensor kernel.
                var values = decode(raw, original)
                try delta.apply(to: &values, module: layer.module)
                try CheckpointRewriter.checkRepresentable(values, as: out.dtype, path: source.path, tensor: out.name,
                                                          base: { decode(raw, original) })
                return CheckpointRewriter.encode(values, as: out.dtype)
            }
            if out.dtype == original.dtype { return raw }
            return CheckpointRewriter.encode(decode(raw, original), as: out.dtype)
        }

        private func decode(_ raw: [UInt8], _ entry: TensorEntry) -> [Float] {
            let count = entry.elementCount
            return [Float](unsafeUninitializedCapacity: count) { buffer, n in
                raw.withUnsafeBytes { if count > 0 { entry.dtype.decodeFloats(from: $0.baseAddress!, count: count, into: buffer.baseAddress!) } }
                n = count
            }
        }
    }

    /// Refuses a merged weight that holds NaN or infinity, or overflows `dtype`, where the base did not.
    ///
    /// Like PEFT's `safe_merge`, but also catching float16 overflow (|w| beyond 65504 rounds to
    /// infinity). `base` is read only when a problem is found, to excuse values already non-finite there.
    static func checkRepresentable(_ values: [Float], as dtype: DType, path: String, tensor: String, base: () throws -> [Float]) throws {
        let limit: Float = dtype == .float16 ? 65519.996 : .greatestFiniteMagnitude
        guard values.contains(where: { !(abs($0) < limit) }) else { return }
        let original = try base()
        guard let index = values.indices.first(where: { !(abs(values[$0]) < limit) && abs(original[$0]).isFinite }) else { return }
        throw MergeError.notRepresentable(path: path, tensor: tensor, index: index, value: values[index], dtype: dtype.rawValue)
    }

    /// Rounds float32 values once into `dtype`'s little-endian bytes.
    static func encode(_ values: [Float], as dtype: DType) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: values.count * dtype.itemSize) { buffer, count in
            values.withUnsafeBufferPointer { dtype.encodeFloats($0, into: UnsafeMutableRawPointer(buffer.baseAddress!)) }
            count = values.count * dtype.itemSize
        }
    }
}

/// Errors of merge and convert that are not the reader's, the adapter's or the writer's.
public enum MergeError: Error, CustomStringConvertible, Equatable {
    /// The requested output dtype is not a floating-point type.
    case unsupportedOutputDType(String)
    /// The output path is one of the inputs (or inside an input directory).
    case outputIsInput(output: String, input: String)
    /// A merged weight became NaN, infinite, or too large for the output dtype.
    case notRepresentable(path: String, tensor: String, index: Int, value: Float, dtype: String)
    case internalInconsistency(String)
    /// `--select KEY` names no top-level dict of tensors.
    case selectionNotFound(path: String, key: String, available: [String])

    public var description: String {
        switch self {
        case .unsupportedOutputDType(let name):
            return "output dtype \(name) is not one of float32, float16, bfloat16, float64"
        case .outputIsInput(let output, let input):
            return "\(output): refusing to write over the input \(input)"
        case .notRepresentable(let path, let tensor, let index, let value, let dtype):
            return "\(path): \(tensor): merged value \(value) at element \(index) is not representable in \(dtype); nothing was written"
        case .selectionNotFound(let path, let key, let available):
            let choices = available.isEmpty ? "it has no top-level dict of tensors" : "it has " + available.map { "'\($0)'" }.joined(separator: ", ")
            return "\(path): no top-level dict of tensors named '\(key)' (\(choices))"
        case .internalInconsistency(let what):
            return "internal error: \(what)"
        }
    }

    /// Throws `outputIsInput` when `output` resolves to one of `inputs` or lies inside an input directory.
    public static func checkOutput(_ output: String, notOver inputs: [String]) throws {
        let target = URL(fileURLWithPath: output).resolvingSymlinksInPath().standardizedFileURL.path
        for input in inputs {
            let resolved = URL(fileURLWithPath: input).resolvingSymlinksInPath().standardizedFileURL.path
            var isDirectory: ObjCBool = false
            let isInputDirectory = FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) && isDirectory.boolValue
            if target == resolved || (isInputDirectory && target.hasPrefix(resolved + "/")) {
                throw MergeError.outputIsInput(output: output, input: input)
            }
        }
    }
}
