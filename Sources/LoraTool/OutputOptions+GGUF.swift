import ArgumentParser
import Foundation
import Model
import PthReader

extension OutputOptions {
    /// Writes `model` as a GGUF file at `-o`, printing a summary.
    func exportGGUF<C: JSONReporting>(model: ExportModel, tokenizer: TokenizerFiles?, adapter: BoundAdapter?, bar: ProgressBar,
                                      start: Date, for command: C) throws {
        let type: GGUFTensorType
        if let chosen = try ggufType {
            type = chosen
        } else {
            switch model.sourceDType {
            case .float16: type = .f16
            case .bfloat16: type = .bf16
            default: type = .f32
            }
        }
        let name = URL(fileURLWithPath: output).deletingPathExtension().lastPathComponent
        let exporter = GGUFExporter(model: model, type: type, tokenizer: tokenizer, name: name)
        for fallback in exporter.fallbacks { Output.note("\(fallback): rows are not whole q8_0 blocks of 32; written f16") }
        let count = try exporter.write(to: output, progress: bar.update)
        bar.finish()
        let files = [URL(fileURLWithPath: output).lastPathComponent]
        let summary = ExportSummary(output: output, format: "gguf", family: model.family.rawValue, dtype: type.name, tensors: count,
                                    files: files, mergedTensors: adapter.map { $0.layers.map(\.weightName) }, seconds: Date().timeIntervalSince(start))
        if json {
            try Output.printJSON(summary, for: command)
        } else {
            let arch = GGUFNames.architecture(of: model.family)
            Output.say("wrote \(output) (GGUF v3, \(model.family.rawValue) as llama.cpp '\(arch)', \(type.name), \(count) tensors) in \(String(format: "%.2f", summary.seconds)) s")
        }
    }
}
