import Foundation

/// Reader for model directories: Hugging Face (`config.json` with `model.safetensors`,
/// `pytorch_model.bin`, or shards listed by `*.index.json`) and PEFT adapters
/// (`adapter_config.json` with `adapter_model.safetensors` or `adapter_model.bin`).
///
/// Weights are chosen in transformers' order: `model.safetensors`, its index,
/// `pytorch_model.bin`, its index. Every file must be a regular file (symlinks to regular files,
/// as in the Hugging Face cache, are followed); shard names in an index must be plain file names.
enum DirectoryFormat {
    static func read(path: String) throws -> Checkpoint {
        let dir = URL(fileURLWithPath: path)
        /// The path of `name` inside the directory if something is there; it must be a regular file.
        func file(_ name: String) throws -> String? {
            let candidate = dir.appendingPathComponent(name).path
            guard let info = try RegularFile.status(candidate) else { return nil }
            if let refusal = RegularFile.refusal(forMode: info.st_mode) {
                throw PthReaderError.unreadable(path: candidate, reason: refusal)
            }
            return candidate
        }
        func data(_ name: String) throws -> Data? {
            try file(name).map { try RegularFile.read($0) }
        }
        if let adapterConfig = try data("adapter_config.json") {
            guard let weights = try file("adapter_model.safetensors") ?? file("adapter_model.bin") else {
                throw PthReaderError.malformed(path: path, entry: nil, reason: "PEFT adapter directory without adapter_model.safetensors or adapter_model.bin")
            }
            let inner = try Checkpoint.open(path: weights)
            return try Checkpoint(path: path, format: .peftDirectory, root: inner.root, storages: inner.storages,
                                  configJSON: try data("config.json"), adapterConfigJSON: adapterConfig)
        }
        let config = try data("config.json")
        for (weights, index) in [("model.safetensors", "model.safetensors.index.json"), ("pytorch_model.bin", "pytorch_model.bin.index.json")] {
            if let single = try file(weights) {
                let inner = try Checkpoint.open(path: single)
                return try Checkpoint(path: path, format: .huggingFaceDirectory, root: inner.root, storages: inner.storages, configJSON: config)
            }
            if let indexPath = try file(index) { return try sharded(path: path, indexPath: indexPath, config: config) }
        }
        throw PthReaderError.unrecognizedFormat(path: path, reason: "directory holds no model.safetensors, pytorch_model.bin, shard index or adapter_model file")
    }

    /// Opens every shard an index names and joins their tensors into one ordered dict.
    ///
    /// Every tensor the index lists must be in its shard, and every tensor of a shard must be
    /// listed for that shard: nothing is dropped or taken from the wrong shard silently.
    private static func sharded(path: String, indexPath: String, config: Data?) throws -> Checkpoint {
        let raw = try RegularFile.read(indexPath)
        guard let index = try? JSONSerialization.jsonObject(with: raw) as? [String: Any] else {
            throw PthReaderError.malformed(path: indexPath, entry: nil, reason: "index is not a JSON object")
        }
        guard let weightMap = index["weight_map"] as? [String: String] else {
            throw PthReaderError.malformed(path: indexPath, entry: "weight_map", reason: "index has no weight_map of tensor names to shard file names")
        }
        var items: [DictItem] = []
        var storages: [String: StorageLocation] = [:]
        for shard in Set(weightMap.values).sorted() {
            guard RegularFile.isPlainName(shard) else {
                throw PthReaderError.malformed(path: indexPath, entry: "weight_map",
                    reason: "shard name '\(shard.debugDescription.dropFirst().dropLast())' is not a plain file name inside the directory")
            }
            let shardPath = URL(fileURLWithPath: path).appendingPathComponent(shard).path
            let inner = try Checkpoint.open(path: shardPath)
            for tensor in inner.tensors {
                guard weightMap[tensor.name] == shard else {
                    throw PthReaderError.malformed(path: shardPath, entry: tensor.name,
                        reason: "the shard holds this tensor but \(URL(fileURLWithPath: indexPath).lastPathComponent) \(weightMap[tensor.name].map { "maps it to \($0)" } ?? "does not list it")")
                }
                var entry = tensor
                entry.storageKey = shard + ":" + tensor.storageKey
                storages[entry.storageKey] = inner.storages[tensor.storageKey]
                items.append(DictItem(key: .string(tensor.name), value: .tensor(entry)))
            }
        }
        let missing = Set(weightMap.keys).subtracting(items.map { $0.key.pathComponent })
        guard missing.isEmpty else {
            throw PthReaderError.malformed(path: indexPath, entry: nil, reason: "index names tensors no shard holds: \(missing.sorted().prefix(5).joined(separator: ", "))")
        }
        return try Checkpoint(path: path, format: .huggingFaceDirectory, root: .dict(items, ordered: true), storages: storages, configJSON: config)
    }
}
