import Foundation
import PthReader
import Testing
import TestSupport
@testable import Model

@Suite struct VerifyTests {
    /// (case directory, base, adapter) for each fixture family.
    static let families: [(String, String, String)] = [
        ("v1_tiny", "v1_tiny/base.pth", "v1_tiny/lora.pth"),
        ("v1_tiny_legacy_f32", "v1_tiny_legacy_f32/base.pth", "v1_tiny_legacy_f32/lora.pth"),
        ("hf_tiny_peft", "hf_tiny_peft/base.pth", "hf_tiny_peft/adapter"),
    ]

    static func inputs(_ index: Int) throws -> (dir: String, base: Checkpoint, pairs: [String: AdapterDelta]) {
        let (dir, basePath, adapterPath) = families[index]
        let base = try Checkpoint.open(path: Fixtures.sharedPath(basePath))
        return (dir, base, try adapterPairs(Fixtures.sharedPath(adapterPath), base: base))
    }

    @Test(arguments: 0..<3)
    func passesWhenMergedInMemory(_ index: Int) throws {
        let (dir, base, pairs) = try Self.inputs(index)
        let result = try MergeVerifier.verify(base: base, adapters: pairs, merged: nil, tokens: try fixtureTokens(dir))
        #expect(result.passed)
        #expect(result.mergedDtype == "float32")
        #expect(result.top1Agreement == 1)
        #expect(result.adapterEffect > result.tolerance, "the adapter must be visible against the tolerance")
        #expect(result.maxAbsDiff < 1e-4)
    }

    @Test(arguments: 0..<3)
    func passesWithTheReferenceMergedFile(_ index: Int) throws {
        let (dir, base, pairs) = try Self.inputs(index)
        let merged = try Checkpoint.open(path: Fixtures.sharedPath(dir + "/merged_ref.pth"))
        let result = try MergeVerifier.verify(base: base, adapters: pairs, merged: merged, tokens: try fixtureTokens(dir))
        #expect(result.passed, "max |Δ| \(result.maxAbsDiff) vs tolerance \(result.tolerance)")
        // v1 merges are written in float16 by upstream merge_lora; PEFT's stays float32.
        #expect(result.mergedDtype == (dir == "hf_tiny_peft" ? "float32" : "float16"))
    }

    @Test(arguments: 0..<3)
    func failsWhenTheMergedModelIsTheUntouchedBase(_ index: Int) throws {
        let (_, base, pairs) = try Self.inputs(index)
        // Default token sequence, the base file passed as the "merged" one.
        let result = try MergeVerifier.verify(base: base, adapters: pairs, merged: base, tokens: nil)
        #expect(!result.passed)
        #expect(result.tokens == 32)
        #expect(result.maxAbsDiff == result.adapterEffect)
    }

    @Test(arguments: 0..<3)
    func failsWhenMergedWithTheWrongScale(_ index: Int) throws {
        let (dir, base, pairs) = try Self.inputs(index)
        let tokens = try fixtureTokens(dir)
        let wrapped = try TransformerModel.load(base, adapters: pairs).logits(for: tokens)
        let plain = try TransformerModel.load(base).logits(for: tokens)
        let doubled = try pairs.mapValues { try $0.scaled(by: 2, module: "") }
        let wrong = try TransformerModel.load(base, adapters: doubled, mode: .merged).logits(for: tokens)
        let asFloat16 = MergeVerifier.evaluate(wrapped: wrapped, merged: wrong, base: plain, mergedDType: .float16)
        #expect(!asFloat16.passed)
        let asFloat32 = MergeVerifier.evaluate(wrapped: wrapped, merged: wrong, base: plain, mergedDType: .float32)
        #expect(!asFloat32.passed)
        #expect(asFloat32.maxKL > 0)
    }

    @Test func mixtureOfExpertsMergePassesAndBaseFails() throws {
        let dir = InferenceTests.moeDirectory
        let config = try ModelConfiguration.load(path: dir + "/config.json")
        let base = try Checkpoint.open(path: dir + "/base.pth")
        let pairs = try adapterPairs(dir + "/lora.pth", base: base)
        let good = try MergeVerifier.verify(base: base, adapters: pairs, merged: nil, tokens: nil, configuration: config)
        #expect(good.passed && good.adapterIsDetectable)
        let bad = try MergeVerifier.verify(base: base, adapters: pairs, merged: base, tokens: nil, configuration: config)
        #expect(!bad.passed)
    }

    @Test func explicitToleranceOverridesTheRule() throws {
        let (dir, base, pairs) = try Self.inputs(1)
        let merged = try Checkpoint.open(path: Fixtures.sharedPath(dir + "/merged_ref.pth"))
        let strict = try MergeVerifier.verify(base: base, adapters: pairs, merged: merged, tokens: try fixtureTokens(dir), absoluteTolerance: 1e-7)
        #expect(!strict.passed)
        #expect(strict.tolerance == 1e-7)
    }

    @Test func toleranceRule() {
        #expect(MergeVerifier.relativeTolerance(for: .float32) == 1e-4)
        #expect(MergeVerifier.relativeTolerance(for: .float16) == 4 * 0x1p-10)
        #expect(MergeVerifier.relativeTolerance(for: .bfloat16) == 4 * 0x1p-7)
        #expect(MergeVerifier.tolerance(for: .float16, logitScale: 0.5) == 4 * 0x1p-10)
        #expect(abs(MergeVerifier.tolerance(for: .float32, logitScale: 3) - 3e-4) < 1e-15)
    }

    @Test func comparisonStatistics() throws {
        let a = Tensor(shape: [2, 3], data: [0, 1, 2, 2, 1, 0])
        let b = Tensor(shape: [2, 3], data: [0, 1, 2.5, 0, 1, 2])
        let c = try #require(LogitComparison.compare(reference: a, candidate: b))
        #expect(c.maxAbsDiff == 2)
        #expect(c.maxRelDiff == 1)
        #expect(c.top1Agreement == 0.5)
        // Row 0: KL between softmax([0,1,2]) and softmax([0,1,2.5]) is small but positive; row 1 is larger.
        #expect(c.maxKL > 0.5)
        let same = try #require(LogitComparison.compare(reference: a, candidate: a))
        #expect(same.maxAbsDiff == 0 && same.maxKL < 1e-12 && same.top1Agreement == 1)
        #expect(LogitComparison.compare(reference: a, candidate: Tensor(zeros: [3, 2])) == nil)
    }

    @Test func jsonHasStableSnakeCaseKeys() throws {
        let v = MergeVerification(passed: true, maxAbsDiff: 1, maxRelDiff: 0.5, top1Agreement: 1, maxKL: 0, adapterEffect: 2,
                                  tolerance: 0.1, tokens: 3, mergedDtype: "float16")
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(v), as: UTF8.self)
        #expect(text == #"{"adapter_effect":2,"max_abs_diff":1,"max_kl":0,"max_rel_diff":0.5,"merged_dtype":"float16","passed":true,"tokens":3,"tolerance":0.1,"top1_agreement":1}"#)
    }

    /// The default prompt draws ids from 3 up: every vocabulary size gives ids inside it (a vocabulary
    /// of exactly 3 divided by zero before), BOS first when there is room for ids past the specials.
    @Test(arguments: [0, 1, 2, 3, 4, 5, 6400])
    func defaultTokensStayInsideTheVocabulary(size: Int) {
        let tokens = MergeVerifier.defaultTokens(vocabularySize: size, count: 16)
        #expect(tokens.count == 16)
        #expect(tokens.allSatisfy { $0 >= 0 && ($0 < size || $0 == 0) }, "\(tokens)")
        if size > 3 {
            #expect(tokens[0] == 1 && tokens.dropFirst().allSatisfy { $0 >= 3 })
        }
    }
}
