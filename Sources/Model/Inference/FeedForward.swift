import Foundation

/// The SwiGLU feed-forward `down(silu(gate x) · up x)` (MiniMind's `w2(silu(w1 x) * w3 x)`); gate and up are one fused product.
final class FeedForward: @unchecked Sendable {
    let gateUp: LinearGroup
    let down: LinearLayer

    var gate: LinearLayer { gateUp.layers[0] }
    var up: LinearLayer { gateUp.layers[1] }

    init(gateUp: LinearGroup, down: LinearLayer) {
        self.gateUp = gateUp
        self.down = down
    }

    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        let hidden = gate.outFeatures
        let both = gateUp(x, rows: rows) // [rows, gate | up]
        let h = [Float](unsafeUninitializedCapacity: rows * hidden) { h, n in
            both.withUnsafeBufferPointer { b in
                ForwardThreads.forEachRowBlock(rows) { block in
                    for r in block {
                        let g = b.baseAddress! + r * 2 * hidden
                        VectorMath.swiGLU(gate: g, up: g + hidden, into: h.baseAddress! + r * hidden, count: hidden)
                    }
                }
            }
            n = rows * hidden
        }
        return down(h, rows: rows)
    }
}

/// The feed-forward of one block: dense SwiGLU or mixture of experts.
enum FeedForwardKind: @unchecked Sendable {
    case dense(FeedForward)
    case mixture(MoEFeedForward)

    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        switch self {
        case .dense(let f): return f(x, rows: rows)
        case .mixture(let m): return m(x, rows: rows)
        }
    }
}
