import Foundation
import Testing
import TestSupport
@testable import PthReader

/// Names, dtypes and shapes agree with what torch reported for every shared `.pth` fixture.
@Suite struct SharedFixtureTests {
    static let truthFiles: [String] = {
        let root = Fixtures.shared
        let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
        var found: [String] = []
        while let url = walker?.nextObject() as? URL {
            if url.lastPathComponent.hasSuffix(".pth.truth.json") {
                found.append(String(url.path.dropFirst(root.path.count + 1)))
            }
        }
        return found.sorted()
    }()

    @Test func fixturesExist() {
        #expect(Self.truthFiles.count >= 10, "expected the shared fixtures at \(Fixtures.shared.path)")
    }

    @Test(arguments: truthFiles)
    func matchesTorch(truthFile: String) throws {
        let checkpointPath = Fixtures.sharedPath(String(truthFile.dropLast(".truth.json".count)))
        let truth = try Fixtures.truth(Fixtures.sharedPath(truthFile))
        let checkpoint = try Checkpoint.open(path: checkpointPath)
        let names = checkpoint.tensors.map(\.name)
        #expect(Set(names) == Set(truth.keys), "tensor names differ")
        #expect(names.count == truth.count, "duplicate tensor names")
        for tensor in checkpoint.tensors {
            guard let expected = truth[tensor.name] else { continue }
            #expect(tensor.dtype.rawValue == expected.dtype, "\(tensor.name) dtype")
            #expect(tensor.shape == expected.shape, "\(tensor.name) shape")
            // Every tensor's bytes must be readable and have the right length.
            #expect(try checkpoint.bytes(of: tensor).count == tensor.byteCount)
        }
    }

    @Test func legacyAndZipAgreeOnValues() throws {
        let zip = try Checkpoint.open(path: Fixtures.sharedPath("edge.pth"))
        let legacy = try Checkpoint.open(path: Fixtures.sharedPath("edge_legacy.pth"))
        #expect(zip.format == .torchZip)
        #expect(legacy.format == .torchLegacy)
        for tensor in zip.tensors {
            let other = try #require(legacy.tensor(named: tensor.name))
            #expect(try zip.bytes(of: tensor) == legacy.bytes(of: other), "\(tensor.name) differs between zip and legacy")
        }
    }

    @Test func tiedWeightsShareStorageAndCountOnce() throws {
        let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath("tied_f32.pth"))
        let embedding = try #require(checkpoint.tensor(named: "tok_embeddings.weight"))
        let output = try #require(checkpoint.tensor(named: "output.weight"))
        #expect(embedding.storageKey == output.storageKey)
        let total = checkpoint.tensors.reduce(0) { $0 + $1.elementCount }
        #expect(checkpoint.parameterCount == total - output.elementCount)
    }

    @Test func trainingCheckpointKeepsMetadata() throws {
        let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath("train_ckpt.pth"))
        let metadata = Dictionary(checkpoint.metadata.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(metadata["epoch"] == .int(3))
        #expect(metadata["step"] == .int(1000))
        #expect(metadata["scaler"] == Node.none)
        #expect(checkpoint.tensor(named: "optimizer.state.0.exp_avg") != nil)
    }
}
