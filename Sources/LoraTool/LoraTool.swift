import ArgumentParser
import Foundation

@main
struct LoraTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loratool",
        abstract: "Inspect, merge, convert and verify LoRA adapters on PyTorch checkpoints.",
        discussion: "Reads torch .pth/.pt/.bin (zip and legacy), safetensors, Hugging Face and PEFT directories without executing any pickle code.",
        version: "0.1.0",
        subcommands: [InspectCommand.self, MergeCommand.self, ConvertCommand.self, TargetsCommand.self, LogitsCommand.self, VerifyCommand.self]
    )

    /// Runs the command; every failure becomes one `error:` line on stderr and exit status 2.
    ///
    /// Help and explicit exit codes (verify's 1 for "models disagree") pass through unchanged.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            exit(withError: code)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            let message = LoraTool.message(for: error)
            let line = message.split(separator: "\n").first.map(String.init) ?? message
            FileHandle.standardError.write(Data("error: \(line)\n".utf8))
            Foundation.exit(2)
        }
    }
}
