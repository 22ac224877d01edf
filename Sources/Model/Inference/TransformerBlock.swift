import Foundation

/// One pre-norm transformer block: `h = x + attn(norm₁ x)`, `out = h + ffn(norm₂ h)`.
final class TransformerBlock: @unchecked Sendable {
    let attentionNorm: RMSNorm
    let attention: Attention
    let feedForwardNorm: RMSNorm
    let feedForward: FeedForwardKind

    init(attentionNorm: RMSNorm, attention: Attention, feedForwardNorm: RMSNorm, feedForward: FeedForwardKind) {
        self.attentionNorm = attentionNorm
        self.attention = attention
        self.feedForwardNorm = feedForwardNorm
        self.feedForward = feedForward
    }

    func callAsFunction(_ x: inout [Float], rows: Int, rope: RotaryEmbedding, cache: LayerKVCache) {
        let a = attention(attentionNorm(x, rows: rows), rows: rows, rope: rope, cache: cache)
        Self.addInPlace(&x, a)
        let f = feedForward(feedForwardNorm(x, rows: rows), rows: rows)
        Self.addInPlace(&x, f)
    }

    @inline(__always)
    static func addInPlace(_ x: inout [Float], _ y: [Float]) {
        x.withUnsafeMutableBufferPointer { x in
            y.withUnsafeBufferPointer { y in
                for i in 0..<x.count { x[i] += y[i] }
            }
        }
    }
}
