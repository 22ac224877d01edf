import Foundation

extension TransformerModel {
    /// Logits of `tokens` and, for each MoE layer, the experts chosen at each position (ascending);
    /// no routes for a dense model.
    func logitsRecordingRouting(for tokens: [Int]) throws -> (Tensor, [[[Int]]]) {
        let mixtures = blocks.compactMap { block -> MoEFeedForward? in
            if case .mixture(let m) = block.feedForward { return m }
            return nil
        }
        for m in mixtures { m.routingLog = [] }
        defer { for m in mixtures { m.routingLog = nil } }
        let logits = try self.logits(for: tokens)
        return (logits, mixtures.map { $0.routingLog ?? [] })
    }
}

extension Tensor {
    /// The rows `indices` of a `[rows, columns]` tensor.
    func rows(_ indices: [Int]) -> Tensor {
        guard shape.count == 2, indices != Array(0..<shape[0]) else { return self }
        let columns = shape[1]
        var out: [Float] = []
        out.reserveCapacity(indices.count * columns)
        for i in indices { out += data[(i * columns)..<((i + 1) * columns)] }
        return Tensor(shape: [indices.count, columns], data: out)
    }
}
