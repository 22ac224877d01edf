import Foundation
import Model
import PthReader
import Testing
import TestSupport

/// DoRA, `modules_to_save` and embedding adapters written by PEFT 0.21.2, merged against PEFT's own
/// `merge_and_unload` (Tests/Fixtures/algebra, made by scripts/make_algebra_fixtures.py).
@Suite struct AdapterDeltaTests {
    static let base = Fixtures.localPath("algebra/base")

    /// Merges `variant` into the base and compares every tensor with PEFT's merge (changed ones) or the base.
    func expectPEFTMerge(_ variant: String, kinds: Set<String>, layers: Int) throws {
        let base = try Checkpoint.open(path: Self.base)
        let reference = try Checkpoint.open(path: Fixtures.localPath("algebra/\(variant).merged.safetensors"))
        let bound = try LoRAAdapter.load(path: Fixtures.localPath("algebra/\(variant)")).bind(to: base)
        #expect(bound.layers.count == layers)
        #expect(Set(bound.layers.map(\.delta.kindName)) == kinds)
        #expect(Set(bound.layers.map(\.weightName)) == Set(reference.tensors.map(\.name)), "the adapter changes exactly what PEFT's merge changed")
        for layer in bound.layers {
            let merged = try layer.mergedWeight(from: base)
            let expected = try reference.floats(of: try #require(reference.tensor(named: layer.weightName)))
            #expect(merged.count == expected.count)
            var worst: Float = 0
            for i in merged.indices { worst = max(worst, abs(merged[i] - expected[i]) / max(1, abs(expected[i]))) }
            #expect(worst <= 1e-5, "\(layer.weightName): \(worst) from PEFT")
        }
    }

    @Test func doraMergesLikePEFT() throws {
        try expectPEFTMerge("dora", kinds: ["dora"], layers: 8)
    }

    @Test func modulesToSaveReplaceTensors() throws {
        try expectPEFTMerge("mts", kinds: ["lora", "modules_to_save"], layers: 7)
    }

    @Test func embeddingAdapterMergesLikePEFT() throws {
        try expectPEFTMerge("emb", kinds: ["lora", "embedding-lora"], layers: 3)
    }

    /// `inspect`'s per-kind counts (read from the keys, before binding) name the deltas binding makes.
    @Test func unboundKindCountsMatchBoundDeltas() throws {
        let base = try Checkpoint.open(path: Self.base)
        for variant in ["dora", "mts", "emb"] {
            let adapter = try LoRAAdapter.load(path: Fixtures.localPath("algebra/\(variant)"))
            var bound: [String: Int] = [:]
            for layer in try adapter.bind(to: base).layers { bound[layer.delta.kindName, default: 0] += 1 }
            #expect(adapter.kindCounts == bound, "\(variant)")
        }
    }

    /// Leaving out the DoRA renormalisation (a plain LoRA merge of the same A, B) misses PEFT's result.
    @Test func doraIsNotPlainLoRA() throws {
        let base = try Checkpoint.open(path: Self.base)
        let reference = try Checkpoint.open(path: Fixtures.localPath("algebra/dora.merged.safetensors"))
        let layer = try #require(try LoRAAdapter.load(path: Fixtures.localPath("algebra/dora")).bind(to: base).layers.first)
        guard case .dora(let pair, _, let layout) = layer.delta else { Issue.record("not DoRA"); return }
        var plain = try base.floats(of: layer.weight)
        try AdapterDelta.lora(pair, layout: layout).apply(to: &plain)
        let expected = try reference.floats(of: try #require(reference.tensor(named: layer.weightName)))
        #expect(zip(plain, expected).map { abs($0 - $1) }.max()! > 1e-3)
    }

    @Test func doraAndReplacementsRefuseScaling() throws {
        let base = try Checkpoint.open(path: Self.base)
        for variant in ["dora", "mts"] {
            let bound = try LoRAAdapter.load(path: Fixtures.localPath("algebra/\(variant)")).bind(to: base)
            #expect(throws: LoRAError.self) { try bound.scaled(by: -1) }
            #expect(try bound.scaled(by: 1).layers.count == bound.layers.count)
        }
    }

    /// A LoRA removed from its own merge gives the base back (float32: within rounding).
    @Test func removeUndoesApply() throws {
        let a = Tensor(shape: [2, 3], data: [0.5, -1, 2, 0.25, 0.125, -0.5])
        let b = Tensor(shape: [4, 2], data: [1, 2, -3, 0.5, 0.75, -1, 2, 2])
        for layout in [AdapterDelta.WeightLayout.linear, .conv1D, .embedding] {
            let delta = AdapterDelta.lora(LoRAPair(a: a, b: b, scale: 0.5), layout: layout)
            let original: [Float] = (0..<12).map { Float($0) * 0.1 - 0.3 }
            var w = original
            try delta.apply(to: &w)
            #expect(w != original)
            try delta.remove(from: &w)
            for (x, y) in zip(w, original) { #expect(abs(x - y) <= 1e-6) }
        }
    }

    /// The embedding layout adds (B·A)ᵀ: element [token, d] gets s·Σ_r B[d, r]·A[r, token].
    @Test func embeddingLayoutTransposes() throws {
        let a = Tensor(shape: [1, 3], data: [1, 2, 3])      // [r, count]
        let b = Tensor(shape: [2, 1], data: [10, 100])       // [dim, r]
        var w = [Float](repeating: 0, count: 6)              // [count 3, dim 2]
        try AdapterDelta.lora(LoRAPair(a: a, b: b, scale: 1), layout: .embedding).apply(to: &w)
        #expect(w == [10, 100, 20, 200, 30, 300])
    }
}
