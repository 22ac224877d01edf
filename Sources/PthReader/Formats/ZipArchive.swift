import CLibzip

/// A zip archive opened read-only with libzip; the handle is closed in `deinit`.
final class ZipArchive: @unchecked Sendable {
    let path: String
    private let handle: OpaquePointer

    /// One entry of the central directory.
    struct Entry {
        let index: UInt64
        let name: String
        let size: Int
        let compressed: Bool
    }

    let entries: [Entry]

    init(path: String) throws {
        var code: Int32 = 0
        guard let handle = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code) else {
            var error = zip_error_t()
            zip_error_init_with_code(&error, code)
            defer { zip_error_fini(&error) }
            throw PthReaderError.unrecognizedFormat(path: path, reason: "not a readable zip archive (\(String(cString: zip_error_strerror(&error))))")
        }
        self.handle = handle
        self.path = path
        var entries: [Entry] = []
        let count = zip_get_num_entries(handle, 0)
        if count > 0 {
            for index in 0..<UInt64(count) {
                var info = zip_stat_t()
                zip_stat_init(&info)
                guard zip_stat_index(handle, index, 0, &info) == 0, let cName = info.name else { continue }
                guard info.size <= UInt64(Int.max) else {
                    zip_close(handle)
                    throw PthReaderError.malformed(path: path, entry: String(cString: cName), reason: "entry size \(info.size) is too large")
                }
                entries.append(Entry(index: index, name: String(cString: cName), size: Int(info.size),
                                     compressed: info.comp_method != UInt16(ZIP_CM_STORE)))
            }
        }
        self.entries = entries
    }

    deinit { zip_close(handle) }

    func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// Reads a whole entry (used for small records such as `data.pkl` and `byteorder`).
    func contents(of entry: Entry, limit: Int = 1 << 30) throws -> [UInt8] {
        guard entry.size <= limit else {
            throw PthReaderError.malformed(path: path, entry: entry.name, reason: "record of \(entry.size) bytes exceeds the \(limit)-byte limit")
        }
        return try [UInt8](unsafeUninitializedCapacity: entry.size) { buffer, count in
            try read(entry, offset: 0, into: UnsafeMutableRawBufferPointer(buffer))
            count = entry.size
        }
    }

    /// Reads `buffer.count` bytes of an entry starting at `offset` into `buffer`.
    func read(_ entry: Entry, offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard offset >= 0, buffer.count <= entry.size, offset <= entry.size - buffer.count else {
            throw PthReaderError.malformed(path: path, entry: entry.name, reason: "needs bytes \(offset)..<\(offset + buffer.count) but the record has \(entry.size)")
        }
        if buffer.count == 0 { return }
        guard let file = zip_fopen_index(handle, entry.index, 0) else { throw libzipError(entry) }
        defer { zip_fclose(file) }
        if offset > 0 {
            if zip_fseek(file, Int64(offset), SEEK_SET) != 0 {
                // Compressed entries cannot seek: read and drop the bytes before `offset`.
                var skip = offset
                var scratch = [UInt8](repeating: 0, count: Swift.min(skip, 1 << 20))
                while skip > 0 {
                    let n = scratch.withUnsafeMutableBytes { zip_fread(file, $0.baseAddress, UInt64(Swift.min(skip, $0.count))) }
                    guard n > 0 else { throw fileError(file, entry) }
                    skip -= Int(n)
                }
            }
        }
        var done = 0
        while done < buffer.count {
            let n = zip_fread(file, buffer.baseAddress! + done, UInt64(buffer.count - done))
            guard n > 0 else { throw fileError(file, entry) }
            done += Int(n)
        }
    }

    private func libzipError(_ entry: Entry) -> PthReaderError {
        let message = String(cString: zip_strerror(handle))
        return .malformed(path: path, entry: entry.name, reason: "cannot open record: \(message)")
    }

    private func fileError(_ file: OpaquePointer, _ entry: Entry) -> PthReaderError {
        let message = String(cString: zip_file_strerror(file))
        return .malformed(path: path, entry: entry.name, reason: "cannot read record: \(message)")
    }
}

/// One zip entry as a `ByteSource` for a storage's bytes.
final class ZipEntrySource: ByteSource, @unchecked Sendable {
    let archive: ZipArchive
    let entry: ZipArchive.Entry

    init(archive: ZipArchive, entry: ZipArchive.Entry) {
        self.archive = archive
        self.entry = entry
    }

    func read(offset: Int, into buffer: UnsafeMutableRawBufferPointer, context: String) throws {
        try archive.read(entry, offset: offset, into: buffer)
    }
}
