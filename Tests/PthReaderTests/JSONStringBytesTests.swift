import Foundation
import Testing
@testable import PthReader

/// `append(jsonString:)` writes exactly what Foundation's `JSONEncoder` writes for a string (the
/// CLI's `--json` records promise its escapes), and what a JSON parser reads back as the string.
@Suite struct JSONStringBytesTests {
    static let samples: [String] = [
        "", "model.layers.0.self_attn.q_proj.weight", "a/b", "café 名前 \u{2028}\u{7F}",
        "quote \" and backslash \\", String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }),
        "tab\tnew\nline\r\u{8}\u{C}\u{0}end",
    ]

    @Test(arguments: samples)
    func matchesJSONEncoder(text: String) throws {
        var bytes: [UInt8] = []
        bytes.append(jsonString: text)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        #expect(bytes == [UInt8](try encoder.encode(text)))
        #expect(try JSONDecoder().decode(String.self, from: Data(bytes)) == text)
    }
}
