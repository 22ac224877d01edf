import ArgumentParser
import Foundation
import Model
import PthReader

/// `loratool convert IN -o OUT`: rewrite a checkpoint in another container or dtype.
struct ConvertCommand: JSONReporting {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert any readable checkpoint to .pth/.pt/.bin (torch zip) or .safetensors.",
        discussion: "Values are kept exactly (non-contiguous views are written contiguously); dtypes are kept unless --dtype asks otherwise."
    )

    @Argument(help: "Input checkpoint (torch zip or legacy, .safetensors, Hugging Face or PEFT directory).")
    var input: String

    @OptionGroup var output: OutputOptions

    var wantsJSON: Bool { output.json }
    var isQuiet: Bool { output.quiet }
    var echo: Echo { Echo(inputs: ["input": .string(input)], options: output.echoedOptions) }

    func run() throws {
        try output.prepare(notOver: [input])
        let checkpoint = try Checkpoint.open(path: input)
        let rewriter = try CheckpointRewriter(source: checkpoint, outputDType: output.outputDType)
        try output.write(rewriter, label: "converting", for: self, merging: false) { _ in "wrote" }
    }
}
