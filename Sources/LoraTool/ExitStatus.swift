import ArgumentParser

/// The exit statuses loratool promises to scripts (README, `--help`, docs/json.md).
///
/// 64 is the BSD `EX_USAGE` code that swift-argument-parser uses for usage errors.
enum ExitStatus: Int32, Sendable, Encodable {
    /// The command did what was asked.
    case success = 0
    /// A check ran and failed (`verify`: the merged model disagrees).
    case verificationFailed = 1
    /// An input is unreadable, malformed or refused (including an output that already exists).
    case badInput = 2
    /// An adapter or configuration that does not fit the model (shapes, modules, hyper-parameters).
    case doesNotFit = 3
    /// Writing the output failed (disk full, permission, missing directory that cannot be made).
    case outputFailure = 4
    /// The command line itself is wrong: unknown flag, missing argument, invalid option value.
    case usage = 64

    /// The `ExitCode` to leave the process with.
    var exitCode: ExitCode { ExitCode(rawValue) }

    /// The exit-status table printed at the end of `loratool --help`.
    static let helpText = """
        Exit status: 0 success, 1 verification failed, 2 bad input (unreadable, malformed, refused), \
        3 adapter or configuration does not fit the model, 4 output I/O failure, 64 usage error. \
        With --json, errors are also printed on stdout as {"error": {"kind", "message", "file", "entry"}} (docs/json.md).
        """
}
