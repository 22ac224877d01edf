import Foundation
import Model
import PthReader

/// The `--json` of a report holding arrays of a million records (`inspect`'s tensors and modules,
/// `targets`' targets), written in exactly the bytes `JSONEncoder` gives
/// (`[.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]`), at a fraction of its cost.
///
/// Everything but the big arrays is still encoded by `JSONEncoder`, with those arrays empty (the
/// "shell"); each empty array, `"key" : [\n\n  ]` at the top level, is then replaced by its
/// records. Records are flat: numbers, booleans, strings and arrays of them, keys given in sorted
/// order by the caller. `JSONRecordsTests` compares the result with `JSONEncoder`'s.
struct JSONRecords {
    /// One top-level array written by hand: its key, its length and a writer of element `i`.
    struct Member {
        let key: String
        let count: Int
        let element: (Int, inout JSONRecords) -> Void
    }

    private(set) var bytes: [UInt8] = []
    private var fieldCount = 0

    /// The shell's bytes with each array spliced in.
    static func splice(shell: [UInt8], arrays: [Member]) -> [UInt8] {
        var out: [UInt8] = []
        write(shell: shell, arrays: arrays) { out += $0 }
        return out
    }

    /// Hands the shell with each array spliced in to `sink`, in pieces of about 1 MiB, so that a
    /// million records never sit in memory twice (nor once: the output of 1M tensors is 500 MB).
    static func write(shell: [UInt8], arrays: [Member], to sink: ([UInt8]) throws -> Void) rethrows {
        var places: [(at: Int, length: Int, member: Member)] = []
        for array in arrays where array.count > 0 {
            let empty = Array("\n  \"\(array.key)\" : [\n\n  ]".utf8)
            // The shell comes from the same encoder, so the empty array is there; not finding it
            // would drop the records silently, so it stops the program instead.
            guard let at = find(empty, in: shell) else {
                preconditionFailure("JSONRecords: no empty '\(array.key)' array in the encoded report")
            }
            places.append((at, empty.count, array))
        }
        places.sort { $0.at < $1.at }
        var records = JSONRecords()
        records.bytes.reserveCapacity(1 << 21)
        var done = 0
        for place in places {
            records.bytes.append(contentsOf: shell[done..<place.at])
            records.bytes.append(contentsOf: "\n  \"\(place.member.key)\" : [".utf8)
            for i in 0..<place.member.count {
                if i > 0 { records.bytes.append(UInt8(ascii: ",")) }
                records.append("\n    {")
                records.fieldCount = 0
                place.member.element(i, &records)
                records.append("\n    }")
                if records.bytes.count >= 1 << 20 {
                    try sink(records.bytes)
                    records.bytes.removeAll(keepingCapacity: true)
                }
            }
            records.bytes.append(contentsOf: "\n  ]".utf8)
            done = place.at + place.length
        }
        records.bytes.append(contentsOf: shell[done...])
        try sink(records.bytes)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        }
        return nil
    }

    // MARK: - Fields of one record (keys must come in sorted order)

    private mutating func key(_ key: StaticString) {
        append(fieldCount > 0 ? ",\n      \"" : "\n      \"")
        fieldCount += 1
        append(key)
        append("\" : ")
    }

    mutating func field(_ name: StaticString, _ value: Int) {
        key(name)
        appendInt(value)
    }

    mutating func field(_ name: StaticString, _ value: Bool) {
        key(name)
        append(value ? "true" : "false")
    }

    mutating func field(_ name: StaticString, _ value: String) {
        key(name)
        appendString(value)
    }

    mutating func field(_ name: StaticString, _ values: [Int]) {
        key(name)
        appendArray(values.count) { $0.appendInt(values[$1]) }
    }

    mutating func field(_ name: StaticString, _ values: [String]) {
        key(name)
        appendArray(values.count) { $0.appendString(values[$1]) }
    }

    /// A string field given as UTF-8 bytes (a module path in a table): no `String` per record.
    mutating func field(_ name: StaticString, utf8 value: ArraySlice<UInt8>) {
        key(name)
        appendString(utf8: value)
    }

    /// An array of `count` strings, element `i` given by `item(i)`.
    mutating func field(_ name: StaticString, strings count: Int, _ item: (Int) -> String) {
        key(name)
        appendArray(count) { $0.appendString(item($1)) }
    }

    private mutating func appendArray(_ count: Int, _ item: (inout JSONRecords, Int) -> Void) {
        bytes.append(UInt8(ascii: "["))
        if count == 0 {
            append("\n\n      ]")
            return
        }
        for i in 0..<count {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            append("\n        ")
            item(&self, i)
        }
        append("\n      ]")
    }

    private mutating func appendInt(_ value: Int) {
        bytes.append(decimal: value)
    }

    /// Appends a literal's bytes.
    private mutating func append(_ literal: StaticString) {
        bytes.append(literal: literal)
    }

    /// A JSON string: `"` and `\` escaped, control characters as `JSONEncoder` escapes them,
    /// every other byte as it is (slashes unescaped).
    private mutating func appendString(_ value: String) {
        bytes.append(jsonString: value)
    }

    /// `appendString` of text given as its UTF-8 bytes.
    private mutating func appendString(utf8 value: ArraySlice<UInt8>) {
        value.withUnsafeBufferPointer { bytes.append(jsonString: $0) }
    }
}
