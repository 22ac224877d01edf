import Foundation
import Testing
@testable import Model

/// verify fails on any NaN or infinite logit, on either side, and says where.
@Suite struct VerifyNonFiniteTests {
    static let good = Tensor(shape: [2, 3], data: [0, 1, 2, 2, 1, 0])

    @Test(arguments: [(Float.nan, "merged"), (Float.infinity, "merged"), (-Float.infinity, "wrapped"), (Float.nan, "base")])
    func nonFiniteLogitsFail(value: Float, side: String) {
        var bad = Self.good
        bad.data[4] = value
        let wrapped = side == "wrapped" ? bad : Self.good
        let merged = side == "merged" ? bad : Self.good
        let base = side == "base" ? bad : Self.good
        let result = MergeVerifier.evaluate(wrapped: wrapped, merged: merged, base: base, mergedDType: .float32)
        #expect(!result.passed)
        let location = result.nonFinite ?? ""
        #expect(location.contains("position 1, token 1"), "\(location)")
        #expect(location.contains(side == "wrapped" ? "adapter-wrapped" : side), "\(location)")
        // The JSON stays valid: non-finite metrics become strings.
        #expect(throws: Never.self) { _ = try JSONEncoder().encode(result) }
    }

    @Test func allNaNOnBothSidesFails() {
        let nan = Tensor(shape: [2, 3], data: [Float](repeating: .nan, count: 6))
        let result = MergeVerifier.evaluate(wrapped: nan, merged: nan, base: nan, mergedDType: .float32)
        #expect(!result.passed)
        #expect(result.nonFinite != nil)
    }

    @Test func finiteLogitsStillPass() {
        let result = MergeVerifier.evaluate(wrapped: Self.good, merged: Self.good, base: Self.good, mergedDType: .float32)
        #expect(result.passed && result.nonFinite == nil)
    }
}
