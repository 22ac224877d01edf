extension ConfigurationResolver {
    /// The rotary scaling config.json asks for, read with the family's own conventions; nil for plain RoPE.
    mutating func resolveRopeScaling() throws -> RopeScaling? {
        let p = given.ropeParameters
        let kind = p?.kind ?? "default"
        switch architecture.ropeConvention {
        case .plainOnly:
            if given.inferenceRopeScaling == true || kind != "default" {
                throw InferenceError.inconsistentConfiguration("\(architecture.name) computes plain RoPE only, but config.json asks for rotary scaling ('\(given.inferenceRopeScaling == true ? "inference_rope_scaling" : "rope_scaling: " + kind)')")
            }
            return nil
        case .miniMind:
            // Upstream MiniMind builds its YaRN dict only when `inference_rope_scaling` is true and ignores any other rotary setting.
            guard given.inferenceRopeScaling == true else {
                if kind != "default" { assumed.append("ignored rope_scaling '\(kind)': upstream MiniMind applies it only with inference_rope_scaling = true") }
                return nil
            }
            guard kind == "yarn" || kind == "default" else {
                throw InferenceError.inconsistentConfiguration("inference_rope_scaling is true but rope_scaling type '\(kind)' is not MiniMind's YaRN")
            }
            let how = "upstream MiniMind's YaRN default"
            let maxPositions = given.maxPositionEmbeddings
                ?? assume("max_position_embeddings", architecture.defaults.maxPositionEmbeddings ?? 32768, "upstream MiniMind default")
            return RopeScaling(
                kind: .miniMindYaRN,
                factor: p?.factor ?? assume("rope_scaling.factor", 16.0, how),
                originalMaxPositionEmbeddings: p?.originalMaxPositionEmbeddings ?? assume("rope_scaling.original_max_position_embeddings", 2048, how),
                betaFast: p?.betaFast ?? assume("rope_scaling.beta_fast", 32.0, how),
                betaSlow: p?.betaSlow ?? assume("rope_scaling.beta_slow", 1.0, how),
                attentionFactor: p?.attentionFactor ?? assume("rope_scaling.attention_factor", 1.0, how),
                maxPositionEmbeddings: maxPositions)
        case .huggingFace:
            guard let p else { return nil }
            func need<T>(_ value: T?, _ key: String) throws -> T {
                guard let value else { throw InferenceError.inconsistentConfiguration("rope_scaling type '\(kind)' needs '\(key)' in config.json") }
                return value
            }
            switch kind {
            case "default":
                return nil
            case "linear":
                return RopeScaling(kind: .linear, factor: try need(p.factor, "factor"))
            case "yarn":
                // transformers' standardize_rope_params: the original length defaults to max_position_embeddings.
                let original = try p.originalMaxPositionEmbeddings ?? need(given.maxPositionEmbeddings, "original_max_position_embeddings")
                let factor = try p.factor ?? Double(need(given.maxPositionEmbeddings, "factor")) / Double(original)
                return RopeScaling(kind: .yarn, factor: factor, originalMaxPositionEmbeddings: original, betaFast: p.betaFast, betaSlow: p.betaSlow,
                                   attentionFactor: p.attentionFactor, mscale: p.mscale, mscaleAllDim: p.mscaleAllDim, truncate: p.truncate,
                                   maxPositionEmbeddings: given.maxPositionEmbeddings)
            case "llama3":
                return RopeScaling(kind: .llama3, factor: try need(p.factor, "factor"),
                                   originalMaxPositionEmbeddings: try need(p.originalMaxPositionEmbeddings, "original_max_position_embeddings"),
                                   lowFreqFactor: try need(p.lowFreqFactor, "low_freq_factor"), highFreqFactor: try need(p.highFreqFactor, "high_freq_factor"))
            default:
                throw InferenceError.inconsistentConfiguration("rope_scaling type '\(kind)' is not supported (supported: default, linear, yarn, llama3)")
            }
        }
    }
}
