import PthReader

/// The module tree of `ModuleTree` as flat arrays: paths as byte ranges of one buffer, parameters
/// as ranges of one array of tensor positions, no `Module` value or path `String` per module.
///
/// Same modules, order, kinds, heads and parameters as `ModuleTree(tensors:prefix:)` gives
/// (`ModuleTableTests` compares them); built for `inspect` and `targets` of files of a million
/// tensors, where a `Module` per module (its path, its parameters' entries, its children's paths)
/// cost more than everything else. Module 0 is the root `""`; modules come in `named_modules()`
/// order (pre-order).
public struct ModuleTable: Sendable {
    /// The prefix stripped from tensor names to get module paths (`"model."` for a training checkpoint).
    public let prefix: String
    /// Every module path's UTF-8 bytes, one after another; module `m`'s are
    /// `pathBytes[pathStart[m] ..< pathStart[m] + pathLength[m]]`.
    package let pathBytes: [UInt8]
    package let pathStart: [Int]
    package let pathLength: [Int32]
    /// Each module's kind, and whether it is the output head.
    package let kinds: [ModuleKind]
    package let heads: [Bool]
    /// Module `m`'s own parameters are the tensors at `parameters[parameterStart[m] ..< parameterStart[m + 1]]`.
    package let parameterStart: [Int]
    package let parameters: [Int32]

    /// Number of modules, the root included.
    public var count: Int { kinds.count }

    /// Builds the table of the tensors whose names start with `prefix` (as `ModuleTree` does).
    ///
    /// Names that are all ASCII are cut and grouped on their bytes (`ModuleTable+Build.swift`),
    /// where byte equality is `String` equality; a name with any other character goes through
    /// `ModuleTree`, whose module paths are `String`s (canonically equal paths are one module).
    public init(tensors: [TensorEntry], prefix: String = "") {
        if let built = ModuleTable.buildASCII(tensors: tensors, prefix: prefix) {
            self = built
        } else {
            self.init(tree: ModuleTree(tensors: tensors, prefix: prefix))
        }
    }

    /// The table of an existing tree (its modules must carry their `parameterIndices`).
    public init(tree: ModuleTree) {
        var bytes: [UInt8] = [], start: [Int] = [], length: [Int32] = []
        var kinds: [ModuleKind] = [], heads: [Bool] = [], parameterStart: [Int] = [0], parameters: [Int32] = []
        for module in tree.allModules {
            start.append(bytes.count)
            bytes.append(contentsOf: module.path.utf8)
            length.append(Int32(module.path.utf8.count))
            kinds.append(module.kind)
            heads.append(module.isHead)
            parameters.append(contentsOf: module.parameterIndices.map { Int32($0) })
            parameterStart.append(parameters.count)
        }
        self.init(prefix: tree.prefix, pathBytes: bytes, pathStart: start, pathLength: length, kinds: kinds, heads: heads,
                  parameterStart: parameterStart, parameters: parameters)
    }

    package init(prefix: String, pathBytes: [UInt8], pathStart: [Int], pathLength: [Int32], kinds: [ModuleKind], heads: [Bool],
                 parameterStart: [Int], parameters: [Int32]) {
        self.prefix = prefix
        self.pathBytes = pathBytes
        self.pathStart = pathStart
        self.pathLength = pathLength
        self.kinds = kinds
        self.heads = heads
        self.parameterStart = parameterStart
        self.parameters = parameters
    }

    /// Module `m`'s path bytes.
    package func pathUTF8(_ m: Int) -> ArraySlice<UInt8> {
        pathBytes[pathStart[m] ..< pathStart[m] + Int(pathLength[m])]
    }

    /// Module `m`'s dotted path (`""` for the root).
    public func path(_ m: Int) -> String {
        String(decoding: pathUTF8(m), as: UTF8.self)
    }

    /// Whether module `m`'s path is all ASCII.
    package func pathIsASCII(_ m: Int) -> Bool {
        pathUTF8(m).allSatisfy { $0 < 0x80 }
    }

    /// Positions of module `m`'s own parameters in the tensor list the table was built from.
    package func parameterPositions(_ m: Int) -> ArraySlice<Int32> {
        parameters[parameterStart[m] ..< parameterStart[m + 1]]
    }

    /// The first module marked as the output head, if any.
    public var head: Int? { heads.firstIndex(of: true) }

    /// Module `m`'s parameter with this local name, as `Module.parameter(_:)` finds it.
    package func parameter(_ local: String, of m: Int, in tensors: [TensorEntry]) -> TensorEntry? {
        for p in parameterPositions(m) {
            let name = tensors[Int(p)].name
            if name == local || name.hasSuffix("." + local) { return tensors[Int(p)] }
        }
        return nil
    }

    /// The head tied to the embedding, as `ModuleTree.tiedHead(in:)` finds it.
    public func tiedHead(in checkpoint: Checkpoint) throws -> TiedWeight? {
        let tensors = checkpoint.tensors
        guard let head, let headWeight = parameter("weight", of: head, in: tensors) else { return nil }
        for m in kinds.indices {
            guard case .embedding = kinds[m] else { continue }
            guard let embedding = parameter("weight", of: m, in: tensors),
                  embedding.shape == headWeight.shape, embedding.dtype == headWeight.dtype else { continue }
            if try checkpoint.contentsEqual(headWeight, embedding) {
                let shared = headWeight.storageKey == embedding.storageKey && headWeight.storageOffset == embedding.storageOffset
                return TiedWeight(head: headWeight.name, embedding: embedding.name, sharedStorage: shared)
            }
        }
        return nil
    }

    /// The model's parameter count and tied head, as `ModuleTree.parameterCount(in:)` gives them.
    public func parameterCount(in checkpoint: Checkpoint) throws -> (count: Int, tiedHead: TiedWeight?) {
        let tied = try tiedHead(in: checkpoint)
        return (TiedWeight.parameterCount(in: checkpoint, under: prefix, tied: tied), tied)
    }

    /// Paths of every Linear, in module order (the head included), as `ModuleTree.linears` lists them.
    public var linearPaths: [String] {
        kinds.indices.filter { kinds[$0].isLinear }.map(path)
    }
}
