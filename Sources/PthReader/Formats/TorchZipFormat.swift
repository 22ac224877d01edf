import Foundation

/// Reader for the torch zip format (`torch.save` since torch 1.6).
///
/// Layout: `<prefix>/data.pkl` (the object pickle), `<prefix>/data/<key>` (one record per storage),
/// `<prefix>/byteorder` (absent means little-endian), `<prefix>/version` or `.data/version`,
/// `.format_version`, `.storage_alignment`. The prefix is the saved file's stem, found from where
/// `data.pkl` sits rather than assumed to be `archive`.
enum TorchZipFormat {
    static func read(path: String) throws -> Checkpoint {
        let archive = try ZipArchive(path: path)
        // Names are tested as bytes (no `String` per record: a million records make that a
        // measurable cost), as torch tests them.
        let names = archive.entries.lazy.map(\.rawName)
        guard let pickleName = names.filter({ endsWith($0, "data.pkl") && $0.split(separator: UInt8(ascii: "/")).count <= 2 })
            .map({ String(decoding: $0, as: UTF8.self) }).min(by: { $0.count < $1.count }) else {
            if names.contains(where: { endsWith($0, "constants.pkl") || contains($0, "/code/") }) { throw PthReaderError.torchScript(path: path) }
            throw PthReaderError.unrecognizedFormat(path: path, reason: "zip archive without a data.pkl record")
        }
        let prefix = String(pickleName.dropLast("data.pkl".count))
        let codePrefix = prefix + "code/", dataPrefix = prefix + "data/"
        if archive.entry(named: prefix + "constants.pkl") != nil || names.contains(where: { $0.starts(with: codePrefix.utf8) }) {
            throw PthReaderError.torchScript(path: path)
        }
        if let order = archive.entry(named: prefix + "byteorder") {
            let text = String(decoding: try archive.contents(of: order, limit: 64), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard text == "little" else {
                throw PthReaderError.malformed(path: path, entry: order.name, reason: "byte order '\(text)' is not supported (only little-endian files)")
            }
        }
        guard let pickleEntry = archive.entry(named: pickleName) else {
            throw PthReaderError.malformed(path: path, entry: pickleName, reason: "the record's name is not valid UTF-8")
        }
        let numbered = NumberedRecords(archive.entries, under: dataPrefix)
        let records = numbered.recordCount
        let limit = maxPickleBytes(storageRecords: records)
        guard pickleEntry.size <= limit else {
            throw PthReaderError.exceedsLimit(path: path, entry: pickleName,
                reason: "the object pickle is \(pickleEntry.size) bytes, more than the \(limit) bytes a checkpoint with \(records) storage records needs (\(maxPickleBaseBytes >> 20) MiB + \(maxPickleBytesPerRecord) bytes per record; torch writes about 100); refused before inflating it (a decompression bomb?)")
        }
        let pickle = try archive.contents(of: pickleEntry, limit: limit)

        // Storages declared so far: by number for the keys torch writes (`"0"`, `"1"`, …), which
        // `Checkpoint` finds by number too; any other key by name.
        var storages: [String: StorageLocation] = [:]
        var declared = [StorageLocation?](repeating: nil, count: numbered.byNumber.count)
        var unpickler = Unpickler(bytes: pickle, path: path, entry: pickleName) { pid in
            let ref = try storageRef(pid, path: path, entry: pickleName)
            let number = numbered.number(of: ref.key)
            let found = number.map { archive.entries[Int(numbered.byNumber[$0])] } ?? archive.entry(named: dataPrefix + ref.key)
            guard let record = found else {
                throw PthReaderError.malformed(path: path, entry: dataPrefix + ref.key, reason: "storage record named by the pickle is missing")
            }
            let recordName = record.name
            let item = ref.dtype?.itemSize ?? 1
            let (needed, overflow) = ref.declaredCount.multipliedReportingOverflow(by: item)
            guard !overflow, ref.declaredCount >= 0, needed <= record.size else {
                throw PthReaderError.malformed(path: path, entry: recordName,
                    reason: "storage declares \(ref.declaredCount) elements of \(item) bytes but the record holds \(record.size) bytes")
            }
            if let existing = number.map({ declared[$0] }) ?? storages[ref.key] {
                // Like torch, the first declaration of a storage is the one loaded; later ones reuse it.
                guard existing.dtype == ref.dtype else {
                    throw PthReaderError.malformed(path: path, entry: recordName, reason: "storage used with two different dtypes")
                }
                return StorageRef(key: ref.key, dtype: existing.dtype, declaredCount: existing.byteCount / (existing.dtype?.itemSize ?? 1))
            }
            let location = StorageLocation(source: ZipEntrySource(archive: archive, entry: record), offset: 0,
                                           byteCount: needed, dtype: ref.dtype)
            if let number { declared[number] = location } else { storages[ref.key] = location }
            return ref
        }
        unpickler.maxCreatedValues = maxCreatedValues(storageRecords: records)
        unpickler.tensorLane = true
        let root = try unpickler.load()
        return try Checkpoint(path: path, format: .torchZip, root: root, storages: storages, numberedStorages: declared,
                              namesUnique: root.isFlatDictOfTensorsWithASCIIKeys)
    }

    /// Whether a raw name ends with `suffix`'s bytes.
    private static func endsWith(_ name: ArraySlice<UInt8>, _ suffix: StaticString) -> Bool {
        let tail = UnsafeBufferPointer(start: suffix.utf8Start, count: suffix.utf8CodeUnitCount)
        return name.count >= tail.count && name.suffix(tail.count).elementsEqual(tail)
    }

    /// Whether a raw name contains `part`'s bytes.
    private static func contains(_ name: ArraySlice<UInt8>, _ part: StaticString) -> Bool {
        let needle = UnsafeBufferPointer(start: part.utf8Start, count: part.utf8CodeUnitCount)
        guard name.count >= needle.count else { return false }
        return (name.startIndex...(name.endIndex - needle.count)).contains { name[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    /// Bytes of `data.pkl` allowed whatever the file holds: room for a large non-tensor payload
    /// (configs, vocabularies, optimizer hyper-parameters).
    static let maxPickleBaseBytes = 8 << 20
    /// Bytes of `data.pkl` allowed per storage record: torch writes about 100 per tensor (measured
    /// on the fixtures: 92 to 243), so this leaves room for long names and a few views per storage.
    static let maxPickleBytesPerRecord = 1024
    /// Values the pickle may create whatever the file holds (see `Unpickler.maxCreatedValues`).
    static let maxCreatedValuesBase = 2_000_000
    /// Values the pickle may create per storage record: torch's pickle creates about 25 per tensor.
    static let maxCreatedValuesPerRecord = 64

    /// The unpickler's budget of created values for an archive with `storageRecords` records:
    /// proportional to what a real checkpoint of that size needs, never above the global default.
    static func maxCreatedValues(storageRecords: Int) -> Int {
        min(Unpickler.defaultMaxCreatedValues, maxCreatedValuesBase + maxCreatedValuesPerRecord * storageRecords)
    }

    /// The largest `data.pkl` accepted for an archive with `storageRecords` records under `data/`.
    ///
    /// A real state dict needs about 100 bytes per tensor; a pickle far beyond that is a bomb
    /// (a 261 KB file can inflate to a valid 256 MiB pickle that builds 134 M values). Every value
    /// the pickle creates costs at least one byte of it, so this also bounds the unpickler's memory.
    static func maxPickleBytes(storageRecords: Int) -> Int {
        maxPickleBaseBytes + maxPickleBytesPerRecord * storageRecords
    }

    /// A persistent-id loader for a `data.pkl` read without its archive (the lane's tests, the
    /// `unpickler` fuzz target): storage ids decoded as the reader decodes them, the first
    /// declaration of a key kept, as torch does; no record is looked for.
    static func storageLoader(path: String, entry: String) -> Unpickler.PersistentLoad {
        var declared: [String: StorageRef] = [:]
        return { pid in
            let ref = try storageRef(pid, path: path, entry: entry)
            if let first = declared[ref.key] { return first }
            declared[ref.key] = ref
            return ref
        }
    }

    /// Decodes a persistent id `('storage', StorageClass, key, location, numel)`.
    static func storageRef(_ pid: [PickleValue], path: String, entry: String) throws -> StorageRef {
        guard pid.count >= 5, case .string("storage") = pid[0] else {
            throw PthReaderError.malformed(path: path, entry: entry, reason: "persistent id is not a ('storage', ...) tuple")
        }
        guard case .global(.storageClass(let dtype)) = pid[1] else {
            throw PthReaderError.malformed(path: path, entry: entry, reason: "persistent id names a \(pid[1].kind), not a storage class")
        }
        // On the bytes in place, not `Character`s or Foundation's `contains` (which cost 3 % of a
        // million-record zip), nor the generic UTF-8 view (1,600 instructions a key).
        guard case .string(var key) = pid[2], key.withUTF8({ isPlainName($0) }) else {
            throw PthReaderError.malformed(path: path, entry: entry, reason: "storage key is not a plain name")
        }
        guard case .int(let count) = pid[4], count >= 0 else {
            throw PthReaderError.malformed(path: path, entry: entry, reason: "storage size is not a non-negative int")
        }
        return StorageRef(key: key, dtype: dtype, declaredCount: count)
    }
}

/// Whether a storage key is a plain record name: not empty, no `/`, no `..`.
private func isPlainName(_ key: UnsafeBufferPointer<UInt8>) -> Bool {
    guard !key.isEmpty else { return false }
    for i in key.indices {
        if key[i] == UInt8(ascii: "/") { return false }
        if key[i] == UInt8(ascii: "."), i + 1 < key.count, key[i + 1] == UInt8(ascii: ".") { return false }
    }
    return true
}

/// The records `<prefix>data/<n>` of a torch zip by their number `n`, the storage keys torch
/// writes (`"0"`, `"1"`, …): a storage is then found by parsing its key, without hashing a name.
struct NumberedRecords {
    /// Entry index of `data/<n>` at `n` (-1 where none).
    private(set) var byNumber: [Int32] = []
    /// Records under `data/`, numbered or not.
    private(set) var recordCount = 0

    init(_ entries: [ZipArchive.Entry], under dataPrefix: String) {
        var byNumber = [Int32](repeating: -1, count: entries.count)
        let prefix = Array(dataPrefix.utf8)
        for entry in entries {
            entry.rawName.withUnsafeBufferPointer { bytes in
                guard bytes.starts(with: prefix) else { return }
                recordCount += 1
                // Only names that are valid UTF-8 can be asked for by a key (as in `entry(named:)`).
                if entry.nameIsUTF8, let n = NumberedRecords.decimal(UnsafeBufferPointer(rebasing: bytes[prefix.count...])), n < byNumber.count {
                    byNumber[n] = Int32(entry.index)
                }
            }
        }
        if let last = byNumber.lastIndex(where: { $0 >= 0 }) { byNumber.removeSubrange((last + 1)...) } else { byNumber = [] }
        self.byNumber = byNumber
    }

    /// The number of the record for storage `key`, when the key is a number and that record exists.
    func number(of key: String) -> Int? {
        guard let n = NumberedRecords.decimal(key), n < byNumber.count, byNumber[n] >= 0 else { return nil }
        return n
    }

    /// The number a storage key spells in canonical decimal (`"12"`, not `"012"`), if it does.
    static func decimal(_ key: String) -> Int? {
        var key = key
        return key.withUTF8 { decimal($0) }
    }

    /// A decimal number as torch writes one: digits only, no leading zero, at most 9 of them.
    private static func decimal(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard (1...9).contains(bytes.count), bytes.count == 1 || bytes[0] != UInt8(ascii: "0") else { return nil }
        var value = 0
        for b in bytes {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) else { return nil }
            value = value * 10 + Int(b - UInt8(ascii: "0"))
        }
        return value
    }
}
