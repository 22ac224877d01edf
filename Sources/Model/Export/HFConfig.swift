import Foundation
import PthReader

/// The JSON files of a Hugging Face model directory, in the keys the pinned transformers reads.
enum HFConfig {
    /// The transformers class and `model_type` of a family.
    static func architecture(of family: ExportFamily) -> (className: String, modelType: String) {
        switch family {
        case .miniMindV1, .llama: return ("LlamaForCausalLM", "llama")
        case .qwen3: return ("Qwen3ForCausalLM", "qwen3")
        case .qwen3Moe: return ("Qwen3MoeForCausalLM", "qwen3_moe")
        case .qwen2: return ("Qwen2ForCausalLM", "qwen2")
        }
    }

    /// The bos/eos ids: the model's configuration, else the tokenizer's special tokens.
    static func specialIDs(for model: ExportModel, tokenizer: TokenizerFiles?) throws -> (bos: Int?, eos: Int?) {
        (try model.bosTokenID ?? tokenizer?.specialTokenID("bos_token"), try model.eosTokenID ?? tokenizer?.specialTokenID("eos_token"))
    }

    /// `config.json`.
    static func configuration(for model: ExportModel, dtype: DType, tokenizer: TokenizerFiles?) throws -> [String: Any] {
        let c = model.configuration
        let (className, modelType) = architecture(of: model.family)
        var config: [String: Any] = [
            "architectures": [className],
            "model_type": modelType,
            "hidden_size": c.hiddenSize,
            "num_hidden_layers": c.layerCount,
            "num_attention_heads": c.headCount,
            "num_key_value_heads": c.kvHeadCount,
            "head_dim": c.headDim,
            "vocab_size": c.vocabSize,
            "rms_norm_eps": Double(String(c.normEps)) ?? Double(c.normEps),
            "rope_theta": c.ropeTheta,
            "rope_parameters": ropeParameters(model.ropeScaling, theta: c.ropeTheta),
            "max_position_embeddings": model.contextLength,
            "hidden_act": "silu",
            "attention_dropout": 0.0,
            "initializer_range": 0.02,
            "tie_word_embeddings": model.tiedHead,
            "use_cache": true,
            "torch_dtype": dtype.rawValue,
            "dtype": dtype.rawValue,
        ]
        let ids = try specialIDs(for: model, tokenizer: tokenizer)
        if let bos = ids.bos { config["bos_token_id"] = bos }
        if let eos = ids.eos { config["eos_token_id"] = eos }
        switch model.family {
        case .miniMindV1, .llama:
            config["intermediate_size"] = model.intermediateSize
            config["mlp_bias"] = false
            config["attention_bias"] = false
            config["pretraining_tp"] = 1
        case .qwen2:
            config["intermediate_size"] = model.intermediateSize
            config["use_sliding_window"] = false
            config["sliding_window"] = NSNull()
            config["max_window_layers"] = c.layerCount
        case .qwen3:
            config["attention_bias"] = false
            config["intermediate_size"] = model.intermediateSize
            config["use_sliding_window"] = false
            config["sliding_window"] = NSNull()
            config["max_window_layers"] = c.layerCount
        case .qwen3Moe:
            config["attention_bias"] = false
            config["intermediate_size"] = model.expertIntermediateSize
            config["moe_intermediate_size"] = model.expertIntermediateSize
            config["num_experts"] = model.expertCount
            config["num_experts_per_tok"] = c.expertsPerToken
            config["norm_topk_prob"] = c.normTopkProb
            config["decoder_sparse_step"] = 1
            config["mlp_only_layers"] = [Int]()
            config["output_router_logits"] = false
            config["router_aux_loss_coef"] = 0.001
            config["use_sliding_window"] = false
            config["sliding_window"] = NSNull()
            config["max_window_layers"] = c.layerCount
        }
        return config
    }

    /// `rope_parameters` as transformers reads them: the type, theta and the scaling's own keys.
    static func ropeParameters(_ scaling: RopeScaling?, theta: Double) -> [String: Any] {
        var p: [String: Any] = ["rope_type": "default", "rope_theta": theta]
        guard let scaling else { return p }
        p["rope_type"] = scaling.kind.rawValue
        p["factor"] = scaling.factor
        let optional: [(String, Any?)] = [
            ("original_max_position_embeddings", scaling.originalMaxPositionEmbeddings),
            ("low_freq_factor", scaling.lowFreqFactor), ("high_freq_factor", scaling.highFreqFactor),
            ("beta_fast", scaling.betaFast), ("beta_slow", scaling.betaSlow), ("attention_factor", scaling.attentionFactor),
            ("mscale", scaling.mscale), ("mscale_all_dim", scaling.mscaleAllDim), ("truncate", scaling.truncate),
        ]
        for case let (key, value?) in optional { p[key] = value }
        return p
    }

    /// `generation_config.json`.
    static func generationConfiguration(for model: ExportModel, tokenizer: TokenizerFiles?) throws -> [String: Any] {
        var config: [String: Any] = [:]
        let ids = try specialIDs(for: model, tokenizer: tokenizer)
        if let bos = ids.bos { config["bos_token_id"] = bos }
        if let eos = ids.eos { config["eos_token_id"] = eos }
        if let pad = try tokenizer?.specialTokenID("pad_token") { config["pad_token_id"] = pad }
        return config
    }

    /// Copies the tokenizer files into the output; writes a minimal `tokenizer_config.json` when the
    /// source has none. Returns the names written.
    static func writeTokenizer(_ tokenizer: TokenizerFiles, into output: AtomicOutputDirectory) throws -> [String] {
        func copy(_ url: URL, as name: String) throws {
            let data: Data
            do { data = try CompanionFile.contents(of: url) } catch {
                throw ExportError.tokenizer(path: url.path, reason: "cannot read: \(CompanionFile.reason(error))")
            }
            try output.write(data, to: name)
        }
        _ = try tokenizer.tokenizerObject()
        try copy(tokenizer.tokenizerJSON, as: "tokenizer.json")
        var names = ["tokenizer.json", "tokenizer_config.json"]
        if let config = tokenizer.tokenizerConfig {
            _ = try tokenizer.configObject()
            try copy(config, as: "tokenizer_config.json")
        } else {
            try output.write(HFDirectoryWriter.json(["tokenizer_class": "PreTrainedTokenizerFast"]), to: "tokenizer_config.json")
        }
        if let template = tokenizer.chatTemplateFile {
            try copy(template, as: "chat_template.jinja")
            names.append("chat_template.jinja")
        }
        return names
    }
}
