import Foundation
import Testing
import Model
import PthReader
import TestSupport

/// The module tree against `named_modules()` of the real PyTorch models that wrote the fixtures.
///
/// Expected lists below were printed by torch 2.13 from `scripts/minimind_ref.py` (whose
/// `state_dict()` key order equals the fixture files'): `[(name, type(module).__name__) for name,
/// module in model.named_modules() if the module holds a saved tensor]`.
@Suite struct ModuleTreeTests {
    /// Maps a torch class name to the kind category the tree should infer.
    static func category(_ torchClass: String) -> String {
        switch torchClass {
        case "Linear": return "linear"
        case "Embedding": return "embedding"
        case "RMSNorm": return "rmsNorm"
        case "ModuleList": return "moduleList"
        case "MoEGate": return "moeGate"
        default: return "container"
        }
    }

    static func category(_ kind: ModuleKind) -> String {
        switch kind {
        case .linear: return "linear"
        case .embedding: return "embedding"
        case .rmsNorm: return "rmsNorm"
        case .layerNorm: return "layerNorm"
        case .moduleList: return "moduleList"
        case .moeGate: return "moeGate"
        case .container: return "container"
        case .generic: return "generic"
        }
    }

    static func entry(_ name: String, _ shape: [Int], storage: String? = nil) -> TensorEntry {
        TensorEntry(name: name, dtype: .float32, shape: shape, strides: TensorEntry.contiguousStrides(for: shape),
                    storageOffset: 0, storageKey: storage ?? name)
    }

    static func v1Modules() -> [(String, String)] {
        var list: [(String, String)] = [("", "MiniMindLM"), ("tok_embeddings", "Embedding"), ("layers", "ModuleList")]
        for l in 0..<2 {
            let p = "layers.\(l)"
            list += [(p, "MiniMindBlock"), ("\(p).attention", "Attention"),
                     ("\(p).attention.wq", "Linear"), ("\(p).attention.wk", "Linear"), ("\(p).attention.wv", "Linear"), ("\(p).attention.wo", "Linear"),
                     ("\(p).attention_norm", "RMSNorm"), ("\(p).ffn_norm", "RMSNorm"), ("\(p).feed_forward", "FeedForward"),
                     ("\(p).feed_forward.w1", "Linear"), ("\(p).feed_forward.w2", "Linear"), ("\(p).feed_forward.w3", "Linear")]
        }
        return list + [("norm", "RMSNorm"), ("output", "Linear")]
    }

    static func hfModules() -> [(String, String)] {
        var list: [(String, String)] = [("", "MiniMindForCausalLM"), ("model", "HFModel"), ("model.embed_tokens", "Embedding"), ("model.layers", "ModuleList")]
        for l in 0..<2 {
            let p = "model.layers.\(l)"
            list += [(p, "HFBlock"), ("\(p).self_attn", "HFAttention"),
                     ("\(p).self_attn.q_proj", "Linear"), ("\(p).self_attn.k_proj", "Linear"), ("\(p).self_attn.v_proj", "Linear"), ("\(p).self_attn.o_proj", "Linear"),
                     ("\(p).input_layernorm", "RMSNorm"), ("\(p).post_attention_layernorm", "RMSNorm"), ("\(p).mlp", "HFMLP"),
                     ("\(p).mlp.gate_proj", "Linear"), ("\(p).mlp.down_proj", "Linear"), ("\(p).mlp.up_proj", "Linear")]
        }
        return list + [("model.norm", "RMSNorm"), ("lm_head", "Linear")]
    }

    func check(_ tree: ModuleTree, against expected: [(String, String)]) {
        let got = tree.namedModules().map { ($0.path, ModuleTreeTests.category($0.kind)) }
        #expect(got.map(\.0) == expected.map(\.0))
        #expect(got.map(\.1) == expected.map { ModuleTreeTests.category($0.1) })
    }

    @Test func v1TinyMatchesNamedModules() throws {
        let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath("v1_tiny/base.pth"))
        let tree = StateDictLocator.moduleTree(of: checkpoint)
        #expect(tree.prefix == "")
        check(tree, against: Self.v1Modules())
        #expect(tree.namedModules(includeRoot: false).first?.path == "tok_embeddings")
        #expect(tree.namedModules(includeRoot: false).count == Self.v1Modules().count - 1)
    }

    @Test func hfTinyMatchesNamedModules() throws {
        let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath("hf_tiny_peft/base.pth"))
        let tree = StateDictLocator.moduleTree(of: checkpoint)
        check(tree, against: Self.hfModules())
        #expect(tree.head?.path == "lm_head")
        #expect(tree.module(at: "model.layers.1.mlp.down_proj")?.summary == "Linear(in=192, out=64, bias=False)")
    }

    /// Kinds and summaries use the shapes torch reports in `base.pth.truth.json`.
    @Test func v1SummariesFollowTruthShapes() throws {
        let path = Fixtures.sharedPath("v1_tiny/base.pth")
        let truth = try Fixtures.truth(path + ".truth.json")
        let tree = StateDictLocator.moduleTree(of: try Checkpoint.open(path: path))
        let wq = try #require(truth["layers.0.attention.wq.weight"]?.shape)
        let wk = try #require(truth["layers.0.attention.wk.weight"]?.shape)
        let emb = try #require(truth["tok_embeddings.weight"]?.shape)
        let norm = try #require(truth["norm.weight"]?.shape)
        #expect(tree.module(at: "layers.0.attention.wq")?.summary == "Linear(in=\(wq[1]), out=\(wq[0]), bias=False)")
        #expect(tree.module(at: "layers.0.attention.wk")?.kind == .linear(inFeatures: wk[1], outFeatures: wk[0], bias: false))
        #expect(tree.module(at: "tok_embeddings")?.summary == "Embedding(\(emb[0]), \(emb[1]))")
        #expect(tree.module(at: "norm")?.summary == "RMSNorm(\(norm[0]))")
        #expect(tree.module(at: "layers")?.kind == .moduleList(count: 2))
        #expect(tree.module(at: "output")?.isHead == true)
        #expect(tree.module(at: "layers.0.attention.wo")?.isHead == false)
        #expect(tree.module(at: "layers.0.attention.wq")?.parameters.map(\.name) == ["layers.0.attention.wq.weight"])
        // Every tensor is some module's parameter, exactly once.
        let owned = tree.allModules.flatMap { $0.parameters.map(\.name) }
        #expect(owned.sorted() == truth.keys.sorted())
    }

    /// A training checkpoint's tree is its `model` state dict; optimizer state is left out.
    @Test func trainingCheckpointUsesModelSubtree() throws {
        let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath("train_ckpt.pth"))
        #expect(StateDictLocator.prefix(of: checkpoint) == "model.")
        let tree = StateDictLocator.moduleTree(of: checkpoint)
        check(tree, against: Self.v1Modules())
        #expect(tree.module(at: "layers.0.attention.wq")?.parameter("weight")?.name == "model.layers.0.attention.wq.weight")
        #expect(tree.tensorName(module: "norm", parameter: "weight") == "model.norm.weight")
        // torch: the model state dict holds 504128 distinct elements (output tied to tok_embeddings).
        #expect(checkpoint.parameterCount(under: "model.") == 504128)
    }

    /// The MoE naming family: names and shapes from a torch MiniMindLM(use_moe=True) state_dict.
    @Test func moeFamilyMatchesNamedModules() {
        let names: [(String, [Int])] = [
            ("tok_embeddings.weight", [32, 16]), ("layers.0.attention.wq.weight", [16, 16]), ("layers.0.attention.wk.weight", [8, 16]),
            ("layers.0.attention.wv.weight", [8, 16]), ("layers.0.attention.wo.weight", [16, 16]), ("layers.0.attention_norm.weight", [16]),
            ("layers.0.ffn_norm.weight", [16]), ("layers.0.feed_forward.experts.0.w1.weight", [64, 16]), ("layers.0.feed_forward.experts.0.w2.weight", [16, 64]),
            ("layers.0.feed_forward.experts.0.w3.weight", [64, 16]), ("layers.0.feed_forward.experts.1.w1.weight", [64, 16]),
            ("layers.0.feed_forward.experts.1.w2.weight", [16, 64]), ("layers.0.feed_forward.experts.1.w3.weight", [64, 16]),
            ("layers.0.feed_forward.gate.weight", [2, 16]), ("layers.0.feed_forward.shared_experts.w1.weight", [64, 16]),
            ("layers.0.feed_forward.shared_experts.w2.weight", [16, 64]), ("layers.0.feed_forward.shared_experts.w3.weight", [64, 16]),
            ("norm.weight", [16]), ("output.weight", [32, 16]),
        ]
        let expected: [(String, String)] = [
            ("", "MiniMindLM"), ("tok_embeddings", "Embedding"), ("layers", "ModuleList"), ("layers.0", "MiniMindBlock"),
            ("layers.0.attention", "Attention"), ("layers.0.attention.wq", "Linear"), ("layers.0.attention.wk", "Linear"),
            ("layers.0.attention.wv", "Linear"), ("layers.0.attention.wo", "Linear"), ("layers.0.attention_norm", "RMSNorm"),
            ("layers.0.ffn_norm", "RMSNorm"), ("layers.0.feed_forward", "MOEFeedForward"), ("layers.0.feed_forward.experts", "ModuleList"),
            ("layers.0.feed_forward.experts.0", "FeedForward"), ("layers.0.feed_forward.experts.0.w1", "Linear"),
            ("layers.0.feed_forward.experts.0.w2", "Linear"), ("layers.0.feed_forward.experts.0.w3", "Linear"),
            ("layers.0.feed_forward.experts.1", "FeedForward"), ("layers.0.feed_forward.experts.1.w1", "Linear"),
            ("layers.0.feed_forward.experts.1.w2", "Linear"), ("layers.0.feed_forward.experts.1.w3", "Linear"),
            ("layers.0.feed_forward.gate", "MoEGate"), ("layers.0.feed_forward.shared_experts", "FeedForward"),
            ("layers.0.feed_forward.shared_experts.w1", "Linear"), ("layers.0.feed_forward.shared_experts.w2", "Linear"),
            ("layers.0.feed_forward.shared_experts.w3", "Linear"), ("norm", "RMSNorm"), ("output", "Linear"),
        ]
        let tree = ModuleTree(tensors: names.map { Self.entry($0.0, $0.1) })
        check(tree, against: expected)
        #expect(tree.module(at: "layers.0.feed_forward.gate")?.kind == .moeGate(experts: 2, dim: 16))
        #expect(tree.module(at: "layers.0.feed_forward.gate")?.kind.isLinear == false)
    }

    /// DDP / torch.compile wrappers become part of the prefix; LayerNorm and unknown leaves.
    @Test func wrapperPrefixesAndOtherKinds() {
        let tensors = [
            Self.entry("module.wte.weight", [10, 4]), Self.entry("module.h.0.ln_1.weight", [4]), Self.entry("module.h.0.ln_1.bias", [4]),
            Self.entry("module.h.0.attn.c_attn.weight", [4, 12]), Self.entry("module.h.0.attn.c_attn.bias", [12]),
            Self.entry("module.h.0.rotary.inv_freq", [2]), Self.entry("module.lm_head.weight", [10, 4]),
        ]
        let prefix = StateDictLocator.prefix(root: .dict([], ordered: false), tensors: tensors)
        #expect(prefix == "module.")
        let tree = ModuleTree(tensors: tensors, prefix: prefix)
        #expect(tree.module(at: "wte")?.kind == .embedding(count: 10, dim: 4))
        #expect(tree.module(at: "h.0.ln_1")?.kind == .layerNorm(dim: 4))
        #expect(tree.module(at: "h.0.ln_1")?.summary == "LayerNorm(4)")
        // A GPT-2 Conv1D (weight [in, out], bias [out]) is not taken for a Linear.
        #expect(tree.module(at: "h.0.attn.c_attn")?.kind == .generic(parameters: [ParameterShape(name: "weight", shape: [4, 12]), ParameterShape(name: "bias", shape: [12])]))
        #expect(tree.module(at: "h.0.rotary")?.kind == .generic(parameters: [ParameterShape(name: "inv_freq", shape: [2])]))
        #expect(tree.module(at: "h")?.kind == .moduleList(count: 1))
        #expect(tree.module(at: "lm_head")?.isHead == true)
        #expect(tree.head?.path == "lm_head")
    }
}

/// Quadratic paths: a flat list of modules (one parent with N children) must cost O(N).
@Suite struct ModuleTreeScaleTests {
    /// 60,000 sibling modules with 2-D weights: each used to scan all its siblings (3.6e9 steps,
    /// minutes); linear, it is 60,000 steps. Not timed: a quadratic tree would not finish.
    @Test func sixtyThousandSiblingsCostLinearTime() {
        let n = 60_000
        let tensors = (0..<n).map { i in
            TensorEntry(name: "layers.\(i).weight", dtype: .float32, shape: [1, 1], strides: [1, 1], storageOffset: 0, storageKey: "\(i)")
        }
        let tree = ModuleTree(tensors: tensors)
        #expect(tree.allModules.count == n + 2)
        #expect(tree.linears.count == n)
        #expect(tree.module(at: "layers")?.kind == .moduleList(count: n))
        // A `gate` still looks at its siblings: an `experts` sibling makes it a MoE router.
        let moe = ModuleTree(tensors: [
            TensorEntry(name: "block.gate.weight", dtype: .float32, shape: [4, 8], strides: [8, 1], storageOffset: 0, storageKey: "g"),
            TensorEntry(name: "block.experts.0.w.weight", dtype: .float32, shape: [8, 8], strides: [8, 1], storageOffset: 0, storageKey: "e"),
        ])
        #expect(moe.module(at: "block.gate")?.kind == .moeGate(experts: 4, dim: 8))
    }
}
