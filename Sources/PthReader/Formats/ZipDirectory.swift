import Foundation

/// A zip file's central directory read from its bytes: each record's raw name, method, CRC-32,
/// sizes and local-header offset (ZIP64 fields resolved).
///
/// For an archive of STORED records (all that torch writes) this is the only parse: the records
/// are read with `pread` from any thread and each local header is compared with its entry here on
/// its first read (`ZipArchive`). libzip opens an archive that holds a compressed record, to
/// inflate it. Names stored twice are refused by `ZipArchive`, which indexes them.
struct ZipDirectory {
    struct Record {
        /// The name exactly as stored (compared byte for byte, as torch's reader does), a slice
        /// of the directory's bytes (no array per name).
        let rawName: ArraySlice<UInt8>
        let method: UInt16
        let crc: UInt32
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    /// Why the bytes are not a directory this reader accepts.
    enum Failure: Error {
        case notZip(String)
        case malformed(String)
    }

    let records: [Record]

    /// Reads the directory of the `fileSize`-byte file open at `fd`.
    static func read(fd: Int32, fileSize: Int) throws(Failure) -> ZipDirectory {
        guard fileSize >= 22 else { throw .notZip("shorter than a zip end record") }
        let tailCount = Swift.min(fileSize, 22 + 0xFFFF + 20)
        let tail = try bytes(fd, at: fileSize - tailCount, count: tailCount)
        var eocd = -1
        var i = tail.count - 22
        while i >= 0 {
            if tail[i] == 0x50, tail[i + 1] == 0x4B, tail[i + 2] == 5, tail[i + 3] == 6 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw .notZip("no end of central directory record") }
        var count = Int(le16(tail, eocd + 10))
        var cdSize = Int(le32(tail, eocd + 12))
        var cdOffset = Int(le32(tail, eocd + 16))
        if eocd >= 20, le32(tail, eocd - 20) == 0x0706_4B50 {
            let z64 = le64(tail, eocd - 20 + 8)
            // A file shorter than the 56-byte record cannot hold it (and `fileSize - 56` must not go negative).
            guard fileSize >= 56, z64 <= UInt64(fileSize - 56) else { throw .malformed("ZIP64 end record offset \(z64) lies outside the file") }
            let record = try bytes(fd, at: Int(z64), count: 56)
            guard le32(record, 0) == 0x0606_4B50 else { throw .malformed("ZIP64 end record signature missing") }
            let total = le64(record, 32), size = le64(record, 40), offset = le64(record, 48)
            guard total <= UInt64(fileSize), size <= UInt64(fileSize), offset <= UInt64(fileSize) else {
                throw .malformed("ZIP64 end record values exceed the file size")
            }
            count = Int(total); cdSize = Int(size); cdOffset = Int(offset)
        }
        guard cdOffset <= fileSize, cdSize <= fileSize - cdOffset else {
            throw .malformed("central directory (\(cdSize) bytes at \(cdOffset)) lies outside the \(fileSize)-byte file")
        }
        // Disk numbers: 0, or 0xFFFF where a ZIP64 record holds them.
        guard [le16(tail, eocd + 4), le16(tail, eocd + 6)].allSatisfy({ $0 == 0 || $0 == 0xFFFF }) else {
            throw .malformed("the archive spans several disks, which is not supported")
        }
        guard count <= cdSize / 46 + 1 else { throw .malformed("\(count) entries cannot fit a \(cdSize)-byte central directory") }
        let cd = try bytes(fd, at: cdOffset, count: cdSize)
        var records: [Record] = []
        records.reserveCapacity(count)
        var p = 0
        for n in 0..<count {
            guard p + 46 <= cd.count, le32(cd, p) == 0x0201_4B50 else { throw .malformed("central directory entry \(n) is damaged") }
            let method = le16(cd, p + 10), crc = le32(cd, p + 16)
            var compressed = UInt64(le32(cd, p + 20)), size = UInt64(le32(cd, p + 24))
            let nameLength = Int(le16(cd, p + 28)), extraLength = Int(le16(cd, p + 30)), commentLength = Int(le16(cd, p + 32))
            var local = UInt64(le32(cd, p + 42))
            let end = p + 46 + nameLength + extraLength + commentLength
            guard end <= cd.count else { throw .malformed("central directory entry \(n) runs past the directory") }
            let name = cd[(p + 46)..<(p + 46 + nameLength)]
            // ZIP64 extended information: 8-byte values for the fields that hold 0xFFFFFFFF, in order.
            var e = p + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = le16(cd, e), length = Int(le16(cd, e + 2))
                guard e + 4 + length <= extraEnd else { break }
                if id == 1 {
                    var q = e + 4
                    func next() throws(Failure) -> UInt64 {
                        guard q + 8 <= e + 4 + length else { throw .malformed("ZIP64 field of entry \(n) is too short") }
                        defer { q += 8 }
                        return le64(cd, q)
                    }
                    if size == 0xFFFF_FFFF { size = try next() }
                    if compressed == 0xFFFF_FFFF { compressed = try next() }
                    if local == 0xFFFF_FFFF { local = try next() }
                }
                e += 4 + length
            }
            guard size <= UInt64(Int.max), compressed <= UInt64(fileSize), local <= UInt64(fileSize) else {
                throw .malformed("entry '\(String(decoding: name, as: UTF8.self))' has sizes or an offset beyond the file")
            }
            // Its local header (30 bytes and the name, at least) and its data come before the
            // directory (libzip's ZIP_CHECKCONS rule; all values are at most the file size here).
            guard Int(local) + 30 + nameLength + Int(compressed) <= cdOffset else {
                throw .malformed("entry '\(String(decoding: name, as: UTF8.self))' (\(compressed) bytes at \(local)) runs into the central directory at \(cdOffset)")
            }
            records.append(Record(rawName: name, method: method, crc: crc, compressedSize: Int(compressed),
                                  size: Int(size), localHeaderOffset: Int(local)))
            p = end
        }
        return ZipDirectory(records: records)
    }

    /// Reads exactly `count` bytes at `offset`.
    static func bytes(_ fd: Int32, at offset: Int, count: Int) throws(Failure) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = result.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw .malformed("file ends early at byte \(offset + done)") }
            done += n
        }
        return result
    }

    static func le16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
    static func le32(_ b: [UInt8], _ i: Int) -> UInt32 { UInt32(le16(b, i)) | UInt32(le16(b, i + 2)) << 16 }
    static func le64(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(le32(b, i)) | UInt64(le32(b, i + 4)) << 32 }
}
