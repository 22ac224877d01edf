import Foundation

/// How `combine` mixes adapters: PEFT's `add_weighted_adapter` combination types.
public enum CombineMethod: String, Sendable, Codable, CaseIterable {
    /// `A = Σ sign(wᵢsᵢ)·√|wᵢsᵢ|·Aᵢ`, `B = Σ √|wᵢsᵢ|·Bᵢ` (same rank for all; an approximation:
    /// the product has cross terms). PEFT ≥ 0.7 since its fix of issue #1155.
    case linear
    /// `A = [w₁s₁A₁; w₂s₂A₂; …]`, `B = [B₁ B₂ …]`: exactly `Σ wᵢsᵢBᵢAᵢ`, rank the sum of ranks.
    case cat
    /// The rank-R truncated SVD of `Σ wᵢsᵢBᵢAᵢ`: `B = U_R·diag(S_R)`, `A = V_Rᵀ`.
    case svd
}

/// Weighted combination of LoRA adapters into one, as PEFT's `LoraModel.add_weighted_adapter` computes it.
public enum AdapterCombiner {
    /// Combines `adapters` with `weights` by `method`; `rank` is the SVD rank (default: the largest
    /// adapter rank). The result has scale 1 (`lora_alpha = r`), like PEFT's combined adapter.
    ///
    /// Refuses what PEFT's combination does not define here: DoRA layers, `modules_to_save`,
    /// `fan_in_fan_out`, different ranks for `linear`, incomplete A/B pairs.
    public static func combine(_ adapters: [LoRAAdapter], weights: [Float], method requested: CombineMethod, rank: Int? = nil) throws -> [AdapterWriter.Layer] {
        guard !adapters.isEmpty, adapters.count == weights.count else {
            throw CombineError.weightCount(adapters: adapters.count, weights: weights.count)
        }
        for adapter in adapters {
            if let e = adapter.entries.first(where: { $0.magnitude != nil }) {
                throw CombineError.unsupported(path: adapter.path, reason: "\(e.module) is a DoRA layer; PEFT's weighted combination is defined for LoRA only")
            }
            if let r = adapter.replacements.first {
                throw CombineError.unsupported(path: adapter.path, reason: "\(r.module) is a modules_to_save module; its full tensors cannot be weighted")
            }
            if adapter.config?.fanInFanOut == true {
                throw CombineError.unsupported(path: adapter.path, reason: "fan_in_fan_out adapters")
            }
            if let e = adapter.entries.first(where: { $0.pair == nil }) {
                throw CombineError.unsupported(path: adapter.path, reason: "\(e.module) lacks its A or B half")
            }
        }
        // PEFT: one adapter is always combined linearly; ranks are each adapter's config rank (its largest).
        let method = adapters.count == 1 ? .linear : requested
        let ranks = adapters.map(Self.adapterRank)
        if method == .linear, Set(ranks).count > 1 {
            throw CombineError.rankMismatch(ranks: ranks)
        }
        let newRank: Int
        switch method {
        case .linear: newRank = ranks[0]
        case .cat: newRank = ranks.reduce(0, +)
        case .svd: newRank = rank ?? ranks.max()!
        }
        var order: [String] = []
        var seen = Set<String>()
        for adapter in adapters { for e in adapter.entries where seen.insert(e.module).inserted { order.append(e.module) } }

        var layers: [AdapterWriter.Layer] = []
        for module in order {
            let parts: [(pair: LoRAPair, weight: Float, embedding: Bool)] = zip(adapters, weights).compactMap { adapter, w in
                adapter.entries.first { $0.module == module }.flatMap { e in e.pair.map { ($0, w, e.isEmbedding) } }
            }
            let embedding = parts[0].embedding
            guard parts.allSatisfy({ $0.embedding == embedding && $0.pair.outFeatures == parts[0].pair.outFeatures && $0.pair.inFeatures == parts[0].pair.inFeatures }) else {
                throw CombineError.shapeMismatch(module: module)
            }
            let nOut = parts[0].pair.outFeatures, nIn = parts[0].pair.inFeatures
            switch method {
            case .linear:
                guard parts.allSatisfy({ $0.pair.rank == parts[0].pair.rank }) else { throw CombineError.shapeMismatch(module: module) }
                var a = [Float](repeating: 0, count: parts[0].pair.a.count)
                var b = [Float](repeating: 0, count: parts[0].pair.b.count)
                for p in parts {
                    let ws = Double(p.weight) * Double(p.pair.scale)
                    let root = Float(abs(ws).squareRoot())
                    let signed = ws >= 0 ? root : -root
                    for i in a.indices { a[i] += signed * p.pair.a.data[i] }
                    for i in b.indices { b[i] += root * p.pair.b.data[i] }
                }
                layers.append(.init(module: module, a: Tensor(shape: parts[0].pair.a.shape, data: a), b: Tensor(shape: parts[0].pair.b.shape, data: b), embedding: embedding))
            case .cat:
                var a = [Float](repeating: 0, count: newRank * nIn)
                var b = [Float](repeating: 0, count: nOut * newRank)
                var row = 0
                for p in parts {
                    let factor = p.weight * p.pair.scale
                    for r in 0..<p.pair.rank {
                        for i in 0..<nIn { a[(row + r) * nIn + i] = factor * p.pair.a.data[r * nIn + i] }
                        for o in 0..<nOut { b[o * newRank + row + r] = p.pair.b.data[o * p.pair.rank + r] }
                    }
                    row += p.pair.rank
                }
                layers.append(.init(module: module, a: Tensor(shape: [newRank, nIn], data: a), b: Tensor(shape: [nOut, newRank], data: b), embedding: embedding))
            case .svd:
                var delta = [Float](repeating: 0, count: nOut * nIn)
                for p in parts {
                    var scaled = p.pair
                    scaled.scale *= p.weight
                    try scaled.merge(into: &delta, module: module)
                }
                let svd = try SVD.exact(delta, rows: nOut, cols: nIn, context: module).truncated(to: newRank)
                let k = svd.rank
                var b = svd.u
                for o in 0..<nOut { for j in 0..<k { b[o * k + j] *= svd.s[j] } }
                layers.append(.init(module: module, a: Tensor(shape: [k, nIn], data: svd.vt), b: Tensor(shape: [nOut, k], data: b), embedding: embedding))
            }
        }
        return layers
    }

    /// PEFT's per-adapter rank: `r`, or the largest of `r` and the `rank_pattern` values; a
    /// MiniMind adapter's is its largest stored rank.
    static func adapterRank(_ adapter: LoRAAdapter) -> Int {
        if let c = adapter.config { return max(c.r, c.rankPattern.values.max() ?? c.r) }
        return adapter.entries.compactMap { $0.a?.shape.first }.max() ?? 0
    }
}

/// Why adapters cannot be combined.
public enum CombineError: Error, CustomStringConvertible, Equatable {
    case weightCount(adapters: Int, weights: Int)
    case rankMismatch(ranks: [Int])
    case shapeMismatch(module: String)
    case unsupported(path: String, reason: String)

    public var description: String {
        switch self {
        case .weightCount(let a, let w): return "\(a) adapters but \(w) weights: give one weight per adapter"
        case .rankMismatch(let ranks): return "the linear method needs adapters of one rank, got ranks \(ranks.map(String.init).joined(separator: ", ")) (use cat or svd)"
        case .shapeMismatch(let module): return "\(module): the adapters' A/B shapes for this module disagree"
        case .unsupported(let path, let reason): return "\(path): cannot combine: \(reason)"
        }
    }
}
