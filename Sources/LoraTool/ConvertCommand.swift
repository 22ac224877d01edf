import ArgumentParser
import Foundation
import Model
import PthReader

/// `loratool convert IN -o OUT`: rewrite a checkpoint in another container or dtype.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert any readable checkpoint to .pth/.pt/.bin (torch zip) or .safetensors.",
        discussion: "Values are kept exactly (non-contiguous views are written contiguously); dtypes are kept unless --dtype asks otherwise."
    )

    @Argument(help: "Input checkpoint (torch zip or legacy, .safetensors, Hugging Face or PEFT directory).")
    var input: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        try MergeError.checkOutput(output.output, notOver: [input])
        let checkpoint = try Checkpoint.open(path: input)
        let rewriter = try CheckpointRewriter(source: checkpoint, outputDType: output.outputDType)
        try output.write(rewriter, label: "converting") { _ in "wrote" }
    }
}
