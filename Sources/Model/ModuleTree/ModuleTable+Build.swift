import Foundation
import PthReader

extension ModuleTable {
    /// The table of ASCII tensor names, cut and grouped on their bytes; nil when any name is not
    /// ASCII (then `ModuleTree`'s `String` rules decide what one module path is).
    ///
    /// For ASCII text, byte equality is `String` equality, the last `.` byte is the last `.`
    /// `Character` and a byte prefix ending in `.` is a `hasPrefix` prefix, so this gives exactly
    /// `ModuleTree`'s modules. One seeded hash table of path byte ranges (`ByteKeyIndex`) replaces the
    /// dictionary of `Substring`s; modules are linked by number as in `ModuleTree`.
    static func buildASCII(tensors: [TensorEntry], prefix: String) -> ModuleTable? {
        let prefixBytes = Array(prefix.utf8)
        guard prefixBytes.allSatisfy({ $0 < 0x80 }), prefixBytes.last == nil || prefixBytes.last == UInt8(ascii: ".") else { return nil }
        var links = ModuleLinks(tensorCount: tensors.count)
        for t in tensors.indices {
            var name = tensors[t].name
            let ascii: Bool = name.withUTF8 { all in
                guard all.allSatisfy({ $0 < 0x80 }) else { return false }
                guard all.count >= prefixBytes.count, all.starts(with: prefixBytes) else { return true }
                let local = UnsafeBufferPointer(rebasing: all[prefixBytes.count...])
                let moduleLength = local.lastIndex(of: UInt8(ascii: ".")) ?? 0
                links.add(tensor: Int32(t), module: UnsafeBufferPointer(rebasing: local[..<moduleLength]))
                return true
            }
            if !ascii { return nil }
        }
        let arena = links.arena, keyStart = links.keyStart, keyLength = links.keyLength, parent = links.parent
        let firstChild = links.firstChild, nextSibling = links.nextSibling, firstParam = links.firstParam, nextParam = links.nextParam

        // Last components (`wq`, `0`) and which are integers, as `ModuleTree` tests them.
        let count = keyStart.count
        func lastComponent(_ id: Int) -> String {
            let bytes = arena[keyStart[id] ..< keyStart[id] + Int(keyLength[id])]
            let dot = bytes.lastIndex(of: UInt8(ascii: "."))
            return String(decoding: dot.map { bytes[($0 + 1)...] } ?? bytes, as: UTF8.self)
        }
        var names = [String](repeating: "", count: count)
        var numeric = [Bool](repeating: false, count: count)
        for id in 1..<max(count, 1) {
            names[id] = lastComponent(id)
            numeric[id] = Int(names[id]) != nil
        }
        func children(_ id: Int32) -> [Int32] {
            var out: [Int32] = []
            var c = firstChild[Int(id)]
            while c >= 0 { out.append(c); c = nextSibling[Int(c)] }
            return out
        }

        // Pre-order walk, filling the table's arrays in `named_modules()` order.
        var pathStart: [Int] = [], pathLength: [Int32] = [], kinds: [ModuleKind] = [], heads: [Bool] = []
        var parameterStart: [Int] = [0], parameters: [Int32] = []
        pathStart.reserveCapacity(count); pathLength.reserveCapacity(count); kinds.reserveCapacity(count)
        heads.reserveCapacity(count); parameterStart.reserveCapacity(count + 1); parameters.reserveCapacity(tensors.count)
        var stack: [Int32] = [0]
        var own: [TensorEntry] = []
        while let id = stack.popLast() {
            let kids = children(id)
            own.removeAll(keepingCapacity: true)
            var p = firstParam[Int(id)]
            while p >= 0 { own.append(tensors[Int(p)]); parameters.append(p); p = nextParam[Int(p)] }
            let name = Substring(names[Int(id)])
            let up = Int(parent[Int(id)])
            let kind = ModuleTree.inferKind(name: name, parameters: own, childCount: kids.count,
                                            childrenNumbered: kids.allSatisfy { numeric[Int($0)] },
                                            parentName: { up < 0 ? "" : Substring(names[up]) },
                                            siblingNames: { up < 0 ? [] : children(Int32(up)).map { Substring(names[Int($0)]) } })
            pathStart.append(keyStart[Int(id)])
            pathLength.append(keyLength[Int(id)])
            kinds.append(kind)
            heads.append(kind.isLinear && ModuleTree.headNames.contains { $0 == name })
            parameterStart.append(parameters.count)
            stack.append(contentsOf: kids.reversed())
        }
        return ModuleTable(prefix: prefix, pathBytes: arena, pathStart: pathStart, pathLength: pathLength, kinds: kinds, heads: heads,
                           parameterStart: parameterStart, parameters: parameters)
    }
}

/// Modules in creation order (0 is the root) while the names are read: path bytes in `arena`
/// (an ancestor's path is a prefix of its first descendant's, stored once), links by number.
private struct ModuleLinks {
    var arena: [UInt8] = []
    var keyStart: [Int] = [0], keyLength: [Int32] = [0]
    var parent: [Int32] = [-1], firstChild: [Int32] = [-1], lastChild: [Int32] = [-1], nextSibling: [Int32] = [-1]
    var firstParam: [Int32] = [-1], lastParam: [Int32] = [-1]
    var nextParam: [Int32]
    var index: ByteKeyIndex
    var previous: Int32 = -1

    init(tensorCount: Int) {
        nextParam = [Int32](repeating: -1, count: tensorCount)
        index = ByteKeyIndex(expected: tensorCount + 1)
        index.insert(0, hash: ByteKeyIndex.hash(UnsafeBufferPointer(start: nil, count: 0)))
    }

    /// Whether module `k`'s path is these bytes.
    func matches(_ k: Int, _ path: UnsafeBufferPointer<UInt8>) -> Bool {
        guard Int(keyLength[k]) == path.count else { return false }
        guard path.count > 0 else { return true }
        return arena.withUnsafeBufferPointer { memcmp($0.baseAddress! + keyStart[k], path.baseAddress!, path.count) == 0 }
    }

    /// Records tensor `t` as a parameter of the module at `path`.
    mutating func add(tensor t: Int32, module path: UnsafeBufferPointer<UInt8>) {
        // Consecutive tensors of one module (weight, bias) skip the lookup.
        let id = previous >= 0 && matches(Int(previous), path) ? previous : ensure(path)
        previous = id
        if lastParam[Int(id)] < 0 { firstParam[Int(id)] = t } else { nextParam[Int(lastParam[Int(id)])] = t }
        lastParam[Int(id)] = t
    }

    /// The module with this path, created with its missing ancestors (top down) if new.
    mutating func ensure(_ path: UnsafeBufferPointer<UInt8>) -> Int32 {
        var missing: [(length: Int, hash: Int)] = []
        var length = path.count
        var up: Int32 = 0
        // The previous module's parent is often this one's (siblings come one after another):
        // compared before any path is hashed.
        let sibling = previous >= 0 ? parent[Int(previous)] : -1
        while true {
            let prefix = UnsafeBufferPointer(rebasing: path[..<length])
            if sibling >= 0, matches(Int(sibling), prefix) { up = sibling; break }
            let hash = ByteKeyIndex.hash(prefix)
            if let known = index.find(hash: hash, matches: { matches($0, prefix) }) { up = known; break }
            missing.append((length, hash))
            length = prefix.lastIndex(of: UInt8(ascii: ".")) ?? 0
        }
        guard !missing.isEmpty else { return up }
        let base = arena.count
        arena.append(contentsOf: path)
        for (length, hash) in missing.reversed() {
            let id = Int32(keyStart.count)
            keyStart.append(base)
            keyLength.append(Int32(length))
            parent.append(up)
            firstChild.append(-1); lastChild.append(-1); nextSibling.append(-1)
            firstParam.append(-1); lastParam.append(-1)
            if lastChild[Int(up)] < 0 { firstChild[Int(up)] = id } else { nextSibling[Int(lastChild[Int(up)])] = id }
            lastChild[Int(up)] = id
            index.insert(Int(id), hash: hash)
            up = id
        }
        return up
    }
}
