import CLibzip
import Foundation

/// A zip archive opened read-only, safe to read from any number of threads at once.
///
/// Our own `ZipDirectory` gives each record's raw name, CRC-32 and local-header offset; each
/// local header is compared with its directory entry on the record's first read. libzip opens
/// the archive (`ZIP_CHECKCONS`) only when it holds a compressed record, which it inflates: its
/// open makes a system call per record, seconds for a million of them. STORED records (all
/// that torch writes) are read with `pread` on our own descriptor, without libzip;
/// their CRC-32 is checked with ISA-L against the central directory on every read that covers
/// the whole record, and once per record for partial reads, so a flipped byte is always an error
/// naming the record. Names are looked up in an index built once, keyed by the raw name bytes.
final class ZipArchive: @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable except `dataOffsets`, `verified`
    // and the libzip handle's state, which are only touched while holding `lock`; `fd` is only
    // used with `pread`, which is safe to call concurrently on one descriptor.
    let path: String
    /// libzip's handle, for an archive that holds a compressed record (nil otherwise).
    private let handle: OpaquePointer?
    /// Read only with `pread` and `copy_file_range` (both take explicit offsets).
    let fd: Int32
    private let fileSize: Int
    private let lock = NSLock()
    /// Per entry: the byte offset of its data once its local header was read (-1 before), and
    /// whether its CRC-32 was verified already.
    private var dataOffsets: [Int]
    private var verified: [Bool]

    /// One entry of the central directory.
    struct Entry: Sendable {
        let index: Int
        /// The name exactly as stored (a slice of the directory's bytes): looked up, compared with
        /// the local header's and tested byte for byte, without making a `String` of it.
        let rawName: ArraySlice<UInt8>
        /// Whether the raw name is valid UTF-8 (`name` spells it exactly); only such names are found by `entry(named:)`.
        let nameIsUTF8: Bool
        /// The name as text (invalid UTF-8 shown as U+FFFD), for messages and record names.
        var name: String { String(decoding: rawName, as: UTF8.self) }
        let size: Int
        let compressedSize: Int
        let compressed: Bool
        let crc: UInt32
        let localHeaderOffset: Int
    }

    let entries: [Entry]
    /// Entry numbers by their raw name bytes (no `String` per name: making a million of them cost
    /// 6 % of opening a million-record zip).
    private let byName: ByteKeyIndex

    init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PthReaderError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw PthReaderError.unreadable(path: path, reason: reason)
        }
        let fileSize = Int(info.st_size)
        let directory: ZipDirectory
        do { directory = try ZipDirectory.read(fd: fd, fileSize: fileSize) } catch {
            close(fd)
            switch error {
            case .notZip(let r): throw PthReaderError.unrecognizedFormat(path: path, reason: "not a readable zip archive (\(r))")
            case .malformed(let r): throw PthReaderError.malformed(path: path, entry: nil, reason: "zip central directory: \(r)")
            }
        }
        let entries: [Entry], byName: ByteKeyIndex
        // Two records of one name are refused by name (libzip says "File already exists").
        do { (entries, byName) = try ZipArchive.index(directory.records) } catch { close(fd); throw error.withPath(path) }
        // libzip only to inflate compressed records (it checks the archive's consistency first).
        var handle: OpaquePointer?
        if entries.contains(where: \.compressed) {
            var code: Int32 = 0
            guard let opened = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code) else {
                close(fd)
                var error = zip_error_t()
                zip_error_init_with_code(&error, code)
                defer { zip_error_fini(&error) }
                throw PthReaderError.unrecognizedFormat(path: path, reason: "not a readable zip archive (\(String(cString: zip_error_strerror(&error))))")
            }
            guard zip_get_num_entries(opened, 0) == Int64(entries.count) else {
                let count = zip_get_num_entries(opened, 0)
                zip_close(opened)
                close(fd)
                throw PthReaderError.malformed(path: path, entry: nil, reason: "zip central directory lists \(entries.count) entries but libzip reads \(count)")
            }
            handle = opened
        }
        self.path = path
        self.handle = handle
        self.fd = fd
        self.fileSize = fileSize
        self.entries = entries
        self.byName = byName
        self.dataOffsets = [Int](repeating: -1, count: entries.count)
        self.verified = [Bool](repeating: false, count: entries.count)
    }

    /// Whether libzip opened the archive (it holds a compressed record).
    var usesLibzip: Bool { handle != nil }

    deinit {
        if let handle { zip_close(handle) }
        close(fd)
    }

    /// Two records carry the same name (torch's reader would silently pick one).
    private struct DuplicateName: Error {
        let name: String
        func withPath(_ path: String) -> PthReaderError {
            .malformed(path: path, entry: name, reason: "two zip entries have this name; refusing to guess which one is meant")
        }
    }

    /// The entries of the directory's records and the index of their names, refusing a name
    /// stored twice (compared byte for byte).
    private static func index(_ records: [ZipDirectory.Record]) throws(DuplicateName) -> ([Entry], ByteKeyIndex) {
        var entries: [Entry] = []
        entries.reserveCapacity(records.count)
        var byName = ByteKeyIndex(expected: records.count)
        for (i, r) in records.enumerated() {
            let hash = r.rawName.withUnsafeBufferPointer { ByteKeyIndex.hash($0) }
            guard byName.find(hash: hash, matches: { records[$0].rawName == r.rawName }) == nil else {
                throw DuplicateName(name: String(decoding: r.rawName, as: UTF8.self))
            }
            byName.insert(i, hash: hash)
            let utf8 = r.rawName.allSatisfy { $0 < 0x80 } || String(validating: r.rawName, as: UTF8.self) != nil
            entries.append(Entry(index: i, rawName: r.rawName, nameIsUTF8: utf8, size: r.size,
                                 compressedSize: r.compressedSize, compressed: r.method != 0, crc: r.crc,
                                 localHeaderOffset: r.localHeaderOffset))
        }
        return (entries, byName)
    }

    /// The entry with exactly this name (byte-for-byte), if any.
    func entry(named name: String) -> Entry? {
        var name = name
        return name.withUTF8 { bytes in
            byName.find(hash: ByteKeyIndex.hash(bytes), matches: { entries[$0].rawName.elementsEqual(bytes) })
        }.map { entries[Int($0)] }
    }

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

    /// Reads `buffer.count` bytes of an entry starting at `offset` into `buffer`, verifying the
    /// record's CRC-32 (see the type's description).
    func read(_ entry: Entry, offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard offset >= 0, buffer.count <= entry.size, offset <= entry.size - buffer.count else {
            throw PthReaderError.malformed(path: path, entry: entry.name, reason: "needs bytes \(offset)..<\(offset + buffer.count) but the record has \(entry.size)")
        }
        if entry.compressed {
            try readCompressed(entry, offset: offset, into: buffer)
            return
        }
        let start = try dataOffset(of: entry)
        if buffer.count == entry.size {
            try preadFully(buffer, at: start, entry: entry)
            try check(entry, crc: CRC32.update(0, UnsafeRawBufferPointer(buffer)))
            return
        }
        if buffer.count > 0 { try preadFully(buffer, at: start + offset, entry: entry) }
        if isVerified(entry) { return }
        // A part of the record: hash what lies before and after it too, once per record.
        var crc = try crcOfRange(entry, from: start, count: offset)
        crc = CRC32.update(crc, UnsafeRawBufferPointer(buffer))
        crc = try crcOfRange(entry, from: start + offset + buffer.count, count: entry.size - offset - buffer.count, initial: crc)
        try check(entry, crc: crc)
    }

    /// Reads a whole record and compares its CRC-32 with the directory's, without keeping the bytes.
    func verify(_ entry: Entry) throws {
        if entry.compressed {
            try readCompressed(entry, offset: 0, into: UnsafeMutableRawBufferPointer(start: nil, count: 0))
        } else {
            try check(entry, crc: crcOfRange(entry, from: try dataOffset(of: entry), count: entry.size))
        }
    }

    private func isVerified(_ entry: Entry) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return verified[entry.index]
    }

    private func check(_ entry: Entry, crc: UInt32) throws {
        guard crc == entry.crc else { throw Self.mismatch(path: path, record: entry.name, got: crc, recorded: entry.crc) }
        lock.lock(); verified[entry.index] = true; lock.unlock()
    }

    /// The error for a record whose bytes do not give the CRC-32 the zip directory records.
    static func mismatch(path: String, record: String, got: UInt32, recorded: UInt32) -> PthReaderError {
        .malformed(path: path, entry: record,
                   reason: "CRC-32 mismatch: the record's bytes give \(hex(got)) but the zip directory records \(hex(recorded)); the file is corrupt")
    }

    private static func hex(_ v: UInt32) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// Where a STORED entry's bytes start: after its local header, read once and checked.
    func dataOffset(of entry: Entry) throws -> Int {
        lock.lock()
        let known = dataOffsets[entry.index]
        lock.unlock()
        if known >= 0 { return known }
        // The fixed 30 bytes and the name (the directory placed both before itself).
        var header = [UInt8](repeating: 0, count: 30 + entry.rawName.count)
        guard entry.localHeaderOffset <= fileSize - header.count else {
            throw PthReaderError.malformed(path: path, entry: entry.name, reason: "local header offset \(entry.localHeaderOffset) lies outside the file")
        }
        try header.withUnsafeMutableBytes { try preadFully($0, at: entry.localHeaderOffset, entry: entry) }
        guard ZipDirectory.le32(header, 0) == 0x0403_4B50 else {
            throw PthReaderError.malformed(path: path, entry: entry.name, reason: "local header signature missing at byte \(entry.localHeaderOffset)")
        }
        if let mismatch = localHeaderMismatch(header, entry) {
            throw PthReaderError.malformed(path: path, entry: entry.name, reason: "the local header at byte \(entry.localHeaderOffset) disagrees with the zip directory (\(mismatch))")
        }
        let start = entry.localHeaderOffset + 30 + Int(ZipDirectory.le16(header, 26)) + Int(ZipDirectory.le16(header, 28))
        guard start <= fileSize, entry.size <= fileSize - start, entry.size == entry.compressedSize else {
            throw PthReaderError.malformed(path: path, entry: entry.name, reason: "record data (\(entry.size) bytes at \(start)) does not fit the \(fileSize)-byte file")
        }
        lock.lock(); dataOffsets[entry.index] = start; lock.unlock()
        return start
    }

    /// What a STORED record's local header (30 bytes and its name) says differently from the
    /// directory, if anything: libzip's `ZIP_CHECKCONS` comparison, made when the record is first
    /// read. With a data descriptor (flag bit 3) the header may leave CRC-32 and sizes at 0; a
    /// ZIP64 size (0xFFFFFFFF) is taken from the directory.
    private func localHeaderMismatch(_ header: [UInt8], _ entry: Entry) -> String? {
        let nameLength = Int(ZipDirectory.le16(header, 26))
        guard nameLength == entry.rawName.count, header[30...].elementsEqual(entry.rawName) else { return "another name" }
        guard ZipDirectory.le16(header, 8) == 0 else { return "compression method \(ZipDirectory.le16(header, 8)), not stored" }
        let crc = ZipDirectory.le32(header, 14), compressed = ZipDirectory.le32(header, 18), size = ZipDirectory.le32(header, 22)
        if ZipDirectory.le16(header, 6) & 0x8 != 0, crc == 0, compressed == 0, size == 0 { return nil }
        guard crc == entry.crc else { return "CRC-32" }
        func same(_ local: UInt32, _ central: Int) -> Bool { local == 0xFFFF_FFFF || Int(local) == central }
        guard same(compressed, entry.compressedSize), same(size, entry.size) else { return "size" }
        return nil
    }

    private func preadFully(_ buffer: UnsafeMutableRawBufferPointer, at offset: Int, entry: Entry) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw PthReaderError.unreadable(path: path, reason: "\(entry.name): \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw PthReaderError.malformed(path: path, entry: entry.name, reason: "file ends inside the record") }
            done += n
        }
    }

    /// CRC-32 of `count` file bytes at `from`, continuing `initial`, read straight from the page
    /// cache (`CRC32.ofFileRange`: mmap windows, or 256 KiB `pread` pieces where mapping fails).
    private func crcOfRange(_ entry: Entry, from: Int, count: Int, initial: UInt32 = 0) throws -> UInt32 {
        let result = try CRC32.ofFileRange(descriptor: fd, offset: from, count: count, initial: initial) { code in
            PthReaderError.unreadable(path: path, reason: "\(entry.name): \(String(cString: strerror(code)))")
        }
        guard case .crc(let crc) = result else {
            throw PthReaderError.malformed(path: path, entry: entry.name, reason: "file ends inside the record (was it truncated meanwhile?)")
        }
        return crc
    }

    /// Inflates a whole compressed entry (libzip, under the lock), copying the bytes at
    /// `offset ..< offset + buffer.count` into `buffer` and checking the CRC-32 of all of it.
    /// Reading from the start is what torch does too: deflate streams cannot seek.
    private func readCompressed(_ entry: Entry, offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        lock.lock(); defer { lock.unlock() }
        // Opened whenever the archive holds a compressed record.
        guard let handle else { throw PthReaderError.malformed(path: path, entry: entry.name, reason: "compressed record in an archive libzip did not open") }
        guard let file = zip_fopen_index(handle, UInt64(entry.index), 0) else {
            throw PthReaderError.malformed(path: path, entry: entry.name, reason: "cannot open record: \(String(cString: zip_strerror(handle)))")
        }
        defer { zip_fclose(file) }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { scratch.deallocate() }
        var position = 0
        var crc: UInt32 = 0
        while position < entry.size {
            let want = Swift.min(scratch.count, entry.size - position)
            let n = Int(zip_fread(file, scratch.baseAddress, UInt64(want)))
            guard n > 0 else {
                let message = n < 0 ? String(cString: zip_file_strerror(file)) : "record ends early"
                throw PthReaderError.malformed(path: path, entry: entry.name, reason: "cannot inflate record: \(message)")
            }
            let piece = UnsafeRawBufferPointer(rebasing: scratch[..<n])
            crc = CRC32.update(crc, piece)
            // Copy the overlap of [position, position + n) with [offset, offset + buffer.count).
            let lo = Swift.max(position, offset), hi = Swift.min(position + n, offset + buffer.count)
            if lo < hi {
                (buffer.baseAddress! + (lo - offset)).copyMemory(from: piece.baseAddress! + (lo - position), byteCount: hi - lo)
            }
            position += n
        }
        guard crc == entry.crc else { throw Self.mismatch(path: path, record: entry.name, got: crc, recorded: entry.crc) }
        verified[entry.index] = true
    }
}

/// One zip entry as a `ByteSource` for a storage's bytes.
final class ZipEntrySource: ByteSource, Sendable {
    let archive: ZipArchive
    let entry: ZipArchive.Entry

    init(archive: ZipArchive, entry: ZipArchive.Entry) {
        self.archive = archive
        self.entry = entry
    }

    func read(offset: Int, into buffer: UnsafeMutableRawBufferPointer, context: String) throws {
        try archive.read(entry, offset: offset, into: buffer)
    }

    /// The whole STORED record with its name and the directory's CRC-32, which the copy checks;
    /// nil for a compressed record or a part of one.
    func span(offset: Int, count: Int, context: String) throws -> FileSpan? {
        guard !entry.compressed, offset == 0, count == entry.size else { return nil }
        let start = try archive.dataOffset(of: entry)
        return FileSpan(owner: self, descriptor: archive.fd, path: archive.path, offset: start, count: count,
                        record: .init(name: entry.name, crc: entry.crc))
    }
}
