import ArgumentParser
import Model
import PthReader

/// A CLI-side bound on a forward pass's memory, checked before running it.
///
/// Counts float32 buffers that grow with the sequence: the logits (`n · vocab`), the KV cache
/// (`layers · 2 · n · kv_heads · head_dim`), one layer's attention scores (`heads · n · n`, the
/// worst case of an unblocked attention) and a few activations (`8 · n · hidden`). Refuses, naming
/// the size, when that exceeds physical memory, instead of aborting on an allocation.
enum InferenceBudget {
    static func check(_ c: ResolvedModelConfiguration, tokens: Int, newTokens: Int) throws {
        func product(_ factors: [Int]) -> Int? {
            var p = 1
            for f in factors {
                let (r, o) = p.multipliedReportingOverflow(by: f)
                if o { return nil }
                p = r
            }
            return p
        }
        let n = tokens + newTokens
        let parts = [product([n, c.vocabSize]), product([c.layerCount, 2, n, c.kvHeadCount, c.headDim]),
                     product([c.headCount, n, n]), product([8, n, c.hiddenSize])]
        var total: Int? = 0
        for part in parts {
            guard let t = total, let part else { total = nil; break }
            let (s, o) = t.addingReportingOverflow(part)
            total = o ? nil : s
        }
        if let t = total { total = product([t, 4]) }
        guard let bytes = total, bytes <= ResourceLimits.memoryBytes else {
            throw ValidationError("\(n) tokens (\(tokens) given + \(newTokens) to generate) would need about \(ResourceLimits.describe(total)) for logits, KV cache and attention, more than the machine's \(ResourceLimits.describe(ResourceLimits.memoryBytes)) of memory")
        }
    }
}
