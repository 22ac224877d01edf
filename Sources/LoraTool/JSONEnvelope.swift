import ArgumentParser
import Foundation

/// A JSON value, for the inputs and options a command echoes.
enum JSONValue: Encodable, Equatable, Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    case string(String), int(Int), double(Double), bool(Bool), null
    case array([JSONValue]), object([String: JSONValue])

    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int) { self = .int(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }

    /// `.string`, or `.null` for nil.
    static func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
    /// `.int`, or `.null` for nil.
    static func optional(_ value: Int?) -> JSONValue { value.map(JSONValue.int) ?? .null }
    /// `.double` (non-finite values as strings), or `.null` for nil.
    static func optional<F: BinaryFloatingPoint>(_ value: F?) -> JSONValue {
        guard let value else { return .null }
        let d = Double(value)
        return d.isFinite ? .double(d) : .string(String(d))
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        case .array(let items): try c.encode(items)
        case .object(let fields): try c.encode(fields)
        }
    }
}

/// What a command echoes in every JSON object it prints: the inputs it read and the options that
/// shaped the result (defaults included).
struct Echo: Encodable, Sendable {
    var inputs: [String: JSONValue] = [:]
    var options: [String: JSONValue] = [:]
}

/// A subcommand that prints its results, and its errors, as JSON when asked.
protocol JSONReporting: ParsableCommand {
    /// Whether `--json` was given.
    var wantsJSON: Bool { get }
    /// The inputs and options to echo.
    var echo: Echo { get }
    /// Whether `--quiet` was given.
    var isQuiet: Bool { get }
}

extension JSONReporting {
    var isQuiet: Bool { false }

    /// The subcommand's name in the `command` field.
    static var jsonName: String { configuration.commandName ?? String(describing: Self.self) }
}

/// The object every `--json` output is: `schema_version`, `command`, `inputs`, `options`, then the
/// command's own fields (or `error`) at the top level. The schemas are in docs/json.md.
struct Envelope<Body: Encodable>: Encodable {
    /// Bumped when a field changes meaning or disappears; new fields do not bump it.
    static var schemaVersion: Int { 1 }

    var command: String
    var echo: Echo?
    var body: Body

    enum CodingKeys: String, CodingKey { case schemaVersion = "schema_version", command, inputs, options }

    func encode(to encoder: any Encoder) throws {
        try body.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.schemaVersion, forKey: .schemaVersion)
        try c.encode(command, forKey: .command)
        if let echo {
            try c.encode(echo.inputs, forKey: .inputs)
            try c.encode(echo.options, forKey: .options)
        }
    }
}

/// The body of an error object: `{"error": {...}}`.
struct ErrorBody: Encodable {
    var error: ErrorReport
}
