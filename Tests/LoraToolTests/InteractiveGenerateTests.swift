import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `loratool` run on a pseudo-terminal, driven as a person would: type a line, read the screen.
final class TerminalSession {
    let master: Int32
    let process = Process()
    let errors = Pipe()
    /// Everything the program has shown, with the terminal's `\r\n` turned back into `\n`.
    private(set) var screen = ""

    init(_ arguments: [String]) throws {
        var master: Int32 = -1, slave: Int32 = -1
        guard openpty(&master, &slave, nil, nil, nil) == 0 else { throw CocoaError(.fileNoSuchFile) }
        self.master = master
        let terminal = FileHandle(fileDescriptor: slave, closeOnDealloc: true)
        process.executableURL = CommandRunner.binary
        process.arguments = arguments
        process.currentDirectoryURL = Fixtures.packageRoot
        process.standardInput = terminal
        process.standardOutput = terminal
        process.standardError = errors
        try process.run()
        try terminal.close() // only the child holds the terminal now
    }

    deinit {
        if process.isRunning { process.terminate() }
        close(master)
    }

    /// Types `text` on the keyboard.
    func type(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
    }

    /// Reads the screen until `marker` appears after `from` characters, or `seconds` pass; true if it appeared.
    func waitFor(_ marker: String, after from: Int, seconds: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        var pending: [UInt8] = []
        while Date() < deadline {
            if screen.count >= from, String(screen.dropFirst(from)).contains(marker) { return true }
            var poller = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 200) > 0 else { continue }
            let n = read(master, &buffer, buffer.count)
            if n <= 0 { return String(screen.dropFirst(from)).contains(marker) }
            pending += buffer[0..<n]
            // Append only whole UTF-8 characters (a read may end inside one).
            var cut = pending.count
            while cut > 0 && pending.count - cut < 3 && pending[cut - 1] & 0xC0 == 0x80 { cut -= 1 }
            if cut > 0 && pending[cut - 1] >= 0xC0 { cut -= 1 } else { cut = pending.count }
            screen += String(decoding: pending[..<cut], as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
            pending.removeFirst(cut)
        }
        return false
    }

    /// Waits for the program to exit; its status, or nil on timeout.
    func waitForExit(seconds: Double = 30) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { _ = waitFor("\u{0}", after: screen.count, seconds: 0.2) }
        return process.isRunning ? nil : process.terminationStatus
    }
}

@Suite("generate --interactive on a terminal")
struct InteractiveGenerateTests {
    @Test("Multi-turn chat keeps history, /reset clears it, Ctrl-D exits")
    func chat() throws {
        let c = try #require(try GenerateTruth.load().first { $0.model.hasPrefix("hf_tiny_peft") })
        let reply = try #require(c.runs.first { $0.label == "base" }).text
        let session = try TerminalSession(["generate", Fixtures.sharedPath(c.model), "--interactive", "--temperature", "0",
                                           "--max-tokens", String(c.max_tokens), "--tokenizer", Fixtures.sharedPath("tokenizer.json")])
        #expect(session.waitFor("> ", after: 0))

        // Turn 1: the reply on screen is the reference greedy reply to this prompt.
        var mark = session.screen.count
        session.type(c.prompt + "\n")
        #expect(session.waitFor("\n> ", after: mark))
        #expect(String(session.screen.dropFirst(mark)) == "\(c.prompt)\n\(reply)\n> ")

        // Turn 2 carries turn 1 in its prompt; after /reset, turn 3 is turn 1 again.
        mark = session.screen.count
        session.type(c.prompt + "\n")
        #expect(session.waitFor("\n> ", after: mark))
        mark = session.screen.count
        session.type("/reset\n")
        #expect(session.waitFor("(history cleared)\n> ", after: mark))
        mark = session.screen.count
        session.type(c.prompt + "\n")
        #expect(session.waitFor("\n> ", after: mark))
        #expect(String(session.screen.dropFirst(mark)) == "\(c.prompt)\n\(reply)\n> ")

        session.type("\u{4}") // Ctrl-D on an empty line
        #expect(session.waitForExit() == 0)
        let log = String(decoding: session.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let prefills = log.split(separator: "\n").compactMap { line -> Int? in
            guard let range = line.range(of: "prefill ") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        #expect(prefills.count == 3)
        #expect(prefills.first == c.prompt_ids.count)
        #expect(prefills.count == 3 && prefills[1] > prefills[0] + c.prompt_ids.count - 1)
        #expect(prefills.last == c.prompt_ids.count)
    }
}
