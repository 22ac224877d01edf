import ArgumentParser
import Foundation
import Model
import PthReader

/// `loratool extract BASE TUNED (--rank R | --energy E) -o ADAPTER`: a LoRA from a full fine-tune.
struct ExtractCommand: AdapterWriting {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extract a LoRA adapter from a full fine-tune: truncated SVD of W_tuned − W_base per changed Linear.",
        discussion: """
        Streams one tensor at a time. For each Linear weight that changed, B = U_r·√S_r and A = √S_r·V_rᵀ \
        (scale 1) from LAPACK sgesdd (exact) or a randomized SVD with power iterations (--svd auto picks it \
        for matrices above 1024 when 4·rank fits). --energy E keeps, per layer, the smallest rank whose \
        singular values hold E of ‖ΔW‖²_F (exact SVD). Reports per layer the relative error \
        ‖ΔW − B·A‖_F / ‖ΔW‖_F and the energy kept. Changed tensors that are not Linear weights (norms, \
        embeddings) go to modules_to_save, or with --linear-only are reported and left out. Writes a PEFT \
        directory, or a MiniMind .pth when the output name ends in .pth.
        """
    )

    @Argument(help: "Base checkpoint.")
    var base: String

    @Argument(help: "Fine-tuned checkpoint with the same tensors.")
    var tuned: String

    @Option(help: "Rank of every extracted layer.")
    var rank: Int?

    @Option(help: "Fraction of each layer's ‖ΔW‖²_F to keep (0 < E ≤ 1), choosing the rank per layer.")
    var energy: Double?

    @Option(help: "SVD: auto, exact or randomized.")
    var svd: String = "auto"

    @Flag(help: "Report changed non-Linear tensors and leave them out instead of saving them whole.")
    var linearOnly = false

    @OptionGroup var output: AdapterOutputOptions

    var ownOptions: [String: JSONValue] { ["rank": .optional(rank), "energy": .optional(energy), "svd": .string(svd), "linear_only": .bool(linearOnly)] }
    var inputs: [String: JSONValue] { ["base": .string(base), "tuned": .string(tuned)] }

    func validate() throws {
        guard (rank == nil) != (energy == nil) else { throw ValidationError("give exactly one of --rank R and --energy E") }
        if let rank, rank <= 0 { throw ValidationError("--rank must be a positive integer") }
        if let energy, !(energy > 0 && energy <= 1) { throw ValidationError("--energy must be in (0, 1]") }
        guard svd == "auto" || SVDMethod(rawValue: svd) != nil else { throw ValidationError("--svd \(svd): expected auto, exact or randomized") }
        if energy != nil && svd == "randomized" { throw ValidationError("--energy needs every singular value: use --svd exact or auto") }
    }

    struct Report: Encodable {
        var output: String
        var format: String
        var layers: [ExtractedLayer]
        var otherChanged: [ChangedTensor]
        var unchangedTensors: Int
        var seconds: Double

        enum CodingKeys: String, CodingKey {
            case output, format, layers, otherChanged = "other_changed", unchangedTensors = "unchanged_tensors", seconds
        }
    }

    func run() throws {
        BLASRuntime.useSingleThread()
        MemoryRuntime.returnLargeBuffersToSystem() // one layer at a time, each buffer returned on free
        try output.prepare(notOver: [base, tuned])
        let start = Date()
        let baseCheckpoint = try Checkpoint.open(path: base)
        let tunedCheckpoint = try Checkpoint.open(path: tuned)
        var options = ExtractionOptions(rule: rank.map { .rank($0) } ?? .energy(energy!), method: SVDMethod(rawValue: svd), linearOnly: linearOnly)
        options.linearOnly = linearOnly
        let bar = ProgressBar(label: "extracting")
        let extraction = try LoRAExtractor.extract(base: baseCheckpoint, tuned: tunedCheckpoint, options: options) { _, done, total in
            bar.update(done: done, total: total)
        }
        bar.finish()
        if output.force { try? FileManager.default.removeItem(atPath: output.output) }
        let format = try extraction.writer.write(to: output.output)
        let seconds = Date().timeIntervalSince(start)
        if output.json {
            try Output.printJSON(Report(output: output.output, format: format.rawValue, layers: extraction.layers, otherChanged: extraction.others,
                                        unchangedTensors: extraction.unchanged, seconds: seconds), for: self)
            return
        }
        var text = String(format: "%-48@ %12@ %5@ %10@ %8@ %10@\n", "layer" as NSString, "shape" as NSString, "rank" as NSString, "rel.error" as NSString, "energy" as NSString, "svd" as NSString)
        for l in extraction.layers {
            text += String(format: "%-48@ %12@ %5d %10.4g %8.4f %10@\n", l.module as NSString, "\(l.shape[0])x\(l.shape[1])" as NSString, l.rank, l.relativeError, l.energy, l.method.rawValue as NSString)
        }
        for o in extraction.others {
            text += "\(o.tensor): changed (max |Δ| \(String(format: "%.3g", o.maxAbsDiff))), not a Linear weight: \(o.action == "skipped" ? "skipped (--linear-only)" : "saved whole (modules_to_save)")\n"
        }
        text += "extracted \(extraction.layers.count) layers into \(output.output) (\(format.rawValue)); \(extraction.unchanged) tensors unchanged; \(String(format: "%.2f", seconds)) s"
        Output.say(text)
    }
}
