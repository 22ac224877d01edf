import Foundation
import PthReader

/// Reads a GGUF file as a model loratool runs: tensors renamed from llama.cpp's names to the
/// checkpoint naming whose RoPE layout the file uses, stacked experts split into views, and the
/// hyper-parameters taken from the architecture's metadata keys.
///
/// llama.cpp's `llama` rotates adjacent pairs, so its tensors become MiniMind2 names (whose RoPE does
/// the same; no rows move); `qwen3`/`qwen3moe`/`qwen2` rotate halves, so they become Llama-style names.
public enum GGUFImport {
    /// The architectures loratool runs from GGUF.
    public static let architectures = ["llama", "qwen2", "qwen3", "qwen3moe"]

    /// The model checkpoint of a GGUF checkpoint (its tensors under runnable names).
    public static func modelCheckpoint(_ checkpoint: Checkpoint) throws -> Checkpoint {
        guard let gguf = checkpoint.gguf else { return checkpoint }
        let arch = try architecture(gguf)
        let naming: CheckpointNaming = arch == "llama" ? .miniMind : .llama
        var entries: [TensorEntry] = []
        for t in checkpoint.tensors {
            if t.name == GGUFRope.frequencyFactorsName {
                throw ExportError.unsupported(path: checkpoint.path, reason: "'\(t.name)' (llama3 rotary scaling) is not read back from GGUF yet; run the Hugging Face directory instead")
            }
            guard let (role, layer) = GGUFNames.role(of: t.name) else {
                throw ExportError.unsupported(path: checkpoint.path, reason: "tensor '\(t.name)' has no place in a \(arch) model loratool runs")
            }
            let i = layer ?? 0
            let ffn = naming.layer(i, naming.feedForward)
            func named(_ name: String) -> TensorEntry {
                var e = t
                e.name = name + ".weight"
                return e
            }
            switch role {
            case .embedding: entries.append(named(naming.embedding))
            case .head: entries.append(named(naming.head))
            case .finalNorm: entries.append(named(naming.finalNorm))
            case .attentionNorm: entries.append(named(naming.layer(i, naming.attentionNorm)))
            case .query: entries.append(named(naming.layer(i, naming.attention, naming.query)))
            case .key: entries.append(named(naming.layer(i, naming.attention, naming.key)))
            case .value: entries.append(named(naming.layer(i, naming.attention, naming.value)))
            case .attentionOutput: entries.append(named(naming.layer(i, naming.attention, naming.output)))
            case .queryNorm: entries.append(named(naming.layer(i, naming.attention, "q_norm")))
            case .keyNorm: entries.append(named(naming.layer(i, naming.attention, "k_norm")))
            case .queryBias, .keyBias, .valueBias:
                var e = t
                let projection = role == .queryBias ? naming.query : (role == .keyBias ? naming.key : naming.value)
                e.name = naming.layer(i, naming.attention, projection) + ".bias"
                entries.append(e)
            case .feedForwardNorm: entries.append(named(naming.layer(i, naming.feedForwardNorm)))
            case .gate: entries.append(named(ffn + "." + naming.gate))
            case .up: entries.append(named(ffn + "." + naming.up))
            case .down: entries.append(named(ffn + "." + naming.down))
            case .router: entries.append(named(ffn + "." + naming.router))
            case .expertGate, .expertUp, .expertDown:
                guard t.shape.count == 3 else {
                    throw ExportError.unsupported(path: checkpoint.path, reason: "stacked expert tensor '\(t.name)' is not 3-D (\(t.shape))")
                }
                let part = role == .expertGate ? naming.gate : (role == .expertUp ? naming.up : naming.down)
                let size = t.shape[1] * t.shape[2]
                for e in 0..<t.shape[0] {
                    var view = named(ffn + "." + naming.experts + ".\(e)." + part)
                    view.shape = [t.shape[1], t.shape[2]]
                    view.strides = [t.shape[2], 1]
                    view.storageOffset = t.storageOffset + e * size
                    entries.append(view)
                }
            }
        }
        return try checkpoint.remapped(entries)
    }

    /// `general.architecture`, refused unless loratool runs it.
    static func architecture(_ gguf: GGUFFile) throws -> String {
        let arch = gguf.value("general.architecture")?.stringValue ?? "none"
        guard architectures.contains(arch) else {
            throw ExportError.unsupported(path: gguf.path, reason: "GGUF architecture '\(arch)' is not one loratool runs (\(architectures.joined(separator: ", ")))")
        }
        return arch
    }

    /// The hyper-parameters a GGUF file states under its architecture's keys.
    public static func configuration(_ gguf: GGUFFile) throws -> ModelConfiguration {
        let arch = try architecture(gguf)
        func int(_ key: String) -> Int? { gguf.value(arch + "." + key)?.intValue }
        func double(_ key: String) -> Double? { gguf.value(arch + "." + key)?.doubleValue }
        var rope: ModelConfiguration.RopeParameters?
        if let scaling = gguf.value(arch + ".rope.scaling.type")?.stringValue, scaling != "none" {
            // yarn as loratool writes it (GGUFRope): transformers' yarn with its defaults; only where
            // loratool reads the file under transformers' rotary conventions (qwen2).
            guard scaling == "yarn", arch == "qwen2", let factor = double("rope.scaling.factor"), let original = int("rope.scaling.original_context_length") else {
                throw InferenceError.badConfiguration(path: gguf.path, reason: "rope scaling '\(scaling)' in a \(arch) GGUF is not supported (only yarn in qwen2)")
            }
            rope = .init(ropeType: "yarn", ropeTheta: double("rope.freq_base"), factor: factor)
            rope?.originalMaxPositionEmbeddings = original
        }
        var configuration = ModelConfiguration(
            hiddenSize: int("embedding_length"), numAttentionHeads: int("attention.head_count"),
            numKeyValueHeads: int("attention.head_count_kv"), headDim: int("attention.key_length"),
            numHiddenLayers: int("block_count"), rmsNormEps: double("attention.layer_norm_rms_epsilon").map { Float($0) },
            ropeTheta: double("rope.freq_base"), numExpertsPerTok: int("expert_used_count"),
            // llama.cpp's qwen3moe renormalises the chosen experts' weights.
            normTopkProb: arch == "qwen3moe" ? true : nil)
        if let rope {
            configuration.ropeParameters = rope
            configuration.maxPositionEmbeddings = int("context_length")
        }
        return configuration
    }

    /// The tokenizer a GGUF file carries (gpt2 with the `gpt-2` pre-tokenizer), nil when it has none.
    public static func tokenizer(_ checkpoint: Checkpoint) throws -> BPETokenizer? {
        guard let gguf = checkpoint.gguf, let data = try GGUFTokenizer.tokenizerJSON(from: gguf) else { return nil }
        return try BPETokenizer(jsonData: data, source: checkpoint.path)
    }

    /// A GGUF file's q8_0 quantization, measured: the largest block step, and the relative step —
    /// over the quantized tensors, the largest ratio of the root-mean-square block step to the
    /// root-mean-square weight (what a rounding step `eps` is to a float type). nil when nothing is q8_0.
    public static func quantization(_ checkpoint: Checkpoint) throws -> (largestStep: Float, relativeStep: Double)? {
        var largest: Float = 0, relative = 0.0, any = false
        var seen = Set<String>()
        for t in checkpoint.tensors where seen.insert(t.storageKey).inserted {
            guard let steps = try checkpoint.quantizationSteps(of: t) else { continue }
            any = true
            largest = max(largest, steps.largest)
            let values = try checkpoint.floats(of: t)
            let rms = (values.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(1, values.count))).squareRoot()
            if rms > 0 { relative = max(relative, Double(steps.rms) / rms) }
        }
        return any ? (largest, relative) : nil
    }
}
