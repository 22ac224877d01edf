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
            --decode feeds the tokens one at a time through the KV cache instead of one prefill pass. \
            --bench prints timings as one JSON line on stderr.
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

    @Flag(help: "Run token by token through the KV cache (the decoding path) instead of one prefill pass.")
    var decode = false

    @Flag(help: "Print load and forward timings as one JSON line on stderr.")
    var bench = false

    @Option(help: "With --bench: timed forward passes after one warm-up (default 1).")
    var `repeat`: Int = 1

    @OptionGroup var modelOptions: ModelOptions

    func validate() throws {
        if let top, top <= 0 { throw ValidationError("--top must be positive") }
        if `repeat` <= 0 { throw ValidationError("--repeat must be positive") }
        if tokenOptions.tokens == nil && tokenOptions.prompt == nil { throw ValidationError("give the input with --tokens IDS|FILE.npy or --prompt TEXT") }
        if output == nil && top == nil && !bench { throw ValidationError("nothing to do: give -o OUT.npy, --top N or --bench") }
    }

    func run() throws {
        let clock = ContinuousClock()
        let loadStart = clock.now
        let checkpoint = try Checkpoint.open(path: model)
        let configuration = try modelOptions.configuration(for: checkpoint)
        var pairs: [String: LoRAPair] = [:]
        if let lora { pairs = try LoRAAdapter.load(path: lora).bind(to: checkpoint).pairs }
        let network = try TransformerModel.load(checkpoint, configuration: configuration, adapters: pairs, mode: .unmerged)
        let loadTime = clock.now - loadStart
        guard let tokens = try tokenOptions.resolve(modelPath: model) else { throw ValidationError("no tokens given") }

        func pass() throws -> Tensor { decode ? try network.logitsDecoding(tokens) : try network.logits(for: tokens) }
        var logits: Tensor
        if bench {
            logits = try pass() // warm-up: tables, allocator, BLAS threads
            var times: [Double] = []
            for _ in 0..<`repeat` {
                let start = clock.now
                logits = try pass()
                times.append(Self.milliseconds(clock.now - start))
            }
            let best = times.min() ?? 0, mean = times.reduce(0, +) / Double(times.count)
            let report = BenchReport(mode: decode ? "decode" : "prefill", tokens: tokens.count, repeat: `repeat`,
                                     loadMs: Self.milliseconds(loadTime), bestMs: best, meanMs: mean,
                                     msPerToken: best / Double(tokens.count), tokensPerSecond: best > 0 ? Double(tokens.count) * 1000 / best : 0)
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            FileHandle.standardError.write(try encoder.encode(report) + Data("\n".utf8))
        } else {
            logits = try pass()
        }
        if let output { try Npy.write(logits, to: output) }
        if let top { print(Self.topTokens(logits, count: top, tokens: tokens), terminator: "") }
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

/// The `--bench` line: milliseconds of loading and of the best and mean timed forward pass.
struct BenchReport: Encodable {
    var mode: String
    var tokens: Int
    var `repeat`: Int
    var loadMs: Double
    var bestMs: Double
    var meanMs: Double
    var msPerToken: Double
    var tokensPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case mode, tokens, `repeat`
        case loadMs = "load_ms"
        case bestMs = "best_ms"
        case meanMs = "mean_ms"
        case msPerToken = "ms_per_token"
        case tokensPerSecond = "tokens_per_second"
    }
}
