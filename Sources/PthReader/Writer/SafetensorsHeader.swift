/// The JSON of a safetensors header, written byte by byte.
///
/// `JSONSerialization` took about 10 ms for a 138-tensor header on the target machine: it casts
/// every value from `Any`, and its `sortedKeys` compares keys through ICU collation, whose data it
/// loads first. That is on the writer's path before its first byte, a tenth of a MiniMind2-Small
/// merge. The header is a fixed shape (`__metadata__` strings, then `dtype`, `shape` and
/// `data_offsets` per tensor), so it is written directly: keys in UTF-8 byte order, strings with
/// the escapes JSON requires (`"`, `\`, control characters) and every other character as it is.
enum SafetensorsHeader {
    /// One tensor's header entry.
    struct Tensor {
        let name: String
        let dtype: String
        let shape: [Int]
        let start: Int, end: Int
    }

    /// `{"__metadata__":{…},"name":{"data_offsets":[start,end],"dtype":"F16","shape":[…]},…}`
    /// with every object's keys in UTF-8 byte order; no padding.
    static func json(metadata: [(key: String, value: String)], tensors: [Tensor]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + tensors.count * 96)
        let metadataKey = "__metadata__"
        var keyed: [(key: String, tensor: Tensor?)] = tensors.map { ($0.name, $0) }
        keyed.append((metadataKey, nil))
        keyed.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        out.append(UInt8(ascii: "{"))
        for (i, item) in keyed.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            appendString(item.key, to: &out)
            out.append(UInt8(ascii: ":"))
            if let t = item.tensor {
                out.append(contentsOf: "{\"data_offsets\":[".utf8)
                out.append(contentsOf: String(t.start).utf8)
                out.append(UInt8(ascii: ","))
                out.append(contentsOf: String(t.end).utf8)
                out.append(contentsOf: "],\"dtype\":".utf8)
                appendString(t.dtype, to: &out)
                out.append(contentsOf: ",\"shape\":[".utf8)
                for (k, size) in t.shape.enumerated() {
                    if k > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(contentsOf: String(size).utf8)
                }
                out.append(contentsOf: "]}".utf8)
            } else {
                out.append(UInt8(ascii: "{"))
                let entries = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                for (k, entry) in entries.enumerated() {
                    if k > 0 { out.append(UInt8(ascii: ",")) }
                    appendString(entry.key, to: &out)
                    out.append(UInt8(ascii: ":"))
                    appendString(entry.value, to: &out)
                }
                out.append(UInt8(ascii: "}"))
            }
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A JSON string literal of `text`: `"` and `\` escaped, control characters as `\n`, `\t`,
    /// … or `\u00XX`, every other byte of its UTF-8 as it is.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case ..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
