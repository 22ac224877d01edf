import ArgumentParser
import Foundation
import Model

/// `loratool combine A1 A2 ... --weights w1,w2,... --method linear|cat|svd [--rank R] -o OUT`.
struct CombineCommand: AdapterWriting {
    static let configuration = CommandConfiguration(
        commandName: "combine",
        abstract: "Combine LoRA adapters with weights, as PEFT's add_weighted_adapter does (linear, cat, svd).",
        discussion: """
        linear: A = Σ sign(wᵢsᵢ)√|wᵢsᵢ|·Aᵢ, B = Σ √|wᵢsᵢ|·Bᵢ (PEFT since its fix of issue #1155; all ranks \
        equal; an approximation). cat: stacks wᵢsᵢ·Aᵢ and Bᵢ, exactly Σ wᵢsᵢ·BᵢAᵢ at the sum of the ranks. \
        svd: the rank-R truncated SVD of Σ wᵢsᵢ·BᵢAᵢ (R default: the largest adapter rank). sᵢ is each \
        adapter's own scale; the result has scale 1. Writes a PEFT directory, or a MiniMind .pth when the \
        output name ends in .pth. DoRA and modules_to_save adapters are refused.
        """
    )

    @Argument(help: "Adapters (MiniMind .pth or PEFT directories).")
    var adapters: [String]

    @Option(parsing: .unconditional, help: ArgumentHelp("Comma-separated weights, one per adapter (negative values subtract).", valueName: "w1,w2,..."))
    var weights: String

    @Option(help: "linear, cat or svd.")
    var method: String = "svd"

    @Option(help: "Rank of the svd result (default: the largest adapter rank).")
    var rank: Int?

    @OptionGroup var output: AdapterOutputOptions

    var ownOptions: [String: JSONValue] { ["weights": .string(weights), "method": .string(method), "rank": .optional(rank)] }
    var inputs: [String: JSONValue] { ["adapters": .array(adapters.map(JSONValue.string))] }

    func parsedWeights() throws -> [Float] {
        try weights.split(separator: ",", omittingEmptySubsequences: false).map {
            guard let w = Float($0.trimmingCharacters(in: .whitespaces)), w.isFinite else {
                throw ValidationError("--weights \(weights): '\($0)' is not a finite number")
            }
            return w
        }
    }

    func validate() throws {
        guard !adapters.isEmpty else { throw ValidationError("give at least one adapter") }
        let w = try parsedWeights()
        guard w.count == adapters.count else { throw ValidationError("--weights has \(w.count) values for \(adapters.count) adapters") }
        guard CombineMethod(rawValue: method) != nil else { throw ValidationError("--method \(method): expected linear, cat or svd") }
        if let rank, rank <= 0 { throw ValidationError("--rank must be a positive integer") }
        if rank != nil && method != "svd" { throw ValidationError("--rank applies to --method svd only") }
    }

    struct Report: Encodable {
        var output: String
        var format: String
        var method: String
        var layers: Int
        var ranks: [Int]
    }

    func run() throws {
        BLASRuntime.useSingleThread()
        try output.prepare(notOver: adapters)
        let loaded = try adapters.map { try LoRAAdapter.load(path: $0) }
        let layers = try AdapterCombiner.combine(loaded, weights: try parsedWeights(), method: CombineMethod(rawValue: method)!, rank: rank)
        if output.force { try? FileManager.default.removeItem(atPath: output.output) }
        let writer = AdapterWriter(layers: layers, baseModel: loaded.first?.config?.baseModelNameOrPath)
        let format = try writer.write(to: output.output)
        let effective = adapters.count == 1 ? "linear" : method
        let ranks = Array(Set(layers.map(\.rank))).sorted()
        if output.json {
            try Output.printJSON(Report(output: output.output, format: format.rawValue, method: effective, layers: layers.count, ranks: ranks), for: self)
        } else {
            Output.say("combined \(adapters.count) adapters (\(effective)) into \(output.output) (\(format.rawValue), \(layers.count) layers, rank \(ranks.map(String.init).joined(separator: "/")))")
        }
    }
}
