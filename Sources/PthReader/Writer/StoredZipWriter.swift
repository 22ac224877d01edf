/// Writes a STORED-only zip archive laid out byte for byte as torch's `PyTorchStreamWriter` (over
/// miniz) lays it out, so files we write look like `torch.save`'s own.
///
/// Per record: a local header with zeroed CRC and sizes, general-purpose flags `0x0808` (data
/// descriptor follows; UTF-8 name) or `0x0800` for an empty record, DOS time and date 0, an
/// extra field `FB` of `Z` bytes that pads the data to a multiple of 64 bytes (after a ZIP64
/// field when the record is 4 GiB or larger or starts at or past 4 GiB), the data, then a data
/// descriptor (`PK\7\8`, CRC, sizes: 4-byte, or 8-byte when the ZIP64 field is present). At the
/// end: the central directory (ZIP64 field on the same condition), a ZIP64 end record and locator
/// (always, as torch writes them), and the classic end record. CRC-32 comes from ISA-L.
final class StoredZipWriter {
    /// Alignment of record data (`.storage_alignment`).
    static let alignment = 64
    /// Sizes and offsets at or above this get ZIP64 fields (miniz's test is `>= 0xFFFFFFFF`);
    /// tests lower it to exercise the ZIP64 layout with small files.
    let zip64Threshold: Int

    private let out: ChunkedOutput
    private var central: [UInt8] = []
    private var count = 0
    /// The path reported in errors.
    private let path: String

    init(output: ChunkedOutput, reportedPath: String, zip64Threshold: Int = 0xFFFF_FFFF) {
        out = output
        path = reportedPath
        self.zip64Threshold = zip64Threshold
    }

    /// Adds a record of exactly `size` bytes, which `body` produces by calling its argument
    /// (any number of times, any piece sizes); their CRC-32 is computed as they pass, each piece
    /// of at most one write right before it is written (`ChunkedOutput.write(_:crc:)`).
    func add(name: String, size: Int, body: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let record = try begin(name: name, size: size)
        var crc: UInt32 = 0
        var written = 0
        try body { piece in
            guard piece.count <= size - written else {
                throw CheckpointWriterError.invalidTensor(path: path, tensor: name, reason: "more bytes than the \(size) announced")
            }
            written += piece.count
            try out.write(piece, crc: &crc)
        }
        guard written == size else {
            throw CheckpointWriterError.invalidTensor(path: path, tensor: name, reason: "\(written) bytes written of the \(size) announced")
        }
        try end(record, crc: crc)
    }

    /// Adds a record whose bytes are copied from an input file (`ChunkedOutput.copy`), which
    /// computes their CRC-32 on the way (and checks it against the input record's, if any).
    func add(name: String, span: FileSpan) throws {
        let record = try begin(name: name, size: span.count)
        guard let crc = try out.copy(span, hashing: true) else {
            throw CheckpointWriterError.invalidTensor(path: path, tensor: name, reason: "the copy gave no CRC-32")
        }
        try end(record, crc: crc)
    }

    /// What `end` needs of a record `begin` started.
    private struct OpenRecord {
        let nameBytes: [UInt8]
        let size: Int
        let headerOffset: Int
        let flags: UInt16
        /// Whether the size, or the header offset, needs a ZIP64 field.
        let big: Bool, far: Bool
    }

    /// Writes a record's local header (with the alignment padding) and returns what `end` needs.
    private func begin(name: String, size: Int) throws -> OpenRecord {
        let nameBytes = Array(name.utf8)
        guard nameBytes.count <= 0xFFFF else {
            throw CheckpointWriterError.unsupportedValue(path: path, reason: "zip record name of \(nameBytes.count) bytes is too long")
        }
        let headerOffset = out.offset
        let big = size >= zip64Threshold, far = headerOffset >= zip64Threshold
        var zip64: [UInt8] = []
        if big || far {
            // The local copy holds the size, a compressed size of 0 (not known yet when miniz
            // writes it) and the offset, each only under its own condition.
            var fields: [UInt8] = []
            if big { Self.put64(&fields, UInt64(size)); Self.put64(&fields, 0) }
            if far { Self.put64(&fields, UInt64(headerOffset)) }
            Self.put16(&zip64, 1); Self.put16(&zip64, UInt16(fields.count)); zip64 += fields
        }
        let start = headerOffset + 30 + nameBytes.count + zip64.count + 4
        let padding = (Self.alignment - start % Self.alignment) % Self.alignment
        let flags: UInt16 = size > 0 ? 0x0808 : 0x0800

        var header: [UInt8] = []
        header.reserveCapacity(30 + nameBytes.count + zip64.count + 4 + padding)
        Self.put32(&header, 0x0403_4B50)
        Self.put16(&header, 0)                      // version needed
        Self.put16(&header, flags)
        Self.put16(&header, 0)                      // method: stored
        Self.put32(&header, 0)                      // DOS time and date
        Self.put32(&header, 0); Self.put32(&header, 0); Self.put32(&header, 0) // CRC, sizes: in the descriptor
        Self.put16(&header, UInt16(nameBytes.count))
        Self.put16(&header, UInt16(zip64.count + 4 + padding))
        header += nameBytes
        header += zip64
        header += [0x46, 0x42]                      // "FB"
        Self.put16(&header, UInt16(padding))
        header += [UInt8](repeating: 0x5A, count: padding)
        try out.write(header)
        return OpenRecord(nameBytes: nameBytes, size: size, headerOffset: headerOffset, flags: flags, big: big, far: far)
    }

    /// Writes the data descriptor after a record's bytes and adds its central directory entry.
    private func end(_ r: OpenRecord, crc: UInt32) throws {
        let size = r.size, headerOffset = r.headerOffset, big = r.big, far = r.far
        if size > 0 {
            var descriptor: [UInt8] = []
            Self.put32(&descriptor, 0x0807_4B50)
            Self.put32(&descriptor, crc)
            if big || far {
                Self.put64(&descriptor, UInt64(size)); Self.put64(&descriptor, UInt64(size))
            } else {
                Self.put32(&descriptor, UInt32(size)); Self.put32(&descriptor, UInt32(size))
            }
            try out.write(descriptor)
        }

        var centralExtra: [UInt8] = []
        if big || far {
            var fields: [UInt8] = []
            if big { Self.put64(&fields, UInt64(size)); Self.put64(&fields, UInt64(size)) }
            if far { Self.put64(&fields, UInt64(headerOffset)) }
            Self.put16(&centralExtra, 1); Self.put16(&centralExtra, UInt16(fields.count)); centralExtra += fields
        }
        Self.put32(&central, 0x0201_4B50)
        Self.put16(&central, 0)                     // version made by
        Self.put16(&central, 0)                     // version needed
        Self.put16(&central, r.flags)
        Self.put16(&central, 0)                     // method
        Self.put32(&central, 0)                     // DOS time and date
        Self.put32(&central, crc)
        Self.put32(&central, UInt32(Swift.min(size, 0xFFFF_FFFF)))
        Self.put32(&central, UInt32(Swift.min(size, 0xFFFF_FFFF)))
        Self.put16(&central, UInt16(r.nameBytes.count))
        Self.put16(&central, UInt16(centralExtra.count))
        Self.put16(&central, 0)                     // comment
        Self.put16(&central, 0)                     // disk
        Self.put16(&central, 0)                     // internal attributes
        Self.put32(&central, 0)                     // external attributes
        Self.put32(&central, UInt32(Swift.min(headerOffset, 0xFFFF_FFFF)))
        central += r.nameBytes
        central += centralExtra
        count += 1
    }

    /// At least the size of an archive of `records` records holding `dataBytes` in all, none
    /// named longer than `nameBytes` (for `ChunkedOutput.reserve`; it need not be exact).
    static func sizeBound(records: Int, nameBytes: Int, dataBytes: Int) -> Int {
        // Per record: local header 30, ZIP64 extra 20, padding < 64 with its 4-byte header,
        // descriptor 24, central entry 46 with a ZIP64 extra 28; the name twice. Then the end
        // records (56 + 20 + 22). Saturates at `Int.max` (a reservation that large is refused).
        let (overhead, o1) = records.multipliedReportingOverflow(by: 2 * nameBytes + 30 + 20 + 68 + 24 + 46 + 28)
        let (total, o2) = dataBytes.addingReportingOverflow(overhead)
        let (withEnd, o3) = total.addingReportingOverflow(56 + 20 + 22)
        return o1 || o2 || o3 ? Int.max : withEnd
    }

    /// Adds a small record held in memory.
    func add(name: String, bytes: [UInt8]) throws {
        try add(name: name, size: bytes.count) { write in try bytes.withUnsafeBytes { try write($0) } }
    }

    /// Writes the central directory and end records and flushes; the caller commits the file.
    func finish() throws {
        let directoryOffset = out.offset
        try out.write(central)
        let zip64EndOffset = out.offset
        var end: [UInt8] = []
        Self.put32(&end, 0x0606_4B50)
        Self.put64(&end, 44)                        // size of the rest of this record
        Self.put16(&end, 0x031E)                    // made by (miniz: "always Unix")
        Self.put16(&end, 0x002D)                    // needed: 4.5
        Self.put32(&end, 0); Self.put32(&end, 0)    // disks
        Self.put64(&end, UInt64(count)); Self.put64(&end, UInt64(count))
        Self.put64(&end, UInt64(central.count)); Self.put64(&end, UInt64(directoryOffset))
        Self.put32(&end, 0x0706_4B50)               // ZIP64 end locator
        Self.put32(&end, 0)
        Self.put64(&end, UInt64(zip64EndOffset))
        Self.put32(&end, 1)
        Self.put32(&end, 0x0605_4B50)               // end of central directory
        Self.put32(&end, 0)
        Self.put16(&end, UInt16(Swift.min(count, 0xFFFF))); Self.put16(&end, UInt16(Swift.min(count, 0xFFFF)))
        Self.put32(&end, UInt32(Swift.min(central.count, 0xFFFF_FFFF)))
        Self.put32(&end, UInt32(Swift.min(directoryOffset, 0xFFFF_FFFF)))
        Self.put16(&end, 0)                         // comment
        try out.write(end)
        try out.flush()
    }

    private static func put16(_ a: inout [UInt8], _ v: UInt16) { a.append(UInt8(v & 0xFF)); a.append(UInt8(v >> 8)) }
    private static func put32(_ a: inout [UInt8], _ v: UInt32) { put16(&a, UInt16(v & 0xFFFF)); put16(&a, UInt16(v >> 16)) }
    private static func put64(_ a: inout [UInt8], _ v: UInt64) { put32(&a, UInt32(v & 0xFFFF_FFFF)); put32(&a, UInt32(v >> 32)) }
}
