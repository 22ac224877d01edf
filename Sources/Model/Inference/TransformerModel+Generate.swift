extension TransformerModel {
    /// Greedy decoding with the KV cache: prefills `prompt`, then feeds back the most likely token
    /// until `newTokens` tokens are generated (the last one is not fed back).
    ///
    /// Returns the generated ids and the logits `[prompt.count + newTokens − 1, vocab]` of every fed
    /// token, which equal `logits(for: prompt + generated.dropLast())`.
    public func generateGreedy(prompt: [Int], newTokens: Int) throws -> (generated: [Int], logits: Tensor) {
        let vocab = configuration.vocabSize
        let cache = makeCache()
        var logits = try forward(prompt, cache: cache).data
        guard newTokens > 0 else { return ([], Tensor(shape: [prompt.count, vocab], data: logits)) }
        logits.reserveCapacity((prompt.count + newTokens - 1) * vocab)
        var generated: [Int] = []
        generated.reserveCapacity(newTokens)
        while true {
            let next = Self.argmax(logits, row: logits.count / vocab - 1, width: vocab)
            generated.append(next)
            if generated.count == newTokens { break }
            logits += try forward([next], cache: cache).data
        }
        return (generated, Tensor(shape: [logits.count / vocab, vocab], data: logits))
    }

    /// Index of the largest value in one row (the first on ties, like `torch.argmax`).
    static func argmax(_ data: [Float], row: Int, width: Int) -> Int {
        data.withUnsafeBufferPointer { d in
            let base = d.baseAddress! + row * width
            var best = 0
            for j in 1..<width where base[j] > base[best] { best = j }
            return best
        }
    }
}
