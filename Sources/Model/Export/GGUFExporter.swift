import Foundation
import PthReader

/// Writes an `ExportModel` as a GGUF file llama.cpp runs: its architecture's hyper-parameter keys,
/// tensors under llama.cpp's names (experts stacked per layer), q/k rows in llama.cpp's RoPE layout,
/// and the tokenizer.
///
/// Weights are written as `type` (f32, f16, bf16 or q8_0); 1-D tensors (norms) and the MoE router
/// stay f32, as llama.cpp's converter keeps them; a q8_0 tensor whose rows are not whole blocks of
/// 32 is written f16 (listed in `fallbacks`).
public struct GGUFExporter {
    public let model: ExportModel
    public let type: GGUFTensorType
    public var tokenizer: TokenizerFiles?
    /// `general.name`.
    public var name: String

    public init(model: ExportModel, type: GGUFTensorType, tokenizer: TokenizerFiles?, name: String) {
        self.model = model
        self.type = type
        self.tokenizer = tokenizer
        self.name = name
    }

    /// One GGUF tensor and the export tensors it is made of (several for stacked experts), or values
    /// computed from the configuration (llama.cpp's `rope_freqs`).
    struct Planned {
        var info: GGUFTensorInfo
        var parts: [ExportTensor]
        var computed: [Float]? = nil
    }

    /// The tensors to write: `rope_freqs` for llama3 rotary scaling (first, as llama.cpp's converter
    /// puts it), then the model's in model order.
    func plan() -> [Planned] {
        var planned: [Planned] = []
        if let factors = GGUFRope.frequencyFactors(model) {
            planned.append(Planned(info: GGUFTensorInfo(name: GGUFRope.frequencyFactorsName, shape: [factors.count], type: .f32),
                                   parts: [], computed: factors))
        }
        var index: [String: Int] = [:]
        for t in model.tensors {
            let name = GGUFNames.tensorName(t.role, layer: t.layer)
            if let i = index[name] {
                planned[i].parts.append(t)
                planned[i].info.shape[0] += 1
                continue
            }
            let stacked = t.expert != nil
            let shape = stacked ? [1] + t.shape : t.shape
            index[name] = planned.count
            planned.append(Planned(info: GGUFTensorInfo(name: name, shape: shape, type: tensorType(t)), parts: [t]))
        }
        return planned
    }

    /// The type a tensor is stored as.
    func tensorType(_ t: ExportTensor) -> GGUFTensorType {
        if t.shape.count < 2 || t.role == .router { return .f32 }
        if type == .q8_0 && (t.shape.last ?? 0) % Q8_0.blockSize != 0 { return .f16 }
        return type
    }

    /// Names of tensors written f16 because their rows are not whole q8_0 blocks.
    public var fallbacks: [String] {
        plan().filter { $0.info.type != type && $0.info.shape.count >= 2 && $0.parts.first?.role != .router }.map(\.info.name)
    }

    /// The values llama.cpp expects: merged, with q/k rows moved to adjacent pairs for Llama-style
    /// checkpoints (llama.cpp's `llama` rotates adjacent pairs; its qwen architectures rotate halves).
    func values(of t: ExportTensor) throws -> [Float] {
        let values = try model.values(of: t)
        guard model.family == .llama else { return values }
        let c = model.configuration
        switch t.role {
        case .query: return RotaryLayout.halfToAdjacent(values, heads: c.headCount, headDim: c.headDim)
        case .key: return RotaryLayout.halfToAdjacent(values, heads: c.kvHeadCount, headDim: c.headDim)
        default: return values
        }
    }

    /// Whether `values(of:)` moves the rows of this tensor (q/k of rotate-half `llama`).
    func movesRows(_ t: ExportTensor) -> Bool {
        model.family == .llama && (t.role == .query || t.role == .key)
    }

    /// Every metadata key, `general.*` first.
    func metadata() throws -> [(key: String, value: GGUFMetadataValue)] {
        let arch = GGUFNames.architecture(of: model.family)
        let c = model.configuration
        var kv: [(String, GGUFValue)] = [
            ("general.architecture", .string(arch)),
            ("general.name", .string(name)),
            ("general.file_type", .uint32(GGUFNames.fileType(of: type))),
            ("general.quantization_version", .uint32(2)),
            (arch + ".context_length", .uint32(UInt32(model.contextLength))),
            (arch + ".embedding_length", .uint32(UInt32(c.hiddenSize))),
            (arch + ".block_count", .uint32(UInt32(c.layerCount))),
            (arch + ".feed_forward_length", .uint32(UInt32(model.family == .qwen3Moe ? model.expertIntermediateSize : model.intermediateSize))),
            (arch + ".attention.head_count", .uint32(UInt32(c.headCount))),
            (arch + ".attention.head_count_kv", .uint32(UInt32(c.kvHeadCount))),
            (arch + ".attention.key_length", .uint32(UInt32(c.headDim))),
            (arch + ".attention.value_length", .uint32(UInt32(c.headDim))),
            (arch + ".attention.layer_norm_rms_epsilon", .float32(c.normEps)),
            (arch + ".rope.freq_base", .float32(Float(c.ropeTheta))),
            (arch + ".rope.dimension_count", .uint32(UInt32(c.headDim))),
            (arch + ".vocab_size", .uint32(UInt32(c.vocabSize))),
        ]
        kv += try GGUFRope.metadata(model, architecture: arch)
        if model.family == .qwen3Moe {
            kv.append((arch + ".expert_count", .uint32(UInt32(model.expertCount))))
            kv.append((arch + ".expert_used_count", .uint32(UInt32(c.expertsPerToken))))
            kv.append((arch + ".expert_feed_forward_length", .uint32(UInt32(model.expertIntermediateSize))))
        }
        var entries = kv.map { ($0.0, GGUFMetadataValue.value($0.1)) }
        if let tokenizer {
            entries += try GGUFTokenizer.metadata(tokenizer, rows: c.vocabSize)
        } else {
            // llama.cpp's vocabulary-less model: it runs token ids and cannot tokenize text.
            entries.append(("tokenizer.ggml.model", .value(.string("no_vocab"))))
        }
        return entries
    }

    /// Writes the file at `path` atomically; returns the number of tensors written.
    @discardableResult
    public func write(to path: String, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Int {
        let planned = plan()
        try GGUFWriter.write(to: path, entries: try metadata(), tensors: planned.map(\.info), progress: progress) { i -> GGUFTensorData in
            let p = planned[i]
            if p.parts.count == 1, !movesRows(p.parts[0]), let dtype = p.info.type.dtype,
               let stored = try model.storedBytes(of: p.parts[0], as: dtype) {
                return .bytes(stored)
            }
            let type = p.info.type
            // Each part (one expert of a stacked tensor, or the whole tensor) is computed, checked and
            // encoded a piece at a time, then dropped: only one part's float values are alive.
            return .pieces { emit in
                if let computed = p.computed { try Self.encode(computed, as: type, emit: emit) }
                for part in p.parts {
                    if try encodeStored(part, as: type, emit: emit) { continue }
                    let values = try values(of: part)
                    try CheckpointRewriter.checkRepresentable(values, as: type == .f16 ? .float16 : (type == .bf16 ? .bfloat16 : .float32),
                                                              path: model.checkpoint.path, tensor: part.source) {
                        try model.checkpoint.floats(of: model.checkpoint.tensor(named: part.source)!)
                    }
                    try Self.encode(values, as: type, emit: emit)
                }
            }
        }
        return planned.count
    }

    /// Encodes a tensor no adapter changes and whose rows stay in place into f32/q8_0 from its stored
    /// bytes, decoding them a piece at a time (the values `values(of:)` gives, without their float32
    /// copy); false when it must be computed. Representability needs no check: a value not finite in
    /// float32 output was not finite in the input either.
    func encodeStored(_ part: ExportTensor, as type: GGUFTensorType, emit: ([UInt8]) throws -> Void) throws -> Bool {
        guard type == .f32 || type == .q8_0, !movesRows(part), let entry = model.checkpoint.tensor(named: part.source),
              let raw = try model.storedBytes(of: part, as: entry.dtype) else { return false }
        let count = entry.elementCount, size = entry.dtype.itemSize
        guard raw.count == count * size else { return false }
        var start = 0
        while start < count {
            let n = min(Self.pieceValues, count - start)
            let piece = [Float](unsafeUninitializedCapacity: n) { out, filled in
                raw.withUnsafeBytes { entry.dtype.decodeFloats(from: $0.baseAddress! + start * size, count: n, into: out.baseAddress!) }
                filled = n
            }
            try Self.encode(piece, as: type, emit: emit)
            start += n
        }
        return true
    }

    /// Values encoded per piece: 256 KiB of float32, a whole number of q8_0 blocks.
    static let pieceValues = 64 << 10

    /// Emits `values` encoded as `type` in pieces of `pieceValues` values; q8_0 blocks never straddle
    /// pieces (`values.count` is a multiple of 32, checked by the writer's row rule), so the bytes are
    /// those of encoding the whole array at once.
    static func encode(_ values: [Float], as type: GGUFTensorType, emit: ([UInt8]) throws -> Void) throws {
        var start = 0
        while start < values.count {
            let end = min(start + pieceValues, values.count)
            let piece = Array(values[start..<end])
            switch type {
            case .f32: try emit(CheckpointRewriter.encode(piece, as: .float32))
            case .f16: try emit(CheckpointRewriter.encode(piece, as: .float16))
            case .bf16: try emit(CheckpointRewriter.encode(piece, as: .bfloat16))
            case .q8_0: try emit(Q8_0.quantize(piece))
            }
            start = end
        }
    }
}
