import PthReader

/// What a module is, inferred from its parameter names and shapes (no Python class names are stored).
public enum ModuleKind: Sendable, Equatable, Hashable {
    /// `nn.Linear`: a 2-D `weight` `[out, in]` and an optional 1-D `bias` `[out]`.
    case linear(inFeatures: Int, outFeatures: Int, bias: Bool)
    /// `nn.Embedding`: a 2-D `weight` `[num, dim]` under an embedding-like name.
    case embedding(count: Int, dim: Int)
    /// RMSNorm: a 1-D `weight` under a `*norm*` / `ln_*` name, no bias.
    case rmsNorm(dim: Int)
    /// LayerNorm: like RMSNorm but with a `bias`.
    case layerNorm(dim: Int)
    /// A mixture-of-experts router (`feed_forward.gate.weight` `[experts, dim]`): a raw parameter, not an `nn.Linear`.
    case moeGate(experts: Int, dim: Int)
    /// `nn.ModuleList`: every child is numbered `0, 1, ...`.
    case moduleList(count: Int)
    /// A module with children and no parameters of its own (`layers.0`, `attention`, the root).
    case container
    /// Anything else that owns parameters, kept as its parameter names and shapes.
    case generic(parameters: [ParameterShape])

    /// Whether this is an `nn.Linear` (the only kind LoRA adapters attach to).
    public var isLinear: Bool {
        if case .linear = self { return true }
        return false
    }

    /// `(in, out)` of a Linear, nil for other kinds.
    public var linearFeatures: (inFeatures: Int, outFeatures: Int)? {
        if case .linear(let i, let o, _) = self { return (i, o) }
        return nil
    }
}

/// A parameter's local name and shape, for modules of unknown kind.
public struct ParameterShape: Sendable, Equatable, Hashable {
    public var name: String
    public var shape: [Int]
    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }
}

/// One entry of the module tree, like one item of PyTorch's `model.named_modules()`.
public struct Module: Sendable, Equatable {
    /// Dotted module path relative to the model (`layers.0.attention.wq`); `""` for the root.
    public let path: String
    public let kind: ModuleKind
    /// The module's own parameters (not its children's), with their full tensor names as given.
    public let parameters: [TensorEntry]
    /// Whether this Linear is the model's output head (`output`, `lm_head`).
    public let isHead: Bool
    /// Paths of the direct child modules, in first-appearance order.
    public let children: [String]
    /// Positions of `parameters` in the tensor list the tree was built from (empty when built by hand).
    public let parameterIndices: [Int]

    public init(path: String, kind: ModuleKind, parameters: [TensorEntry], isHead: Bool = false, children: [String] = [],
                parameterIndices: [Int] = []) {
        self.path = path
        self.kind = kind
        self.parameters = parameters
        self.isHead = isHead
        self.children = children
        self.parameterIndices = parameterIndices
    }

    /// The last path component (`wq`), `""` for the root.
    public var name: String {
        path.split(separator: ".", omittingEmptySubsequences: false).last.map(String.init) ?? ""
    }

    /// Nesting depth: 0 for the root, 1 for `layers`, 2 for `layers.0`, ...
    public var depth: Int {
        path.isEmpty ? 0 : path.split(separator: ".", omittingEmptySubsequences: false).count
    }

    /// The parameter with this local name (`weight`, `bias`).
    public func parameter(_ local: String) -> TensorEntry? {
        parameters.first { $0.name == local || $0.name.hasSuffix("." + local) }
    }

    /// Number of elements in this module's own parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.elementCount } }

    /// A one-line PyTorch-repr-style description: `Linear(in=64, out=64, bias=False)`, `Embedding(6400, 64)`, `RMSNorm(64)`.
    public var summary: String { kind.summary }
}

extension ModuleKind {
    /// A one-line PyTorch-repr-style description of a module of this kind (`Module.summary`).
    public var summary: String {
        var bytes: [UInt8] = []
        appendSummary(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `summary`'s UTF-8 bytes: no `String` per module when a million are listed.
    package func appendSummary(to out: inout [UInt8]) {
        func text(_ s: StaticString) { out.append(literal: s) }
        func number(_ n: Int) { out.append(decimal: n) }
        switch self {
        case .linear(let i, let o, let bias):
            text("Linear(in="); number(i); text(", out="); number(o); text(bias ? ", bias=True)" : ", bias=False)")
        case .embedding(let n, let d):
            text("Embedding("); number(n); text(", "); number(d); text(")")
        case .rmsNorm(let d):
            text("RMSNorm("); number(d); text(")")
        case .layerNorm(let d):
            text("LayerNorm("); number(d); text(")")
        case .moeGate(let e, let d):
            text("MoEGate(experts="); number(e); text(", dim="); number(d); text(")")
        case .moduleList(let n):
            text("ModuleList("); number(n); text(")")
        case .container:
            text("Module")
        case .generic(let params):
            text("Module(")
            for (k, p) in params.enumerated() {
                if k > 0 { text(", ") }
                var name = p.name
                name.withUTF8 { out.append(contentsOf: $0) }
                text("=[")
                for (j, size) in p.shape.enumerated() {
                    if j > 0 { text(", ") }
                    number(size)
                }
                text("]")
            }
            text(")")
        }
    }
}
