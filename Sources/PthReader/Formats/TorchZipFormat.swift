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
        let names = archive.entries.map(\.name)
        guard let pickleName = names.filter({ $0.hasSuffix("data.pkl") && $0.split(separator: "/").count <= 2 })
            .min(by: { $0.count < $1.count }) else {
            if names.contains(where: { $0.hasSuffix("constants.pkl") || $0.contains("/code/") }) { throw PthReaderError.torchScript(path: path) }
            throw PthReaderError.unrecognizedFormat(path: path, reason: "zip archive without a data.pkl record")
        }
        let prefix = String(pickleName.dropLast("data.pkl".count))
        let codePrefix = prefix + "code/", dataPrefix = prefix + "data/"
        if archive.entry(named: prefix + "constants.pkl") != nil || names.contains(where: { $0.hasPrefix(codePrefix) }) {
            throw PthReaderError.torchScript(path: path)
        }
        if let order = archive.entry(named: prefix + "byteorder") {
            let text = String(decoding: try archive.contents(of: order, limit: 64), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard text == "little" else {
                throw PthReaderError.malformed(path: path, entry: order.name, reason: "byte order '\(text)' is not supported (only little-endian files)")
            }
        }
        let pickleEntry = archive.entry(named: pickleName)!
        let records = archive.entries.count { $0.name.hasPrefix(dataPrefix) }
        let limit = maxPickleBytes(storageRecords: records)
        guard pickleEntry.size <= limit else {
            throw PthReaderError.exceedsLimit(path: path, entry: pickleName,
                reason: "the object pickle is \(pickleEntry.size) bytes, more than the \(limit) bytes a checkpoint with \(records) storage records needs (\(maxPickleBaseBytes >> 20) MiB + \(maxPickleBytesPerRecord) bytes per record; torch writes about 100); refused before inflating it (a decompression bomb?)")
        }
        let pickle = try archive.contents(of: pickleEntry, limit: limit)

        var storages: [String: StorageLocation] = [:]
        storages.reserveCapacity(records)
        var unpickler = Unpickler(bytes: pickle, path: path, entry: pickleName) { pid in
            let ref = try storageRef(pid, path: path, entry: pickleName)
            let recordName = dataPrefix + ref.key
            guard let record = archive.entry(named: recordName) else {
                throw PthReaderError.malformed(path: path, entry: recordName, reason: "storage record named by the pickle is missing")
            }
            let item = ref.dtype?.itemSize ?? 1
            let (needed, overflow) = ref.declaredCount.multipliedReportingOverflow(by: item)
            guard !overflow, ref.declaredCount >= 0, needed <= record.size else {
                throw PthReaderError.malformed(path: path, entry: recordName,
                    reason: "storage declares \(ref.declaredCount) elements of \(item) bytes but the record holds \(record.size) bytes")
            }
            if let existing = storages[ref.key] {
                // Like torch, the first declaration of a storage is the one loaded; later ones reuse it.
                guard existing.dtype == ref.dtype else {
                    throw PthReaderError.malformed(path: path, entry: recordName, reason: "storage used with two different dtypes")
                }
                return StorageRef(key: ref.key, dtype: existing.dtype, declaredCount: existing.byteCount / (existing.dtype?.itemSize ?? 1))
            }
            storages[ref.key] = StorageLocation(source: ZipEntrySource(archive: archive, entry: record), offset: 0,
                                                byteCount: needed, dtype: ref.dtype)
            return ref
        }
        unpickler.maxCreatedValues = maxCreatedValues(storageRecords: records)
        let root = try unpickler.load()
        return try Checkpoint(path: path, format: .torchZip, root: root, storages: storages)
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

    /// Decodes a persistent id `('storage', StorageClass, key, location, numel)`.
    static func storageRef(_ pid: [PickleValue], path: String, entry: String) throws -> StorageRef {
        guard pid.count >= 5, case .string("storage") = pid[0] else {
            throw PthReaderError.malformed(path: path, entry: entry, reason: "persistent id is not a ('storage', ...) tuple")
        }
        guard case .global(.storageClass(let dtype)) = pid[1] else {
            throw PthReaderError.malformed(path: path, entry: entry, reason: "persistent id names a \(pid[1].kind), not a storage class")
        }
        // Bytes, not `Character`s or Foundation's `contains` (which cost 3 % of a million-record zip).
        guard case .string(let key) = pid[2], !key.isEmpty, !key.utf8.contains(UInt8(ascii: "/")),
              !zip(key.utf8, key.utf8.dropFirst()).contains(where: { $0 == UInt8(ascii: ".") && $1 == UInt8(ascii: ".") }) else {
            throw PthReaderError.malformed(path: path, entry: entry, reason: "storage key is not a plain name")
        }
        guard case .int(let count) = pid[4], count >= 0 else {
            throw PthReaderError.malformed(path: path, entry: entry, reason: "storage size is not a non-negative int")
        }
        return StorageRef(key: key, dtype: dtype, declaredCount: count)
    }
}
