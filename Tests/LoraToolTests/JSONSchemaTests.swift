import Foundation
import Testing
import TestSupport

/// Every command's `--json`, success and error, against the schemas in docs/json.md, checked by
/// scripts/check_json.py with Python's `jsonschema` (pinned in scripts/ensure_venv.sh).
@Suite struct JSONSchemaTests {
    static let python = ProcessInfo.processInfo.environment["LORATOOL_PYTHON"]

    @Test(.enabled(if: python != nil, "set LORATOOL_PYTHON to the venv of scripts/ensure_venv.sh (make test does)"))
    func everyCommandsJSONMatchesItsSchema() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(Self.python))
        process.arguments = [Fixtures.packageRoot.appendingPathComponent("scripts/check_json.py").path, CommandRunner.binary.path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains(" passed, 0 failed"), "\(text)")
    }
}
