import Foundation
import PthReader

extension InspectionReport {
    /// What `declared_by` says of a tie the config declares rather than the file shows.
    public static let configTieSource = "config.json tie_word_embeddings"

    /// Records the head of a Hugging Face directory that `save_pretrained` did not store because
    /// its config sets `tie_word_embeddings: true`: the head is the embedding, by declaration.
    ///
    /// Nothing changes when a tie was already found in the tensors, when a head weight is stored,
    /// or when the config does not say `true`.
    public mutating func recordConfigTiedHead(_ checkpoint: Checkpoint) {
        guard tiedHead == nil, let data = checkpoint.configJSON,
              let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              config["tie_word_embeddings"] as? Bool == true else { return }
        let names = checkpoint.tensors.map(\.name)
        guard !names.contains(where: { $0 == "lm_head.weight" || $0.hasSuffix(".lm_head.weight") || $0 == "output.weight" }),
              let embedding = names.first(where: { $0.hasSuffix("embed_tokens.weight") || $0.hasSuffix("tok_embeddings.weight") })
        else { return }
        tiedHead = TiedWeight(head: stateDictPrefix + "lm_head.weight", embedding: embedding, sharedStorage: true,
                              declaredBy: Self.configTieSource)
    }
}
