import Testing
@testable import LoraTool

/// The two escapers of one-line output: error lines (`oneLine`) and quoted text in reports (`quoted`).
@Suite struct OutputQuotingTests {
    @Test func quotedEscapesBackslashQuoteAndControlCharacters() {
        #expect(Output.quoted("a\"b\\c\nd\re\tf\u{1}g\u{7F}h café") == #""a\"b\\c\nd\re\tf\u{01}g\u{7F}h café""#)
    }

    @Test func oneLineKeepsQuotesAndBackslashes() {
        #expect(Output.oneLine("a\"b\\c\nd\u{1B}") == #"a"b\c\nd\u{1B}"#)
    }
}
