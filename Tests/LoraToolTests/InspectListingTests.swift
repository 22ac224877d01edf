import Foundation
import Model
import PthReader
import Testing
import TestSupport
@testable import LoraTool

/// `inspect` lists from the flat `InspectionListing` (module table + the checkpoint's tensors);
/// its text and JSON must be the bytes the full `InspectionReport` gives.
@Suite struct InspectListingTests {
    static let files = ["v1_tiny/base.pth", "train_ckpt.pth", "tied_f32.pth", "hf_tiny_peft/adapter", "hf_tiny_peft/base_hf",
                        "mm3_tiny_moe/base.pth", "mm3_tiny/ckpt_with_lora.pth", "v1_tiny/lora_ddp.pth", "edge.pth", "mm3_tiny/lora.pth"]

    @Test func listingTextEqualsReportText() throws {
        for file in Self.files {
            let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath(file))
            let listing = try InspectionListing(checkpoint: checkpoint)
            let report = try InspectionReport(checkpoint: checkpoint)
            #expect(listing.report.tensors.isEmpty && listing.report.modules.isEmpty)
            for isAdapter in [false, true] {
                let text = InspectListingText.render(listing, isAdapter: isAdapter)
                #expect(text == Array(InspectText.render(report, isAdapter: isAdapter).utf8), "\(file)")
            }
        }
    }

    @Test func listingJSONEqualsReportJSON() throws {
        for file in Self.files {
            let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath(file))
            let listing = try InspectionListing(checkpoint: checkpoint)
            let report = try InspectionReport(checkpoint: checkpoint)
            let shell = try JSONRecordsTests.encoded(Envelope(command: "inspect", echo: JSONRecordsTests.echo, body: listing.report))
            let expected = try JSONRecordsTests.encoded(Envelope(command: "inspect", echo: JSONRecordsTests.echo, body: report))
            #expect(JSONRecords.splice(shell: shell, arrays: InspectCommand.jsonRecords(listing)) == expected, "\(file)")
        }
    }

    @Test func oddNamesListTheSame() throws {
        // Non-ASCII and control characters in names, a root parameter, tensors outside the state dict.
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Written into the JSON header as they are: escapes are JSON escapes (a tab, a quote, a backslash).
        let names = ["caf\u{E9}.a.weight", "cafe\u{301}.b.weight", "x", "tab\\tname.weight", "q\\\"uote.w\\\\x.weight", "layers.0.weight", "layers.1.weight"]
        let path = dir.appendingPathComponent("odd.safetensors").path
        try Data(Fixtures.safetensors(count: names.count) { names[$0] }).write(to: URL(fileURLWithPath: path))
        let checkpoint = try Checkpoint.open(path: path)
        let listing = try InspectionListing(checkpoint: checkpoint)
        let report = try InspectionReport(checkpoint: checkpoint)
        #expect(InspectListingText.render(listing) == Array(InspectText.render(report).utf8))
        let shell = try JSONRecordsTests.encoded(Envelope(command: "inspect", echo: JSONRecordsTests.echo, body: listing.report))
        let expected = try JSONRecordsTests.encoded(Envelope(command: "inspect", echo: JSONRecordsTests.echo, body: report))
        #expect(JSONRecords.splice(shell: shell, arrays: InspectCommand.jsonRecords(listing)) == expected)
    }
}
