/// A regular-expression matcher whose time is linear in the text: a Thompson NFA simulated over
/// all states at once, so patterns like `(.*)*X` cannot backtrack catastrophically.
///
/// It accepts the subset of Python's `re` syntax that adapter configs use: literals, `.`, classes
/// (`[a-z_]`, `[^.]`, `\d \w \s` and their negations), groups `( )`, `(?: )`, `(?P<name> )`,
/// alternation `|`, quantifiers `* + ? {m} {m,} {m,n}` (lazy forms too: they do not change whether
/// a match exists) and the anchors `^ $`. Backreferences, lookarounds and inline flags are refused
/// by name; a malformed pattern is an error, as `re.compile` would raise.
struct LinearRegex: Sendable {
    /// Why a pattern cannot be used.
    struct PatternError: Error, CustomStringConvertible {
        let pattern: String
        let reason: String
        var description: String { "pattern '\(pattern)': \(reason)" }
    }

    /// Most NFA states a pattern may expand to (`{m,n}` copies its operand).
    static let maxStates = 20_000

    private indirect enum Node {
        case test(CharTest)
        case concat([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int?)
        case start, end
    }

    enum CharTest: Sendable {
        case scalar(Unicode.Scalar)
        case any
        case set(ranges: [ClosedRange<UInt32>], classes: [Character], negated: Bool)

        func matches(_ s: Unicode.Scalar) -> Bool {
            switch self {
            case .scalar(let c): return c == s
            case .any: return s != "\n"
            case .set(let ranges, let classes, let negated):
                let hit = ranges.contains { $0.contains(s.value) } || classes.contains { LinearRegex.inClass($0, s) }
                return hit != negated
            }
        }
    }

    private enum State: Sendable {
        case test(CharTest, Int)
        case split(Int, Int)
        case start(Int), end(Int)
        case accept
    }

    private let states: [State]
    private let initial: Int

    /// Compiles `pattern`; throws `PatternError` for malformed or unsupported syntax.
    init(_ pattern: String) throws {
        var parser = Parser(pattern: pattern, scalars: Array(pattern.unicodeScalars))
        let node = try parser.parseAll()
        var builder = Builder(pattern: pattern)
        let accept = builder.add(.accept)
        initial = try builder.compile(node, next: accept)
        states = builder.states
    }

    /// Whether the pattern matches all of `text` (`re.fullmatch`).
    func fullMatch(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        var current = Set<Int>()
        addClosure(initial, position: 0, count: scalars.count, into: &current)
        for (i, s) in scalars.enumerated() {
            var next = Set<Int>()
            for index in current {
                if case .test(let test, let target) = states[index], test.matches(s) {
                    addClosure(target, position: i + 1, count: scalars.count, into: &next)
                }
            }
            if next.isEmpty { return false }
            current = next
        }
        return current.contains { if case .accept = states[$0] { return true } else { return false } }
    }

    private func addClosure(_ start: Int, position: Int, count: Int, into set: inout Set<Int>) {
        var stack = [start]
        var seen = Set<Int>()
        while let index = stack.popLast() {
            guard seen.insert(index).inserted else { continue }
            switch states[index] {
            case .split(let a, let b): stack.append(b); stack.append(a)
            case .start(let next): if position == 0 { stack.append(next) }
            case .end(let next): if position == count { stack.append(next) }
            case .test, .accept: set.insert(index)
            }
        }
    }

    static func inClass(_ name: Character, _ s: Unicode.Scalar) -> Bool {
        let p = s.properties
        switch name {
        case "d": return p.numericType == .decimal
        case "D": return p.numericType != .decimal
        case "w": return p.isAlphabetic || p.numericType != nil || s == "_"
        case "W": return !(p.isAlphabetic || p.numericType != nil || s == "_")
        case "s": return p.isWhitespace
        case "S": return !p.isWhitespace
        default: return false
        }
    }

    private struct Builder {
        let pattern: String
        var states: [State] = []

        mutating func add(_ state: State) -> Int {
            states.append(state)
            return states.count - 1
        }

        /// Compiles `node` so that it continues at `next`; returns its entry state.
        mutating func compile(_ node: Node, next: Int) throws -> Int {
            guard states.count <= LinearRegex.maxStates else {
                throw PatternError(pattern: pattern, reason: "expands to more than \(LinearRegex.maxStates) states")
            }
            switch node {
            case .test(let t): return add(.test(t, next))
            case .start: return add(.start(next))
            case .end: return add(.end(next))
            case .concat(let parts):
                var entry = next
                for part in parts.reversed() { entry = try compile(part, next: entry) }
                return entry
            case .alternation(let options):
                var entry = try compile(options.last!, next: next)
                for option in options.dropLast().reversed() { entry = add(.split(try compile(option, next: next), entry)) }
                return entry
            case .repetition(let inner, let min, let max):
                var entry = next
                if let max {
                    // Optional copies: each may be skipped, and skipping one skips the rest.
                    for _ in 0..<(max - min) {
                        let body = try compile(inner, next: entry)
                        entry = add(.split(body, next))
                    }
                } else {
                    // A loop: split → (inner → split) | next.
                    let split = add(.split(-1, next))
                    let body = try compile(inner, next: split)
                    states[split] = .split(body, next)
                    entry = split
                }
                for _ in 0..<min { entry = try compile(inner, next: entry) }
                return entry
            }
        }
    }

    private struct Parser {
        let pattern: String
        let scalars: [Unicode.Scalar]
        var i = 0
        var depth = 0

        func fail(_ reason: String) -> PatternError { PatternError(pattern: pattern, reason: "\(reason) at position \(i)") }
        var atEnd: Bool { i >= scalars.count }
        func peek() -> Unicode.Scalar? { atEnd ? nil : scalars[i] }

        mutating func parseAll() throws -> Node {
            let node = try alternation()
            guard atEnd else { throw fail("unbalanced parenthesis") }
            return node
        }

        mutating func alternation() throws -> Node {
            var options = [try sequence()]
            while peek() == "|" {
                i += 1
                options.append(try sequence())
            }
            return options.count == 1 ? options[0] : .alternation(options)
        }

        mutating func sequence() throws -> Node {
            var parts: [Node] = []
            while let c = peek(), c != "|", c != ")" {
                var atom = try self.atom()
                while let q = peek(), ["*", "+", "?", "{"].contains(q) {
                    guard let (min, max) = try quantifier() else { break }
                    if case .start = atom { throw fail("nothing to repeat") }
                    if case .end = atom { throw fail("nothing to repeat") }
                    atom = .repetition(atom, min: min, max: max)
                    if peek() == "?" { i += 1 } // lazy: the same set of matches
                    if let q2 = peek(), ["*", "+", "?", "{"].contains(q2), q2 != "{" { throw fail("multiple repeat") }
                }
                parts.append(atom)
            }
            return .concat(parts)
        }

        /// `* + ? {m} {m,} {m,n}`; nil for a `{` that is a literal in Python (`{x`).
        mutating func quantifier() throws -> (Int, Int?)? {
            let c = scalars[i]
            switch c {
            case "*": i += 1; return (0, nil)
            case "+": i += 1; return (1, nil)
            case "?": i += 1; return (0, 1)
            default:
                var j = i + 1
                func number() -> Int? {
                    var text = ""
                    while j < scalars.count, ("0"..."9").contains(scalars[j]) { text.unicodeScalars.append(scalars[j]); j += 1 }
                    return text.isEmpty ? nil : Int(text)
                }
                let low = number()
                var high: Int?? = .some(low)
                if j < scalars.count, scalars[j] == "," { j += 1; high = .some(number()) }
                guard j < scalars.count, scalars[j] == "}", low != nil || high != .some(nil) else { return nil }
                i = j + 1
                let min = low ?? 0
                let max = high ?? nil
                guard min <= 1000, (max ?? 0) <= 1000 else { throw fail("repeat count over 1000") }
                if let max, max < min { throw fail("min repeat greater than max repeat") }
                return (min, max)
            }
        }

        mutating func atom() throws -> Node {
            let c = scalars[i]
            i += 1
            switch c {
            case ".": return .test(.any)
            case "^": return .start
            case "$": return .end
            case "*", "+", "?": throw fail("nothing to repeat")
            case "[": return .test(try characterClass())
            case "\\": return try escape(inClass: false).node
            case "(":
                depth += 1
                guard depth <= 100 else { throw fail("groups nested deeper than 100") }
                defer { depth -= 1 }
                if peek() == "?" {
                    i += 1
                    if peek() == ":" { i += 1 } else if peek() == "P", i + 1 < scalars.count, scalars[i + 1] == "<" {
                        i += 2
                        while let n = peek(), n != ">" { i += 1 }
                        guard peek() == ">" else { throw fail("unterminated group name") }
                        i += 1
                    } else {
                        throw fail("lookarounds, backreferences and inline flags are not supported by loratool's linear-time matcher")
                    }
                }
                let inner = try alternation()
                guard peek() == ")" else { throw fail("missing ), unterminated subpattern") }
                i += 1
                return inner
            case ")": throw fail("unbalanced parenthesis")
            default: return .test(.scalar(c))
            }
        }

        /// The part after a backslash: a literal, or a class like `\d`.
        mutating func escape(inClass: Bool) throws -> (node: Node, scalar: Unicode.Scalar?, klass: Character?) {
            guard let e = peek() else { throw fail("bad escape (end of pattern)") }
            i += 1
            switch e {
            case "d", "D", "w", "W", "s", "S":
                let k = Character(e)
                return (.test(.set(ranges: [], classes: [k], negated: false)), nil, k)
            case "n": return (.test(.scalar("\n")), "\n", nil)
            case "t": return (.test(.scalar("\t")), "\t", nil)
            case "r": return (.test(.scalar("\r")), "\r", nil)
            case "A" where !inClass: return (.start, nil, nil)
            case "Z" where !inClass: return (.end, nil, nil)
            case "0"..."9":
                throw fail("backreferences are not supported by loratool's linear-time matcher")
            default:
                if e.properties.isAlphabetic && e.isASCII { throw fail("bad escape \\\(e)") }
                return (.test(.scalar(e)), e, nil)
            }
        }

        mutating func characterClass() throws -> CharTest {
            var negated = false
            if peek() == "^" { negated = true; i += 1 }
            var ranges: [ClosedRange<UInt32>] = []
            var classes: [Character] = []
            var first = true
            while true {
                guard let c = peek() else { throw fail("unterminated character set") }
                if c == "]" && !first { i += 1; break }
                first = false
                var low: Unicode.Scalar
                i += 1
                if c == "\\" {
                    let e = try escape(inClass: true)
                    if let k = e.klass { classes.append(k); continue }
                    low = e.scalar!
                } else {
                    low = c
                }
                if peek() == "-", i + 1 < scalars.count, scalars[i + 1] != "]" {
                    i += 1
                    var high = scalars[i]
                    i += 1
                    if high == "\\" {
                        let e = try escape(inClass: true)
                        guard let s = e.scalar else { throw fail("bad character range") }
                        high = s
                    }
                    guard low.value <= high.value else { throw fail("bad character range \(low)-\(high)") }
                    ranges.append(low.value...high.value)
                } else {
                    ranges.append(low.value...low.value)
                }
            }
            return .set(ranges: ranges, classes: classes, negated: negated)
        }
    }
}
