import ArgumentParser
import PthReader
import Foundation

@main
struct LoraTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loratool",
        abstract: "Inspect, merge, convert and verify LoRA adapters on PyTorch checkpoints.",
        discussion: """
            Reads torch .pth/.pt/.bin (zip and legacy), safetensors, Hugging Face and PEFT directories without \
            executing any pickle code. Documentation: docs/ in the source tree, installed by `make install` to \
            PREFIX/share/doc/loratool (json.md describes every --json object).

            \(ExitStatus.helpText)
            """,
        version: "0.1.0",
        subcommands: [InspectCommand.self, MergeCommand.self, ConvertCommand.self, TargetsCommand.self, LogitsCommand.self, VerifyCommand.self, UnmergeCommand.self, GenerateCommand.self, CombineCommand.self, ExtractCommand.self, DiffCommand.self]
    )

    /// Parses and runs the command; every failure becomes one `error:` line on stderr (and, with
    /// `--json`, an error object on stdout) and the exit status `ErrorReport` assigns it.
    ///
    /// Help, `--version` and explicit exit codes (verify's 1 for "models disagree") pass through.
    static func main() {
        // libzip converts every record's DOS time with `mktime`, and glibc's `mktime` stats
        // /etc/localtime on each call while TZ is unset: 1M syscalls for a 1M-tensor torch zip.
        // Naming the same default zone explicitly makes glibc read it once (nothing else changes).
        setenv("TZ", ":/etc/localtime", 0)
        let arguments = Array(CommandLine.arguments.dropFirst())
        let command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            let name = arguments.first { a in configuration.subcommands.contains { $0.configuration.commandName == a } }
            fail(.usage(message(for: error), command: name), json: arguments.contains("--json"), command: name ?? "loratool", echo: nil)
        }
        let reporting = command as? any JSONReporting
        Output.quiet = reporting?.isQuiet ?? false
        // An interrupted write removes its temporary output before exiting (PthReader's TemporaryOutputs).
        TemporaryOutputs.removeOnInterrupt()
        do {
            var runnable = command
            try runnable.run()
        } catch let code as ExitCode {
            exit(withError: code)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            TemporaryOutputs.yieldToInterrupt()
            var report = ErrorReport(error)
            if error is ValidationError, let name = reporting.map({ type(of: $0).jsonName }) {
                report = ErrorReport.usage(message(for: error), command: name)
            }
            fail(report, json: reporting?.wantsJSON ?? false, command: reporting.map { type(of: $0).jsonName } ?? "loratool", echo: reporting?.echo)
        }
    }

    /// Prints `report` (one `error:` line on stderr, and the JSON object on stdout with `--json`) and exits.
    static func fail(_ report: ErrorReport, json: Bool, command: String, echo: Echo?) -> Never {
        if json { try? Output.printJSON(Envelope(command: command, echo: echo, body: ErrorBody(error: report))) }
        Output.printError("error: \(Output.oneLine(report.message.trimmingCharacters(in: .whitespacesAndNewlines)))\n")
        Foundation.exit(report.status.rawValue)
    }
}
