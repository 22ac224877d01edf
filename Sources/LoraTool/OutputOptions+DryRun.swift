import Foundation
import Model
import PthReader

extension OutputOptions {
    /// `--dry-run`: plans the rewrite (merging in memory, checking the output dtype) and prints it.
    func dryRun<C: JSONReporting>(_ rewriter: CheckpointRewriter, for command: C, merging: Bool) throws {
        let plan = try rewriter.plan()
        let format = try self.format
        if json {
            try Output.printJSON(DryRunReport(output: output, format: format.rawValue, plan: plan, merging: merging), for: command)
            return
        }
        let merged = Set(plan.mergedTensors)
        var text = "dry run: would write \(output) (\(format.rawValue), \(plan.tensors.count) tensors, "
            + "\(Output.byteSize(plan.tensorBytes)) of tensor data)"
        if merging { text += ", merging \(plan.mergedTensors.count) adapter layers" }
        text += "; nothing was written\n"
        for t in plan.tensors {
            text += "  \(t.name) \(t.dtype.rawValue) [\(t.shape.map(String.init).joined(separator: ", "))]\(merged.contains(t.name) ? " (merged)" : "")\n"
        }
        Output.say(text, terminator: "")
    }
}

/// The JSON fields of `--dry-run`.
struct DryRunReport: Encodable {
    var output: String
    var format: String
    var plan: CheckpointRewriter.Plan
    var merging: Bool

    struct Tensor: Encodable {
        var name: String
        var dtype: String
        var shape: [Int]
    }

    enum CodingKeys: String, CodingKey {
        case dryRun = "dry_run", output, format, tensors, tensorBytes = "tensor_bytes", mergedTensors = "merged_tensors", planned = "planned_tensors"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(true, forKey: .dryRun)
        try c.encode(output, forKey: .output)
        try c.encode(format, forKey: .format)
        try c.encode(plan.tensors.count, forKey: .tensors)
        try c.encode(plan.tensorBytes, forKey: .tensorBytes)
        if merging { try c.encode(plan.mergedTensors, forKey: .mergedTensors) }
        try c.encode(plan.tensors.map { Tensor(name: $0.name, dtype: $0.dtype.rawValue, shape: $0.shape) }, forKey: .planned)
    }
}
