import Foundation
import Testing
@testable import Model
import PthReader

/// Module paths are cut at the last `.` *Character*; `ModuleTree.split` cuts on the bytes only when
/// that gives the same answer (a `.` between ASCII bytes), and names compare byte for byte.
@Suite struct ModulePathSplitTests {
    /// Module paths as cutting every name at its last `.` Character (Swift's `lastIndex(of:)`) gives them.
    static func referencePaths(_ names: [String]) -> Set<String> {
        var paths = Set<String>()
        for name in names {
            var path = name
            while let dot = path.lastIndex(of: ".") {
                path = String(path[..<dot])
                paths.insert(path)
            }
        }
        return paths
    }

    @Test func pathsCutAtTheLastDotCharacterWhateverItsNeighbours() {
        // A `.` followed by a combining mark, or after a prepended mark (U+0600), is not a `.`
        // Character; a cut on bytes alone would make modules `a` and `\u{600}`.
        let names = ["a.\u{301}b.weight", "\u{600}.x.weight", "café.w.weight", "é.\u{301}.weight",
                     "plain.layers.0.weight", "trailing..weight", "x.é.bias"]
        let tensors = names.map {
            TensorEntry(name: $0, dtype: .float32, shape: [2], strides: [1], storageOffset: 0, storageKey: $0)
        }
        let tree = ModuleTree(tensors: tensors)
        let built = Set(tree.allModules.dropFirst().map(\.path))
        #expect(built == Self.referencePaths(names))
        #expect(!built.contains("a") && !built.contains("\u{600}"))
        for name in names {
            let split = ModuleTree.split(Substring(name))
            let dot = name.lastIndex(of: ".")
            #expect(split.map { String($0.parent) } == dot.map { String(name[..<$0]) }, "\(name)")
        }
    }

    @Test func sameBytesIsByteEqualityNotCanonicalEquivalence() {
        let nfc = "caf\u{E9}.weight", nfd = "cafe\u{301}.weight"
        #expect(nfc == nfd)
        #expect(!nfc.sameBytes(as: nfd))
        #expect(nfc.sameBytes(as: "caf\u{E9}.weight"))
        #expect(Substring("xcaf\u{E9}.weight").dropFirst().sameBytes(as: nfc))
        #expect("".sameBytes(as: Substring("")))
        #expect(!"a".sameBytes(as: "ab"))
    }
}
