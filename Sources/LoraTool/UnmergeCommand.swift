import ArgumentParser
import Foundation
import Model
import PthReader

/// `loratool unmerge MERGED ADAPTER -o BASE`: take a merged LoRA adapter back out of the weights.
struct UnmergeCommand: JSONReporting {
    static let configuration = CommandConfiguration(
        commandName: "unmerge",
        abstract: "Remove a merged LoRA adapter from weights: W = W' − scale·B·A in float32, rounded once.",
        discussion: """
        The same as `merge MERGED ADAPTER --scale -1`. Reports on stderr how far the result can be from \
        the exact base: the merged weights were rounded once into their dtype and the result is rounded \
        again, so each element is within ½ ulp(merged) + ½ ulp(result) of the base (one step of the \
        dtype unless the adapter moved the weight into a coarser binade). DoRA layers and modules_to_save \
        tensors cannot be taken out of a merged weight and are refused.
        """
    )

    @Argument(help: "Checkpoint the adapter was merged into.")
    var merged: String

    @Argument(help: "The adapter that was merged (.pth or PEFT directory).")
    var adapter: String

    @OptionGroup var output: OutputOptions

    var wantsJSON: Bool { output.json }
    var isQuiet: Bool { output.quiet }
    var echo: Echo {
        Echo(inputs: ["merged": .string(merged), "adapter": .string(adapter)], options: output.echoedOptions)
    }

    func run() throws {
        BLASRuntime.useSingleThread()
        StreamingMemory.reuseFreedBuffers()
        try output.prepare(notOver: [merged, adapter])
        let checkpoint = try ModelInput.open(merged)
        let bound = try LoRAAdapter.load(path: adapter).bind(to: checkpoint)
        _ = try bound.scaled(by: -1) // refuses DoRA / modules_to_save before anything is written
        let rewriter = CheckpointRewriter(source: checkpoint, adapter: bound, options: try .init(multiplier: -1, outputDType: output.outputDType))
        try output.write(rewriter, label: "unmerging", for: self, merging: true) { "removed \($0.mergedTensors.count) adapter layers into" }
        let accuracy = try UnmergeAccuracy.bound(merged: checkpoint, adapter: bound, outputDType: try output.outputDType)
        Self.report(accuracy)
    }

    /// One stderr line on how close the restored weights are to the exact base.
    static func report(_ a: UnmergeAccuracy) {
        let line = String(format: "note: unmerged weights are within %.3g step of %@ of the exact base at the merged magnitude (½ ulp of the merged value + ½ ulp of the result); in the result's own ulp up to %.3g steps (%d of %d elements beyond one, where the adapter's delta dwarfs the base weight)",
                          a.maxSteps, a.dtype, a.maxStepsOfResult, a.elementsBeyondOneStep, a.elements)
        Output.printError(line + "\n")
    }
}
