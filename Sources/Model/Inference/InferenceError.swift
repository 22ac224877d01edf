/// Errors building or running a model; each is one readable line naming what is wrong.
public enum InferenceError: Error, CustomStringConvertible, Equatable {
    /// The checkpoint's tensor names match no supported architecture.
    case unknownArchitecture(path: String, sample: [String])
    /// A tensor the architecture needs is absent.
    case missingTensor(path: String, name: String)
    /// A tensor has a different shape than the architecture requires.
    case wrongShape(path: String, name: String, expected: [Int], found: [Int])
    /// A tensor is not floating point.
    case notFloatingPoint(path: String, name: String, dtype: String)
    /// Tensors the architecture does not use (strict loading).
    case unusedTensors(path: String, names: [String])
    /// Hyper-parameters that cannot describe these weights.
    case inconsistentConfiguration(String)
    /// A configuration file that cannot be read or parsed.
    case badConfiguration(path: String, reason: String)
    /// Adapter pairs for modules the model does not have, or with the wrong shapes.
    case adapterMismatch(String)
    /// An adapter delta the forward pass cannot run as given (refused by name rather than approximated).
    case unsupportedAdapter(module: String, kind: String, reason: String)
    /// A token id outside the vocabulary.
    case tokenOutOfRange(token: Int, vocabularySize: Int)
    /// An empty token sequence.
    case noTokens
    /// The KV cache belongs to a different model.
    case cacheMismatch

    public var description: String {
        switch self {
        case .unknownArchitecture(let path, let sample):
            return "\(path): tensor names match no supported architecture (MiniMind tok_embeddings/layers.N.attention.wq or Llama-style model.embed_tokens/model.layers.N.self_attn.q_proj); first names: \(sample.joined(separator: ", "))"
        case .missingTensor(let path, let name):
            return "\(path): missing tensor '\(name)'"
        case .wrongShape(let path, let name, let expected, let found):
            return "\(path): tensor '\(name)' has shape \(found), expected \(expected)"
        case .notFloatingPoint(let path, let name, let dtype):
            return "\(path): tensor '\(name)' has dtype \(dtype), expected a floating-point type"
        case .unusedTensors(let path, let names):
            let shown = names.prefix(5).joined(separator: ", ")
            return "\(path): \(names.count) tensor(s) not used by the architecture: \(shown)\(names.count > 5 ? ", ..." : "")"
        case .inconsistentConfiguration(let reason):
            return "inconsistent model configuration: \(reason)"
        case .badConfiguration(let path, let reason):
            return "\(path): bad model configuration: \(reason)"
        case .adapterMismatch(let reason):
            return "adapter does not fit the model: \(reason)"
        case .unsupportedAdapter(let module, let kind, let reason):
            return "cannot run the \(kind) adapter on '\(module)': \(reason)"
        case .tokenOutOfRange(let token, let vocabularySize):
            return "token id \(token) is outside the vocabulary (0..<\(vocabularySize))"
        case .noTokens:
            return "no tokens to run"
        case .cacheMismatch:
            return "the KV cache was made for a different model"
        }
    }
}
