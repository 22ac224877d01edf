import ArgumentParser
import Foundation
import Model
import PthReader

/// `loratool logits MODEL [--lora ADAPTER] --tokens 1,2,3 -o OUT.npy [--top N] [--decode] [--bench]`.
struct LogitsCommand: JSONReporting {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Run a MiniMind / Llama-style model in float32 and write its logits as .npy (docs/inference.md).",
        discussion: """
            Writes float32 [tokens, vocab] logits. With --lora the adapter runs unmerged (W x + scale·B(A x)). \
            --decode N prefills the tokens, then generates N more greedily through the KV cache. \
            --bench prints timing lines on stderr.
            """
    )

    @Argument(help: "Model checkpoint: .pth/.pt/.bin, .safetensors or a Hugging Face directory.")
    var model: String

    @Option(help: "LoRA adapter to apply unmerged: a MiniMind lora .pth or a PEFT directory.")
    var lora: String?

    @OptionGroup var tokenOptions: TokenOptions

    @Option(name: .shortAndLong, help: "Output .npy file for the float32 [tokens, vocab] logits.")
    var output: String?

    @Option(parsing: .unconditional, help: "Print the N most likely next tokens at each position.")
    var top: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Greedily generate N new tokens after the input through the KV cache.",
                               discussion: "Prefills the input, then decodes one token at a time; -o then holds the logits of the input and of every generated token but the last, and the generated ids are printed on stdout."))
    var decode: Int?

    @Flag(help: "Print model timings on stderr ('prefill: X ms for N tokens ...', 'decode: X ms for N new tokens ...').")
    var bench = false

    @Option(parsing: .unconditional, help: "With --bench: timed runs after one warm-up; the best is reported (default 1).")
    var `repeat`: Int = 1

    @OptionGroup var modelOptions: ModelOptions

    @Flag(help: "Print one JSON object on stdout (docs/json.md): the resolved model configuration (architecture, heads, rope scaling, assumed values), logits shape, top-k, generated ids, timings.")
    var json = false

    @Flag(help: "Overwrite the -o file if it exists.")
    var force = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors (and the JSON object with --json).")
    var quiet = false

    var wantsJSON: Bool { json }
    var isQuiet: Bool { quiet }
    var echo: Echo {
        Echo(inputs: ["model": .string(model), "lora": .optional(lora), "tokenizer": .optional(tokenOptions.tokenizer)],
             options: ["output": .optional(output), "tokens": .optional(tokenOptions.tokens), "tokens_file": .optional(tokenOptions.tokensFile), "prompt": .optional(tokenOptions.prompt),
                       "top": .optional(top), "decode": .optional(decode), "bench": .bool(bench), "repeat": .int(`repeat`),
                       "config": .optional(modelOptions.config), "force": .bool(force)])
    }

    func validate() throws {
        if let top, top <= 0 { throw ValidationError("--top \(top): must be positive") }
        if let decode, !(1...TokenOptions.maxTokens).contains(decode) {
            throw ValidationError("--decode \(decode): must be between 1 and \(TokenOptions.maxTokens) new tokens")
        }
        if !(1...1000).contains(`repeat`) { throw ValidationError("--repeat \(`repeat`): must be between 1 and 1000") }
        if !tokenOptions.isGiven { throw ValidationError("give the input with --tokens IDS, --tokens-file FILE or --prompt TEXT") }
        if output == nil && top == nil && decode == nil && !bench && !json { throw ValidationError("nothing to do: give -o OUT.npy, --top N, --decode N, --bench or --json") }
        if let output, output.hasSuffix("/") { throw ValidationError("-o \(output): names a directory; give a file name such as \(output)logits.npy") }
    }

    func run() throws {
        BLASRuntime.reexecWithFasterKernelsIfNeeded()
        if let output { try OutputPath.prepare(output, notOver: [model] + [lora, modelOptions.config].compactMap { $0 } + tokenOptions.inputFiles, force: force) }
        let clock = ContinuousClock()
        let loadStart = clock.now
        let checkpoint = try ModelInput.open(model)
        let configuration = try modelOptions.configuration(for: checkpoint)
        let deltas = try lora.map { try LoRAAdapter.load(path: $0).bind(to: checkpoint).deltas } ?? [:]
        let network = try TransformerModel.load(checkpoint, configuration: configuration, adapters: deltas, mode: .unmerged)
        ModelOptions.reportAssumptions(network.configuration)
        let loadTime = clock.now - loadStart
        guard let tokens = try tokenOptions.resolve(modelPath: model) else { throw ValidationError("no tokens given") }
        try InferenceBudget.check(network.configuration, tokens: tokens.count, newTokens: decode ?? 0)

        // One run: prefill, or prefill + greedy decoding of `decode` new tokens.
        func pass() throws -> (logits: Tensor, generated: [Int]) {
            guard let decode else { return (try network.logits(for: tokens), []) }
            let result = try network.generateGreedy(prompt: tokens, newTokens: decode)
            return (result.logits, result.generated)
        }
        var result: (logits: Tensor, generated: [Int])
        var timing = LogitsReport.Timing(loadMs: Self.milliseconds(loadTime), runMs: 0)
        if bench {
            result = try pass() // warm-up: rotary tables, allocator, BLAS threads
            var times: [Double] = []
            for _ in 0..<`repeat` {
                let start = clock.now
                result = try pass()
                times.append(Self.milliseconds(clock.now - start))
            }
            let best = times.min() ?? 0, mean = times.reduce(0, +) / Double(times.count)
            timing.runMs = best
            timing.meanMs = mean
            timing.repeats = `repeat`
            let load = Self.milliseconds(loadTime)
            let line: String
            if let decode {
                line = String(format: "decode: %.3f ms for %d new tokens after a prompt of %d, prefill included (%.3f ms/token, %.0f tok/s; best of %d, mean %.3f ms); load %.3f ms",
                              best, decode, tokens.count, best / Double(decode), Double(decode) * 1000 / max(best, 1e-9), `repeat`, mean, load)
            } else {
                line = String(format: "prefill: %.3f ms for %d tokens (%.0f tok/s; best of %d, mean %.3f ms); load %.3f ms",
                              best, tokens.count, Double(tokens.count) * 1000 / max(best, 1e-9), `repeat`, mean, load)
            }
            if !json { Output.printError(line + "; OpenBLAS \(BLASRuntime.coreName) kernels\n") }
        } else {
            let start = clock.now
            result = try pass()
            timing.runMs = Self.milliseconds(clock.now - start)
        }
        if let output {
            do { try Npy.write(result.logits, to: output) } catch let error as NpyError {
                throw CLIError.outputFailed(path: output, reason: ErrorReport(error).message)
            }
        }
        // The text view (as `generate` shows it) when a tokenizer is given or lies beside the model.
        let textTokenizer = (top != nil || decode != nil) ? try tokenOptions.optionalTokenizer(modelPath: model) : nil
        let generatedText = decode == nil ? nil : textTokenizer?.decode(result.generated, skippingSpecialTokens: true)
        if json {
            let positions = tokens + result.generated.dropLast()
            try Output.printJSON(LogitsReport(tokens: tokens, output: output, shape: result.logits.shape,
                                              top: top.map { Self.topEntries(result.logits, count: $0, tokens: positions, tokenizer: textTokenizer) },
                                              generated: decode == nil ? nil : result.generated, generatedText: generatedText, timing: timing,
                                              configuration: network.configuration), for: self)
            return
        }
        if decode != nil { Output.say("generated: " + result.generated.map(String.init).joined(separator: ",")) }
        if let generatedText { Output.say("text: " + Output.quoted(generatedText)) }
        if let top { Output.say(Self.topTokens(result.logits, count: top, tokens: tokens + result.generated.dropLast(), tokenizer: textTokenizer), terminator: "") }
    }

    static func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    /// One line per position: the input token and the `count` most likely next tokens with probabilities.
    static func topTokens(_ logits: Tensor, count: Int, tokens: [Int], tokenizer: BPETokenizer? = nil) -> String {
        var out = ""
        for position in topEntries(logits, count: count, tokens: tokens, tokenizer: tokenizer) {
            let entries = position.next.map {
                "\($0.token)" + ($0.text.map { " " + Output.quoted($0) } ?? "") + String(format: " (p=%.4f, logit=%.4f)", $0.probability, $0.logit)
            }
            out += "position \(position.position) token \(position.token)" + (position.text.map { " " + Output.quoted($0) } ?? "") + ": "
                + entries.joined(separator: ", ") + "\n"
        }
        return out
    }

    /// For each position, the input token and the `count` most likely next tokens (softmax in float64).
    static func topEntries(_ logits: Tensor, count: Int, tokens: [Int], tokenizer: BPETokenizer? = nil) -> [LogitsReport.Position] {
        let vocab = logits.shape[1]
        let k = min(count, vocab)
        return tokens.enumerated().map { position, token in
            let row = logits.data[(position * vocab)..<((position + 1) * vocab)]
            let maxLogit = row.max() ?? 0
            let total = row.reduce(0.0) { $0 + exp(Double($1 - maxLogit)) }
            let best = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k)
            let next = best.map { i in
                LogitsReport.Candidate(token: i - position * vocab, text: tokenizer?.decode([i - position * vocab]),
                                       probability: exp(Double(row[i] - maxLogit)) / total, logit: row[i])
            }
            return LogitsReport.Position(position: position, token: token, text: tokenizer?.decode([token]), next: next)
        }
    }
}
