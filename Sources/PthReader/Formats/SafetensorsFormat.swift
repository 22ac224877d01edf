import Foundation

/// Reader for safetensors files: an 8-byte little-endian header length, a JSON header, then data.
///
/// Header entries are `{"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}}`
/// with offsets relative to the end of the header; `__metadata__` is a string-to-string map.
enum SafetensorsFormat {
    static let maxHeaderBytes = 100 << 20

    /// Parses the header and returns the tensors as an ordered dict in data-offset order.
    ///
    /// `keyPrefix` keeps storage keys unique when several shards form one checkpoint.
    static func tree(path: String, file: FileSource, keyPrefix: String = "") throws -> (root: [DictItem], storages: [String: StorageLocation]) {
        guard file.size >= 8 else { throw PthReaderError.unrecognizedFormat(path: path, reason: "file of \(file.size) bytes is too short") }
        let lengthBytes = try file.bytes(offset: 0, count: 8, context: "safetensors header length")
        let length = lengthBytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length >= 2, length <= UInt64(maxHeaderBytes), Int(length) <= file.size - 8 else {
            throw PthReaderError.malformed(path: path, entry: "header", reason: "header length \(length) does not fit the \(file.size)-byte file")
        }
        let headerBytes = try file.bytes(offset: 8, count: Int(length), context: "safetensors header")
        guard let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else {
            throw PthReaderError.malformed(path: path, entry: "header", reason: "header is not a JSON object")
        }
        let dataStart = 8 + Int(length)
        let dataSize = file.size - dataStart
        var items: [(begin: Int, item: DictItem)] = []
        var storages: [String: StorageLocation] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let metadata = value as? [String: String] else {
                    throw PthReaderError.malformed(path: path, entry: "__metadata__", reason: "metadata is not a map of strings")
                }
                for (key, text) in metadata.sorted(by: { $0.key < $1.key }) {
                    items.append((-1, DictItem(key: .string("__metadata__." + key), value: .string(text))))
                }
                continue
            }
            guard let info = value as? [String: Any], let code = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw PthReaderError.malformed(path: path, entry: name, reason: "header entry lacks dtype, shape or data_offsets")
            }
            guard let dtype = DType(safetensorsName: code) else {
                throw PthReaderError.unsupportedDType(path: path, entry: name, type: code)
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard shape.allSatisfy({ $0 >= 0 }), begin >= 0, begin <= end, end <= dataSize else {
                throw PthReaderError.malformed(path: path, entry: name, reason: "data_offsets [\(begin), \(end)] outside the \(dataSize) data bytes")
            }
            var count = 1
            for size in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: size)
                guard !overflow else { throw PthReaderError.malformed(path: path, entry: name, reason: "shape \(shape) overflows") }
                count = product
            }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
            guard !overflow, bytes == end - begin else {
                throw PthReaderError.malformed(path: path, entry: name, reason: "shape \(shape) of \(code) needs \(bytes) bytes but data_offsets span \(end - begin)")
            }
            let key = keyPrefix + name
            storages[key] = StorageLocation(source: file, offset: dataStart + begin, byteCount: bytes, dtype: dtype)
            let entry = TensorEntry(name: name, dtype: dtype, shape: shape, strides: TensorEntry.contiguousStrides(for: shape),
                                    storageOffset: 0, storageKey: key)
            items.append((begin, DictItem(key: .string(name), value: .tensor(entry))))
        }
        items.sort { ($0.begin, $0.item.key.pathComponent) < ($1.begin, $1.item.key.pathComponent) }
        return (items.map(\.item), storages)
    }

    static func read(path: String, file: FileSource) throws -> Checkpoint {
        let (items, storages) = try tree(path: path, file: file)
        return try Checkpoint(path: path, format: .safetensors, root: .dict(items, ordered: true), storages: storages)
    }

    /// Whether the first bytes look like a safetensors header (a plausible length, then `{`).
    static func matches(_ head: [UInt8], fileSize: Int) -> Bool {
        guard head.count >= 9 else { return false }
        let length = head.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        return length >= 2 && length <= UInt64(fileSize - 8) && head[8] == UInt8(ascii: "{")
    }
}
