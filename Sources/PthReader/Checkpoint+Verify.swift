import Foundation

extension Checkpoint {
    /// What `verifyIntegrity()` checked.
    public struct IntegrityReport: Sendable, Equatable {
        /// Zip records whose CRC-32 matched the central directory (every record of every archive).
        public var checksummedRecords: Int
        /// Storages read in full from containers that carry no checksum (safetensors, legacy torch).
        public var uncheckedStorages: Int
        /// Bytes read in all.
        public var bytes: Int
    }

    /// Reads every byte the checkpoint's tensors come from and checks what can be checked.
    ///
    /// In a torch zip archive every record (the pickle, the metadata records, every tensor record,
    /// also ones no tensor uses) is read and its CRC-32 compared with the central directory's; a
    /// mismatch throws `PthReaderError.malformed` naming the record. Safetensors and legacy torch
    /// files carry no checksum: their storages are read in full, which catches truncation only.
    public func verifyIntegrity() throws -> IntegrityReport {
        var report = IntegrityReport(checksummedRecords: 0, uncheckedStorages: 0, bytes: 0)
        var archives: [ObjectIdentifier: ZipArchive] = [:]
        var plain: [(key: String, location: StorageLocation)] = []
        for (key, location) in storages.sorted(by: { $0.key < $1.key }) {
            if let zip = location.source as? ZipEntrySource {
                archives[ObjectIdentifier(zip.archive)] = zip.archive
            } else {
                plain.append((key, location))
            }
        }
        for archive in archives.values.sorted(by: { $0.path < $1.path }) {
            for entry in archive.entries {
                try archive.verify(entry)
                report.checksummedRecords += 1
                report.bytes += entry.size
            }
        }
        let chunk = 1 << 20
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { scratch.deallocate() }
        for (key, location) in plain {
            var done = 0
            while done < location.byteCount {
                let n = Swift.min(chunk, location.byteCount - done)
                try location.source.read(offset: location.offset + done, into: UnsafeMutableRawBufferPointer(rebasing: scratch[..<n]),
                                         context: "storage \(key)")
                done += n
            }
            report.uncheckedStorages += 1
            report.bytes += location.byteCount
        }
        return report
    }
}
