import ArgumentParser
import Foundation
import Model
import PthReader

/// `loratool inspect PATH [--json] [--verify]`: what a checkpoint holds, module by module.
struct InspectCommand: JSONReporting {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "List a checkpoint's modules, tensors, parameter count and metadata."
    )

    @Argument(help: "A .pth/.pt/.bin, .safetensors file, or a Hugging Face / PEFT directory.")
    var path: String

    @Flag(name: .long, help: "Print one JSON object (schema in docs/json.md and docs/inspect.md).")
    var json = false

    @Flag(name: .long, help: "Also read every record and check its CRC-32 (torch zip; other formats: read every tensor in full); writes nothing.")
    var verify = false

    var wantsJSON: Bool { json }
    var echo: Echo { Echo(inputs: ["path": .string(path)], options: ["verify": .bool(verify)]) }

    func run() throws {
        let checkpoint = try Checkpoint.open(path: path)
        let integrity = verify ? try checkpoint.verifyIntegrity() : nil
        var report = try InspectionReport(checkpoint: checkpoint)
        report.recordConfigTiedHead(checkpoint)
        if let integrity {
            let line = integrity.checksummedRecords > 0
                ? "verified: \(integrity.checksummedRecords) records, \(Output.byteSize(integrity.bytes)), every CRC-32 matches"
                : "verified: \(integrity.uncheckedStorages) storages, \(Output.byteSize(integrity.bytes)) read in full (the format has no checksums)"
            Output.printError(line + "\n")
        }
        if json {
            try Output.printJSON(report, for: self)
        } else {
            let isAdapter = (try? ModelInput.refuseAdapter(checkpoint)) == nil
            Output.say(InspectText.render(report, isAdapter: isAdapter), terminator: "")
        }
    }
}

/// The human listing of an `InspectionReport`.
enum InspectText {
    static func render(_ report: InspectionReport, isAdapter: Bool = false) -> String {
        var out = "\(report.path) (\(report.format))\n"
        if isAdapter, let a = report.adapter {
            out += "a LoRA adapter (\(a.format)), not a model: merge it with `loratool merge BASE \(report.path) -o OUT`\n"
        }
        let tensorsByName = Dictionary(report.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var rows: [(String, String, String)] = []
        for module in report.modules {
            let indent = String(repeating: "  ", count: module.path.split(separator: ".").count - 1)
            let params = module.parameters.compactMap { name -> String? in
                guard let t = tensorsByName[name] else { return nil }
                let local = name.split(separator: ".").last.map(String.init) ?? name
                return "\(local) [\(t.shape.map(String.init).joined(separator: ", "))] \(t.dtype)"
            }.joined(separator: "; ")
            var summary = module.summary + (module.isHead ? " (head)" : "")
            if let tied = report.tiedHead, module.parameters.contains(tied.head) {
                summary += ", tied to \(tied.embedding)"
            }
            rows.append((indent + module.path, summary, params))
        }
        let width0 = min(rows.map(\.0.count).max() ?? 0, 60)
        let width1 = min(rows.map(\.1.count).max() ?? 0, 48)
        out.reserveCapacity(rows.count * (width0 + width1 + 40))
        for row in rows {
            // Each row is trimmed on its own: the output grows linearly with the number of modules.
            out += (pad(row.0, width0) + "  " + pad(row.1, width1) + (row.2.isEmpty ? "" : "  " + row.2)).trimmingTrailingSpaces()
            out += "\n"
        }
        if let tied = report.tiedHead, let source = tied.declaredBy {
            out += "\(tied.head): not stored; tied to \(tied.embedding) (\(source))\n"
        }
        let inModel = Set(report.modules.flatMap(\.parameters))
        let others = report.tensors.filter { !inModel.contains($0.name) }
        if !others.isEmpty {
            out += "\ntensors outside the modules above (\(others.count)):\n"
            for t in others.prefix(40) {
                out += "  \(t.name) [\(t.shape.map(String.init).joined(separator: ", "))] \(t.dtype)\n"
            }
            if others.count > 40 { out += "  ... and \(others.count - 40) more\n" }
        }
        if !report.metadata.isEmpty {
            out += "\nmetadata:\n"
            for (name, value) in report.metadata.sorted(by: { $0.key < $1.key }) {
                out += "  \(name.isEmpty ? "(root)" : name) = \(value.text)\n"
            }
        }
        if let a = report.adapter {
            let ranks = a.ranks.map(String.init).joined(separator: ", ")
            let scales = a.scales.map { String(format: "%g", $0) }.joined(separator: ", ")
            out += "\nLoRA adapter (\(a.format)): \(a.modules) modules, rank \(ranks), scale \(scales), \(Output.grouped(a.loraParameters)) parameters\n"
            if let kinds = a.kinds, kinds.keys.contains(where: { $0 != "lora" }) {
                out += "  deltas: " + kinds.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + "\n"
            }
            if let baseTensors = a.baseTensors, let baseParameters = a.baseParameters {
                out += "base model beside it: \(baseTensors) tensors, \(Output.grouped(baseParameters)) parameters (a LoRA-training checkpoint: `loratool merge FILE -o OUT` folds the adapter in, `loratool verify FILE` checks it)\n"
            }
        }
        out += "\nformat: \(report.format)"
        if !report.stateDictPrefix.isEmpty { out += "   state dict: \(report.stateDictPrefix)*" }
        out += "\ntensors: \(report.tensors.count)   parameters: \(Output.grouped(report.parameters)) (\(Output.abbreviated(report.parameters)))"
        out += "   bytes: \(Output.grouped(report.tensorBytes)) (\(Output.byteSize(report.tensorBytes)))\n"
        return out
    }

    private static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
