import Foundation

/// Reader for model directories: Hugging Face (`config.json` with `model.safetensors`,
/// `pytorch_model.bin`, or shards listed by `*.index.json`) and PEFT adapters
/// (`adapter_config.json` with `adapter_model.safetensors` or `adapter_model.bin`).
enum DirectoryFormat {
    static func read(path: String) throws -> Checkpoint {
        let dir = URL(fileURLWithPath: path)
        func file(_ name: String) -> String? {
            let candidate = dir.appendingPathComponent(name).path
            return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
        }
        func data(_ name: String) throws -> Data? {
            guard let p = file(name) else { return nil }
            do { return try Data(contentsOf: URL(fileURLWithPath: p)) } catch {
                throw PthReaderError.unreadable(path: p, reason: error.localizedDescription)
            }
        }
        if let adapterConfig = try data("adapter_config.json") {
            guard let weights = file("adapter_model.safetensors") ?? file("adapter_model.bin") else {
                throw PthReaderError.malformed(path: path, entry: nil, reason: "PEFT adapter directory without adapter_model.safetensors or adapter_model.bin")
            }
            let inner = try Checkpoint.open(path: weights)
            return try Checkpoint(path: path, format: .peftDirectory, root: inner.root, storages: inner.storages,
                                  configJSON: try data("config.json"), adapterConfigJSON: adapterConfig)
        }
        let config = try data("config.json")
        for index in ["model.safetensors.index.json", "pytorch_model.bin.index.json"] {
            if let indexPath = file(index) { return try sharded(path: path, indexPath: indexPath, config: config) }
        }
        guard let weights = file("model.safetensors") ?? file("pytorch_model.bin") else {
            throw PthReaderError.unrecognizedFormat(path: path, reason: "directory holds no model.safetensors, pytorch_model.bin, shard index or adapter_model file")
        }
        let inner = try Checkpoint.open(path: weights)
        return try Checkpoint(path: path, format: .huggingFaceDirectory, root: inner.root, storages: inner.storages, configJSON: config)
    }

    /// Opens every shard an index names and joins their tensors into one ordered dict.
    private static func sharded(path: String, indexPath: String, config: Data?) throws -> Checkpoint {
        let raw = try Data(contentsOf: URL(fileURLWithPath: indexPath))
        guard let index = try? JSONSerialization.jsonObject(with: raw) as? [String: Any],
              let weightMap = index["weight_map"] as? [String: String] else {
            throw PthReaderError.malformed(path: indexPath, entry: nil, reason: "index has no weight_map")
        }
        var items: [DictItem] = []
        var storages: [String: StorageLocation] = [:]
        for shard in Set(weightMap.values).sorted() {
            guard !shard.contains("/") else { throw PthReaderError.malformed(path: indexPath, entry: shard, reason: "shard name leaves the directory") }
            let shardPath = URL(fileURLWithPath: path).appendingPathComponent(shard).path
            let inner = try Checkpoint.open(path: shardPath)
            for tensor in inner.tensors {
                guard weightMap[tensor.name] == shard else { continue }
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
