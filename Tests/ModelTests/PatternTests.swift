import Foundation
import Testing
import TestSupport
@testable import Model

/// rank_pattern / alpha_pattern matching: PEFT's semantics, in linear time, invalid patterns refused.
@Suite struct PatternTests {
    static let python = ProcessInfo.processInfo.environment["LORATOOL_PYTHON"]

    static let cases: [(String, String)] = [
        ("q_proj", "model.layers.0.self_attn.q_proj"), ("q_proj", "model.layers.0.self_attn.xq_proj"),
        ("layers.0.self_attn.q_proj", "model.layers.0.self_attn.q_proj"), ("layers\\.1\\d\\..*", "model.layers.12.mlp.up_proj"),
        ("layers\\.[0-9]+\\.mlp\\.(up|down)_proj", "model.layers.3.mlp.down_proj"), ("mlp\\.(?:gate|up)_proj", "layers.3.mlp.gate_proj"),
        ("^q_proj", "q_proj"), ("^q_proj", "a.q_proj"), ("[^.]+_proj", "a.b.o_proj"), ("o_proj|v_proj", "a.v_proj"),
        ("a{2,3}", "x.aaaa"), ("a{2,3}", "x.aaa"), ("\\w+\\.\\d", "model.7"), ("(?P<n>q)_proj", "l.q_proj"),
        ("(.*)*X", String(repeating: "a", count: 3000)), ("(a|aa)*b", String(repeating: "a", count: 3000)),
    ]

    @Test func matchesLikePythonsReAndFast() throws {
        var ours: [Bool] = []
        for (key, module) in Self.cases {
            ours.append(PEFTAdapterConfig.patternKey([key], matching: module) != nil)
        }
        #expect(ours[0] && !ours[1] && ours[2] && ours[3] && ours[4] && ours[5] && ours[6] && !ours[7])
        guard let python = Self.python else { return }
        let script = """
            import re, sys, json
            cases = json.loads(sys.stdin.read())
            print(json.dumps([bool(re.match(rf"(.*\\.)?({k})$", m)) for k, m in cases if len(m) < 100]))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: Self.cases.map { [$0.0, $0.1] }))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let python3 = try #require(try JSONSerialization.jsonObject(with: data) as? [Bool])
        let short = zip(Self.cases, ours).filter { $0.0.1.count < 100 }.map(\.1)
        #expect(python3 == short)
    }

    @Test func catastrophicPatternsDecodeAndMatchInLinearTime() throws {
        let json = #"{"r": 8, "lora_alpha": 16, "rank_pattern": {"(.*)*X": 4, "(a|aa)*b": 2}, "alpha_pattern": {"(.*)*Y": 3}}"#
        let config = try JSONDecoder().decode(PEFTAdapterConfig.self, from: Data(json.utf8))
        let name = String(repeating: "a", count: 20_000)
        #expect(config.rank(for: name) == 8)
        #expect(config.rank(for: name + "X") == 4)
        #expect(config.alpha(for: name + "Y") == 3)
    }

    @Test(arguments: ["(", "[z-a]", "a{3,1}", "*x", "(?=x)", "\\1"])
    func invalidPatternsAreErrors(pattern: String) throws {
        let json = try JSONSerialization.data(withJSONObject: ["r": 8, "rank_pattern": [pattern: 4]])
        #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode(PEFTAdapterConfig.self, from: json) }
    }
}
