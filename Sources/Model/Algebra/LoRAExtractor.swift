import Foundation
import PthReader

/// How `extract` picks each layer's rank and SVD.
public struct ExtractionOptions: Sendable {
    /// A fixed rank, or the smallest rank keeping a fraction of ‖ΔW‖²_F.
    public enum RankRule: Sendable, Equatable {
        case rank(Int)
        case energy(Double)
    }

    public var rule: RankRule
    /// nil: randomized when the rank is fixed and the matrix is large (`randomizedAbove`), else exact.
    public var method: SVDMethod?
    /// Report changed tensors that are not Linear weights and leave them out (else `modules_to_save`).
    public var linearOnly: Bool
    public var oversample: Int = 10
    public var powerIterations: Int = 2
    /// `min(out, in)` above which the automatic choice is the randomized SVD.
    public var randomizedAbove: Int = 1024

    public init(rule: RankRule, method: SVDMethod? = nil, linearOnly: Bool = false) {
        self.rule = rule
        self.method = method
        self.linearOnly = linearOnly
    }
}

/// One Linear whose weight changed, and how well its rank-r factors capture the change.
public struct ExtractedLayer: Codable, Sendable {
    public var module: String
    public var tensor: String
    /// `[out, in]`.
    public var shape: [Int]
    public var rank: Int
    /// ‖ΔW − B·A‖_F / ‖ΔW‖_F, computed from the factors as written (float32).
    public var relativeError: Double
    /// Σ_{i<r} σᵢ² / ‖ΔW‖²_F.
    public var energy: Double
    public var method: SVDMethod
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case module, tensor, shape, rank, relativeError = "relative_error", energy, method, seconds
    }
}

/// A changed tensor that is not a Linear weight: saved whole (`modules_to_save`) or skipped.
public struct ChangedTensor: Codable, Sendable {
    public var tensor: String
    public var module: String
    public var maxAbsDiff: Float
    /// `modules_to_save` or `skipped`.
    public var action: String

    enum CodingKeys: String, CodingKey { case tensor, module, maxAbsDiff = "max_abs_diff", action }
}

/// What `extract` found: the factored layers, the other changed tensors, and the adapter to write.
public struct Extraction {
    public var layers: [ExtractedLayer]
    public var others: [ChangedTensor]
    public var unchanged: Int
    public var writer: AdapterWriter
}

/// Extracts a LoRA adapter from a full fine-tune: the truncated SVD of `W_tuned − W_base` for each
/// Linear that changed, one tensor at a time (peak memory a few copies of the largest layer).
public enum LoRAExtractor {
    public static func extract(base: Checkpoint, tuned: Checkpoint, options: ExtractionOptions,
                               progress: ((_ tensor: String, _ done: Int, _ total: Int) -> Void)? = nil) throws -> Extraction {
        let baseTensors = relativeTensors(base)
        let tunedTensors = relativeTensors(tuned)
        let tunedByName = Dictionary(tunedTensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let baseNames = Set(baseTensors.map(\.name))
        if let extra = tunedTensors.first(where: { !baseNames.contains($0.name) }) {
            throw ExtractError.mismatch(path: tuned.path, tensor: extra.entry.name, reason: "the base \(base.path) has no tensor \(extra.name)")
        }
        var layers: [ExtractedLayer] = []
        var others: [ChangedTensor] = []
        var factors: [AdapterWriter.Layer] = []
        var saved: [AdapterWriter.Saved] = []
        var savedModules = Set<String>()
        var unchanged = 0
        for (index, b) in baseTensors.enumerated() {
            progress?(b.name, index, baseTensors.count)
            guard let t = tunedByName[b.name] else {
                throw ExtractError.mismatch(path: tuned.path, tensor: b.entry.name, reason: "the fine-tune has no tensor \(b.name)")
            }
            guard t.entry.shape == b.entry.shape else {
                throw ExtractError.mismatch(path: tuned.path, tensor: t.entry.name, reason: "shape \(t.entry.shape), base \(b.entry.shape)")
            }
            guard b.entry.dtype.isFloatingPoint, t.entry.dtype.isFloatingPoint else {
                if try base.bytes(of: b.entry) != tuned.bytes(of: t.entry) {
                    throw ExtractError.mismatch(path: tuned.path, tensor: t.entry.name, reason: "a non-floating-point tensor changed")
                }
                unchanged += 1
                continue
            }
            var delta = try tuned.floats(of: t.entry)
            let original = try base.floats(of: b.entry)
            var maxAbs: Float = 0
            for i in delta.indices { delta[i] -= original[i]; maxAbs = max(maxAbs, abs(delta[i])) }
            guard maxAbs > 0 else { unchanged += 1; continue }
            guard maxAbs.isFinite else { throw ExtractError.mismatch(path: tuned.path, tensor: t.entry.name, reason: "the difference holds NaN or infinity") }
            if b.module.kind.isLinear && b.local == "weight" {
                let start = Date()
                let (layer, fit) = try factor(delta, rows: b.entry.shape[0], cols: b.entry.shape[1], options: options, context: b.name)
                factors.append(.init(module: b.module.path, a: fit.a, b: fit.b))
                layers.append(ExtractedLayer(module: b.module.path, tensor: b.entry.name, shape: b.entry.shape, rank: layer.rank,
                                             relativeError: layer.relativeError, energy: layer.energy, method: layer.method,
                                             seconds: Date().timeIntervalSince(start)))
            } else {
                others.append(ChangedTensor(tensor: b.entry.name, module: b.module.path, maxAbsDiff: maxAbs, action: options.linearOnly ? "skipped" : "modules_to_save"))
                if !options.linearOnly && savedModules.insert(b.module.path).inserted {
                    for p in tunedTensors where p.module.path == b.module.path {
                        saved.append(.init(module: p.module.path, parameter: p.local, source: tuned, entry: p.entry))
                    }
                }
            }
        }
        if factors.isEmpty && saved.isEmpty {
            throw ExtractError.nothingChanged(base: base.path, tuned: tuned.path, skipped: others.count)
        }
        return Extraction(layers: layers, others: others, unchanged: unchanged,
                          writer: AdapterWriter(layers: factors, saved: saved, baseModel: base.path))
    }

    /// One tensor named relative to the model state dict, with its module.
    struct Named {
        var name: String
        var local: String
        var module: Module
        var entry: TensorEntry
    }

    static func relativeTensors(_ checkpoint: Checkpoint) -> [Named] {
        let tree = StateDictLocator.moduleTree(of: checkpoint)
        var out: [Named] = []
        for module in tree.allModules {
            let modulePrefix = tree.prefix + (module.path.isEmpty ? "" : module.path + ".")
            for p in module.parameters where p.name.hasPrefix(modulePrefix) {
                let local = String(p.name.dropFirst(modulePrefix.count))
                out.append(Named(name: module.path.isEmpty ? local : module.path + "." + local, local: local, module: module, entry: p))
            }
        }
        return out
    }

    /// Rank-r factors `B = U·√S`, `A = √S·Vᵀ` of a row-major delta, and their measured error.
    public static func factor(_ delta: [Float], rows: Int, cols: Int, options: ExtractionOptions, context: String)
        throws -> (layer: (rank: Int, relativeError: Double, energy: Double, method: SVDMethod), fit: (a: Tensor, b: Tensor)) {
        let total = delta.reduce(0.0) { $0 + Double($1) * Double($1) }
        let full = min(rows, cols)
        var method: SVDMethod
        let svd: SVDResult
        switch options.rule {
        case .rank(let requested):
            let r = min(requested, full)
            method = options.method ?? (full > options.randomizedAbove && r * 4 <= full ? .randomized : .exact)
            svd = method == .randomized
                ? try SVD.randomized(delta, rows: rows, cols: cols, rank: r, oversample: options.oversample, powerIterations: options.powerIterations, context: context)
                : try SVD.exact(delta, rows: rows, cols: cols, context: context).truncated(to: r)
        case .energy(let fraction):
            method = .exact
            let all = try SVD.exact(delta, rows: rows, cols: cols, context: context)
            var kept = 0.0, k = 0
            let sum = all.s.reduce(0.0) { $0 + Double($1) * Double($1) }
            while k < all.rank && kept < fraction * sum { kept += Double(all.s[k]) * Double(all.s[k]); k += 1 }
            svd = all.truncated(to: max(k, 1))
        }
        let k = svd.rank
        var a = svd.vt, b = svd.u
        for j in 0..<k {
            let root = svd.s[j].squareRoot()
            for c in 0..<cols { a[j * cols + c] *= root }
            for i in 0..<rows { b[i * k + j] *= root }
        }
        let at = Tensor(shape: [k, cols], data: a), bt = Tensor(shape: [rows, k], data: b)
        var residual = delta
        try LoRAPair(a: at, b: bt, scale: -1).merge(into: &residual, module: context)
        let err = residual.reduce(0.0) { $0 + Double($1) * Double($1) }
        let energy = svd.s.reduce(0.0) { $0 + Double($1) * Double($1) } / total
        return ((k, (err / total).squareRoot(), min(energy, 1), method), (at, bt))
    }
}

/// Why an extraction cannot proceed.
public enum ExtractError: Error, CustomStringConvertible, Equatable {
    case mismatch(path: String, tensor: String, reason: String)
    case nothingChanged(base: String, tuned: String, skipped: Int)

    public var description: String {
        switch self {
        case .mismatch(let path, let tensor, let reason): return "\(path): \(tensor): not a fine-tune of the base: \(reason)"
        case .nothingChanged(let base, let tuned, let skipped):
            return "\(tuned): no Linear weight differs from \(base)" + (skipped > 0 ? " (\(skipped) other changed tensors were skipped by --linear-only)" : "") + "; nothing to extract"
        }
    }
}
