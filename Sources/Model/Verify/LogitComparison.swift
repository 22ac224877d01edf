import Foundation

/// How far two `[positions, vocab]` logit tensors are apart.
public struct LogitComparison: Sendable, Equatable {
    /// `max |a − b|` over every logit.
    public var maxAbsDiff: Double
    /// `maxAbsDiff / max |reference|`: the difference relative to the logit scale.
    public var maxRelDiff: Double
    /// Fraction of positions whose most likely next token is the same.
    public var top1Agreement: Double
    /// Largest per-position `KL(softmax(reference) ‖ softmax(candidate))`, in nats.
    public var maxKL: Double
    /// `max |reference|`.
    public var referenceScale: Double
    public var positions: Int

    /// Compares `candidate` against `reference`; both must have the same shape `[positions, vocab]`.
    public static func compare(reference: Tensor, candidate: Tensor) -> LogitComparison? {
        guard reference.shape == candidate.shape, reference.shape.count == 2 else { return nil }
        let rows = reference.shape[0], vocab = reference.shape[1]
        var maxAbs = 0.0, scale = 0.0, maxKL = 0.0
        var agree = 0
        reference.data.withUnsafeBufferPointer { p in
            candidate.data.withUnsafeBufferPointer { q in
                for r in 0..<rows {
                    let pr = p.baseAddress! + r * vocab, qr = q.baseAddress! + r * vocab
                    var pMax = -Double.infinity, qMax = -Double.infinity
                    var pArg = 0, qArg = 0
                    for j in 0..<vocab {
                        let a = Double(pr[j]), b = Double(qr[j])
                        maxAbs = max(maxAbs, abs(a - b))
                        scale = max(scale, abs(a))
                        if a > pMax { pMax = a; pArg = j }
                        if b > qMax { qMax = b; qArg = j }
                    }
                    if pArg == qArg { agree += 1 }
                    // log-softmax of each row, then KL(p ‖ q) = Σ p (log p − log q).
                    var pSum = 0.0, qSum = 0.0
                    for j in 0..<vocab {
                        pSum += exp(Double(pr[j]) - pMax)
                        qSum += exp(Double(qr[j]) - qMax)
                    }
                    let pLog = pMax + log(pSum), qLog = qMax + log(qSum)
                    var kl = 0.0
                    for j in 0..<vocab {
                        let lp = Double(pr[j]) - pLog, lq = Double(qr[j]) - qLog
                        kl += exp(lp) * (lp - lq)
                    }
                    maxKL = max(maxKL, kl)
                }
            }
        }
        return LogitComparison(maxAbsDiff: maxAbs, maxRelDiff: scale > 0 ? maxAbs / scale : (maxAbs > 0 ? .infinity : 0),
                               top1Agreement: rows > 0 ? Double(agree) / Double(rows) : 1, maxKL: max(0, maxKL),
                               referenceScale: scale, positions: rows)
    }
}
