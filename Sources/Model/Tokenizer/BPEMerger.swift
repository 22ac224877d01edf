import Foundation

/// The BPE merge table: for a pair of adjacent token ids, its rank and the id of the merged token.
struct MergeTable: Sendable {
    struct Merge: Sendable {
        var rank: Int32
        var id: Int32
    }

    private(set) var entries: [UInt64: Merge] = [:]

    @inline(__always)
    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        (UInt64(UInt32(bitPattern: left)) << 32) | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always)
    func merge(_ left: Int32, _ right: Int32) -> Merge? { entries[Self.key(left, right)] }

    /// Adds a rule unless the pair already has one (the first, lowest rank, wins).
    mutating func add(left: Int32, right: Int32, rank: Int32, id: Int32) {
        let key = Self.key(left, right)
        if entries[key] == nil { entries[key] = Merge(rank: rank, id: id) }
    }

    /// Applies the merges to a word's initial symbols: always the lowest-ranked pair first,
    /// leftmost among equals, until no adjacent pair has a rule.
    func apply(to initial: [Int32]) -> [Int32] {
        let count = initial.count
        guard count > 1 else { return initial }
        var ids = initial
        var previous = Array(-1..<(count - 1))
        var next = Array(1...count)
        var alive = [Bool](repeating: true, count: count)
        // Heap entries pack (rank, position) so that integer order is merge order.
        var heap = MinHeap()
        for position in 0..<(count - 1) {
            if let merge = merge(ids[position], ids[position + 1]) {
                heap.push(UInt64(UInt32(merge.rank)) << 32 | UInt64(position))
            }
        }
        while let top = heap.pop() {
            let rank = Int32(truncatingIfNeeded: top >> 32)
            let position = Int(top & 0xFFFF_FFFF)
            guard alive[position] else { continue }
            let right = next[position]
            guard right < count, let merge = merge(ids[position], ids[right]), merge.rank == rank else { continue }
            ids[position] = merge.id
            alive[right] = false
            next[position] = next[right]
            if next[position] < count { previous[next[position]] = position }
            let left = previous[position]
            if left >= 0, let merge = self.merge(ids[left], ids[position]) {
                heap.push(UInt64(UInt32(merge.rank)) << 32 | UInt64(left))
            }
            if next[position] < count, let merge = self.merge(ids[position], ids[next[position]]) {
                heap.push(UInt64(UInt32(merge.rank)) << 32 | UInt64(position))
            }
        }
        var result: [Int32] = []
        var position = 0
        while position < count {
            result.append(ids[position])
            position = next[position]
        }
        return result
    }
}

/// A binary min-heap of packed `UInt64` keys.
struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ value: UInt64) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if items[parent] <= items[child] { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < items.count else { break }
            let right = left + 1
            let smaller = right < items.count && items[right] < items[left] ? right : left
            if items[parent] <= items[smaller] { break }
            items.swapAt(parent, smaller)
            parent = smaller
        }
        return top
    }
}

/// A bounded, thread-safe cache from a word's raw bytes to its token ids.
///
/// Keyed by bytes, not `String`: Swift strings compare by canonical equivalence, which would
/// merge differently-encoded words that BPE must keep apart.
final class WordCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [[UInt8]: [Int]] = [:]
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func value(for key: [UInt8]) -> [Int]? {
        lock.lock()
        defer { lock.unlock() }
        return entries[key]
    }

    func store(_ value: [Int], for key: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[key] = value
    }
}
