import Foundation
import Model
import PthReader
import Testing
import TestSupport

/// Opening and inspecting files of many tensors stays linear (issue 7: "a 1M-tensor file inspects
/// in seconds"). Not timed: each step that was quadratic once (the zip directory scanned per
/// record, siblings scanned per module, a name index rebuilt per lookup) would take minutes to
/// hours here, so a return to it shows as a test that does not finish. Release figures for 1M
/// tensors are in docs/hostile-input.md ("Many tensors").
@Suite struct ManyTensorsScaleTests {
    @Test func fiftyThousandSafetensorsTensorsOpenAndInspectInLinearTime() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = 50_000
        let path = dir.appendingPathComponent("flat.safetensors").path
        try Data(Fixtures.safetensors(count: n) { "layers.\($0).weight" }).write(to: URL(fileURLWithPath: path))
        let checkpoint = try Checkpoint.open(path: path)
        #expect(checkpoint.tensors.count == n)
        #expect(checkpoint.tensor(named: "layers.\(n - 1).weight")?.shape == [1, 1])
        let report = try InspectionReport(checkpoint: checkpoint)
        #expect(report.tensors.count == n)
        #expect(report.modules.count == n + 1)
        #expect(report.modules.first?.summary == "ModuleList(\(n))")
        #expect(report.parameters == n && report.tensorBytes == 4 * n)
        let targets = try TargetsReport.make(checkpoint: checkpoint, selector: .squareLinear, rank: 1)
        #expect(targets.targets.count == n && targets.loraParameters == 2 * n)
    }

    @Test func thirtyThousandRecordTorchZipOpensAndInspectsInLinearTime() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = 30_000
        let projections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj"]
        let items = (0..<n).map { i in
            let name = "model.layers.\(i / projections.count).\(projections[i % projections.count]).weight"
            return DictItem(key: .string(name), value: .tensor(TensorEntry(name: name, dtype: .float32, shape: [1, 1], strides: [1, 1],
                                                                          storageOffset: 0, storageKey: String(i))))
        }
        let path = dir.appendingPathComponent("nested.pth").path
        try CheckpointWriter.write(root: .dict(items, ordered: true), to: path, format: .torchZip) { _ in [0, 0, 0, 0] }
        let checkpoint = try Checkpoint.open(path: path)
        #expect(checkpoint.tensors.count == n)
        let report = try InspectionReport(checkpoint: checkpoint)
        #expect(report.tensors.count == n)
        // model, model.layers, 6,000 layers of 5 projections.
        #expect(report.modules.count == 2 + n / 5 + n)
        #expect(report.parameters == n)
    }
}
