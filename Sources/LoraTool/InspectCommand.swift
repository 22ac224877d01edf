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
        var listing = try InspectionListing(checkpoint: checkpoint)
        listing.report.recordConfigTiedHead(checkpoint)
        if let integrity {
            let line = integrity.checksummedRecords > 0
                ? "verified: \(integrity.checksummedRecords) records, \(Output.byteSize(integrity.bytes)), every CRC-32 matches"
                : "verified: \(integrity.uncheckedStorages) storages, \(Output.byteSize(integrity.bytes)) read in full (the format has no checksums)"
            Output.printError(line + "\n")
        }
        Output.keepUntilExit(checkpoint, listing)
        if json {
            try Output.printJSON(shell: listing.report, records: Self.jsonRecords(listing), for: self)
        } else {
            let isAdapter = (try? ModelInput.refuseAdapter(checkpoint)) == nil
            Output.say(bytes: InspectListingText.render(listing, isAdapter: isAdapter))
        }
    }
}

extension InspectCommand {
    /// The report without its tensors and modules, which `jsonRecords` writes.
    static func jsonShell(_ report: InspectionReport) -> InspectionReport {
        var shell = report
        shell.tensors = []
        shell.modules = []
        return shell
    }

    /// The report's modules and tensors, keys in sorted order as `JSONEncoder` writes them.
    static func jsonRecords(_ report: InspectionReport) -> [JSONRecords.Member] {
        [
            JSONRecords.Member(key: "modules", count: report.modules.count) { i, out in
                let m = report.modules[i]
                out.field("is_head", m.isHead)
                out.field("kind", m.kind)
                out.field("parameters", m.parameters)
                out.field("path", m.path)
                out.field("summary", m.summary)
            },
            JSONRecords.Member(key: "tensors", count: report.tensors.count) { i, out in
                tensorRecord(report.tensors[i], into: &out)
            },
        ]
    }

    /// The listing's modules and tensors, as `jsonRecords(_:)` writes a full report's: straight
    /// from the module table and the checkpoint's tensors.
    static func jsonRecords(_ listing: InspectionListing) -> [JSONRecords.Member] {
        let table = listing.table, tensors = listing.checkpoint.tensors
        var summary: [UInt8] = []
        return [
            JSONRecords.Member(key: "modules", count: table.count - 1) { i, out in
                let m = i + 1
                let positions = table.parameterPositions(m)
                out.field("is_head", table.heads[m])
                out.field("kind", table.kinds[m].identifier)
                out.field("parameters", strings: positions.count) { tensors[Int(positions[positions.startIndex + $0])].name }
                out.field("path", utf8: table.pathUTF8(m))
                summary.removeAll(keepingCapacity: true)
                table.kinds[m].appendSummary(to: &summary)
                out.field("summary", utf8: summary[...])
            },
            JSONRecords.Member(key: "tensors", count: tensors.count) { i, out in
                let t = tensors[i]
                out.field("bytes", t.byteCount)
                out.field("contiguous", t.isContiguous)
                out.field("dtype", listing.dtype(i))
                out.field("elements", t.elementCount)
                out.field("name", t.name)
                out.field("shape", t.shape)
                out.field("storage", t.storageKey)
                out.field("storage_offset", t.storageOffset)
                out.field("strides", t.strides)
            },
        ]
    }

    private static func tensorRecord(_ t: InspectionReport.TensorInfo, into out: inout JSONRecords) {
        out.field("bytes", t.bytes)
        out.field("contiguous", t.contiguous)
        out.field("dtype", t.dtype)
        out.field("elements", t.elements)
        out.field("name", t.name)
        out.field("shape", t.shape)
        out.field("storage", t.storage)
        out.field("storage_offset", t.storageOffset)
        out.field("strides", t.strides)
    }
}

/// The human listing of an `InspectionReport`.
enum InspectText {
    static func render(_ report: InspectionReport, isAdapter: Bool = false) -> String {
        var out = "\(report.path) (\(report.format))\n"
        if isAdapter, let a = report.adapter {
            out += "a LoRA adapter (\(a.format)), not a model: merge it with `loratool merge BASE \(report.path) -o OUT`\n"
        }
        // A report built from a checkpoint knows each parameter's tensor position (names are
        // unique there, canonically equal ones refused). Otherwise: tensor positions by name (the
        // first of canonically equal names, as a `String` dictionary gives it); `inModel` marks
        // those positions, so a name is in the model exactly when a module parameter's name
        // equals it as `String`s.
        let indexed = report.modules.allSatisfy { $0.parameterIndices.count == $0.parameters.count }
        var position: [String: Int] = [:]
        if !indexed {
            position.reserveCapacity(report.tensors.count)
            for (i, t) in report.tensors.enumerated() where position[t.name] == nil { position[t.name] = i }
        }
        var inModel = [Bool](repeating: false, count: report.tensors.count)
        var rows: [(path: String, summary: String, params: String)] = []
        rows.reserveCapacity(report.modules.count)
        var width0 = 0, width1 = 0
        for module in report.modules {
            let depth = TextColumns.componentCount(module.path)
            var params = ""
            for (k, name) in module.parameters.enumerated() {
                guard let i = indexed ? module.parameterIndices[k] : position[name] else { continue }
                inModel[i] = true
                let t = report.tensors[i]
                if !params.isEmpty { params += "; " }
                params += TextColumns.lastComponent(name)
                params += " ["
                TextColumns.appendShape(t.shape, to: &params)
                params += "] "
                params += t.dtype
            }
            var path = depth > 1 ? String(repeating: "  ", count: depth - 1) : ""
            path += module.path
            var summary = module.summary
            if module.isHead { summary += " (head)" }
            if let tied = report.tiedHead, module.parameters.contains(tied.head) {
                summary += ", tied to \(tied.embedding)"
            }
            width0 = max(width0, TextColumns.width(path))
            width1 = max(width1, TextColumns.width(summary))
            rows.append((path, summary, params))
        }
        width0 = min(width0, 60)
        width1 = min(width1, 48)
        out.reserveCapacity(out.utf8.count + rows.count * (width0 + width1 + 40))
        for row in rows {
            // Each row is written and trimmed in place: the output grows linearly with the number of modules.
            let start = out.endIndex
            out += row.path
            TextColumns.pad(&out, TextColumns.width(row.path), to: width0)
            out += "  "
            out += row.summary
            if !row.params.isEmpty {
                TextColumns.pad(&out, TextColumns.width(row.summary), to: width1)
                out += "  "
                out += row.params
            }
            TextColumns.trimTrailingSpaces(&out, rowStart: start)
            out += "\n"
        }
        let others = report.tensors.indices.filter { !inModel[indexed ? $0 : position[report.tensors[$0].name]!] }
        out += tail(report, tensorCount: report.tensors.count, others: others.count) { k in
            let t = report.tensors[others[k]]
            return (t.name, t.shape, t.dtype)
        }
        return out
    }

    /// What follows the module rows: a declared tied head, the tensors outside the modules
    /// (`others` of them, the first 40 listed, `other(k)` giving the k-th), metadata, the adapter
    /// and the totals.
    static func tail(_ report: InspectionReport, tensorCount: Int, others: Int,
                     other: (Int) -> (name: String, shape: [Int], dtype: String)) -> String {
        var out = ""
        if let tied = report.tiedHead, let source = tied.declaredBy {
            out += "\(tied.head): not stored; tied to \(tied.embedding) (\(source))\n"
        }
        if others > 0 {
            out += "\ntensors outside the modules above (\(others)):\n"
            for k in 0..<min(others, 40) {
                let t = other(k)
                out += "  \(t.name) [\(t.shape.map(String.init).joined(separator: ", "))] \(t.dtype)\n"
            }
            if others > 40 { out += "  ... and \(others - 40) more\n" }
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
        out += "\ntensors: \(tensorCount)   parameters: \(Output.grouped(report.parameters)) (\(Output.abbreviated(report.parameters)))"
        out += "   bytes: \(Output.grouped(report.tensorBytes)) (\(Output.byteSize(report.tensorBytes)))\n"
        return out
    }
}
