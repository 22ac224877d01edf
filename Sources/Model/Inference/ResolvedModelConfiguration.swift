/// The complete, checked hyper-parameters a loaded model runs with (`--json`'s `configuration`).
public struct ResolvedModelConfiguration: Codable, Equatable, Sendable {
    /// The architecture family (`Architecture.name`).
    public var architecture: String
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var vocabSize: Int
    public var normEps: Float
    public var ropeTheta: Double
    /// Long-context rotary scaling, nil for plain RoPE.
    public var ropeScaling: RopeScaling?
    /// Experts per token for MoE layers (unused by dense models).
    public var expertsPerToken: Int
    public var normTopkProb: Bool
    /// The context length the model was built for, when known (attention beyond it is refused).
    public var maxPositionEmbeddings: Int?
    /// One line per value that neither config.json, the flags nor the weights gave, naming the value assumed.
    public var assumed: [String]

    public init(architecture: String = "minimind-v1", hiddenSize: Int, layerCount: Int, headCount: Int, kvHeadCount: Int, headDim: Int,
                vocabSize: Int, normEps: Float, ropeTheta: Double, ropeScaling: RopeScaling? = nil, expertsPerToken: Int, normTopkProb: Bool,
                maxPositionEmbeddings: Int? = nil, assumed: [String] = []) {
        self.architecture = architecture
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.vocabSize = vocabSize
        self.normEps = normEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.expertsPerToken = expertsPerToken
        self.normTopkProb = normTopkProb
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.assumed = assumed
    }

    enum CodingKeys: String, CodingKey {
        case architecture, hiddenSize = "hidden_size", layerCount = "num_hidden_layers", headCount = "num_attention_heads"
        case kvHeadCount = "num_key_value_heads", headDim = "head_dim", vocabSize = "vocab_size", normEps = "rms_norm_eps"
        case ropeTheta = "rope_theta", ropeScaling = "rope_scaling", expertsPerToken = "num_experts_per_tok"
        case normTopkProb = "norm_topk_prob", maxPositionEmbeddings = "max_position_embeddings", assumed
    }
}
