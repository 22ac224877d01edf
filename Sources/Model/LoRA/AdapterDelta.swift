/// What an adapter does to one base tensor: the one per-layer delta kind every command uses.
///
/// - `lora`: `W' = W + s·B·A` (a Linear, a Conv1D stored `[in, out]`, or an embedding).
/// - `dora`: PEFT's DoRA, `W' = m / ‖W + s·B·A‖_row · (W + s·B·A)`, the norm taken per output
///   feature (per row of the `[out, in]` weight).
/// - `replacement`: PEFT's `modules_to_save`: a full tensor that replaces the base one.
///
/// Low-rank deltas carry the weight's `layout`, which says how `B·A` lines up with the stored tensor.
public enum AdapterDelta: Sendable, Equatable {
    case lora(LoRAPair, layout: WeightLayout)
    case dora(LoRAPair, magnitude: [Float], layout: WeightLayout)
    case replacement(Tensor)

    /// How a low-rank product `B [out, r] · A [r, in]` maps onto the stored weight.
    public enum WeightLayout: String, Sendable, Equatable, Codable {
        /// `nn.Linear`: weight `[out, in]`.
        case linear
        /// GPT-2 Conv1D (PEFT `fan_in_fan_out`): weight `[in, out]`.
        case conv1D
        /// `nn.Embedding` `[count, dim]` with PEFT's `lora_embedding_A [r, count]`, `lora_embedding_B [dim, r]`:
        /// the delta is `(B·A)ᵀ`, so "out" is the embedding dimension and "in" the token count.
        case embedding

        /// Whether the stored weight is `[in, out]` relative to `B·A`.
        public var isTransposed: Bool { self != .linear }
    }

    /// A short name for reports: `lora`, `dora`, `embedding-lora`, `embedding-dora`, `modules_to_save`.
    public var kindName: String {
        switch self {
        case .lora(_, let layout): return Self.kindName(embedding: layout == .embedding, dora: false)
        case .dora(_, _, let layout): return Self.kindName(embedding: layout == .embedding, dora: true)
        case .replacement: return Self.replacementKindName
        }
    }

    /// The report name of a low-rank delta (also for adapter entries not yet bound to a base, in `inspect`).
    public static func kindName(embedding: Bool, dora: Bool) -> String {
        (embedding ? "embedding-" : "") + (dora ? "dora" : "lora")
    }

    /// The report name of a `modules_to_save` replacement.
    public static let replacementKindName = "modules_to_save"

    /// The low-rank pair, for LoRA and DoRA deltas.
    public var pair: LoRAPair? {
        switch self {
        case .lora(let p, _), .dora(let p, _, _): return p
        case .replacement: return nil
        }
    }

    /// The layout of a low-rank delta (nil for a replacement).
    public var layout: WeightLayout? {
        switch self {
        case .lora(_, let l), .dora(_, _, let l): return l
        case .replacement: return nil
        }
    }

    /// Rank of a low-rank delta, 0 for a replacement.
    public var rank: Int { pair?.rank ?? 0 }

    /// The shape of the tensor this delta applies to.
    public var weightShape: [Int] {
        switch self {
        case .lora(let p, let l), .dora(let p, _, let l):
            return l.isTransposed ? [p.inFeatures, p.outFeatures] : [p.outFeatures, p.inFeatures]
        case .replacement(let t):
            return t.shape
        }
    }

    /// Elements the adapter stores for this delta.
    public var parameterCount: Int {
        switch self {
        case .lora(let p, _): return p.a.count + p.b.count
        case .dora(let p, let m, _): return p.a.count + p.b.count + m.count
        case .replacement(let t): return t.count
        }
    }

    /// The same delta with its low-rank scale multiplied by `factor` (`merge --scale`).
    ///
    /// Throws for DoRA and replacements when `factor != 1`: neither is linear in a scale, so a
    /// scaled or negated one has no meaning we could compute.
    public func scaled(by factor: Float, module: String) throws -> AdapterDelta {
        if factor == 1 { return self }
        switch self {
        case .lora(var p, let l):
            p.scale *= factor
            return .lora(p, layout: l)
        case .dora:
            throw LoRAError.notScalable(module: module, kind: "DoRA", reason: "its magnitude renormalises each row, so the merge is not linear in the scale")
        case .replacement:
            throw LoRAError.notScalable(module: module, kind: "modules_to_save", reason: "it replaces the tensor outright")
        }
    }
}
