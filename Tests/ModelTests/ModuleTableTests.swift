import Foundation
import Model
import PthReader
import Testing
import TestSupport

/// The flat module table (`inspect` and `targets` at a million tensors) against the module tree
/// it stands in for: same modules in the same order, same kinds, heads and parameters.
@Suite struct ModuleTableTests {
    static func entry(_ name: String, _ shape: [Int]) -> TensorEntry {
        TensorEntry(name: name, dtype: .float32, shape: shape, strides: TensorEntry.contiguousStrides(for: shape),
                    storageOffset: 0, storageKey: name)
    }

    /// Every field of two tables, module by module.
    static func expectEqual(_ a: ModuleTable, _ b: ModuleTable, _ what: String) {
        #expect(a.count == b.count, "\(what)")
        guard a.count == b.count else { return }
        for m in 0..<a.count {
            #expect(Array(a.pathUTF8(m)) == Array(b.pathUTF8(m)), "\(what) module \(m)")
            #expect(a.kinds[m] == b.kinds[m], "\(what) \(a.path(m))")
            #expect(a.heads[m] == b.heads[m], "\(what) \(a.path(m))")
            #expect(Array(a.parameterPositions(m)) == Array(b.parameterPositions(m)), "\(what) \(a.path(m))")
        }
    }

    @Test func tableOfRealCheckpointsEqualsTheTree() throws {
        let files = ["v1_tiny/base.pth", "train_ckpt.pth", "tied_f32.pth", "hf_tiny_peft/adapter", "hf_tiny_peft/base_hf",
                     "mm3_tiny_moe/base.pth", "mm3_tiny/ckpt_with_lora.pth", "v1_tiny/lora_ddp.pth", "edge.pth"]
        for file in files {
            let checkpoint = try Checkpoint.open(path: Fixtures.sharedPath(file))
            let prefix = StateDictLocator.prefix(of: checkpoint)
            let table = ModuleTable(tensors: checkpoint.tensors, prefix: prefix)
            Self.expectEqual(table, ModuleTable(tree: ModuleTree(tensors: checkpoint.tensors, prefix: prefix)), file)
            #expect(table.count > 1, "\(file)")
        }
    }

    @Test func oddNamesGroupLikeTheTree() {
        let names: [(String, [Int])] = [
            ("a..b.weight", [2, 2]), (".weight", [3]), ("a.", [1]), ("x", [4]), ("layers.0.weight", [2, 2]),
            ("layers.1.weight", [2, 2]), ("layers.-1.weight", [2]), ("layers.+2.bias", [2]), ("m.feed_forward.gate.weight", [4, 8]),
            ("m.experts.0.w.weight", [8, 8]), ("m.gate.weight", [4, 8]), ("m.experts.0.w.bias", [8]), ("lm_head.weight", [9, 2]),
            ("output.weight", [9, 2]), ("norm.weight", [2]), ("ln_f.weight", [2]), ("ln_f.bias", [2]), ("embed.weight", [9, 2]),
            ("odd.alpha", [1]), ("odd.weight", [1, 1]), ("a.b.c.d.e.f.g", [1]), ("a.b", [1]), ("layers.99999999999999999999.w", [1]),
            ("model.x.weight", [1, 1]), ("model.y.z.weight", [2, 2]),
        ]
        let tensors = names.map { Self.entry($0.0, $0.1) }
        for prefix in ["", "model.", "layers."] {
            let table = ModuleTable(tensors: tensors, prefix: prefix)
            Self.expectEqual(table, ModuleTable(tree: ModuleTree(tensors: tensors, prefix: prefix)), "prefix '\(prefix)'")
        }
    }

    @Test func nonASCIINamesGoThroughTheTree() {
        // NFC and NFD spellings of one module path are one module for `ModuleTree` (`String` keys).
        let tensors = [Self.entry("caf\u{E9}.a.weight", [2, 2]), Self.entry("cafe\u{301}.b.weight", [2, 2]), Self.entry("x.weight", [2])]
        let table = ModuleTable(tensors: tensors)
        Self.expectEqual(table, ModuleTable(tree: ModuleTree(tensors: tensors)), "non-ASCII")
        #expect(table.count == 5)
    }

    @Test func manySiblingsAndDeepPathsStayLinear() {
        // 200,000 numbered siblings and one 5,000-level path: a hash table that probed linearly
        // through colliding keys, or a tree that rescanned siblings, would not finish.
        var tensors = (0..<200_000).map { Self.entry("layers.\($0).weight", [1, 1]) }
        tensors.append(Self.entry((0..<5_000).map { "d\($0)" }.joined(separator: ".") + ".weight", [1]))
        let table = ModuleTable(tensors: tensors)
        #expect(table.count == 1 + 1 + 200_000 + 5_000)
        #expect(table.kinds[1] == .moduleList(count: 200_000))
        #expect(table.path(2) == "layers.0" && table.kinds[2] == .linear(inFeatures: 1, outFeatures: 1, bias: false))
    }
}
