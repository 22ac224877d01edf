import Foundation
import Testing
import TestSupport

/// A forward pass cuts its products and attention into chunks by shape alone, so its results do
/// not depend on how many threads run them: `logits` with one thread and with two must write the
/// same bytes (prefill over more than one 64-token attention block, then decoding).
@Suite struct ForwardThreadsTests {
    @Test(arguments: ["qwen3_mm3", "llama3"]) // float16 weights (widened chunks), float32 weights
    func logitsDoNotDependOnTheThreadCount(model: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokens = (0..<70).map { String(($0 * 37 + 5) % 120 + 1) }.joined(separator: ",")
        var outputs: [Data] = []
        for threads in ["1", "2"] {
            let out = dir.appendingPathComponent("logits-\(threads).npy").path
            let run = try CommandRunner.run(["logits", Fixtures.localPath("hf_models/" + model), "--tokens", tokens,
                                             "--decode", "3", "-o", out],
                                            environment: ["OPENBLAS_NUM_THREADS": threads])
            #expect(run.status == 0, "\(run.stderr)")
            outputs.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        #expect(outputs[0].count > 70 * 128 * 4)
        // A Bool, not `==` inside #expect: on failure Testing would diff the two megabyte buffers.
        let identical = outputs[0] == outputs[1]
        #expect(identical, "\(model): logits differ between 1 and 2 threads")
    }
}
