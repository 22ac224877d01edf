import Foundation

/// How rotary position embeddings pair up the features of a head.
public enum RotaryStyle: String, Sendable {
    /// MiniMind2: complex numbers from adjacent pairs `(x[2i], x[2i+1])`.
    case adjacentPairs = "adjacent-pairs"
    /// Llama / later MiniMind: `rotate_half`, pairing `x[i]` with `x[i + d/2]`.
    case rotateHalf = "rotate-half"
}

/// Precomputed cos/sin tables of rotary embeddings, grown on demand.
final class RotaryEmbedding: @unchecked Sendable {
    let headDim: Int
    let style: RotaryStyle
    /// The inverse frequency of each feature pair (`RopeScaling.inverseFrequencies`), float32 like torch.
    private let frequencies: [Float]
    /// Multiplies every cos and sin (YaRN's attention factor; 1 otherwise).
    private let attentionScaling: Float
    private var cosTable: [Float] = []
    private var sinTable: [Float] = []
    private var positions = 0
    private let lock = NSLock()

    /// Plain RoPE: `1 / theta^(2i / headDim)`.
    convenience init(headDim: Int, theta: Double, style: RotaryStyle) {
        self.init(headDim: headDim, frequencies: RopeScaling.defaultInverseFrequencies(headDim: headDim, theta: theta), attentionScaling: 1, style: style)
    }

    init(headDim: Int, frequencies: [Float], attentionScaling: Float, style: RotaryStyle) {
        precondition(frequencies.count == headDim / 2, "one inverse frequency per feature pair")
        self.headDim = headDim
        self.style = style
        self.frequencies = frequencies
        self.attentionScaling = attentionScaling
    }

    /// The tables covering at least positions `0..<count` (a snapshot, safe to read while another thread grows them).
    private func tables(covering count: Int) -> (cos: [Float], sin: [Float]) {
        lock.lock(); defer { lock.unlock() }
        if count > positions { grow(count) }
        return (cosTable, sinTable)
    }

    /// Extends the tables to at least `count` positions; called with the lock held.
    private func grow(_ count: Int) {
        let newCount = max(count, positions * 2, 64)
        let half = headDim / 2
        cosTable.reserveCapacity(newCount * half)
        sinTable.reserveCapacity(newCount * half)
        for p in positions..<newCount {
            for f in frequencies {
                let angle = Float(p) * f // float32 product, as torch.outer on float32 tensors
                cosTable.append(Float(cos(Double(angle))) * attentionScaling)
                sinTable.append(Float(sin(Double(angle))) * attentionScaling)
            }
        }
        positions = newCount
    }

    /// Rotates `heads` heads in each of `rows` rows of `x`, starting at column `column` of rows of
    /// `rowStride` values; row `r` is at position `start + r`.
    func apply(_ x: inout [Float], rows: Int, heads: Int, column: Int, rowStride: Int, start: Int) {
        let (cosTable, sinTable) = tables(covering: start + rows)
        let half = headDim / 2
        let width = rowStride
        cosTable.withUnsafeBufferPointer { cosT in
            sinTable.withUnsafeBufferPointer { sinT in
                x.withUnsafeMutableBufferPointer { whole in
                    let x = UnsafeMutableBufferPointer(rebasing: whole[column...])
                    ForwardThreads.forEachRowBlock(rows) { block in for r in block {
                        let c = cosT.baseAddress! + (start + r) * half
                        let s = sinT.baseAddress! + (start + r) * half
                        for h in 0..<heads {
                            let v = x.baseAddress! + r * width + h * headDim
                            switch style {
                            case .adjacentPairs:
                                for i in 0..<half {
                                    let a = v[2 * i], b = v[2 * i + 1]
                                    v[2 * i] = a * c[i] - b * s[i]
                                    v[2 * i + 1] = a * s[i] + b * c[i]
                                }
                            case .rotateHalf:
                                for i in 0..<half {
                                    let a = v[i], b = v[i + half]
                                    v[i] = a * c[i] - b * s[i]
                                    v[i + half] = b * c[i] + a * s[i]
                                }
                            }
                        }
                    } }
                }
            }
        }
    }
}
