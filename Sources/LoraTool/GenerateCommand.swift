import ArgumentParser
import Foundation
import Model
import PthReader

/// `loratool generate MODEL [--lora A] [--merged M] [--prompt TEXT | --prompt-file F | stdin] [--compare] [--interactive] [--json]`.
struct GenerateCommand: JSONReporting {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with the base, adapter-wrapped or merged model (docs/generate.md).",
        discussion: """
            The prompt goes through the chat template of tokenizer_config.json (MiniMind2, minimind-3, Qwen2, \
            Qwen2.5, Qwen3) unless --raw. Text streams to stdout, tokens/s to stderr. --compare runs base, \
            --lora and --merged on the same prompt and seed and marks the first divergent token.
            """
    )

    @Argument(help: "Model checkpoint: .pth/.pt/.bin, .safetensors or a Hugging Face directory.")
    var model: String

    @Option(help: "LoRA adapter applied unmerged: a MiniMind lora .pth or a PEFT directory.")
    var lora: String?

    @Option(help: "A merged checkpoint (same architecture) to run, or to compare with --compare.")
    var merged: String?

    @Option(help: "The prompt text (else --prompt-file, else stdin).")
    var prompt: String?

    @Option(help: "Read the prompt from this file.")
    var promptFile: String?

    @Option(help: "tokenizer.json or its directory (default: beside the model); tokenizer_config.json is read beside it.")
    var tokenizer: String?

    @Flag(help: "Send the prompt as it is, without the chat template.")
    var raw = false

    @Option(help: "A system message for the chat template.")
    var system: String?

    @Option(help: "Stop when the text contains this string (repeatable); the string is not printed.")
    var stop: [String] = []

    @Option(help: "The most new tokens per reply.")
    var maxTokens = 256

    @OptionGroup var sampling: SamplingOptions

    @Flag(help: "Run base, adapter-wrapped (--lora) and merged (--merged) models on the same prompt and seed.")
    var compare = false

    @Flag(help: "Chat turn by turn with history; Ctrl-D exits, /reset clears the history.")
    var interactive = false

    @Flag(help: "Print one JSON object (docs/generate.md) instead of streaming text.")
    var json = false

    @OptionGroup var modelOptions: ModelOptions

    var wantsJSON: Bool { json }
    var echo: Echo {
        Echo(inputs: ["model": .string(model), "lora": .optional(lora), "merged": .optional(merged), "tokenizer": .optional(tokenizer),
                      "prompt_file": .optional(promptFile)],
             options: ["raw": .bool(raw), "system": .optional(system), "stop": .array(stop.map(JSONValue.string)), "max_tokens": .int(maxTokens),
                       "compare": .bool(compare), "config": .optional(modelOptions.config)])
    }

    func validate() throws {
        if maxTokens <= 0 { throw ValidationError("--max-tokens must be positive") }
        if prompt != nil && promptFile != nil { throw ValidationError("give either --prompt or --prompt-file, not both") }
        if compare && lora == nil && merged == nil { throw ValidationError("--compare needs --lora and/or --merged to compare with the base model") }
        if !compare && lora != nil && merged != nil { throw ValidationError("--lora and --merged together need --compare") }
        if interactive && (compare || json) { throw ValidationError("--interactive cannot be combined with --compare or --json") }
        if interactive && raw { throw ValidationError("--interactive needs the chat template; drop --raw") }
        if interactive && (prompt != nil || promptFile != nil) { throw ValidationError("--interactive reads the prompts from the terminal; drop --prompt/--prompt-file") }
        if raw && system != nil { throw ValidationError("--system needs the chat template; drop --raw") }
    }

    func run() throws {
        BLASRuntime.reexecWithFasterKernelsIfNeeded()
        let bpe = try TokenOptions.tokenizer(tokenizer, modelPath: model, purpose: "generate")
        let configURL = tokenizer.map { CompanionFile.beside($0, named: "tokenizer_config.json") } ?? CompanionFile.beside(model, named: "tokenizer_config.json")
        let config = try configURL.map { try TokenizerConfig(contentsOf: $0) }
        let encoder = try PromptEncoder(tokenizer: bpe, config: config, raw: raw)
        let parameters = try sampling.parameters()
        Output.printError("sampling: \(sampling.summary(parameters)); max \(maxTokens) new tokens; template \(encoder.template?.family.rawValue ?? "none (--raw)")\n")
        let runs = try loadModels()
        let stopCondition = StopCondition(endTokenIDs: encoder.endTokenIDs, stopStrings: stop, maxTokens: maxTokens)
        let generators = runs.map { (label: $0.label, generator: TextGenerator(model: $0.model, tokenizer: bpe, sampling: parameters, stop: stopCondition)) }

        if interactive {
            try chat(generators[0].generator, encoder: encoder)
            return
        }
        let text = try readPrompt()
        let promptIDs: [Int]
        let rendered: String
        if raw {
            rendered = text
            promptIDs = encoder.encode(raw: text)
        } else {
            (rendered, promptIDs) = try encoder.encode(chat: ChatSession(system: system).messages(adding: text))
        }
        guard !promptIDs.isEmpty else { throw CLIError.badInput(file: promptFile, flag: promptFile == nil ? "--prompt" : "--prompt-file", reason: "the prompt encodes to no tokens") }
        let streaming = !json && !compare
        var results: [(label: String, result: GenerationResult)] = []
        for (label, generator) in generators {
            let result = try generator.generate(promptIDs: promptIDs) { piece in
                if streaming { Output.emit(piece) }
            }
            if streaming { Output.emit("\n") }
            Self.reportSpeed(label: label, result)
            results.append((label, result))
        }
        let divergence = GenerationComparison.firstDivergence(results.map(\.result.ids))
        if json {
            try Output.printJSON(GenerateReport(prompt: rendered, parameters: parameters, runs: results, divergence: compare ? divergence : nil, compared: compare), for: self)
        } else if compare {
            try Output.print(Self.comparisonText(results, divergence: divergence, tokenizer: bpe), terminator: "")
        }
    }

    /// The models to run, with their labels: one without --compare, two or three with it.
    private func loadModels() throws -> [(label: String, model: TransformerModel)] {
        let checkpoint = try Checkpoint.open(path: model)
        let configuration = try modelOptions.configuration(for: checkpoint)
        var runs: [(String, TransformerModel)] = []
        if compare || (lora == nil && merged == nil) {
            runs.append(("base", try TransformerModel.load(checkpoint, configuration: configuration)))
        }
        if let lora {
            let bound = try LoRAAdapter.load(path: lora).bind(to: checkpoint)
            runs.append(("lora", try TransformerModel.load(checkpoint, configuration: configuration, adapters: bound.deltas, mode: .unmerged)))
        }
        if let merged {
            runs.append(("merged", try TransformerModel.load(Checkpoint.open(path: merged), configuration: configuration)))
        }
        if let first = runs.first { ModelOptions.reportAssumptions(first.1.configuration) }
        return runs
    }

    /// The prompt from --prompt, --prompt-file or stdin.
    private func readPrompt() throws -> String {
        if let prompt { return prompt }
        if let promptFile {
            let data: Data
            do { data = try CompanionFile.contents(of: URL(fileURLWithPath: promptFile), limit: 64 << 20) } catch {
                throw CLIError.badInput(file: promptFile, flag: "--prompt-file", reason: CompanionFile.reason(error))
            }
            guard let text = String(data: data, encoding: .utf8) else { throw CLIError.badInput(file: promptFile, flag: "--prompt-file", reason: "not UTF-8 text") }
            return text
        }
        let data = FileHandle.standardInput.readDataToEndOfFile()
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError.badInput(file: nil, flag: nil, reason: "the prompt on stdin is not UTF-8 text") }
        guard !text.isEmpty else { throw CLIError.badInput(file: nil, flag: nil, reason: "no prompt: give --prompt TEXT, --prompt-file F or text on stdin") }
        return text
    }

    /// The multi-turn loop: a line in, a streamed reply out; `/reset` clears, end of input exits.
    private func chat(_ generator: TextGenerator, encoder: PromptEncoder) throws {
        var session = ChatSession(system: system)
        Output.printError("chat: Ctrl-D exits, /reset clears the history\n")
        while true {
            Output.emit("> ")
            guard let line = readLine(strippingNewline: true) else { Output.emit("\n"); return }
            let user = line.trimmingCharacters(in: .whitespaces)
            if user.isEmpty { continue }
            if user == "/reset" {
                session.reset()
                Output.emit("(history cleared)\n")
                continue
            }
            let (_, ids) = try encoder.encode(chat: session.messages(adding: user))
            let result = try generator.generate(promptIDs: ids) { Output.emit($0) }
            Output.emit("\n")
            Self.reportSpeed(label: nil, result)
            session.record(user: user, assistant: result.text)
        }
    }

    static func reportSpeed(label: String?, _ result: GenerationResult) {
        let line = String(format: "%d tokens in %.3f s (%.1f tok/s; prefill %d tokens %.1f ms; stop: %@)",
                          result.ids.count, result.prefillSeconds + result.decodeSeconds, result.tokensPerSecond,
                          result.promptIDs.count, result.prefillSeconds * 1000, result.stopReason.rawValue as NSString)
        Output.printError((label.map { "[\($0)] " } ?? "") + line + "\n")
    }

    /// The human comparison: side by side when the terminal is wide enough, then where the runs diverge.
    static func comparisonText(_ results: [(label: String, result: GenerationResult)], divergence: Int?, tokenizer: BPETokenizer) -> String {
        let columns = results.map { run -> ComparisonLayout.Column in
            var offset: Int? = nil
            if let divergence {
                let prefix = tokenizer.decode(Array(run.result.ids.prefix(divergence)), skippingSpecialTokens: true)
                offset = run.result.text.hasPrefix(prefix) ? prefix.count : nil
            }
            return ComparisonLayout.Column(label: run.label, text: run.result.text, divergenceOffset: offset)
        }
        var out = ComparisonLayout.render(columns, width: Terminal.width())
        if let divergence {
            let tokens = results.map { run -> String in
                guard divergence < run.result.ids.count else { return "\(run.label): (ended)" }
                let id = run.result.ids[divergence]
                return "\(run.label): \(id) \(Output.quoted(tokenizer.decode([id])))"
            }
            out += "first divergence at generated token \(divergence) (marked \(ComparisonLayout.divergenceMarker)): " + tokens.joined(separator: ", ") + "\n"
        } else {
            out += "no divergence: all \(results.count) runs generated the same \(results.first?.result.ids.count ?? 0) tokens\n"
        }
        if results.count > 2 {
            let pairs = GenerationComparison.pairwise(results.map(\.label), results.map(\.result.ids))
            out += "pairwise: " + pairs.map { "\($0.first)/\($0.second) " + ($0.index.map { "diverge at \($0)" } ?? "agree") }.joined(separator: ", ") + "\n"
        }
        return out
    }
}
