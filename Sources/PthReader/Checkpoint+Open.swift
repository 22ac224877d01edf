import Foundation

extension Checkpoint {
    /// Opens any supported checkpoint, choosing the reader from the file's first bytes.
    ///
    /// Torch zip, legacy torch and safetensors files, Hugging Face model directories and PEFT
    /// adapter directories. Only the pickle, headers and archive directory are read here.
    public static func open(path: String) throws -> Checkpoint {
        guard let info = try RegularFile.status(path) else {
            throw PthReaderError.unreadable(path: path, reason: "no such file or directory")
        }
        if info.st_mode & S_IFMT == S_IFDIR { return try DirectoryFormat.read(path: path) }
        let file = try FileSource(path: path)
        guard file.size > 0 else { throw PthReaderError.unrecognizedFormat(path: path, reason: "the file is empty") }
        let head = try file.bytes(offset: 0, count: Swift.min(file.size, 512), context: "header")
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            return try TorchZipFormat.read(path: path)
        }
        if GGUFFormat.matches(head) { return try GGUFFormat.read(path: path, file: file) }
        if LegacyFormat.matches(head) { return try LegacyFormat.read(path: path, file: file) }
        if SafetensorsFormat.matches(head, fileSize: file.size) { return try SafetensorsFormat.read(path: path, file: file) }
        if head.count > 262, Array(head[257..<262]) == Array("ustar".utf8) {
            throw PthReaderError.unrecognizedFormat(path: path, reason: "a tar-based checkpoint from torch < 0.4, which is not supported")
        }
        throw PthReaderError.unrecognizedFormat(path: path, reason: "no zip, legacy pickle or safetensors signature")
    }
}
