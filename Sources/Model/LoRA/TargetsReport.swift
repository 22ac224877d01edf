import PthReader

/// What `loratool targets` reports: the modules an adapter would cover and its size.
///
/// Encodes as `{"rank", "targets": [{"module", "in_features", "out_features", "lora_parameters"}],
/// "lora_parameters", "model_parameters"}`.
public struct TargetsReport: Sendable, Equatable, Codable {
    public var rank: Int
    public var targets: [LoRATarget]
    /// Sum of `r · (in + out)` over the targets.
    public var loraParameters: Int
    /// Elements of the model's state dict, tied storages counted once (see `StateDictLocator`).
    public var modelParameters: Int

    enum CodingKeys: String, CodingKey {
        case rank, targets
        case loraParameters = "lora_parameters"
        case modelParameters = "model_parameters"
    }

    /// The adapter's share of the model's parameters, in percent.
    public var percentOfModel: Double {
        modelParameters == 0 ? 0 : 100 * Double(loraParameters) / Double(modelParameters)
    }

    /// Selects targets in a checkpoint's model state dict; an empty selection is an error naming it.
    ///
    /// `model_parameters` is `ModuleTree.parameterCount(in:)`: the state dict's tensors only (a
    /// training checkpoint's optimizer state is not counted), a tied head counted once.
    public static func make(checkpoint: Checkpoint, selector: TargetSelector, rank: Int) throws -> TargetsReport {
        guard rank > 0 else { throw LoRAError.badRank(path: checkpoint.path, rank: rank) }
        let prefix = StateDictLocator.prefix(of: checkpoint)
        // The flat table: no `Module` (path, parameters, children) per module of a million.
        let table = ModuleTable(tensors: checkpoint.tensors, prefix: prefix)
        let targets = LoRATarget.targets(in: table, selector: selector, rank: rank)
        if targets.isEmpty {
            throw LoRAError.noTargets(path: checkpoint.path, selector: selector, linears: table.linearPaths)
        }
        let modelParameters = try table.parameterCount(in: checkpoint).count
        var total = 0
        for target in targets {
            let (sum, overflow) = total.addingReportingOverflow(target.loraParameters)
            guard !overflow, target.loraParameters != Int.max else { throw LoRAError.badRank(path: checkpoint.path, rank: rank) }
            total = sum
        }
        return TargetsReport(rank: rank, targets: targets, loraParameters: total,
                             modelParameters: modelParameters)
    }
}
