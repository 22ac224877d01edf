import Foundation

/// Reads and transforms a fixed sequence of tensors (items: their bytes, or verified file spans) on two background threads, ahead of the
/// consumer (the writer, on the calling thread), so that reading, merging and writing overlap.
///
/// Memory is bounded by a budget of `depth` tensors alive at once (default 3: one being read, one
/// being merged, one being written). The reader takes a token before reading item `i`; the
/// consumer gives back the token of item `i - 1` when it asks for item `i` (it has written it by
/// then), and the last one at `stop()`. An item that `prepare` gives without reading (a span of
/// the input file, which holds no memory) takes no token, so the reader runs ahead over those to
/// the next tensors that must be read and merged, and the writer does not wait for them. Items are
/// handed over in order through two maps guarded by one condition variable. An error in a stage is delivered to the consumer at that item; `stop()`
/// cancels whatever is still running and waits for both threads, so no work outlives the write.
final class MergePipeline<Item: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: every mutable property is read and written only while holding
    // `condition`; the closures are @Sendable and run on the two stage threads.
    private let condition = NSCondition()
    private var readItems: [Int: Result<Item, Error>] = [:]
    private var readyItems: [Int: Result<Item, Error>] = [:]
    private var tokens: Int
    private var cancelled = false
    private var running = 0
    private var taken = 0
    /// The items read under a token that the consumer has not given back yet.
    private var holdingToken = Set<Int>()
    private let count: Int
    private let prepare: @Sendable (Int) throws -> Item?
    private let read: @Sendable (Int) throws -> Item
    private let transform: @Sendable (Int, Item) throws -> Item

    /// `prepare` gives an item that needs no memory (or nil: `read` it under a token); `read`
    /// reads one; `transform` merges one.
    init(count: Int, depth: Int = 3,
         prepare: @escaping @Sendable (Int) throws -> Item? = { _ in nil },
         read: @escaping @Sendable (Int) throws -> Item,
         transform: @escaping @Sendable (Int, Item) throws -> Item) {
        self.count = count
        self.tokens = Swift.max(1, depth)
        self.prepare = prepare
        self.read = read
        self.transform = transform
    }

    /// Starts the reader and merger threads.
    func start() {
        condition.lock()
        running = 2
        condition.unlock()
        let reader = Thread { [self] in readLoop(); finished() }
        let merger = Thread { [self] in mergeLoop(); finished() }
        reader.name = "loratool-read"
        merger.name = "loratool-merge"
        reader.start()
        merger.start()
    }

    /// The result for item `index` (asked in order 0, 1, 2, …), waiting for it if need be.
    func take(_ index: Int) throws -> Item {
        condition.lock()
        defer { condition.unlock() }
        precondition(index == taken, "pipeline items must be taken in order")
        if index > 0, holdingToken.remove(index - 1) != nil { tokens += 1; condition.broadcast() }
        taken += 1
        while readyItems[index] == nil { condition.wait() }
        return try readyItems.removeValue(forKey: index)!.get()
    }

    /// Cancels the stages and waits until both threads have ended.
    func stop() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        readItems = [:]
        readyItems = [:]
        condition.unlock()
    }

    private func readLoop() {
        for i in 0..<count {
            let result: Result<Item, Error>
            switch Result(catching: { try prepare(i) }) {
            case .success(let item?): result = .success(item)
            case .failure(let error): result = .failure(error)
            case .success(nil):
                condition.lock()
                while tokens == 0 && !cancelled { condition.wait() }
                if cancelled { condition.unlock(); return }
                tokens -= 1
                holdingToken.insert(i)
                condition.unlock()
                result = Result { try read(i) }
            }
            condition.lock()
            readItems[i] = result
            condition.broadcast()
            let stop = cancelled
            condition.unlock()
            if stop { return }
            if case .failure = result { return }
        }
    }

    private func mergeLoop() {
        for i in 0..<count {
            condition.lock()
            while readItems[i] == nil && !cancelled { condition.wait() }
            if cancelled { condition.unlock(); return }
            let input = readItems.removeValue(forKey: i)!
            condition.unlock()
            let result = input.flatMap { bytes in Result { try transform(i, bytes) } }
            condition.lock()
            readyItems[i] = result
            condition.broadcast()
            condition.unlock()
            if case .failure = result { return }
        }
    }

    private func finished() {
        condition.lock()
        running -= 1
        condition.broadcast()
        condition.unlock()
    }
}
