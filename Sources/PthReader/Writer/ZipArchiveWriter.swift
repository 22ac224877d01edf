import CLibzip
import Foundation

/// A zip archive being created with libzip; discarded (nothing written) unless `close()` succeeds.
///
/// libzip writes the archive at `zip_close`, into its own temporary file beside `path` which it
/// renames to `path` when done. Entries are read from `ZipWriteSource`s at that moment, one
/// after the other, so only one entry's bytes are in memory at a time.
final class ZipArchiveWriter {
    private var handle: OpaquePointer?
    /// The path reported in errors (the final target, not the temporary file).
    private let reportedPath: String
    /// Keeps the callback contexts alive while libzip may call them.
    private var sources: [ZipWriteSource] = []

    /// Creates a new archive at `path`, which must not exist yet.
    init(creatingAt path: String, reportedPath: String) throws {
        self.reportedPath = reportedPath
        var code: Int32 = 0
        guard let handle = zip_open(path, ZIP_CREATE | ZIP_EXCL, &code) else {
            var error = zip_error_t()
            zip_error_init_with_code(&error, code)
            let message = String(cString: zip_error_strerror(&error))
            zip_error_fini(&error)
            throw CheckpointWriterError.zip(path: reportedPath, reason: message)
        }
        self.handle = handle
    }

    deinit {
        if let handle { zip_discard(handle) }
    }

    /// Adds a STORED (uncompressed) entry whose bytes come from `source`, with an optional
    /// local-header-only extra field (used for alignment padding).
    func add(name: String, source: ZipWriteSource, localExtraField: (id: UInt16, data: [UInt8])? = nil) throws {
        guard let handle else { throw CheckpointWriterError.zip(path: reportedPath, reason: "archive already closed") }
        let context = Unmanaged.passUnretained(source).toOpaque()
        guard let zipSource = zip_source_function(handle, zipWriteSourceCallback, context) else {
            throw archiveError()
        }
        sources.append(source)
        let index = zip_file_add(handle, name, zipSource, zip_flags_t(ZIP_FL_ENC_UTF_8))
        guard index >= 0 else {
            zip_source_free(zipSource)
            throw archiveError()
        }
        guard zip_set_file_compression(handle, zip_uint64_t(index), ZIP_CM_STORE, 0) == 0 else { throw archiveError() }
        if let extra = localExtraField {
            let bytes = extra.data.isEmpty ? [0] : extra.data
            let status = bytes.withUnsafeBufferPointer { buffer in
                zip_file_extra_field_set(handle, zip_uint64_t(index), extra.id, zip_uint16_t(ZIP_EXTRA_FIELD_NEW),
                                         buffer.baseAddress, zip_uint16_t(extra.data.count), zip_flags_t(ZIP_FL_LOCAL))
            }
            guard status == 0 else { throw archiveError() }
        }
    }

    /// Writes the archive. On failure the first error a source reported (e.g. the byte provider's
    /// own error) is thrown in preference to libzip's message, and nothing is left at the path.
    func close() throws {
        guard let handle else { return }
        if zip_close(handle) == 0 {
            self.handle = nil
            return
        }
        if let failure = sources.lazy.compactMap(\.failure).first { throw failure }
        throw archiveError()
    }

    private func archiveError() -> CheckpointWriterError {
        guard let handle else { return .zip(path: reportedPath, reason: "archive closed") }
        return .zip(path: reportedPath, reason: String(cString: zip_strerror(handle)))
    }
}

/// One entry's bytes for libzip, produced on demand when libzip opens the source at `zip_close`.
final class ZipWriteSource {
    /// Exact number of bytes the entry has; `produce` must return this many.
    let size: Int
    private var produce: (() throws -> [UInt8])?
    private var data: [UInt8] = []
    private var position = 0
    private var error = zip_error_t()
    /// The error that made a read fail, kept so it can be rethrown after `zip_close` fails.
    private(set) var failure: Error?
    /// Called once the entry has been read completely.
    private let finished: (() -> Void)?

    /// A source whose bytes are computed (once) when libzip first opens it.
    init(size: Int, finished: (() -> Void)? = nil, produce: @escaping () throws -> [UInt8]) {
        self.size = size
        self.produce = produce
        self.finished = finished
        zip_error_init(&error)
    }

    /// A source over bytes already in memory (the small records).
    convenience init(bytes: [UInt8]) {
        self.init(size: bytes.count) { bytes }
    }

    deinit { zip_error_fini(&error) }

    fileprivate func handle(_ buffer: UnsafeMutableRawPointer?, _ length: zip_uint64_t, _ command: zip_source_cmd_t) -> zip_int64_t {
        switch command {
        case ZIP_SOURCE_OPEN:
            guard let produce else {
                // Already produced and consumed once; the byte provider is called only once per entry.
                zip_error_set(&error, ZIP_ER_INTERNAL, 0)
                return -1
            }
            do {
                data = try produce()
            } catch {
                failure = error
                zip_error_set(&self.error, ZIP_ER_READ, 0)
                return -1
            }
            self.produce = nil
            position = 0
            return 0
        case ZIP_SOURCE_READ:
            guard let buffer else { return 0 }
            let count = min(Int(clamping: length), data.count - position)
            if count > 0 {
                data.withUnsafeBytes { source in
                    buffer.copyMemory(from: source.baseAddress! + position, byteCount: count)
                }
                position += count
            }
            return zip_int64_t(count)
        case ZIP_SOURCE_CLOSE:
            let complete = position == data.count
            data = []
            position = 0
            if complete { finished?() }
            return 0
        case ZIP_SOURCE_STAT:
            guard let buffer, length >= zip_uint64_t(MemoryLayout<zip_stat_t>.size) else {
                zip_error_set(&error, ZIP_ER_INTERNAL, 0)
                return -1
            }
            let stat = buffer.assumingMemoryBound(to: zip_stat_t.self)
            zip_stat_init(stat)
            stat.pointee.size = zip_uint64_t(size)
            stat.pointee.valid |= zip_uint64_t(ZIP_STAT_SIZE)
            return zip_int64_t(MemoryLayout<zip_stat_t>.size)
        case ZIP_SOURCE_ERROR:
            return zip_error_to_data(&error, buffer, length)
        case ZIP_SOURCE_FREE:
            return 0
        case ZIP_SOURCE_SUPPORTS:
            let commands = [ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
                            ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, ZIP_SOURCE_SUPPORTS]
            return commands.reduce(zip_int64_t(0)) { $0 | (zip_int64_t(1) << zip_int64_t($1.rawValue)) }
        default:
            zip_error_set(&error, ZIP_ER_OPNOTSUPP, 0)
            return -1
        }
    }
}

/// The C callback libzip calls for every `ZipWriteSource`; the context is the unretained source.
private let zipWriteSourceCallback: zip_source_callback = { context, buffer, length, command in
    guard let context else { return -1 }
    return Unmanaged<ZipWriteSource>.fromOpaque(context).takeUnretainedValue().handle(buffer, length, command)
}
