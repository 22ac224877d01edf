import ArgumentParser
import Foundation
import Model
import PthReader

/// `loratool diff A B [--json]`: which tensors differ, by how much, and how low-rank the change is.
struct DiffCommand: JSONReporting {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two checkpoints tensor by tensor: equal, changed or missing; max |Δ|; relative Frobenius norm; numerical rank of changed Linears.",
        discussion: """
        Tensors are matched by their name relative to the model state dict. For a changed Linear weight \
        the singular values of ΔW give its numerical rank (σ > tolerance·σ_max) and the smallest rank \
        keeping 99% of ‖ΔW‖²_F: how well a rank-r LoRA (loratool extract) could capture the change. \
        Exit status 0 whether or not they differ.
        """
    )

    @Argument(help: "First checkpoint (e.g. the base).")
    var a: String

    @Argument(help: "Second checkpoint (e.g. the fine-tune).")
    var b: String

    @Option(help: "Relative singular value tolerance for the numerical rank.")
    var tolerance: Double = 1e-3

    @Flag(help: "Skip the SVDs (no ranks; faster on big models).")
    var noRanks = false

    @Flag(help: "List equal tensors too.")
    var all = false

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    var wantsJSON: Bool { json }
    var echo: Echo {
        Echo(inputs: ["a": .string(a), "b": .string(b)], options: ["tolerance": .double(tolerance), "no_ranks": .bool(noRanks)])
    }

    func validate() throws {
        guard tolerance > 0 && tolerance < 1 else { throw ValidationError("--tolerance must be in (0, 1)") }
    }

    func run() throws {
        BLASRuntime.useSingleThread()
        MemoryRuntime.returnLargeBuffersToSystem() // one layer at a time, each buffer returned on free
        let diff = try CheckpointDiff.compare(try Checkpoint.open(path: a), try Checkpoint.open(path: b), tolerance: tolerance, ranks: !noRanks)
        if json {
            try Output.printJSON(diff, for: self)
            return
        }
        var text = ""
        for e in diff.tensors where all || e.status != .equal {
            let shape = e.shape.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" } ?? ""
            var line = "\(e.status.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) \(e.name) \(shape)"
            if let m = e.maxAbsDiff, e.status == .changed { line += String(format: "  max|Δ| %.3g  rel ‖Δ‖ %.3g", m, e.relativeFrobenius ?? 0) }
            if let r = e.numericalRank, let r99 = e.rank99 { line += "  rank \(r) (tol \(tolerance)), 99% energy at rank \(r99)" }
            text += line + "\n"
        }
        text += "\(diff.tensors.count) tensors: \(diff.changed) changed, \(diff.equal) equal, \(diff.tensors.count - diff.changed - diff.equal) missing or reshaped"
        Output.say(text)
    }
}
