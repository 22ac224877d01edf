import PthReader

/// An output head whose weight equals the input embedding's (MiniMind's `output` tied to
/// `tok_embeddings`, Llama's `tie_word_embeddings`).
public struct TiedWeight: Codable, Sendable, Equatable {
    /// Tensor name of the head weight (`output.weight`).
    public var head: String
    /// Tensor name of the embedding weight it equals (`tok_embeddings.weight`).
    public var embedding: String
    /// True when the file stores one storage for both; false when it stores two equal copies
    /// (as float16 MiniMind releases do, since `.half()` unties them).
    public var sharedStorage: Bool
    /// Set when the file stores no head and its config declares the tie
    /// (`config.json tie_word_embeddings`); absent when the tie was found in the tensors.
    public var declaredBy: String? = nil

    enum CodingKeys: String, CodingKey {
        case head, embedding, sharedStorage = "shared_storage", declaredBy = "declared_by"
    }
}

extension ModuleTree {
    /// Finds the head tied to the embedding: same shape and dtype and identical bytes.
    ///
    /// Reads both weights only when they are stored apart, in chunks that stop at the first
    /// difference, so an untied model costs about one chunk of each.
    public func tiedHead(in checkpoint: Checkpoint) throws -> TiedWeight? {
        guard let head = head, let headWeight = head.parameter("weight") else { return nil }
        // Looks at each module's kind in place: copying a million modules out costs more than the test.
        for i in allModules.indices {
            guard case .embedding = allModules[i].kind else { continue }
            let module = allModules[i]
            guard let embedding = module.parameter("weight"),
                  embedding.shape == headWeight.shape, embedding.dtype == headWeight.dtype else { continue }
            if try checkpoint.contentsEqual(headWeight, embedding) {
                let shared = headWeight.storageKey == embedding.storageKey && headWeight.storageOffset == embedding.storageOffset
                return TiedWeight(head: headWeight.name, embedding: embedding.name, sharedStorage: shared)
            }
        }
        return nil
    }
}

extension ModuleTree {
    /// The model's parameter count as `sum(p.numel() for p in model.parameters())` gives it, and the tied head.
    ///
    /// Tensors under the tree's prefix, a storage view shared by several names counted once, and a
    /// head whose weight equals the embedding's counted once even when stored as two copies.
    public func parameterCount(in checkpoint: Checkpoint) throws -> (count: Int, tiedHead: TiedWeight?) {
        let tied = try tiedHead(in: checkpoint)
        return (TiedWeight.parameterCount(in: checkpoint, under: prefix, tied: tied), tied)
    }
}

extension TiedWeight {
    /// The tensors' element count under `prefix`, with a tied head stored as its own copy counted
    /// once (as `model.parameters()` counts it). Shared by `ModuleTree` and `ModuleTable`.
    static func parameterCount(in checkpoint: Checkpoint, under prefix: String, tied: TiedWeight?) -> Int {
        var count = checkpoint.parameterCount(under: prefix)
        if let tied, !tied.sharedStorage, let head = checkpoint.tensor(named: tied.head) {
            count -= head.elementCount
        }
        return count
    }
}
