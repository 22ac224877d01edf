import Foundation
import PthReader

/// Reading PEFT adapters: `adapter_config.json` plus `base_model.model.<module>.lora_A.weight` keys,
/// DoRA magnitude vectors, embedding adapters and `modules_to_save` tensors.
extension LoRAAdapter {
    /// What one PEFT key is, once the `base_model.model.` prefix is removed.
    enum PEFTKey {
        case half(module: String, isA: Bool, embedding: Bool)
        case magnitude(module: String)
        case other
    }

    static let linearKey = try! NSRegularExpression(pattern: #"^(.*)\.lora_(A|B)(\.[^.]+)?\.weight$"#)
    static let embeddingKey = try! NSRegularExpression(pattern: #"^(.*)\.lora_embedding_(A|B)(\.[^.]+)?$"#)
    static let magnitudeKey = try! NSRegularExpression(pattern: #"^(.*)\.lora_magnitude_vector(\.[^.]+)?(\.weight)?$"#)

    static func classify(_ key: String) -> PEFTKey {
        func groups(_ re: NSRegularExpression) -> [String]? {
            guard let m = re.firstMatch(in: key, range: NSRange(key.startIndex..., in: key)) else { return nil }
            return (1..<m.numberOfRanges).map { i in Range(m.range(at: i), in: key).map { String(key[$0]) } ?? "" }
        }
        if let g = groups(magnitudeKey) { return .magnitude(module: g[0]) }
        if let g = groups(embeddingKey) { return .half(module: g[0], isA: g[1] == "A", embedding: true) }
        if let g = groups(linearKey) { return .half(module: g[0], isA: g[1] == "A", embedding: false) }
        return .other
    }

    /// A `modules_to_save` key (`<module>.<param>` or `<module>.modules_to_save.<name>.<param>`) as
    /// (module, parameter), when its module ends with one of the configured names.
    static func savedModule(_ key: String, modulesToSave: [String]) -> (module: String, parameter: String)? {
        guard !modulesToSave.isEmpty, let dot = key.lastIndex(of: ".") else { return nil }
        var module = String(key[..<dot])
        let parameter = String(key[key.index(after: dot)...])
        if let range = module.range(of: ".modules_to_save.", options: .backwards) { module = String(module[..<range.lowerBound]) }
        let matches = modulesToSave.contains { module == $0 || module.hasSuffix("." + $0) }
        return matches ? (module, parameter) : nil
    }

    static func loadPEFT(_ checkpoint: Checkpoint) throws -> LoRAAdapter {
        let path = checkpoint.path
        var configData = checkpoint.adapterConfigJSON
        var configPath = path
        if configData == nil {
            let beside = CompanionFile.directory(of: path).appendingPathComponent("adapter_config.json")
            configPath = beside.path
            if (try? RegularFile.status(beside.path)) != nil {
                do { configData = try CompanionFile.contents(of: beside, limit: 64 << 20) } catch {
                    throw LoRAError.badConfig(path: beside.path, reason: CompanionFile.reason(error))
                }
            }
        }
        guard let data = configData else {
            throw LoRAError.badConfig(path: path, reason: "PEFT-style keys but no adapter_config.json beside them; its r and lora_alpha decide the scale")
        }
        let config: PEFTAdapterConfig
        do {
            config = try JSONDecoder().decode(PEFTAdapterConfig.self, from: data)
        } catch let error as DecodingError {
            throw LoRAError.badConfig(path: configPath, reason: error.reason)
        } catch {
            throw LoRAError.badConfig(path: configPath, reason: "cannot decode: \(error)")
        }
        if let type = config.peftType, type.uppercased() != "LORA" {
            throw LoRAError.unsupported(path: path, feature: "peft_type \(type) (only LORA adapters merge here)")
        }
        if config.loraBias || checkpoint.tensors.contains(where: { $0.name.contains(".lora_B.") && $0.name.hasSuffix(".bias") }) {
            throw LoRAError.unsupported(path: path, feature: "lora_bias (a bias on lora_B)")
        }
        guard config.r > 0 else { throw LoRAError.badConfig(path: configPath, reason: "r must be positive, got \(config.r)") }
        for (k, v) in config.rankPattern where v <= 0 {
            throw LoRAError.badConfig(path: configPath, reason: "rank_pattern[\(k)] must be positive, got \(v)")
        }
        let rankOrder = orderedKeys(of: "rank_pattern", in: data) ?? config.rankPattern.keys.sorted()
        let alphaOrder = orderedKeys(of: "alpha_pattern", in: data) ?? config.alphaPattern.keys.sorted()

        var order: [String] = []
        var byModule: [String: Entry] = [:]
        var replacements: [Replacement] = []
        var stray: [String] = []
        func entry(_ module: String) {
            if byModule[module] == nil {
                order.append(module)
                byModule[module] = Entry(module: module,
                                         scale: config.scale(for: module, rankOrder: rankOrder, alphaOrder: alphaOrder),
                                         configRank: config.rank(for: module, patternOrder: rankOrder))
            }
        }
        for t in checkpoint.tensors {
            let key = t.name.hasPrefix(peftPrefix) ? String(t.name.dropFirst(peftPrefix.count)) : t.name
            switch classify(key) {
            case .half(let module, let isA, let embedding):
                let tensor = try readTensor(checkpoint, t)
                entry(module)
                byModule[module]!.isEmbedding = byModule[module]!.isEmbedding || embedding
                if isA { byModule[module]!.a = tensor; byModule[module]!.aKey = t.name } else { byModule[module]!.b = tensor; byModule[module]!.bKey = t.name }
            case .magnitude(let module):
                let tensor = try readTensor(checkpoint, t)
                entry(module)
                byModule[module]!.magnitude = tensor
                byModule[module]!.magnitudeKey = t.name
            case .other:
                if let saved = savedModule(key, modulesToSave: config.modulesToSave ?? []) {
                    replacements.append(Replacement(key: t.name, module: saved.module, parameter: saved.parameter, tensor: try readTensor(checkpoint, t)))
                } else {
                    stray.append(t.name)
                }
            }
        }
        if config.useDora, let plain = order.first(where: { byModule[$0]!.magnitude == nil }) {
            throw LoRAError.badConfig(path: configPath, reason: "use_dora is true but \(plain) has no lora_magnitude_vector; a DoRA merge needs it")
        }
        return LoRAAdapter(path: path, format: .peft, config: config, entries: order.map { byModule[$0]! },
                           replacements: replacements, strayKeys: stray)
    }
}
