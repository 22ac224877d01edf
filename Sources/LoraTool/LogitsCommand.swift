import ArgumentParser
import Foundation
import Model
import PthReader

/// `loratool logits MODEL [--lora ADAPTER] --tokens 1,2,3 -o OUT.npy [--top N] [--decode] [--bench]`.
struct LogitsCommand: ParsableCommand {
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

    @Option(help: "Print the N most likely next tokens at each position.")
    var top: Int?

    @Option(help: ArgumentHelp("Greedily generate N new tokens after the input through the KV cache.",
                               discussion: "Prefills the input, then decodes one token at a time; -o then holds the logits of the input and of every generated token but the last, and the generated ids are printed on stdout."))
    var decode: Int?

    @Flag(help: "Print the resolved model configuration (architecture, heads, rope scaling, assumed values) as JSON on stdout.")
    var json = false

    @Flag(help: "Print model timings on stderr ('prefill: X ms for N tokens ...', 'decode: X ms for N new tokens ...').")
    var bench = false

    @Option(help: "With --bench: timed runs after one warm-up; the best is reported (default 1).")
    var `repeat`: Int = 1

    @OptionGroup var modelOptions: ModelOptions

    func validate() throws {
        if let top, top <= 0 { throw ValidationError("--top must be positive") }
        if let decode, decode <= 0 { throw ValidationError("--decode must be a positive number of new tokens") }
        if `repeat` <= 0 { throw ValidationError("--repeat must be positive") }
        if tokenOptions.tokens == nil && tokenOptions.prompt == nil { throw ValidationError("give the input with --tokens IDS|FILE.npy or --prompt TEXT") }
        if output == nil && top == nil && decode == nil && !bench && !json { throw ValidationError("nothing to do: give -o OUT.npy, --top N, --decode N, --bench or --json") }
    }

    func run() throws {
        BLASRuntime.reexecWithFasterKernelsIfNeeded()
        let clock = ContinuousClock()
        let loadStart = clock.now
        let checkpoint = try Checkpoint.open(path: model)
        let configuration = try modelOptions.configuration(for: checkpoint)
        var pairs: [String: LoRAPair] = [:]
        if let lora {
            let bound = try LoRAAdapter.load(path: lora).bind(to: checkpoint)
            try bound.requirePlainLoRAForward()
            pairs = bound.pairs
        }
        let network = try TransformerModel.load(checkpoint, configuration: configuration, adapters: pairs, mode: .unmerged)
        ModelOptions.reportAssumptions(network.configuration)
        if json { try Output.printJSON(["configuration": network.configuration]) }
        let loadTime = clock.now - loadStart
        guard let tokens = try tokenOptions.resolve(modelPath: model) else { throw ValidationError("no tokens given") }

        // One run: prefill, or prefill + greedy decoding of `decode` new tokens.
        func pass() throws -> (logits: Tensor, generated: [Int]) {
            guard let decode else { return (try network.logits(for: tokens), []) }
            let result = try network.generateGreedy(prompt: tokens, newTokens: decode)
            return (result.logits, result.generated)
        }
        var result: (logits: Tensor, generated: [Int])
        if bench {
            result = try pass() // warm-up: rotary tables, allocator, BLAS threads
            var times: [Double] = []
            for _ in 0..<`repeat` {
                let start = clock.now
                result = try pass()
                times.append(Self.milliseconds(clock.now - start))
            }
            let best = times.min() ?? 0, mean = times.reduce(0, +) / Double(times.count)
            let load = Self.milliseconds(loadTime)
            let line: String
            if let decode {
                line = String(format: "decode: %.3f ms for %d new tokens after a prompt of %d, prefill included (%.3f ms/token, %.0f tok/s; best of %d, mean %.3f ms); load %.3f ms",
                              best, decode, tokens.count, best / Double(decode), Double(decode) * 1000 / max(best, 1e-9), `repeat`, mean, load)
            } else {
                line = String(format: "prefill: %.3f ms for %d tokens (%.0f tok/s; best of %d, mean %.3f ms); load %.3f ms",
                              best, tokens.count, Double(tokens.count) * 1000 / max(best, 1e-9), `repeat`, mean, load)
            }
            FileHandle.standardError.write(Data((line + "; OpenBLAS \(BLASRuntime.coreName) kernels\n").utf8))
        } else {
            result = try pass()
        }
        if let output { try Npy.write(result.logits, to: output) }
        if decode != nil { print("generated: " + result.generated.map(String.init).joined(separator: ",")) }
        if let top { print(Self.topTokens(result.logits, count: top, tokens: tokens + result.generated.dropLast()), terminator: "") }
    }

    static func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    /// One line per position: the input token and the `count` most likely next tokens with probabilities.
    static func topTokens(_ logits: Tensor, count: Int, tokens: [Int]) -> String {
        let vocab = logits.shape[1]
        let k = min(count, vocab)
        var out = ""
        for (position, token) in tokens.enumerated() {
            let row = logits.data[(position * vocab)..<((position + 1) * vocab)]
            let maxLogit = row.max() ?? 0
            let total = row.reduce(0.0) { $0 + exp(Double($1 - maxLogit)) }
            let best = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k)
            let entries = best.map { i in
                String(format: "%d (p=%.4f, logit=%.4f)", i - position * vocab, exp(Double(row[i] - maxLogit)) / total, row[i])
            }
            out += "position \(position) token \(token): " + entries.joined(separator: ", ") + "\n"
        }
        return out
    }
}
