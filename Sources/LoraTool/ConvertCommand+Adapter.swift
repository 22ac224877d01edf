import ArgumentParser
import Foundation
import Model
import PthReader

/// `convert` between adapter formats: MiniMind `.pth` ⇄ PEFT directory.
extension ConvertCommand {
    /// The adapter format asked for: `--format peft|minimind`, or a PEFT adapter directory written
    /// to a `.pth`/`.pt` name (a MiniMind adapter); nil for a checkpoint conversion.
    var adapterTarget: AdapterWriter.Format? {
        switch output.formatName?.lowercased() {
        case "peft": return .peft
        case "minimind": return .minimind
        case nil:
            let ext = URL(fileURLWithPath: output.output).pathExtension.lowercased()
            let isPEFTDirectory = FileManager.default.fileExists(atPath: URL(fileURLWithPath: input).appendingPathComponent("adapter_config.json").path)
            return isPEFTDirectory && (ext == "pth" || ext == "pt") ? .minimind : nil
        default: return nil
        }
    }

    struct AdapterReport: Encodable {
        var output: String
        var format: String
        var layers: Int
        var ranks: [Int]
    }

    /// Reads the input adapter and writes it in `format` with scale 1 (PEFT: `lora_alpha = r`;
    /// MiniMind: each PEFT scale folded into B).
    func convertAdapter(to format: AdapterWriter.Format) throws {
        try MergeError.checkOutput(output.output, notOver: [input])
        if FileManager.default.fileExists(atPath: output.output) {
            guard output.force else { throw CLIError.outputExists(path: output.output) }
            try? FileManager.default.removeItem(atPath: output.output)
        }
        let adapter = try LoRAAdapter.load(path: input)
        let layers = try AdapterConverter.layers(of: adapter, to: format)
        var saved: [AdapterWriter.Saved] = []
        if format == .peft && !adapter.replacements.isEmpty {
            throw AdapterWriterError.notRepresentable(what: "\(input): modules_to_save tensors", format: "a converted adapter (the input is already a PEFT adapter)")
        }
        saved = []
        var writer = AdapterWriter(layers: layers, saved: saved, baseModel: baseModel ?? adapter.config?.baseModelNameOrPath)
        if let dtype = try output.outputDType { writer.dtype = dtype }
        try writer.write(to: output.output, format: format)
        let ranks = Array(Set(layers.map(\.rank))).sorted()
        if output.json {
            try Output.printJSON(AdapterReport(output: output.output, format: format.rawValue, layers: layers.count, ranks: ranks), for: self)
        } else {
            let scales = Set(adapter.entries.map(\.scale))
            let folded = scales == [1] ? "" : "; scales \(scales.sorted().map { String(format: "%g", $0) }.joined(separator: ", ")) folded into B"
            Output.say("converted \(adapter.format.rawValue) adapter \(input) to \(format.rawValue) \(output.output) (\(layers.count) layers, rank \(ranks.map(String.init).joined(separator: "/")), scale 1\(folded))")
        }
    }
}
