import Foundation

/// A value of `Checkpoint` (its name index, its storages by key) given when it is opened or built
/// on first use.
///
/// `@unchecked Sendable` is sound: `built` is only read or written with `lock` held, and the
/// values stored are `Sendable`.
final class LazyValue<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var built: Value?

    init(_ value: Value?) { built = value }

    /// The value, made by `make` the first time it is asked for.
    func value(_ make: () -> Value) -> Value {
        lock.lock()
        defer { lock.unlock() }
        if let built { return built }
        let index = make()
        built = index
        return index
    }
}
