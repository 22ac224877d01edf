import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The terminal's width: stdout's window size, else `$COLUMNS`, else 80.
enum Terminal {
    static func width() -> Int {
        var size = winsize()
        if isatty(STDOUT_FILENO) != 0, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 { return columns }
        return 80
    }
}
