import Foundation
import PthReader

/// The outcome of checking a merged model against the adapter-wrapped one (`loratool verify --json`).
public struct MergeVerification: Codable, Sendable, Equatable {
    public var passed: Bool
    /// `max |wrapped − merged|` over all logits.
    public var maxAbsDiff: Double
    /// `maxAbsDiff / max |wrapped|`.
    public var maxRelDiff: Double
    /// Fraction of positions where wrapped and merged agree on the most likely next token.
    public var top1Agreement: Double
    /// Largest per-position `KL(softmax(wrapped) ‖ softmax(merged))`.
    public var maxKL: Double
    /// `max |wrapped − base|`: how far the adapter moves the base model (0 for a no-op adapter).
    public var adapterEffect: Double
    /// The `maxAbsDiff` limit used.
    public var tolerance: Double
    public var tokens: Int
    /// The dtype the merged weights are stored in (`float32` for an in-memory merge).
    public var mergedDtype: String
    /// The hyper-parameters the models ran with.
    public var configuration: ResolvedModelConfiguration?
    /// The merged file's quantization (`q8_0`), when its weights are quantized.
    public var quantization: String?
    /// The largest quantization step (q8_0 block scale) of the merged weights.
    public var quantizationStep: Double?
    /// The quantization step relative to the weights (root-mean-square block step over root-mean-square
    /// weight, largest over the tensors): the `eps` of the tolerance rule for a quantized file.
    public var quantizationRelativeStep: Double?
    /// Positions where a MoE layer chose other experts in the merged model than in the wrapped one.
    /// For a quantized merge they are left out of the comparison (a step can tip a router near-tie).
    public var routingChangedPositions: [Int]?
    /// Where a NaN or infinite logit first appeared (`"merged logits: position 3, token 17 is nan"`),
    /// nil when every logit of every model is finite. Any non-finite logit fails the check.
    public var nonFinite: String?

    enum CodingKeys: String, CodingKey {
        case passed
        case maxAbsDiff = "max_abs_diff"
        case maxRelDiff = "max_rel_diff"
        case top1Agreement = "top1_agreement"
        case maxKL = "max_kl"
        case adapterEffect = "adapter_effect"
        case tolerance
        case tokens
        case mergedDtype = "merged_dtype"
        case configuration
        case quantization
        case quantizationStep = "quantization_step"
        case quantizationRelativeStep = "quantization_relative_step"
        case routingChangedPositions = "routing_changed_positions"
        case nonFinite = "non_finite"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(passed, forKey: .passed)
        // JSON has no NaN or infinity: such metrics are written as strings ("nan", "inf").
        func number(_ x: Double, _ key: CodingKeys) throws {
            if x.isFinite { try c.encode(x, forKey: key) } else { try c.encode(String(x), forKey: key) }
        }
        try number(maxAbsDiff, .maxAbsDiff)
        try number(maxRelDiff, .maxRelDiff)
        try number(top1Agreement, .top1Agreement)
        try number(maxKL, .maxKL)
        try number(adapterEffect, .adapterEffect)
        try number(tolerance, .tolerance)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(mergedDtype, forKey: .mergedDtype)
        try c.encodeIfPresent(nonFinite, forKey: .nonFinite)
        try c.encodeIfPresent(configuration, forKey: .configuration)
        try c.encodeIfPresent(quantization, forKey: .quantization)
        try c.encodeIfPresent(quantizationStep, forKey: .quantizationStep)
        try c.encodeIfPresent(quantizationRelativeStep, forKey: .quantizationRelativeStep)
        try c.encodeIfPresent(routingChangedPositions, forKey: .routingChangedPositions)
    }

    /// Whether the adapter changes the logits by more than the tolerance, so that an untouched base would fail.
    public var adapterIsDetectable: Bool { adapterEffect > tolerance }
}

/// Checks that a merged model computes what the base with its adapter applied unmerged computes.
public enum MergeVerifier {
    /// The tolerance rule, relative to the logit scale: `max(4 · eps(dtype), 1e-4)`.
    ///
    /// Rounding each merged weight to `dtype` perturbs it by up to `eps/2` relative; through the
    /// network the logits move by a small multiple of `eps · max|logit|` (about `0.5 · eps` on the
    /// reference fixtures), so `4 · eps` leaves room without hiding an adapter. float32 merges are
    /// exact up to summation order, so the floor `1e-4` governs them.
    public static func relativeTolerance(for dtype: DType) -> Double {
        max(4 * machineEpsilon(dtype), 1e-4)
    }

    /// The absolute tolerance on `max |Δlogit|`: `relativeTolerance(dtype) · max(1, max|logit|)`.
    public static func tolerance(for dtype: DType, logitScale: Double) -> Double {
        relativeTolerance(for: dtype) * max(1, logitScale)
    }

    /// The spacing of `dtype` at 1 (`2^-10` for float16, `2^-7` for bfloat16, `2^-23` for float32).
    public static func machineEpsilon(_ dtype: DType) -> Double {
        switch dtype {
        case .float16: return 0x1p-10
        case .bfloat16: return 0x1p-7
        case .float32: return 0x1p-23
        case .float64: return 0x1p-52
        default: return 0
        }
    }

    /// A fixed token sequence used when none is given: BOS (1) then ids from a fixed linear congruential sequence.
    ///
    /// The sequence draws ids from 3 up (0–2 are the special tokens); a vocabulary with none of
    /// those gets zeros.
    public static func defaultTokens(vocabularySize: Int, count: Int = 32) -> [Int] {
        guard vocabularySize > 3 else { return Array(repeating: 0, count: count) }
        var state: UInt64 = 0x5DEECE66D
        var tokens = [min(1, vocabularySize - 1)]
        while tokens.count < count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            tokens.append(Int((state >> 33) % UInt64(vocabularySize - 3)) + 3)
        }
        return tokens
    }

    /// Builds the base, adapter-wrapped and merged models and compares their logits on `tokens`.
    ///
    /// - Parameters:
    ///   - base: the base checkpoint.
    ///   - adapters: adapter deltas keyed by base tensor name (`BoundAdapter.deltas`).
    ///   - merged: a merged checkpoint to check; `nil` merges `adapters` into `base` in memory (float32).
    ///   - tokens: the sequence to run; `nil` uses `defaultTokens`.
    ///   - configuration: hyper-parameters for every model.
    ///   - absoluteTolerance: overrides the dtype-derived tolerance.
    public static func verify(base: Checkpoint, adapters: [String: AdapterDelta], merged: Checkpoint?, tokens: [Int]?,
                              configuration: ModelConfiguration = ModelConfiguration(),
                              absoluteTolerance: Double? = nil) throws -> MergeVerification {
        // One model serves three roles, so the base weights are held once: wrapped (adapters
        // unmerged), then base (adapters detached), then merged in memory (adapters folded in).
        // `modules_to_save` tensors are in place from the load on (wrapped and merged alike), so
        // with them the base runs as a model of its own.
        let model = try TransformerModel.load(base, configuration: configuration, adapters: adapters, mode: .unmerged)
        let ids = tokens ?? defaultTokens(vocabularySize: model.configuration.vocabSize)
        let (wrapped, wrappedRoutes) = try model.logitsRecordingRouting(for: ids)
        let detached = model.detachAdapters()
        let replaces = adapters.values.contains { if case .replacement = $0 { return true } else { return false } }
        let baseLogits = try (replaces ? TransformerModel.load(base, configuration: configuration) : model).logits(for: ids)
        let mergedModel: TransformerModel
        let mergedDType: DType
        var quantization: (largestStep: Float, relativeStep: Double)?
        if let merged, let gguf = merged.gguf {
            // A GGUF file runs with the hyper-parameters it states: they are what llama.cpp will use.
            mergedModel = try TransformerModel.load(merged, configuration: try GGUFImport.configuration(gguf))
            mergedDType = mergedModel.weightDType
            quantization = try GGUFImport.quantization(merged)
            try checkSameComputation(mergedModel.configuration, model.configuration)
        } else if let merged {
            mergedModel = try TransformerModel.load(merged, configuration: configuration)
            mergedDType = mergedModel.weightDType
        } else {
            try model.mergeAdapters(detached)
            mergedModel = model
            mergedDType = .float32
        }
        guard merged?.gguf != nil || mergedModel.architecture.name == model.architecture.name else {
            throw InferenceError.inconsistentConfiguration("the merged model is a \(mergedModel.architecture.name) model but the base is \(model.architecture.name): not the same architecture")
        }
        guard merged?.gguf != nil || mergedModel.configuration == model.configuration else {
            throw InferenceError.inconsistentConfiguration("the merged model's shapes differ from the base model's")
        }
        let (mergedLogits, mergedRoutes) = try mergedModel.logitsRecordingRouting(for: ids)
        let changed = (0..<ids.count).filter { position in
            zip(wrappedRoutes, mergedRoutes).contains { $0.count == ids.count && $1.count == ids.count && $0[position] != $1[position] }
        }
        var kept = Array(0..<ids.count)
        if quantization != nil && !changed.isEmpty && changed.count < ids.count { kept = kept.filter { !changed.contains($0) } }
        var result = evaluate(wrapped: wrapped.rows(kept), merged: mergedLogits.rows(kept), base: baseLogits.rows(kept), mergedDType: mergedDType,
                              absoluteTolerance: absoluteTolerance, quantizedEpsilon: quantization?.relativeStep)
        result.tokens = ids.count
        if model.isMixtureOfExperts { result.routingChangedPositions = changed }
        result.configuration = model.configuration
        if let quantization {
            result.quantization = "q8_0"
            result.quantizationStep = Double(quantization.largestStep)
            result.quantizationRelativeStep = quantization.relativeStep
            result.mergedDtype = "q8_0"
        }
        return result
    }

    /// Refuses a merged model whose hyper-parameters would compute something else than the base's.
    static func checkSameComputation(_ merged: ResolvedModelConfiguration, _ base: ResolvedModelConfiguration) throws {
        var a = merged, b = base
        // Names, assumptions and the context limit do not change the logits of a short sequence.
        a.architecture = b.architecture
        a.assumed = b.assumed
        a.maxPositionEmbeddings = b.maxPositionEmbeddings
        if a.normEps != b.normEps && abs(a.normEps - b.normEps) <= 1e-6 * max(a.normEps, b.normEps) { a.normEps = b.normEps }
        if abs(a.ropeTheta - b.ropeTheta) <= 1e-6 * b.ropeTheta { a.ropeTheta = b.ropeTheta }
        guard a == b else {
            throw InferenceError.inconsistentConfiguration("the merged GGUF's hyper-parameters differ from the base model's (merged: \(merged.headCount) heads, \(merged.kvHeadCount) kv heads, eps \(merged.normEps), theta \(merged.ropeTheta); base: \(base.headCount), \(base.kvHeadCount), \(base.normEps), \(base.ropeTheta))")
        }
    }

    /// Compares already computed logits (all `[positions, vocab]`) and applies the tolerance rule.
    public static func evaluate(wrapped: Tensor, merged: Tensor, base: Tensor, mergedDType: DType,
                                absoluteTolerance: Double? = nil, quantizedEpsilon: Double? = nil) -> MergeVerification {
        let nonFinite = firstNonFinite(wrapped, "adapter-wrapped logits") ?? firstNonFinite(merged, "merged logits")
            ?? firstNonFinite(base, "base logits")
        let diff = LogitComparison.compare(reference: wrapped, candidate: merged)
        let effect = LogitComparison.compare(reference: wrapped, candidate: base)
        let scale = diff?.referenceScale ?? 0
        // A quantized file: its measured relative step plays the part of the float type's eps (q8_0
        // moves each weight by up to half its block's step d = max|x|/127, as rounding moves a float by eps/2).
        let tolerance = absoluteTolerance ?? quantizedEpsilon.map { 4 * $0 * max(1, scale) } ?? Self.tolerance(for: mergedDType, logitScale: scale)
        let maxAbs = diff?.maxAbsDiff ?? .infinity
        return MergeVerification(
            passed: nonFinite == nil && diff != nil && maxAbs <= tolerance,
            maxAbsDiff: maxAbs,
            maxRelDiff: diff?.maxRelDiff ?? .infinity,
            top1Agreement: diff?.top1Agreement ?? 0,
            maxKL: diff?.maxKL ?? .infinity,
            adapterEffect: effect?.maxAbsDiff ?? .infinity,
            tolerance: tolerance,
            tokens: wrapped.shape.first ?? 0,
            mergedDtype: mergedDType.rawValue,
            nonFinite: nonFinite)
    }

    /// Where the first NaN or infinity of `[positions, vocab]` logits is, or nil when all are finite.
    static func firstNonFinite(_ logits: Tensor, _ what: String) -> String? {
        guard let index = logits.data.firstIndex(where: { !$0.isFinite }) else { return nil }
        let vocab = logits.shape.count == 2 ? max(logits.shape[1], 1) : max(logits.data.count, 1)
        return "\(what): position \(index / vocab), token \(index % vocab) is \(logits.data[index])"
    }
}
