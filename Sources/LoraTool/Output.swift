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
        var data = try encoder.encode(value)
        data.append(0x0A)
        try write(data, to: STDOUT_FILENO)
    }

    /// Prints a command's result like `printJSON(_:for:)`, with its big arrays written by
    /// `JSONRecords` (same bytes, far faster): `shell` is the result with those arrays empty.
    static func printJSON<C: JSONReporting>(shell: some Encodable, records: [JSONRecords.Member], for command: C) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var text = [UInt8](try encoder.encode(Envelope(command: C.jsonName, echo: command.echo, body: shell)))
        text.append(0x0A)
        try JSONRecords.write(shell: text, arrays: records) { piece in
            try piece.withUnsafeBytes { try write($0, to: STDOUT_FILENO) }
        }
    }

    /// A failed write to stdout (full disk, closed descriptor, broken pipe with SIGPIPE ignored).
    struct WriteError: Error, CustomStringConvertible {
        let reason: String
        var description: String { "cannot write to standard output: \(reason)" }
    }

    /// Writes text to stdout, throwing on any failure instead of losing it (unlike `print`).
    static func print(_ text: String, terminator: String = "\n") throws {
        try write(Data((text + terminator).utf8), to: STDOUT_FILENO)
    }

    /// `print` of text already encoded as UTF-8, without a terminator.
    static func print(bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0, to: STDOUT_FILENO) }
    }

    /// Writes all of `data` to `descriptor`, retrying short writes and EINTR.
    static func write(_ data: Data, to descriptor: Int32) throws {
        try data.withUnsafeBytes { try write($0, to: descriptor) }
    }

    /// Writes all of `buffer` to `descriptor`, retrying short writes and EINTR.
    static func write(_ buffer: UnsafeRawBufferPointer, to descriptor: Int32) throws {
        do {
            var done = 0
            while done < buffer.count {
                let n = Glibc.write(descriptor, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw WriteError(reason: String(cString: strerror(errno)))
                }
                done += n
            }
        }
    }

    /// Writes to stderr, best effort: a closed or full stderr is ignored, never a trap.
    static func printError(_ text: String) {
        try? write(Data(text.utf8), to: STDERR_FILENO)
    }

    /// One line: newlines, carriage returns and other control characters shown escaped.
    static func oneLine(_ text: String) -> String {
        escaped(text, quotes: false)
    }

    /// Text in double quotes with backslash, quote and control characters escaped, on one line
    /// (generated text and tokens in reports).
    static func quoted(_ text: String) -> String {
        "\"" + escaped(text, quotes: true) + "\""
    }

    /// `text` with control characters escaped (`\n`, `\r`, `\t`, otherwise `\u{…}`), and with
    /// `quotes` also backslashes and double quotes.
    private static func escaped(_ text: String, quotes: Bool) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\" where quotes: out += "\\\\"
            case "\"" where quotes: out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { out += scalar.escaped(asASCII: true) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
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

    /// Values left for the process exit to reclaim (see `keepUntilExit`).
    ///
    /// `nonisolated(unsafe)` is sound: only a command's `run`, on the main thread, appends to it.
    nonisolated(unsafe) private static var kept: [Any] = []

    /// Keeps a command's large results alive until the process exits: freeing a million-tensor
    /// checkpoint and report one object at a time costs a tenth of `inspect`, and buys nothing
    /// just before `exit`.
    static func keepUntilExit(_ values: Any...) {
        kept.append(contentsOf: values)
    }

    /// Set by `--quiet`: no progress bar, no human summary, no notes.
    ///
    /// `nonisolated(unsafe)` is sound: `LoraTool.main` writes it once, on the main thread, after
    /// parsing and before the command runs or starts any thread; afterwards it is only read.
    nonisolated(unsafe) static var quiet = false

    /// Prints a human line on stdout unless `--quiet`.
    ///
    /// A failed write (full disk, closed stdout, broken pipe with SIGPIPE ignored) is never lost
    /// silently: it ends the process with exit status 2 and, best effort, an `error:` line.
    static func say(_ text: String, terminator: String = "\n") {
        guard !quiet else { return }
        emit(text + terminator)
    }

    /// `say` of text already encoded as UTF-8 (a listing of a million rows), without a terminator.
    static func say(bytes: [UInt8]) {
        guard !quiet else { return }
        do { try bytes.withUnsafeBytes { try write($0, to: STDOUT_FILENO) } } catch {
            printError("error: \(error)\n")
            Foundation.exit(2)
        }
    }

    /// Writes text to stdout; on failure reports it on stderr (best effort) and exits with status 2.
    static func emit(_ text: String) {
        do { try write(Data(text.utf8), to: STDOUT_FILENO) } catch {
            printError("error: \(error)\n")
            Foundation.exit(2)
        }
    }

    /// Prints a note (an assumption, a warning) on stderr unless `--quiet`.
    static func note(_ text: String) {
        guard !quiet else { return }
        printError("note: \(text)\n")
    }
}
