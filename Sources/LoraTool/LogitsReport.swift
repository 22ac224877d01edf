import Model

/// The JSON fields of `loratool logits --json` (schema in docs/json.md).
struct LogitsReport: Encodable {
    /// The input token ids.
    var tokens: [Int]
    /// The `.npy` file written, if any.
    var output: String?
    /// The shape of the logits (written or not): `[positions, vocab]`.
    var shape: [Int]
    /// With `--top`: the most likely next tokens at each position.
    var top: [Position]?
    /// With `--decode`: the generated token ids.
    var generated: [Int]?
    /// With `--decode` and a tokenizer: the generated text, special tokens skipped (as `generate` prints it).
    var generatedText: String?
    var timing: Timing
    /// The hyper-parameters the model ran with, including those it had to assume.
    var configuration: ResolvedModelConfiguration

    /// One position of `--top`.
    struct Position: Encodable {
        var position: Int
        var token: Int
        /// The input token's text, when a tokenizer is available.
        var text: String?
        var next: [Candidate]
    }

    /// One candidate next token.
    struct Candidate: Encodable {
        var token: Int
        /// The token's text (special tokens as written), when a tokenizer is available.
        var text: String?
        var probability: Double
        var logit: Float
    }

    /// Milliseconds spent loading the model and running it (with `--bench`: the best of `repeats`).
    struct Timing: Encodable {
        var loadMs: Double
        var runMs: Double
        var meanMs: Double?
        var repeats: Int?

        enum CodingKeys: String, CodingKey { case loadMs = "load_ms", runMs = "run_ms", meanMs = "mean_ms", repeats }
    }

    enum CodingKeys: String, CodingKey { case tokens, output, shape = "logits_shape", top, generated, timing, configuration }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(output, forKey: .output)
        try c.encode(shape, forKey: .shape)
        try c.encode(top, forKey: .top)
        try c.encode(generated, forKey: .generated)
        try c.encode(timing, forKey: .timing)
        try c.encode(configuration, forKey: .configuration)
    }
}
