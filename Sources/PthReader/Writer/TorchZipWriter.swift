import Foundation

/// Writes the torch zip format (`torch.save` since PyTorch 1.6) with our own `StoredZipWriter`.
///
/// Records, in torch's order, under the prefix `<stem>/` (the output file name without extension):
/// `data.pkl`, `.format_version` (`1`), `.storage_alignment` (`64`), `byteorder` (`little`),
/// `data/<key>` (one per storage), `version` (`3`), `.data/serialization_id`. All entries are
/// STORED; every entry's data starts at a multiple of 64 bytes in the file, padded with a
/// local-header extra field (id `FB`) as torch does. Bytes go straight into the atomic temporary
/// file in 512 KiB writes (`ChunkedOutput`), or, for a tensor given as a `FileSpan`, are copied
/// from the input file's page cache, their CRC-32 computed (and checked against the input
/// record's) on the way; nothing else is created on disk.
enum TorchZipWriter {
    /// Alignment torch uses for record data (`.storage_alignment`).
    static let alignment = 64
    /// One storage record to write: the first tensor that uses it and its key.
    struct Storage {
        var key: String
        var entry: TensorEntry
        var name: String
    }

    /// The storage records to write, in order (one per distinct view; exact aliases share), and
    /// for each tensor leaf in the depth-first order the pickler visits them, which one it uses.
    static func plan(root: Node, path: String) throws -> (storages: [Storage], leafStorage: [Int]) {
        var storages: [Storage] = []
        var leafStorage: [Int] = []
        var keyOfAlias: [TensorView: Int] = [:]
        try CheckpointWriter.forEachLeaf(root) { name, node in
            guard case .tensor(let entry) = node else { return }
            let label = entry.name.isEmpty ? name : entry.name
            try CheckpointWriter.validate(entry, name: label, path: path)
            let alias = TensorView(entry)
            if !entry.storageKey.isEmpty, let shared = keyOfAlias[alias] {
                leafStorage.append(shared)
                return
            }
            if !entry.storageKey.isEmpty { keyOfAlias[alias] = storages.count }
            leafStorage.append(storages.count)
            storages.append(Storage(key: String(storages.count), entry: entry, name: label))
        }
        return (storages, leafStorage)
    }

    static func write(root: Node, to path: String, progress: ((Int, Int) -> Void)?, zip64Threshold: Int = 0xFFFF_FFFF,
                      provide: (TensorEntry) throws -> TensorData) throws {
        let (storages, leafStorage) = try plan(root: root, path: path)
        var nextLeaf = 0
        let pickle = try PickleWriter.pickle(root, path: path) { entry in
            guard nextLeaf < leafStorage.count else {
                throw CheckpointWriterError.invalidTensor(path: path, tensor: entry.name, reason: "tree changed while pickling")
            }
            let storage = storages[leafStorage[nextLeaf]]
            nextLeaf += 1
            return .init(key: storage.key, elementCount: storage.entry.elementCount)
        }

        let stem = archiveName(for: path)
        let output = try ChunkedOutput(file: AtomicOutputFile(target: path))
        try output.reserve(StoredZipWriter.sizeBound(records: storages.count + 7, nameBytes: stem.utf8.count + 32,
                                                      dataBytes: storages.reduce(pickle.count) { sum, storage in
                                                          let (next, overflow) = sum.addingReportingOverflow(storage.entry.byteCount)
                                                          return overflow ? Int.max : next
                                                      }))
        let zip = StoredZipWriter(output: output, reportedPath: path, zip64Threshold: zip64Threshold)
        func record(_ name: String, _ text: String) throws {
            try zip.add(name: "\(stem)/\(name)", bytes: Array(text.utf8))
        }
        try zip.add(name: "\(stem)/data.pkl", bytes: pickle)
        try record(".format_version", "1")
        try record(".storage_alignment", String(alignment))
        try record("byteorder", "little")
        for (done, storage) in storages.enumerated() {
            let name = "\(stem)/data/\(storage.key)"
            switch try CheckpointWriter.data(of: storage.entry, name: storage.name, path: path, provide: provide) {
            case .bytes(let bytes): try zip.add(name: name, bytes: bytes)
            case .span(let span): try zip.add(name: name, span: span)
            }
            progress?(done + 1, storages.count)
        }
        try record("version", "3\n")
        try record(".data/serialization_id", serializationID())
        try zip.finish()
        try output.commit()
    }

    /// The record prefix torch uses: the file name without its extension (`model` for `model.pth`),
    /// or `archive` when that is empty or not plain printable ASCII.
    static func archiveName(for path: String) -> String {
        let file = URL(fileURLWithPath: path).lastPathComponent
        var stem = file
        if let dot = file.lastIndex(of: "."), dot != file.startIndex { stem = String(file[..<dot]) }
        let plain = stem.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F && $0 != "\\" }
        return stem.isEmpty || !plain ? "archive" : stem
    }

    /// A 40-digit decimal id like torch's `.data/serialization_id`.
    private static func serializationID() -> String {
        (0..<40).map { _ in String(Int.random(in: 0...9)) }.joined()
    }
}
