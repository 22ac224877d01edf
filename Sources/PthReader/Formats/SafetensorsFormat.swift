import Foundation

/// Reader for safetensors files: an 8-byte little-endian header length, a JSON header, then data.
///
/// Header entries are `{"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}}`
/// with offsets relative to the end of the header; `__metadata__` is a string-to-string map.
/// Refuses what the safetensors library (0.8) refuses: a header over 100,000,000 bytes, JSON that
/// is not strict (`2.0` or `true` as a size, trailing characters), duplicate fields inside an
/// entry, ranges that overlap, leave gaps or do not cover the data exactly. Like the library, a
/// name given twice takes its last entry, and entries may be listed in any order.
enum SafetensorsFormat {
    /// The safetensors library's `MAX_HEADER_SIZE`.
    static let maxHeaderBytes = 100_000_000

    /// One tensor entry of the header, checked.
    struct Entry: Equatable {
        let name: String
        let dtype: DType
        let shape: [Int]
        let begin: Int, end: Int
    }

    /// Parses the header and returns the tensors as an ordered dict in data-offset order.
    ///
    /// `keyPrefix` keeps storage keys unique when several shards form one checkpoint.
    /// `locations` holds each tensor's storage in the order the tensors appear in `root`;
    /// `namesUnique` is true when the names are distinct ASCII text (the common header's scan).
    static func tree(path: String, file: FileSource, keyPrefix: String = "") throws
        -> (root: [DictItem], storages: [String: StorageLocation], locations: [StorageLocation], namesUnique: Bool) {
        guard file.size >= 8 else { throw PthReaderError.unrecognizedFormat(path: path, reason: "file of \(file.size) bytes is too short") }
        let lengthBytes = try file.bytes(offset: 0, count: 8, context: "safetensors header length")
        let length = lengthBytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length <= UInt64(maxHeaderBytes) else {
            throw PthReaderError.malformed(path: path, entry: "header",
                reason: "header length \(length) is over the safetensors limit of \(maxHeaderBytes) bytes (header too large)")
        }
        guard Int(length) <= file.size - 8 else {
            throw PthReaderError.malformed(path: path, entry: "header", reason: "header length \(length) runs past the end of the \(file.size)-byte file (truncated?)")
        }
        let headerBytes = try file.bytes(offset: 8, count: Int(length), context: "safetensors header")
        let dataStart = 8 + Int(length)
        let dataSize = file.size - dataStart
        let scanned = SafetensorsHeaderScan.scan(headerBytes, path: path)
        // The common header is read without a JSON tree (`SafetensorsHeaderScan`); any other strictly.
        var (metadataItems, entries) = try scanned ?? strictEntries(headerBytes, path: path)
        // The safetensors rule: sorted by offsets, each range starts where the previous ended.
        var sorted = true
        for i in entries.indices.dropFirst() where entries[i - 1].begin > entries[i].begin
            || entries[i - 1].begin == entries[i].begin && entries[i - 1].end > entries[i].end {
            sorted = false
            break
        }
        if !sorted { entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) } }
        var position = 0
        var items: [DictItem] = metadataItems
        items.reserveCapacity(metadataItems.count + entries.count)
        // Storages by key are built from `locations` when first asked for (see `Checkpoint.storages`).
        let storages: [String: StorageLocation] = [:]
        var locations: [StorageLocation] = []
        locations.reserveCapacity(entries.count)
        // Files of many tensors repeat a few shapes: one shared array per distinct shape and strides.
        var layouts: [[Int]: (shape: [Int], strides: [Int])] = [:]
        for e in entries {
            guard e.begin == position, e.end >= e.begin else {
                let what = e.begin < position ? "overlaps the previous tensor's bytes" : e.end < e.begin ? "ends before it begins" : "leaves a gap of \(e.begin - position) bytes before it"
                throw PthReaderError.malformed(path: path, entry: e.name, reason: "data_offsets [\(e.begin), \(e.end)] \(what) (safetensors needs contiguous, non-overlapping ranges)")
            }
            guard e.end <= dataSize else {
                throw PthReaderError.malformed(path: path, entry: e.name, reason: "data_offsets [\(e.begin), \(e.end)] run past the \(dataSize) data bytes (truncated?)")
            }
            var count = 1
            for size in e.shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: size)
                guard !overflow else { throw PthReaderError.malformed(path: path, entry: e.name, reason: "shape \(e.shape) has more elements than fit 64 bits") }
                count = product
            }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: e.dtype.itemSize)
            guard !overflow, bytes == e.end - e.begin else {
                throw PthReaderError.malformed(path: path, entry: e.name,
                    reason: "shape \(e.shape) of \(e.dtype.safetensorsName) needs \(overflow ? "more than 2^63" : String(bytes)) bytes but data_offsets span \(e.end - e.begin)")
            }
            position = e.end
            let key = keyPrefix + e.name
            let location = StorageLocation(source: file, offset: dataStart + e.begin, byteCount: bytes, dtype: e.dtype)
            locations.append(location)
            let layout: (shape: [Int], strides: [Int])
            if let known = layouts[e.shape] { layout = known } else {
                layout = (e.shape, TensorEntry.contiguousStrides(for: e.shape))
                if layouts.count < 4096 { layouts[e.shape] = layout }
            }
            let tensor = TensorEntry(name: e.name, dtype: e.dtype, shape: layout.shape, strides: layout.strides,
                                     storageOffset: 0, storageKey: key)
            items.append(DictItem(key: .string(e.name), value: .tensor(tensor)))
        }
        guard position == dataSize else {
            throw PthReaderError.malformed(path: path, entry: nil,
                reason: "the tensors cover \(position) of the \(dataSize) data bytes: \(dataSize - position) trailing bytes (safetensors refuses a file not fully covered)")
        }
        return (items, storages, locations, scanned != nil)
    }

    /// The metadata items and the entries of a header, read with `StrictJSON` (any header).
    static func strictEntries(_ headerBytes: [UInt8], path: String) throws -> (metadata: [DictItem], entries: [Entry]) {
        let header: StrictJSON
        do { header = try StrictJSON.parse(headerBytes) } catch let error as StrictJSON.SyntaxError {
            throw PthReaderError.malformed(path: path, entry: "header", reason: error.description)
        }
        guard case .object(let members) = header else {
            throw PthReaderError.malformed(path: path, entry: "header", reason: "header is \(header.kind), not a JSON object")
        }
        // A name given twice keeps its last entry, at its first position (serde's map semantics).
        let keep = lastOfEachName(members.map { $0.key })
        var metadataItems: [DictItem] = []
        var entries: [Entry] = []
        for (i, member) in members.enumerated() where keep[i] {
            if member.key == "__metadata__" {
                metadataItems = try metadata(member.value, path: path)
            } else {
                entries.append(try entry(member.key, member.value, path: path))
            }
        }
        return (metadataItems, entries)
    }

    /// Whether each member is the last with its name, names compared byte for byte.
    ///
    /// One `String` dictionary finds canonically equal names; only when two of them differ in
    /// their bytes (NFC and NFD spellings, refused later by name) are the bytes indexed instead.
    private static func lastOfEachName(_ names: [String]) -> [Bool] {
        var keep = [Bool](repeating: true, count: names.count)
        var last: [String: Int] = [:]
        last.reserveCapacity(names.count)
        for (i, name) in names.enumerated() {
            guard let other = last.updateValue(i, forKey: name) else { continue }
            guard names[other].utf8.elementsEqual(name.utf8) else {
                var byBytes: [[UInt8]: Int] = [:]
                for (i, name) in names.enumerated() { byBytes[Array(name.utf8)] = i }
                return names.indices.map { byBytes[Array(names[$0].utf8)] == $0 }
            }
            keep[other] = false
        }
        return keep
    }

    /// `__metadata__`: null, or a map of strings to strings (last value of a repeated key wins).
    static func metadata(_ value: StrictJSON, path: String) throws -> [DictItem] {
        if value == .null { return [] }
        guard case .object(let members) = value else {
            throw PthReaderError.malformed(path: path, entry: "__metadata__", reason: "metadata is \(value.kind), not a map of strings")
        }
        var texts: [(String, String)] = []
        var position: [[UInt8]: Int] = [:]
        for member in members {
            guard case .string(let text) = member.value else {
                throw PthReaderError.malformed(path: path, entry: "__metadata__.\(member.key)", reason: "metadata value is \(member.value.kind), not a string")
            }
            if let i = position[Array(member.key.utf8)] { texts[i].1 = text } else {
                position[Array(member.key.utf8)] = texts.count
                texts.append((member.key, text))
            }
        }
        return texts.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
            .map { DictItem(key: .string("__metadata__." + $0.0), value: .string($0.1)) }
    }

    /// One tensor entry: `dtype`, `shape` and `data_offsets`, each exactly once; other fields ignored.
    private static func entry(_ name: String, _ value: StrictJSON, path: String) throws -> Entry {
        guard case .object(let fields) = value else {
            throw PthReaderError.malformed(path: path, entry: name, reason: "header entry is \(value.kind), not an object")
        }
        // Three locals, not a dictionary per entry (a million entries made a million dictionaries).
        var dtypeValue: StrictJSON?, shapeValue: StrictJSON?, offsetsValue: StrictJSON?
        func keep(_ value: StrictJSON, in slot: inout StrictJSON?, _ key: String) throws {
            guard slot == nil else { throw PthReaderError.malformed(path: path, entry: name, reason: "header entry gives '\(key)' twice") }
            slot = value
        }
        for field in fields {
            switch field.key {
            case "dtype": try keep(field.value, in: &dtypeValue, field.key)
            case "shape": try keep(field.value, in: &shapeValue, field.key)
            case "data_offsets": try keep(field.value, in: &offsetsValue, field.key)
            default: continue
            }
        }
        guard let dtypeField = dtypeValue else { throw PthReaderError.malformed(path: path, entry: name, reason: "header entry lacks 'dtype'") }
        guard let shapeField = shapeValue else { throw PthReaderError.malformed(path: path, entry: name, reason: "header entry lacks 'shape'") }
        guard let offsetsField = offsetsValue else { throw PthReaderError.malformed(path: path, entry: name, reason: "header entry lacks 'data_offsets'") }
        guard case .string(let code) = dtypeField else {
            throw PthReaderError.malformed(path: path, entry: name, reason: "dtype is \(dtypeField.kind), not a string")
        }
        guard let dtype = DType(safetensorsName: code) else { throw PthReaderError.unsupportedDType(path: path, entry: name, type: code) }
        func integers(_ field: String, _ value: StrictJSON) throws -> [Int] {
            guard case .array(let items) = value else {
                throw PthReaderError.malformed(path: path, entry: name, reason: "\(field) is \(value.kind), not an array of integers")
            }
            return try items.map { item in
                switch item.nonNegativeInt() {
                case .success(let value): return value
                case .failure(let why): throw PthReaderError.malformed(path: path, entry: name, reason: "\(field) holds \(why.reason)")
                }
            }
        }
        let shape = try integers("shape", shapeField)
        let offsets = try integers("data_offsets", offsetsField)
        guard offsets.count == 2 else {
            throw PthReaderError.malformed(path: path, entry: name, reason: "data_offsets has \(offsets.count) numbers, not 2")
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }

    static func read(path: String, file: FileSource) throws -> Checkpoint {
        let (items, storages, locations, namesUnique) = try tree(path: path, file: file)
        return try Checkpoint(path: path, format: .safetensors, root: .dict(items, ordered: true), storages: storages,
                              storagePerTensor: locations, namesUnique: namesUnique)
    }

    /// Whether the first bytes look like a safetensors header (a plausible length, then `{`).
    static func matches(_ head: [UInt8], fileSize: Int) -> Bool {
        guard head.count >= 9 else { return false }
        let length = head.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length >= 2, length <= UInt64(fileSize - 8) || length > UInt64(maxHeaderBytes) else { return false }
        let first = head[8...].first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        return first == UInt8(ascii: "{")
    }
}
