import Foundation
@testable import Model
import PthReader
import Testing
import TestSupport
@testable import LoraTool

/// `inspect --json` and `targets --json` write their big arrays with `JSONRecords`: the bytes must
/// be exactly those of `JSONEncoder`, which the JSON contract (docs/json.md) was written against.
@Suite struct JSONRecordsTests {
    static func encoded(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return [UInt8](try encoder.encode(value))
    }

    static let echo = Echo(inputs: ["path": .string("m.pth")], options: ["verify": .bool(false)])

    static func expectSameBytes(_ report: InspectionReport) throws {
        let expected = try encoded(Envelope(command: "inspect", echo: echo, body: report))
        let shell = try encoded(Envelope(command: "inspect", echo: echo, body: InspectCommand.jsonShell(report)))
        let actual = JSONRecords.splice(shell: shell, arrays: InspectCommand.jsonRecords(report))
        #expect(actual == expected, "\(report.path)")
    }

    @Test func inspectReportsOfRealCheckpointsMatchJSONEncoder() throws {
        for file in ["v1_tiny/base.pth", "v1_tiny/lora_ddp.pth", "train_ckpt.pth", "hf_tiny_peft/adapter"] {
            let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath(file))
            try Self.expectSameBytes(try InspectionReport(checkpoint: checkpoint))
        }
    }

    @Test func namesThatNeedEscapesAndEmptyArraysMatchJSONEncoder() throws {
        let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        var report = try InspectionReport(checkpoint: checkpoint)
        let names = ["a\"b\\c/d.weight", "tab\there.weight", "nl\nx\u{1}\u{1f}\u{7f}.bias", "café\u{301}.\u{2028}", "", "scalar"]
        for (i, name) in names.enumerated() {
            var t = report.tensors[i % report.tensors.count]
            t.name = name
            t.shape = i == names.count - 1 ? [] : t.shape
            t.strides = i == names.count - 1 ? [] : t.strides
            t.storage = name
            report.tensors.append(t)
            report.modules.append(InspectionReport.ModuleInfo(path: name, kind: "module", summary: "Module(\(name))",
                                                              parameters: i.isMultiple(of: 2) ? [] : [name, name], isHead: i == 1))
        }
        try Self.expectSameBytes(report)
        // Neither array may be empty for the splice to be tested; an empty one is left to JSONEncoder.
        report.tensors = []
        try Self.expectSameBytes(report)
    }

    @Test func targetsReportMatchesJSONEncoder() throws {
        let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        var report = try TargetsReport.make(checkpoint: checkpoint, selector: .allLinear, rank: 8)
        report.targets.append(LoRATarget(module: "odd \"name\"\n", inFeatures: -1, outFeatures: 1 << 40, rank: 3))
        let echo = Echo(inputs: ["path": .string("m.pth")], options: ["rank": .int(8), "modules": .null])
        let expected = try Self.encoded(Envelope(command: "targets", echo: echo, body: report))
        let shell = try Self.encoded(Envelope(command: "targets", echo: echo, body: TargetsCommand.jsonShell(report)))
        #expect(JSONRecords.splice(shell: shell, arrays: TargetsCommand.jsonRecords(report)) == expected)
    }
}
