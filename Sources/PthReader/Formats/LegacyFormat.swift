/// Reader for the legacy torch format (`_use_new_zipfile_serialization=False`, and torch < 1.6).
///
/// Layout: pickle(magic number), pickle(protocol version 1001), pickle(sys_info), pickle(object),
/// pickle(list of storage keys), then per key in that order an int64 element count and the raw bytes.
enum LegacyFormat {
    /// The magic number every legacy file starts with, `0x1950a86a20f9469cfc6c`, as pickled.
    static let magicNumber = Node.bigInt("119547037146038801333356")

    /// Whether the bytes start with a pickle (any protocol) of the legacy magic number.
    ///
    /// Protocols 2 and up start with `PROTO` (0x80); 0 and 1 write it as the text opcode `LONG` ('L').
    static func matches(_ head: [UInt8]) -> Bool {
        guard head.first == 0x80 || head.first == UInt8(ascii: "L") else { return false }
        var unpickler = Unpickler(bytes: head, path: "", entry: "magic number") { _ in
            throw PthReaderError.malformed(path: "", entry: nil, reason: "no storages in the magic number")
        }
        return (try? unpickler.load()) == magicNumber
    }

    static func read(path: String, file: FileSource) throws -> Checkpoint {
        var window = Swift.min(file.size, 1 << 20)
        while true {
            let head = try file.bytes(offset: 0, count: window, context: "header")
            do {
                return try parse(path: path, file: file, head: head)
            } catch is NeedMoreBytes where window < file.size {
                window = Swift.min(file.size, window * 4)
            } catch let needMore as NeedMoreBytes {
                // The whole file was read: the pickle is cut short or declares a length it does not hold.
                throw needMore.underlying
            }
        }
    }

    private struct NeedMoreBytes: Error {
        /// What the unpickler said when it ran out of bytes.
        let underlying: Error
    }

    private static func parse(path: String, file: FileSource, head: [UInt8]) throws -> Checkpoint {
        var offset = 0
        func next(_ entry: String, load: @escaping Unpickler.PersistentLoad = { _ in
            throw PthReaderError.malformed(path: path, entry: nil, reason: "storage outside the object pickle")
        }) throws -> Node {
            var unpickler = Unpickler(bytes: head, offset: offset, path: path, entry: entry, persistentLoad: load)
            do {
                let node = try unpickler.load()
                offset = unpickler.offset
                return node
            } catch where unpickler.ranOutOfBytes {
                throw NeedMoreBytes(underlying: error)
            }
        }
        guard matches(head) else { throw PthReaderError.unrecognizedFormat(path: path, reason: "no legacy magic number") }
        _ = try next("magic number")
        guard case .int(let version) = try next("protocol version"), version == 1001 else {
            throw PthReaderError.malformed(path: path, entry: "protocol version", reason: "unsupported legacy protocol version")
        }
        let sysInfo = try next("sys_info")
        if case .dict(let items, _) = sysInfo,
           let little = items.first(where: { $0.key == .string("little_endian") }), little.value == .bool(false) {
            throw PthReaderError.malformed(path: path, entry: "sys_info", reason: "big-endian legacy checkpoints are not supported")
        }
        var declared: [String: StorageRef] = [:]
        let root = try next("object pickle") { pid in
            // ('storage', StorageClass, key, location, numel, view_metadata)
            let ref = try TorchZipFormat.storageRef(pid, path: path, entry: "object pickle")
            if pid.count > 5, case .tuple = pid[5] {
                throw PthReaderError.malformed(path: path, entry: "object pickle", reason: "legacy storage views are not supported")
            }
            if let existing = declared[ref.key] {
                // Like torch, the first declaration of a storage is the one loaded; later ones reuse it.
                guard existing.dtype == ref.dtype else {
                    throw PthReaderError.malformed(path: path, entry: ref.key, reason: "storage used with two different dtypes")
                }
                return existing
            }
            declared[ref.key] = ref
            return ref
        }
        guard case .list(let keyNodes) = try next("storage keys") else {
            throw PthReaderError.malformed(path: path, entry: "storage keys", reason: "storage key list is not a list")
        }
        var storages: [String: StorageLocation] = [:]
        var position = offset
        for keyNode in keyNodes {
            guard case .string(let key) = keyNode else {
                throw PthReaderError.malformed(path: path, entry: "storage keys", reason: "storage key is not a string")
            }
            let countBytes = try file.bytes(offset: position, count: 8, context: "storage \(key) size")
            let count = countBytes.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) }
            let item = declared[key]?.dtype?.itemSize ?? 1
            let (bytes, overflow) = Int(clamping: count).multipliedReportingOverflow(by: item)
            guard count >= 0, !overflow, bytes <= file.size - position - 8 else {
                throw PthReaderError.malformed(path: path, entry: "storage \(key)",
                    reason: "declares \(count) elements but only \(file.size - position - 8) bytes remain (truncated?)")
            }
            if let ref = declared[key] {
                guard ref.declaredCount <= count else {
                    throw PthReaderError.malformed(path: path, entry: "storage \(key)", reason: "pickle declares \(ref.declaredCount) elements but the file holds \(count)")
                }
                storages[key] = StorageLocation(source: file, offset: position + 8, byteCount: bytes, dtype: ref.dtype)
            }
            position += 8 + bytes
        }
        return try Checkpoint(path: path, format: .torchLegacy, root: root, storages: storages)
    }
}
