import Foundation

/// The fields of PEFT's `adapter_config.json` that decide how a LoRA adapter merges.
///
/// Unknown fields are ignored; missing ones take PEFT's defaults (`r` 8, `lora_alpha` 8).
public struct PEFTAdapterConfig: Codable, Sendable, Equatable {
    public var peftType: String?
    public var r: Int
    public var loraAlpha: Double
    public var useRslora: Bool
    public var useDora: Bool
    public var fanInFanOut: Bool
    public var rankPattern: [String: Int]
    public var alphaPattern: [String: Double]
    public var targetModules: TargetModules?
    /// PEFT's `lora_bias` (a bias on B): not supported.
    public var loraBias: Bool
    public var baseModelNameOrPath: String?
    /// `modules_to_save`: modules whose full tensors the adapter stores and that replace the base ones.
    public var modulesToSave: [String]?

    /// `target_modules`: a list of names, or one regular expression.
    public enum TargetModules: Codable, Sendable, Equatable {
        case list([String])
        case pattern(String)

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .pattern(s) } else { self = .list(try c.decode([String].self)) }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .list(let l): try c.encode(l)
            case .pattern(let s): try c.encode(s)
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type"
        case r
        case loraAlpha = "lora_alpha"
        case useRslora = "use_rslora"
        case useDora = "use_dora"
        case fanInFanOut = "fan_in_fan_out"
        case rankPattern = "rank_pattern"
        case alphaPattern = "alpha_pattern"
        case targetModules = "target_modules"
        case loraBias = "lora_bias"
        case baseModelNameOrPath = "base_model_name_or_path"
        case modulesToSave = "modules_to_save"
    }

    public init(r: Int = 8, loraAlpha: Double = 8, useRslora: Bool = false, useDora: Bool = false, fanInFanOut: Bool = false,
                rankPattern: [String: Int] = [:], alphaPattern: [String: Double] = [:], targetModules: TargetModules? = nil) {
        self.peftType = "LORA"
        self.r = r
        self.loraAlpha = loraAlpha
        self.useRslora = useRslora
        self.useDora = useDora
        self.fanInFanOut = fanInFanOut
        self.rankPattern = rankPattern
        self.alphaPattern = alphaPattern
        self.targetModules = targetModules
        self.loraBias = false
        self.baseModelNameOrPath = nil
        self.modulesToSave = nil
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peftType = try c.decodeIfPresent(String.self, forKey: .peftType)
        r = try c.decodeIfPresent(Int.self, forKey: .r) ?? 8
        loraAlpha = try c.decodeIfPresent(Double.self, forKey: .loraAlpha) ?? 8
        useRslora = try c.decodeIfPresent(Bool.self, forKey: .useRslora) ?? false
        useDora = try c.decodeIfPresent(Bool.self, forKey: .useDora) ?? false
        fanInFanOut = try c.decodeIfPresent(Bool.self, forKey: .fanInFanOut) ?? false
        rankPattern = try c.decodeIfPresent([String: Int].self, forKey: .rankPattern) ?? [:]
        alphaPattern = try c.decodeIfPresent([String: Double].self, forKey: .alphaPattern) ?? [:]
        if let problem = try PEFTAdapterConfig.checkPatterns(Array(rankPattern.keys), field: "rank_pattern") {
            throw DecodingError.dataCorruptedError(forKey: .rankPattern, in: c, debugDescription: problem)
        }
        if let problem = try PEFTAdapterConfig.checkPatterns(Array(alphaPattern.keys), field: "alpha_pattern") {
            throw DecodingError.dataCorruptedError(forKey: .alphaPattern, in: c, debugDescription: problem)
        }
        targetModules = try c.decodeIfPresent(TargetModules.self, forKey: .targetModules)
        loraBias = try c.decodeIfPresent(Bool.self, forKey: .loraBias) ?? false
        baseModelNameOrPath = try c.decodeIfPresent(String.self, forKey: .baseModelNameOrPath)
        modulesToSave = try c.decodeIfPresent([String].self, forKey: .modulesToSave)
    }

    /// PEFT's `get_pattern_key`: the first pattern key `k` (in the file's order) such that the
    /// module name matches the regular expression `(.*\.)?(k)$` from its start, or nil.
    ///
    /// Matched by `LinearRegex`, in time linear in the name, so that a key like `(.*)*X` cannot
    /// hang; keys were checked when the config was decoded (see `checkPatterns`).
    public static func patternKey(_ keys: [String], matching module: String) -> String? {
        for key in keys {
            guard let re = try? LinearRegex("(.*\\.)?(" + key + ")") else { continue }
            if re.fullMatch(module) { return key }
        }
        return nil
    }

    /// Throws for a `rank_pattern` or `alpha_pattern` key that is not a valid pattern, as PEFT's
    /// `re.match` would raise (or that uses syntax the linear-time matcher refuses).
    static func checkPatterns(_ keys: [String], field: String) throws -> String? {
        for key in keys {
            do { _ = try LinearRegex("(.*\\.)?(" + key + ")") } catch let error as LinearRegex.PatternError {
                return "\(field) key '\(key)' is not a usable regular expression: \(error.reason)"
            }
        }
        return nil
    }

    /// The rank PEFT gives `module` (its `rank_pattern` entry, else `r`).
    public func rank(for module: String, patternOrder: [String]? = nil) -> Int {
        let keys = patternOrder?.filter { rankPattern[$0] != nil } ?? rankPattern.keys.sorted()
        return PEFTAdapterConfig.patternKey(keys, matching: module).flatMap { rankPattern[$0] } ?? r
    }

    /// The alpha PEFT gives `module` (its `alpha_pattern` entry, else `lora_alpha`).
    public func alpha(for module: String, patternOrder: [String]? = nil) -> Double {
        let keys = patternOrder?.filter { alphaPattern[$0] != nil } ?? alphaPattern.keys.sorted()
        return PEFTAdapterConfig.patternKey(keys, matching: module).flatMap { alphaPattern[$0] } ?? loraAlpha
    }

    /// PEFT's scaling for `module`: `alpha / r`, or `alpha / sqrt(r)` with rsLoRA.
    public func scale(for module: String, rankOrder: [String]? = nil, alphaOrder: [String]? = nil) -> Float {
        let rank = Double(rank(for: module, patternOrder: rankOrder))
        let alpha = alpha(for: module, patternOrder: alphaOrder)
        return Float(useRslora ? alpha / rank.squareRoot() : alpha / rank)
    }
}
