import Foundation
import Testing
import TestSupport

/// `inspect`, `inspect --json` and `targets --json` of a file with many tensors, end to end: the
/// text listing once rebuilt its whole output per row (quadratic), so a return to that shows as a
/// test that does not finish. Not timed; release figures for 1M tensors are in
/// docs/hostile-input.md ("Many tensors").
@Suite struct ManyTensorsCommandTests {
    @Test func thirtyThousandTensorsAreListedInFull() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = 30_000
        let path = dir.appendingPathComponent("flat.safetensors").path
        try Data(Fixtures.safetensors(count: n) { "layers.\($0).weight" }).write(to: URL(fileURLWithPath: path))

        let text = try CommandRunner.run(["inspect", path])
        #expect(text.status == 0)
        let rows = text.stdout.split(separator: "\n").filter { $0.hasPrefix("  layers.") }
        #expect(rows.count == n)
        #expect(rows.last?.hasPrefix("  layers.\(n - 1)") == true)

        let json = try CommandRunner.run(["inspect", "--json", path])
        #expect(json.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((object?["tensors"] as? [Any])?.count == n)
        #expect((object?["modules"] as? [Any])?.count == n + 1)

        let targets = try CommandRunner.run(["targets", "--json", path])
        #expect(targets.status == 0)
        let picked = try JSONSerialization.jsonObject(with: Data(targets.stdout.utf8)) as? [String: Any]
        #expect((picked?["targets"] as? [Any])?.count == n)
    }
}
