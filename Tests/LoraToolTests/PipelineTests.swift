import Foundation
import Testing
import TestSupport

/// Tests/Shell/pipeline.sh: a shell script converting a directory of checkpoints, merging,
/// verifying, branching on exit statuses and reading --json with jq (installed by scripts/install_deps.sh).
@Suite struct PipelineTests {
    @Test func shellPipelineBranchesOnExitStatusesAndReadsJSONWithJq() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Fixtures.packageRoot.appendingPathComponent("Tests/Shell/pipeline.sh").path, CommandRunner.binary.path,
                             Fixtures.shared.path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains(" passed, 0 failed") && !text.contains("FAIL"), "\(text)")
    }
}
