/// Where several generations from the same prompt and seed first differ.
public enum GenerationComparison {
    /// The index (into the generated ids) of the first position where not every run has the same
    /// token; a run that ended earlier differs from one that goes on. `nil` when all agree throughout.
    public static func firstDivergence(_ runs: [[Int]]) -> Int? {
        guard let longest = runs.map(\.count).max(), runs.count > 1 else { return nil }
        for position in 0..<longest {
            let tokens = runs.map { position < $0.count ? $0[position] : nil }
            if Set(tokens.map { $0 ?? -1 }).count > 1 { return position }
        }
        return nil
    }

    /// The first divergence of every pair of runs, in order (`labels[i]` against `labels[j]`, i < j).
    public static func pairwise(_ labels: [String], _ runs: [[Int]]) -> [(first: String, second: String, index: Int?)] {
        var out: [(String, String, Int?)] = []
        for i in runs.indices {
            for j in runs.indices where j > i {
                out.append((labels[i], labels[j], firstDivergence([runs[i], runs[j]])))
            }
        }
        return out
    }
}
