import ArgumentParser
import Foundation
import Model
import PthReader

/// `loratool targets PATH [--rank R] [--modules LIST] [--json]`: which Linear layers a LoRA adapter would cover.
struct TargetsCommand: JSONReporting {
    static let configuration = CommandConfiguration(
        commandName: "targets",
        abstract: "List the Linear modules a LoRA adapter would target and its parameter count (docs/targets.md).",
        discussion: """
            Default rule (MiniMind's apply_lora): every Linear with in_features == out_features. \
            --modules q_proj,v_proj selects like PEFT's target_modules (a module matches when its path \
            equals an entry or ends with '.' and the entry); --modules all-linear selects every Linear except the output head.
            """
    )

    @Argument(help: "A .pth/.pt/.bin, .safetensors file, or a Hugging Face directory.")
    var path: String

    @Option(parsing: .unconditional, help: "LoRA rank r (1 to 65536); each target adds r·(in+out) parameters.")
    var rank: Int = 16

    @Option(help: "Comma-separated module names (PEFT target_modules style) or all-linear.")
    var modules: String?

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    var wantsJSON: Bool { json }
    var echo: Echo { Echo(inputs: ["path": .string(path)], options: ["rank": .int(rank), "modules": .optional(modules)]) }

    func validate() throws {
        guard (1...65536).contains(rank) else { throw ValidationError("--rank \(rank): the rank must be between 1 and 65536") }
    }

    func run() throws {
        let checkpoint = try ModelInput.open(path)
        let selector = TargetSelector(modules: modules)
        let report = try TargetsReport.make(checkpoint: checkpoint, selector: selector, rank: rank)
        Output.keepUntilExit(checkpoint, report)
        if json {
            try Output.printJSON(shell: Self.jsonShell(report), records: Self.jsonRecords(report), for: self)
        } else {
            try Output.print(bytes: TargetsText.render(report, path: path, selection: modules == nil ? "in == out" : selector.description))
        }
    }
}

extension TargetsCommand {
    /// The report without its targets, which `jsonRecords` writes.
    static func jsonShell(_ report: TargetsReport) -> TargetsReport {
        var shell = report
        shell.targets = []
        return shell
    }

    /// The report's targets, keys in sorted order as `JSONEncoder` writes them.
    static func jsonRecords(_ report: TargetsReport) -> [JSONRecords.Member] {
        [
            JSONRecords.Member(key: "targets", count: report.targets.count) { i, out in
                let t = report.targets[i]
                out.field("in_features", t.inFeatures)
                out.field("lora_parameters", t.loraParameters)
                out.field("module", t.module)
                out.field("out_features", t.outFeatures)
            },
        ]
    }
}

/// The human table of a `TargetsReport`.
enum TargetsText {
    /// The table's UTF-8 bytes: written straight into one buffer when every module path is ASCII
    /// (a million targets), else `text(_:path:selection:)`'s.
    static func render(_ report: TargetsReport, path: String, selection: String) -> [UInt8] {
        guard report.targets.allSatisfy({ TextColumns.isASCII($0.module) }) else {
            return Array(text(report, path: path, selection: selection).utf8)
        }
        func digits(_ n: Int) -> Int { String(n).utf8.count }
        let inWidth = report.targets.map { digits($0.inFeatures) }.max() ?? 0
        var w0 = 6, w1 = 9, w2 = 11
        for t in report.targets {
            w0 = max(w0, t.module.utf8.count)
            w1 = max(w1, inWidth + 4 + digits(t.outFeatures))
            w2 = max(w2, Output.grouped(t.loraParameters).utf8.count)
        }
        var out = Array(head(report, path: path, selection: selection).utf8)
        out.reserveCapacity(out.count + (report.targets.count + 1) * (w0 + w1 + w2 + 5))
        func cell(_ text: some StringProtocol, _ width: Int, right: Bool = false) {
            let pad = repeatElement(UInt8(ascii: " "), count: max(0, width - text.utf8.count))
            if right { out += pad }
            out += text.utf8
            if !right { out += pad }
        }
        cell("module", w0); out += "  ".utf8; cell("in -> out", w1); out += "  ".utf8; cell("lora params", w2, right: true); out.append(0x0A)
        for t in report.targets {
            cell(t.module, w0)
            out += "  ".utf8
            let inText = String(t.inFeatures)
            out += repeatElement(UInt8(ascii: " "), count: inWidth - inText.utf8.count)
            out += inText.utf8
            out += " -> ".utf8
            cell(String(t.outFeatures), w1 - inWidth - 4)
            out += "  ".utf8
            cell(Output.grouped(t.loraParameters), w2, right: true)
            out.append(0x0A)
        }
        out += foot(report).utf8
        return out
    }

    /// The first line: the file, the number of targets, the selection and the rank.
    private static func head(_ report: TargetsReport, path: String, selection: String) -> String {
        "\(path): \(report.targets.count) target module\(report.targets.count == 1 ? "" : "s") (\(selection)), rank \(report.rank)\n"
    }

    /// The last line: LoRA parameters against the model's.
    private static func foot(_ report: TargetsReport) -> String {
        "total: \(Output.grouped(report.loraParameters)) LoRA parameters = "
            + String(format: "%.3f", report.percentOfModel) + "% of \(Output.grouped(report.modelParameters)) model parameters\n"
    }

    /// The table as text, columns measured in `Character`s and padded as Foundation pads.
    static func text(_ report: TargetsReport, path: String, selection: String) -> String {
        let header = ("module", "in -> out", "lora params")
        let inWidth = report.targets.map { String($0.inFeatures).count }.max() ?? 0
        let rows = report.targets.map { t -> (String, String, String) in
            let inText = String(repeating: " ", count: inWidth - String(t.inFeatures).count) + String(t.inFeatures)
            return (t.module, "\(inText) -> \(t.outFeatures)", Output.grouped(t.loraParameters))
        }
        let w0 = max(header.0.count, rows.map(\.0.count).max() ?? 0)
        let w1 = max(header.1.count, rows.map(\.1.count).max() ?? 0)
        let w2 = max(header.2.count, rows.map(\.2.count).max() ?? 0)
        // Foundation's `padding` counts UTF-16 units; ASCII text is padded without it (same result).
        func padded(_ s: String, _ width: Int, into out: inout String) {
            if TextColumns.isASCII(s) {
                out += s
                TextColumns.pad(&out, s.utf8.count, to: width)
            } else {
                out += s.padding(toLength: width, withPad: " ", startingAt: 0)
            }
        }
        func line(_ r: (String, String, String), into out: inout String) {
            padded(r.0, w0, into: &out)
            out += "  "
            padded(r.1, w1, into: &out)
            out += "  "
            TextColumns.pad(&out, r.2.count, to: w2)
            out += r.2
            out += "\n"
        }
        var out = head(report, path: path, selection: selection)
        out.reserveCapacity(rows.count * (w0 + w1 + w2 + 5))
        line(header, into: &out)
        for r in rows { line(r, into: &out) }
        out += foot(report)
        return out
    }
}
