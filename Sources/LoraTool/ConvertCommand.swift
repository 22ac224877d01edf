import ArgumentParser
import Foundation
import Model
import PthReader

/// `loratool convert IN -o OUT`: rewrite a checkpoint in another container or dtype.
struct ConvertCommand: JSONReporting {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert any readable checkpoint to .pth/.pt/.bin (torch zip) or .safetensors; adapters between MiniMind and PEFT.",
        discussion: "Values are kept exactly (non-contiguous views are written contiguously); dtypes are kept unless --dtype asks otherwise."
    )

    @Argument(help: "Input checkpoint (torch zip or legacy, .safetensors, Hugging Face or PEFT directory).")
    var input: String

    @OptionGroup var output: OutputOptions

    @Option(help: ArgumentHelp("Write only this top-level dict (e.g. 'model' of a training checkpoint), without its prefix.",
                               valueName: "key"))
    var select: String?

    @Option(help: "Adapter conversion to PEFT: base_model_name_or_path for adapter_config.json.")
    var baseModel: String?

    var wantsJSON: Bool { output.json }
    var isQuiet: Bool { output.quiet }
    var echo: Echo {
        var options = output.echoedOptions
        options["select"] = .optional(select)
        return Echo(inputs: ["input": .string(input)], options: options)
    }

    func run() throws {
        StreamingMemory.reuseFreedBuffers()
        if let target = adapterTarget { return try convertAdapter(to: target) }
        if let target = try output.exportTarget {
            guard select == nil else { throw ValidationError("--select applies to checkpoint files, not to --format hf or .gguf") }
            try output.prepare(for: target, notOver: [input])
            let checkpoint = try Checkpoint.open(path: input)
            return try output.export(target, checkpoint: checkpoint, adapter: nil, multiplier: 1, input: input, label: "converting", for: self)
        }
        try output.prepare(notOver: [input])
        let checkpoint = try Checkpoint.open(path: input)
        let rewriter = CheckpointRewriter(source: checkpoint, options: try .init(outputDType: output.outputDType, selection: select))
        try output.write(rewriter, label: "converting", for: self, merging: false) { _ in "wrote" }
    }
}
