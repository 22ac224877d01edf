/// Reproducible pseudo-random numbers for tests (Knuth's MMIX linear congruential generator).
///
/// Not for anything but test data: each value is the whole 64-bit state, so take its high bits.
public struct TestRandom {
    public private(set) var state: UInt64
    public init(seed: UInt64) { state = seed }

    /// The next state.
    public mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state
    }
}
