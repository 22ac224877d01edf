import Foundation
import PthReader

/// Adapter format conversion: a loaded adapter as scale-1 layers for `AdapterWriter`.
///
/// MiniMind → PEFT keeps A and B as they are (scale 1, so `lora_alpha = r`). PEFT → MiniMind folds
/// each module's scale (`lora_alpha / r`, rsLoRA and patterns included) into B, since MiniMind's
/// adapters have no scale; what MiniMind cannot hold (DoRA, embedding adapters, `modules_to_save`,
/// `fan_in_fan_out`) is refused by name.
public enum AdapterConverter {
    public static func layers(of adapter: LoRAAdapter, to format: AdapterWriter.Format) throws -> [AdapterWriter.Layer] {
        if let e = adapter.entries.first(where: { $0.magnitude != nil }) {
            throw AdapterWriterError.notRepresentable(what: "\(e.module): a DoRA layer", format: format == .peft ? "a PEFT directory by conversion (merge it instead)" : "a MiniMind .pth")
        }
        if adapter.config?.fanInFanOut == true {
            throw AdapterWriterError.notRepresentable(what: "\(adapter.path): a fan_in_fan_out adapter", format: "this format")
        }
        if format == .minimind, let r = adapter.replacements.first {
            throw AdapterWriterError.notRepresentable(what: "\(r.module).\(r.parameter): a modules_to_save tensor", format: "a MiniMind .pth (it holds Linear LoRA only)")
        }
        return try adapter.entries.map { e in
            guard let pair = e.pair else {
                throw LoRAError.notAnAdapter(path: adapter.path, reason: "\(e.module) lacks its A or B half")
            }
            var b = pair.b
            if pair.scale != 1 { b.data = b.data.map { $0 * pair.scale } }
            return AdapterWriter.Layer(module: e.module, a: pair.a, b: b, embedding: e.isEmbedding)
        }
    }
}
