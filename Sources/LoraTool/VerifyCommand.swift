import ArgumentParser
import Foundation
import Model
import PthReader

/// `loratool verify BASE ADAPTER [--merged MERGED] [--tokens IDS | --prompt TEXT] [--json] [--atol X]`.
struct VerifyCommand: JSONReporting {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that a merged model computes what the base with the adapter unmerged computes (docs/inference.md).",
        discussion: """
            Runs the adapter-wrapped base as PEFT's PeftModel does (W x + scale·B(A x); DoRA rescaled per output; \
            embedding LoRA added to looked-up rows; modules_to_save tensors in place of the base's) and the merged model (--merged, else merged in \
            memory in float32) on the same tokens and compares their logits. Passes when max |Δlogit| ≤ \
            max(4·eps(dtype), 1e-4) · max(1, max|logit|), dtype being the merged weights' (--atol overrides); \
            a q8_0 GGUF uses its measured relative quantization step as eps, and runs with the hyper-parameters it states. \
            Exit status: 0 passed, 1 the models disagree, 2 bad input, 3 the adapter or configuration does not fit the model, 64 usage.
            """
    )

    @Argument(help: "Base model checkpoint: .pth/.pt/.bin, .safetensors or a Hugging Face directory.")
    var base: String

    @Argument(help: "LoRA adapter: a MiniMind lora .pth or a PEFT directory; omit it to check the adapter a LoRA-training checkpoint BASE carries.")
    var adapter: String?

    @Option(help: "Merged checkpoint to check (default: merge in memory in float32).")
    var merged: String?

    @OptionGroup var tokenOptions: TokenOptions

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    @Option(parsing: .unconditional, help: "Absolute tolerance on max |Δlogit| instead of the dtype rule.")
    var atol: Double?

    @OptionGroup var modelOptions: ModelOptions

    @Flag(name: .shortAndLong, help: "Print nothing but errors (and the JSON object with --json); the exit status tells the result.")
    var quiet = false

    var wantsJSON: Bool { json }
    var isQuiet: Bool { quiet }
    var echo: Echo {
        Echo(inputs: ["base": .string(base), "adapter": .optional(adapter), "merged": .optional(merged)],
             options: ["atol": .optional(atol), "tokens": .optional(tokenOptions.tokens), "prompt": .optional(tokenOptions.prompt),
                       "config": .optional(modelOptions.config)])
    }

    func validate() throws {
        if let atol, !(atol >= 0 && atol.isFinite) { throw ValidationError("--atol \(atol): must be a finite, non-negative number") }
        if tokenOptions.tokenizer != nil && tokenOptions.prompt == nil { throw ValidationError("--tokenizer is only used with --prompt") }
    }

    func run() throws {
        BLASRuntime.reexecWithFasterKernelsIfNeeded()
        let (baseCheckpoint, loaded) = try LoRAAdapter.openWithAdapter(basePath: base, adapterPath: adapter)
        try ModelInput.refuseAdapter(baseCheckpoint)
        let configuration = try modelOptions.configuration(for: baseCheckpoint)
        let bound = try loaded.bind(to: baseCheckpoint)
        let mergedCheckpoint = try merged.map { try ModelInput.open($0) }
        let tokens = try tokenOptions.resolve(modelPath: base)
        let result = try MergeVerifier.verify(base: baseCheckpoint, adapters: bound.deltas, merged: mergedCheckpoint, tokens: tokens,
                                              configuration: configuration, absoluteTolerance: atol)
        if let configuration = result.configuration { ModelOptions.reportAssumptions(configuration) }
        if json {
            try Output.printJSON(result, for: self)
        } else {
            Output.say(render(result), terminator: "")
        }
        if !result.passed { throw ExitCode(1) }
    }

    func render(_ r: MergeVerification) -> String {
        func e(_ x: Double) -> String { String(format: "%.3g", x) }
        let source = merged.map { "\($0) (\(r.mergedDtype))" } ?? "merged in memory (float32)"
        let rule = atol == nil ? "" : " (--atol)"
        var out = "verify: \(r.passed ? "PASSED" : "FAILED")  \(base) + \(adapter ?? "its own .lora. keys") vs \(source)\n"
        if let nonFinite = r.nonFinite { out += "  non-finite logit  \(nonFinite)\n" }
        out += "  tokens            \(r.tokens)\n"
        out += "  max |Δlogit|      \(e(r.maxAbsDiff))  (tolerance \(e(r.tolerance))\(rule))\n"
        out += "  max rel diff      \(e(r.maxRelDiff))  (relative to max |logit|)\n"
        out += "  top-1 agreement   \(String(format: "%.1f", r.top1Agreement * 100))%\n"
        out += "  max KL            \(e(r.maxKL))\n"
        if let changed = r.routingChangedPositions, !changed.isEmpty {
            let excluded = r.quantization != nil ? "; left out of the comparison (the quantization step tips a router near-tie)" : ""
            out += "  expert routing    differs at position\(changed.count == 1 ? "" : "s") \(changed.map(String.init).joined(separator: ", "))\(excluded)\n"
        }
        if let q = r.quantization, let step = r.quantizationStep {
            out += "  quantization      \(q): largest block step \(e(step)), relative step \(e(r.quantizationRelativeStep ?? 0)) (the eps of the tolerance rule)\n"
        }
        out += "  adapter effect    \(e(r.adapterEffect))  (max |Δlogit| base vs wrapped)\n"
        if !r.adapterIsDetectable {
            out += "note: the adapter moves the logits by no more than the tolerance, so an unmerged base would pass too\n"
        }
        return out
    }
}
