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
        // Modules in creation order (0 is the root): path bytes in `arena`, links by number.
        var arena: [UInt8] = []
        var keyStart: [Int] = [0], keyLength: [Int32] = [0]
        var parent: [Int32] = [-1], firstChild: [Int32] = [-1], lastChild: [Int32] = [-1], nextSibling: [Int32] = [-1]
        var firstParam: [Int32] = [-1], lastParam: [Int32] = [-1]
        var nextParam = [Int32](repeating: -1, count: tensors.count)
        var index = ByteKeyIndex(expected: tensors.count + 1)
        index.insert(0, hash: ByteKeyIndex.hash(UnsafeBufferPointer(start: nil, count: 0)))

        /// The module with this path, created with its missing ancestors (top down) if new.
        func ensure(_ path: UnsafeBufferPointer<UInt8>) -> Int32 {
            func find(_ length: Int, _ hash: Int) -> Int32? {
                arena.withUnsafeBufferPointer { a in
                    index.find(hash: hash) { k in
                        Int(keyLength[k]) == length && UnsafeBufferPointer(rebasing: a[keyStart[k] ..< keyStart[k] + length]).elementsEqual(path.prefix(length))
                    }
                }
            }
            var missing: [(length: Int, hash: Int)] = []
            var length = path.count
            var up: Int32 = 0
            while true {
                let hash = ByteKeyIndex.hash(UnsafeBufferPointer(rebasing: path[..<length]))
                if let known = find(length, hash) { up = known; break }
                missing.append((length, hash))
                length = path[..<length].lastIndex(of: UInt8(ascii: ".")) ?? 0
            }
            guard !missing.isEmpty else { return up }
            // Ancestors' paths are prefixes of the deepest one: its bytes are stored once.
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

        var previous: Int32 = -1
        for t in tensors.indices {
            var name = tensors[t].name
            let ascii: Bool = name.withUTF8 { all in
                guard all.allSatisfy({ $0 < 0x80 }) else { return false }
                guard all.count >= prefixBytes.count, all.starts(with: prefixBytes) else { return true }
                let local = UnsafeBufferPointer(rebasing: all[prefixBytes.count...])
                let moduleLength = local.lastIndex(of: UInt8(ascii: ".")) ?? 0
                let path = UnsafeBufferPointer(rebasing: local[..<moduleLength])
                // Consecutive tensors of one module (weight, bias) skip the lookup.
                let id: Int32
                if previous >= 0, Int(keyLength[Int(previous)]) == path.count,
                   arena.withUnsafeBufferPointer({ path.elementsEqual(UnsafeBufferPointer(rebasing: $0[keyStart[Int(previous)]...].prefix(path.count))) }) {
                    id = previous
                } else {
                    id = ensure(path)
                }
                previous = id
                if lastParam[Int(id)] < 0 { firstParam[Int(id)] = Int32(t) } else { nextParam[Int(lastParam[Int(id)])] = Int32(t) }
                lastParam[Int(id)] = Int32(t)
                return true
            }
            if !ascii { return nil }
        }

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
