import Foundation
import Model
import PthReader
import Testing
import TestSupport

/// `AdapterCombiner` on small hand-made adapters (PEFT's own results are compared in scripts/interop_algebra.py).
@Suite struct AdapterCombinerTests {
    static func adapter(_ name: String, seed: Float, rank: Int = 2, scale: Float = 1) -> LoRAAdapter {
        let a = Tensor(shape: [rank, 3], data: (0..<(rank * 3)).map { sin(Float($0) + seed) })
        let b = Tensor(shape: [4, rank], data: (0..<(4 * rank)).map { cos(Float($0) * 0.7 + seed) })
        return LoRAAdapter(path: name, pairs: [(module: "layers.0.attention.wq", pair: LoRAPair(a: a, b: b, scale: scale))])
    }

    static func delta(_ l: AdapterWriter.Layer) throws -> [Float] {
        var d = [Float](repeating: 0, count: l.b.shape[0] * l.a.shape[1])
        try LoRAPair(a: l.a, b: l.b, scale: 1).merge(into: &d)
        return d
    }

    static func weightedSum(_ adapters: [LoRAAdapter], _ weights: [Float]) throws -> [Float] {
        var d = [Float](repeating: 0, count: 12)
        for (x, w) in zip(adapters, weights) {
            var p = x.entries[0].pair!
            p.scale *= w
            try p.merge(into: &d)
        }
        return d
    }

    @Test func catIsExactAndSVDOfFullRankIsExact() throws {
        let inputs = [Self.adapter("a", seed: 0), Self.adapter("b", seed: 1, rank: 1, scale: 2)]
        let want = try Self.weightedSum(inputs, [0.5, -1.5])
        for (method, rank) in [(CombineMethod.cat, 3), (.svd, 3)] {
            let layers = try AdapterCombiner.combine(inputs, weights: [0.5, -1.5], method: method, rank: method == .svd ? 3 : nil)
            #expect(layers.count == 1 && layers[0].rank == rank)
            for (x, y) in zip(try Self.delta(layers[0]), want) { #expect(abs(x - y) < 1e-5, "\(method)") }
        }
    }

    /// The truncated SVD keeps the leading singular values: its error is the dropped one's share.
    @Test func svdTruncationKeepsTheLargestDirections() throws {
        let inputs = [Self.adapter("a", seed: 0), Self.adapter("b", seed: 2)]
        let full = try Self.weightedSum(inputs, [1, 1])
        let exact = try SVD.exact(full, rows: 4, cols: 3)
        let layer = try AdapterCombiner.combine(inputs, weights: [1, 1], method: .svd, rank: 1)[0]
        let err = zip(try Self.delta(layer), full).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }.squareRoot()
        let optimal = exact.s.dropFirst().reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
        #expect(abs(err - optimal) < 1e-4)
    }

    @Test func linearNeedsOneRankAndOneWeightPerAdapter() throws {
        let inputs = [Self.adapter("a", seed: 0), Self.adapter("b", seed: 1, rank: 1)]
        #expect(throws: CombineError.rankMismatch(ranks: [2, 1])) { try AdapterCombiner.combine(inputs, weights: [1, 1], method: .linear) }
        #expect(throws: CombineError.weightCount(adapters: 2, weights: 1)) { try AdapterCombiner.combine(inputs, weights: [1], method: .cat) }
    }

    /// PEFT (#1155 fix): √|w·s| on each side with the sign on A, so the weight enters the product once.
    @Test func linearSplitsTheWeightLikePEFT() throws {
        let one = Self.adapter("a", seed: 0, scale: 2)
        let layer = try AdapterCombiner.combine([one], weights: [-0.5], method: .linear)[0]
        let pair = one.entries[0].pair!
        for (x, y) in zip(layer.a.data, pair.a.data) { #expect(abs(x + 1 * y) < 1e-6) }   // sign(−1)·√1
        for (x, y) in zip(layer.b.data, pair.b.data) { #expect(abs(x - y) < 1e-6) }
    }

    @Test func doraAndModulesToSaveAreRefused() throws {
        for variant in ["dora", "mts"] {
            let adapter = try LoRAAdapter.load(path: Fixtures.localPath("algebra/\(variant)"))
            #expect(throws: CombineError.self) { try AdapterCombiner.combine([adapter, adapter], weights: [1, 1], method: .cat) }
        }
    }
}
