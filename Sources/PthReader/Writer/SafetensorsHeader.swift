/// The JSON of a safetensors header, written byte by byte.
///
/// `JSONSerialization` took about 10 ms for a 138-tensor header on the target machine: it casts
/// every value from `Any`, and its `sortedKeys` compares keys through ICU collation, whose data it
/// loads first. That is on the writer's path before its first byte, a tenth of a MiniMind2-Small
/// merge. The header is a fixed shape (`__metadata__` strings, then `dtype`, `shape` and
/// `data_offsets` per tensor), so it is written directly: keys in UTF-8 byte order, strings by
/// `append(jsonString:)` (the escapes JSON requires, every other character as it is).
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
            out.append(jsonString: item.key)
            out.append(UInt8(ascii: ":"))
            if let t = item.tensor {
                out.append(contentsOf: "{\"data_offsets\":[".utf8)
                out.append(contentsOf: String(t.start).utf8)
                out.append(UInt8(ascii: ","))
                out.append(contentsOf: String(t.end).utf8)
                out.append(contentsOf: "],\"dtype\":".utf8)
                out.append(jsonString: t.dtype)
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
                    out.append(jsonString: entry.key)
                    out.append(UInt8(ascii: ":"))
                    out.append(jsonString: entry.value)
                }
                out.append(UInt8(ascii: "}"))
            }
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}
