/// An open-addressing set of numbers 0, 1, 2, ... keyed by byte strings the caller keeps (module
/// paths, header names), with a per-process seeded hash (`Hasher`), so crafted names cannot make
/// every lookup probe the whole table. Keys compare byte for byte, never by Unicode equivalence.
package struct ByteKeyIndex {
    private var slots: [Int32]
    private var hashes: [Int] = []
    private var mask: Int

    package init(expected: Int) {
        var capacity = 16
        while capacity < 2 * expected { capacity <<= 1 }
        slots = [Int32](repeating: -1, count: capacity)
        mask = capacity - 1
    }

    package static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        return hasher.finalize()
    }

    /// The number whose key `matches`, among those stored with this hash.
    package func find(hash: Int, matches: (Int) -> Bool) -> Int32? {
        var i = hash & mask
        while true {
            let k = slots[i]
            if k < 0 { return nil }
            if hashes[Int(k)] == hash, matches(Int(k)) { return k }
            i = (i + 1) & mask
        }
    }

    /// Adds number `k` (numbers are added in order 0, 1, 2, ...).
    package mutating func insert(_ k: Int, hash: Int) {
        hashes.append(hash)
        if 2 * hashes.count > slots.count {
            slots = [Int32](repeating: -1, count: 2 * slots.count)
            mask = slots.count - 1
            for (j, h) in hashes.enumerated().dropLast() { place(Int32(j), h) }
        }
        place(Int32(k), hash)
    }

    private mutating func place(_ k: Int32, _ hash: Int) {
        var i = hash & mask
        while slots[i] >= 0 { i = (i + 1) & mask }
        slots[i] = k
    }
}
