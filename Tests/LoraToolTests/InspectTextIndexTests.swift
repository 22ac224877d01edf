import Foundation
import Model
import PthReader
import Testing
import TestSupport
@testable import LoraTool

/// The listing finds each module parameter's tensor by the position the module tree recorded;
/// a report without those positions (decoded, or built by hand) is listed by name lookup instead.
/// Both must give the same text.
@Suite struct InspectTextIndexTests {
    @Test func listingByPositionEqualsListingByName() throws {
        for file in ["v1_tiny/base.pth", "train_ckpt.pth", "tied_f32.pth", "hf_tiny_peft/adapter", "mm3_tiny_moe/base.pth", "mm3_tiny/ckpt_with_lora.pth"] {
            let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath(file))
            let report = try InspectionReport(checkpoint: checkpoint)
            #expect(report.modules.contains { !$0.parameterIndices.isEmpty }, "\(file)")
            for module in report.modules {
                #expect(module.parameterIndices.map { report.tensors[$0].name } == module.parameters, "\(file) \(module.path)")
            }
            var byName = report
            for i in byName.modules.indices { byName.modules[i].parameterIndices = [] }
            #expect(InspectText.render(report) == InspectText.render(byName), "\(file)")
        }
    }
}
