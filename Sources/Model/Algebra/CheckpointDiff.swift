import Foundation
import PthReader

/// Tensor-by-tensor comparison of two checkpoints of one model: what a fine-tune touched, and how
/// low-rank each Linear's change is.
public struct CheckpointDiff: Codable, Sendable {
    /// One tensor's comparison (names relative to the model state dict).
    public struct Entry: Codable, Sendable {
        public enum Status: String, Codable, Sendable { case equal, changed, onlyInA = "only_in_a", onlyInB = "only_in_b", shapeDiffers = "shape_differs" }
        public var name: String
        public var status: Status
        public var shape: [Int]?
        public var maxAbsDiff: Float?
        /// ‖B − A‖_F / ‖A‖_F (infinity when A is all zero and B is not).
        public var relativeFrobenius: Double?
        /// For a changed Linear weight: singular values of ΔW above `tolerance·σ_max`.
        public var numericalRank: Int?
        /// For a changed Linear weight: the smallest rank keeping 99% of ‖ΔW‖²_F.
        public var rank99: Int?

        enum CodingKeys: String, CodingKey {
            case name, status, shape, maxAbsDiff = "max_abs_diff", relativeFrobenius = "relative_frobenius", numericalRank = "numerical_rank", rank99 = "rank_99"
        }
    }

    public var a: String
    public var b: String
    public var tolerance: Double
    public var tensors: [Entry]

    public var changed: Int { tensors.filter { $0.status == .changed }.count }
    public var equal: Int { tensors.filter { $0.status == .equal }.count }

    /// Compares every tensor of `a` and `b`, one at a time; `tolerance` is relative to the largest singular value.
    public static func compare(_ a: Checkpoint, _ b: Checkpoint, tolerance: Double = 1e-3, ranks: Bool = true,
                               progress: ((Int, Int) -> Void)? = nil) throws -> CheckpointDiff {
        let left = LoRAExtractor.relativeTensors(a), right = LoRAExtractor.relativeTensors(b)
        let rightByName = Dictionary(right.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        let leftNames = Set(left.map(\.name))
        var entries: [Entry] = []
        for (i, l) in left.enumerated() {
            progress?(i, left.count)
            guard let r = rightByName[l.name] else {
                entries.append(Entry(name: l.name, status: .onlyInA, shape: l.entry.shape)); continue
            }
            guard r.entry.shape == l.entry.shape else {
                entries.append(Entry(name: l.name, status: .shapeDiffers, shape: l.entry.shape)); continue
            }
            guard l.entry.dtype.isFloatingPoint && r.entry.dtype.isFloatingPoint else {
                let same = try a.bytes(of: l.entry) == b.bytes(of: r.entry) && l.entry.dtype == r.entry.dtype
                entries.append(Entry(name: l.name, status: same ? .equal : .changed, shape: l.entry.shape)); continue
            }
            var delta = try b.floats(of: r.entry)
            let base = try a.floats(of: l.entry)
            var maxAbs: Float = 0, norm = 0.0, baseNorm = 0.0
            for k in delta.indices {
                delta[k] -= base[k]
                maxAbs = max(maxAbs, abs(delta[k]))
                norm += Double(delta[k]) * Double(delta[k])
                baseNorm += Double(base[k]) * Double(base[k])
            }
            if maxAbs == 0 && !delta.contains(where: \.isNaN) {
                entries.append(Entry(name: l.name, status: .equal, shape: l.entry.shape, maxAbsDiff: 0, relativeFrobenius: 0)); continue
            }
            var e = Entry(name: l.name, status: .changed, shape: l.entry.shape, maxAbsDiff: maxAbs,
                          relativeFrobenius: baseNorm > 0 ? (norm / baseNorm).squareRoot() : .infinity)
            if ranks, l.module.kind.isLinear, l.local == "weight", l.entry.shape.count == 2, maxAbs.isFinite {
                let s = try SVD.exact(delta, rows: l.entry.shape[0], cols: l.entry.shape[1], context: l.name).s
                let top = Double(s.first ?? 0)
                e.numericalRank = s.filter { Double($0) > tolerance * top }.count
                let total = s.reduce(0.0) { $0 + Double($1) * Double($1) }
                var kept = 0.0, k = 0
                while k < s.count && kept < 0.99 * total { kept += Double(s[k]) * Double(s[k]); k += 1 }
                e.rank99 = k
            }
            entries.append(e)
        }
        for r in right where !leftNames.contains(r.name) {
            entries.append(Entry(name: r.name, status: .onlyInB, shape: r.entry.shape))
        }
        return CheckpointDiff(a: a.path, b: b.path, tolerance: tolerance, tensors: entries)
    }
}
