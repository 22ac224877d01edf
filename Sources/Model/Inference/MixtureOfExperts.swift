import Foundation

/// A mixture-of-experts feed-forward: softmax router, top-k routed experts with optionally
/// renormalised weights, plus shared experts applied to every token (MiniMind2 only).
///
/// `renormalizesSingleExpert`: Qwen3-MoE and minimind-3 renormalise with `norm_topk_prob` even when
/// k = 1 (the weight becomes 1); MiniMind2 only when k > 1.
final class MoEFeedForward: @unchecked Sendable {
    /// Router weight `[experts, hidden]`.
    let router: LinearLayer
    let experts: [FeedForward]
    let sharedExperts: [FeedForward]
    let topK: Int
    let normTopkProb: Bool
    let renormalizesSingleExpert: Bool
    /// When non-nil, every call appends each row's chosen experts (ascending): `verify` uses it to
    /// tell a quantization that flips a router near-tie from a wrong merge. Set and read only by
    /// the single thread running the model (`TransformerModel.logitsRecordingRouting`).
    var routingLog: [[Int]]?

    init(router: LinearLayer, experts: [FeedForward], sharedExperts: [FeedForward], topK: Int, normTopkProb: Bool, renormalizesSingleExpert: Bool = false) {
        self.renormalizesSingleExpert = renormalizesSingleExpert
        self.router = router
        self.experts = experts
        self.sharedExperts = sharedExperts
        self.topK = topK
        self.normTopkProb = normTopkProb
    }

    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        let hidden = router.inFeatures
        let e = experts.count
        var logits = router(x, rows: rows)
        // Per token: softmax over experts, top-k, optional renormalisation.
        var assigned = [[(row: Int, weight: Float)]](repeating: [], count: e)
        logits.withUnsafeMutableBufferPointer { lg in
            for r in 0..<rows {
                let p = lg.baseAddress! + r * e
                Softmax.causalRow(p, valid: e, width: e)
                var chosen: [(Int, Float)] = []
                chosen.reserveCapacity(topK)
                var taken = [Bool](repeating: false, count: e)
                for _ in 0..<topK {
                    var best = -1
                    for j in 0..<e where !taken[j] && (best < 0 || p[j] > p[best]) { best = j }
                    taken[best] = true
                    chosen.append((best, p[best]))
                }
                var total: Float = 1
                if normTopkProb && (topK > 1 || renormalizesSingleExpert) { total = chosen.reduce(0) { $0 + $1.1 } + 1e-20 }
                for (j, w) in chosen { assigned[j].append((r, w / total)) }
                if routingLog != nil { routingLog!.append(chosen.map(\.0).sorted()) }
            }
        }
        var y = [Float](repeating: 0, count: rows * hidden)
        for (j, routes) in assigned.enumerated() where !routes.isEmpty {
            // Gather the rows routed to expert j, run it once on all of them, scatter back weighted.
            var gathered = [Float](repeating: 0, count: routes.count * hidden)
            gathered.withUnsafeMutableBufferPointer { gt in
                x.withUnsafeBufferPointer { x in
                    for (i, route) in routes.enumerated() {
                        (gt.baseAddress! + i * hidden).update(from: x.baseAddress! + route.row * hidden, count: hidden)
                    }
                }
            }
            let out = experts[j](gathered, rows: routes.count)
            y.withUnsafeMutableBufferPointer { y in
                out.withUnsafeBufferPointer { out in
                    for (i, route) in routes.enumerated() {
                        let dst = y.baseAddress! + route.row * hidden
                        let src = out.baseAddress! + i * hidden
                        for c in 0..<hidden { dst[c] += src[c] * route.weight }
                    }
                }
            }
        }
        for shared in sharedExperts {
            let s = shared(x, rows: rows)
            y.withUnsafeMutableBufferPointer { y in
                s.withUnsafeBufferPointer { s in
                    for i in 0..<y.count { y[i] += s[i] }
                }
            }
        }
        return y
    }
}
