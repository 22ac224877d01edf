import Foundation

/// Output helpers shared by the subcommands: JSON on stdout, number formatting.
enum Output {
    /// Prints a command's result inside the JSON envelope (`schema_version`, `command`, echoed
    /// inputs and options) on stdout.
    static func printJSON<C: JSONReporting>(_ body: some Encodable, for command: C) throws {
        try printJSON(Envelope(command: C.jsonName, echo: command.echo, body: body))
    }

    /// Prints a value as pretty, key-sorted JSON on stdout.
    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    /// `25830912` → `25,830,912`.
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// `25830912` → `25.83M`.
    static func abbreviated(_ n: Int) -> String {
        let v = Double(n)
        if v >= 1e9 { return String(format: "%.2fB", v / 1e9) }
        if v >= 1e6 { return String(format: "%.2fM", v / 1e6) }
        if v >= 1e3 { return String(format: "%.2fK", v / 1e3) }
        return String(n)
    }

    /// `1834677` → `1.75 MiB`.
    static func byteSize(_ n: Int) -> String {
        let v = Double(n)
        if n >= 1 << 30 { return String(format: "%.2f GiB", v / Double(1 << 30)) }
        if n >= 1 << 20 { return String(format: "%.2f MiB", v / Double(1 << 20)) }
        if n >= 1 << 10 { return String(format: "%.2f KiB", v / Double(1 << 10)) }
        return "\(n) B"
    }

    /// Set by `--quiet`: no progress bar, no human summary, no notes.
    ///
    /// `nonisolated(unsafe)` is sound: `LoraTool.main` writes it once, on the main thread, after
    /// parsing and before the command runs or starts any thread; afterwards it is only read.
    nonisolated(unsafe) static var quiet = false

    /// Prints a human line on stdout unless `--quiet`.
    static func say(_ text: String, terminator: String = "\n") {
        guard !quiet else { return }
        print(text, terminator: terminator)
    }

    /// Prints a note (an assumption, a warning) on stderr unless `--quiet`.
    static func note(_ text: String) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data("note: \(text)\n".utf8))
    }
}
