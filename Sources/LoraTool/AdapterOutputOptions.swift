import ArgumentParser
import Foundation
import Model

/// Options of the commands that write an adapter (`combine`, `extract`, adapter `convert`).
struct AdapterOutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Output adapter: a PEFT directory, or a MiniMind file when the name ends in .pth/.pt/.bin.")
    var output: String

    @Flag(help: "Replace an existing output.")
    var force = false

    @Flag(help: "Print a JSON summary on stdout.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print nothing on success (errors still go to stderr).")
    var quiet = false

    /// The format the output's name asks for.
    var format: AdapterWriter.Format { AdapterWriter.Format(path: output) }

    var echoed: [String: JSONValue] { ["output": .string(output), "force": .bool(force), "format": .string(format.rawValue)] }

    /// Checks the output before any work: not an input, not existing unless `--force`.
    func prepare(notOver inputs: [String]) throws {
        try MergeError.checkOutput(output, notOver: inputs)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) else { return }
        if !force { throw CLIError.outputExists(path: output) }
        if format == .minimind && isDirectory.boolValue { throw CLIError.outputIsDirectory(path: output) }
    }
}

/// A command that writes an adapter through `AdapterOutputOptions` (`combine`, `extract`): its
/// `--json` and `--quiet` are the group's, and its echoed options start from the group's.
protocol AdapterWriting: JSONReporting {
    var output: AdapterOutputOptions { get }
    /// The command's own options to echo beside the output group's.
    var ownOptions: [String: JSONValue] { get }
    /// The inputs to echo.
    var inputs: [String: JSONValue] { get }
}

extension AdapterWriting {
    var wantsJSON: Bool { output.json }
    var isQuiet: Bool { output.quiet }
    var echo: Echo { Echo(inputs: inputs, options: output.echoed.merging(ownOptions) { _, own in own }) }
}
