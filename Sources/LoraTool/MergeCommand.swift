import ArgumentParser
import Foundation
import Model
import PthReader

/// `loratool merge BASE [ADAPTER] -o OUT`: fold a LoRA adapter into the base weights.
struct MergeCommand: JSONReporting {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Fold a LoRA adapter into base weights: W' = W + scale·B·A in float32, rounded once.",
        discussion: """
        ADAPTER is a MiniMind adapter (*.lora.A.weight / *.lora.B.weight, scale 1) or a PEFT adapter \
        directory or file (scale lora_alpha/r, or lora_alpha/sqrt(r) with rsLoRA). Every adapter key must \
        fit a Linear of the base; otherwise nothing is written. DoRA adapters (use_dora) merge as PEFT \
        does: each output row of W + s·B·A is rescaled to its magnitude; embedding adapters (lora_embedding_A/B) \
        add (B·A)ᵀ; modules_to_save tensors replace the base ones. The output is written to a temporary file \
        and renamed when complete.
        """
    )

    @Argument(help: "Base checkpoint (.pth/.pt/.bin, .safetensors or a Hugging Face directory).")
    var base: String

    @Argument(help: "Adapter (.pth or PEFT directory); omit it to fold in the `.lora.` keys a LoRA-training checkpoint BASE carries (the output then holds the base keys only).")
    var adapter: String?

    @OptionGroup var output: OutputOptions

    @Option(parsing: .unconditional,
            help: ArgumentHelp("Multiply the adapter's own scale by this factor; negative values subtract (`--scale -1` undoes a merge).",
                               valueName: "factor"))
    var scale: Float = 1

    func validate() throws {
        guard scale.isFinite else { throw ValidationError("--scale \(scale): must be a finite number") }
    }

    var wantsJSON: Bool { output.json }
    var isQuiet: Bool { output.quiet }
    var echo: Echo {
        var options = output.echoedOptions
        options["scale"] = .optional(scale)
        return Echo(inputs: ["base": .string(base), "adapter": .optional(adapter)], options: options)
    }

    func run() throws {
        BLASRuntime.useSingleThread()
        StreamingMemory.reuseFreedBuffers()
        let target = try output.exportTarget
        try output.prepare(for: target, notOver: [base] + (adapter.map { [$0] } ?? []))
        let (baseCheckpoint, loaded) = try LoRAAdapter.openWithAdapter(basePath: base, adapterPath: adapter)
        try ModelInput.refuseAdapter(baseCheckpoint)
        let bound = try loaded.bind(to: baseCheckpoint)
        _ = try bound.scaled(by: scale) // DoRA and modules_to_save refuse a scale other than 1 before anything is written
        if let target {
            return try output.export(target, checkpoint: baseCheckpoint, adapter: bound, multiplier: scale, input: base, label: "merging", for: self)
        }
        let rewriter = CheckpointRewriter(source: baseCheckpoint, adapter: bound, options: try .init(multiplier: scale, outputDType: output.outputDType))
        try output.write(rewriter, label: "merging", for: self, merging: true) { "merged \($0.mergedTensors.count) adapter layers into" }
        if scale < 0 {
            UnmergeCommand.report(try UnmergeAccuracy.bound(merged: baseCheckpoint, adapter: bound.scaled(by: -scale), outputDType: try output.outputDType))
        }
    }
}
