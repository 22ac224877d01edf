import Foundation
import Synchronization
import Testing
import PthReader
import TestSupport
@testable import Model

/// The pipelined merge: three threads, bounded memory, the same bytes as the one-thread path.
@Suite struct MergePipelineTests {
    /// Items come out in order and transformed; never more than `depth` are alive at once.
    @Test func itemsArriveInOrderWithAtMostDepthAlive() throws {
        let alive = Mutex((now: 0, peak: 0))
        let pipeline = MergePipeline(count: 50, depth: 3, read: { i in
            alive.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
            usleep(UInt32(i % 3) * 200)
            return [UInt8(i)]
        }, transform: { i, bytes in bytes + [UInt8(i &* 3)] })
        pipeline.start()
        defer { pipeline.stop() }
        for i in 0..<50 {
            let item = try pipeline.take(i)
            #expect(item == [UInt8(i), UInt8(i &* 3)])
            usleep(300)
            alive.withLock { $0.now -= 1 }
        }
        #expect(alive.withLock { $0.peak } <= 3)
    }

    struct Failure: Error, Equatable { let at: Int }

    /// An error in a stage arrives at its item; stopping early ends both threads.
    @Test func errorsArriveAtTheirItemAndStopEndsTheThreads() throws {
        let pipeline = MergePipeline(count: 10, read: { i in
            if i == 4 { throw Failure(at: i) }
            return [UInt8(i)]
        }, transform: { i, bytes in
            if i == 6 { throw Failure(at: 6) }
            return bytes
        })
        pipeline.start()
        for i in 0..<4 { #expect(try pipeline.take(i) == [UInt8(i)]) }
        #expect(throws: Failure(at: 4)) { try pipeline.take(4) }
        pipeline.stop()
        let early = MergePipeline(count: 1000, read: { [UInt8](repeating: UInt8($0 & 0xFF), count: 1 << 16) }, transform: { $1 })
        early.start()
        _ = try early.take(0)
        early.stop()   // returns: both threads ended although 999 items were never taken
    }

    /// Items that `prepare` gives (spans: no memory) take no token: with a budget of one, the
    /// reader still gets past a run of them while the consumer holds the first read item, and the
    /// read items never exceed the budget.
    @Test func preparedItemsTakeNoToken() throws {
        let alive = Mutex((now: 0, peak: 0))
        let reachedLast = DispatchSemaphore(value: 0)
        let pipeline = MergePipeline(count: 12, depth: 1, prepare: { i -> [UInt8]? in
            if i == 10 { reachedLast.signal() }
            return (1...10).contains(i) ? [UInt8(i)] : nil
        }, read: { i in
            alive.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
            return [UInt8(i)]
        }, transform: { $1 })
        pipeline.start()
        defer { pipeline.stop() }
        #expect(try pipeline.take(0) == [0])
        #expect(reachedLast.wait(timeout: .now() + 10) == .success, "the reader stopped at a prepared item")
        alive.withLock { $0.now -= 1 }
        for i in 1..<12 {
            #expect(try pipeline.take(i) == [UInt8(i)])
            if i == 11 { alive.withLock { $0.now -= 1 } }
        }
        #expect(alive.withLock { $0.peak } == 1)
    }

    /// Merging with the pipeline or on one thread writes the same bytes, and they equal the
    /// whole-tensor kernel's `W + s·B·A` rounded once.
    @Test(arguments: ["out.pth", "out.safetensors"])
    func pipelinedSerialAndWholeTensorMergesAgree(name: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        let bound = try LoRAAdapter.load(path: Fixtures.sharedPath("v1_tiny/lora.pth")).bind(to: base)
        var outputs: [Checkpoint] = []
        for pipelined in [true, false] {
            let path = dir.appendingPathComponent((pipelined ? "p_" : "s_") + name).path
            let rewriter = CheckpointRewriter(source: base, adapter: bound, options: try .init(multiplier: 0.75, pipelined: pipelined))
            let summary = try rewriter.write(to: path, format: try OutputFormat(path: path))
            #expect(summary.mergedTensors.count == bound.layers.count)
            outputs.append(try Checkpoint.open(path: path))
        }
        for tensor in base.tensors {
            let a = try #require(outputs[0].tensor(named: tensor.name)), b = try #require(outputs[1].tensor(named: tensor.name))
            #expect(try outputs[0].bytes(of: a) == outputs[1].bytes(of: b), "\(tensor.name)")
            if let layer = bound.layers.first(where: { $0.weightName == tensor.name }) {
                let whole = CheckpointRewriter.encode(try layer.mergedWeight(from: base, multiplier: 0.75), as: tensor.dtype)
                #expect(try outputs[0].bytes(of: a) == whole, "\(tensor.name) differs from the whole-tensor kernel")
            } else {
                #expect(try outputs[0].bytes(of: a) == base.bytes(of: tensor), "\(tensor.name) changed")
            }
        }
    }

    /// The SIMD range check flags NaN, ±infinity and float16 overflow in any lane and the tail.
    @Test func rangeCheckFindsEveryKindOfBadValue() {
        for count in [1, 15, 16, 17, 100] {
            for bad in [Float.nan, .infinity, -.infinity, 70000, -65520] {
                for position in [0, count / 2, count - 1] {
                    var values = [Float](repeating: 1.5, count: count)
                    #expect(values.withUnsafeBufferPointer { FusedMerge.allWithin($0.baseAddress!, count, 65519.996) })
                    values[position] = bad
                    #expect(!values.withUnsafeBufferPointer { FusedMerge.allWithin($0.baseAddress!, count, 65519.996) },
                            "\(bad) at \(position) of \(count)")
                }
            }
        }
    }
}
