import Foundation

/// The on-disk format a checkpoint was read from; `rawValue` is the `"format"` string of `inspect --json`.
public enum CheckpointFormat: String, Sendable, Codable {
    case torchZip = "torch-zip"
    case torchLegacy = "torch-legacy"
    case safetensors = "safetensors"
    case huggingFaceDirectory = "hf-directory"
    case peftDirectory = "peft-directory"
    case gguf = "gguf"
}

/// A checkpoint opened for reading: its object tree and tensor list, with tensor bytes read lazily.
///
/// Opening reads only the pickle (or header) and the archive directory. `bytes(of:)` reads one
/// tensor's bytes when asked, checked against the storage really present.
public final class Checkpoint: @unchecked Sendable {
    /// The path given to `open`.
    public let path: String
    public let format: CheckpointFormat
    /// The whole object tree (a state_dict, a training checkpoint dict, ...).
    public let root: Node
    /// Every tensor in the tree, depth-first in file order, with dotted names.
    public let tensors: [TensorEntry]
    /// Every non-tensor value (`epoch = 3`) by dotted name, in file order; a list or tuple of plain
    /// scalars is one value (`optimizer.param_groups.0.params = [0, 1, 2]`).
    public let metadata: [(name: String, value: Node)]
    /// `config.json` found beside a Hugging Face / PEFT directory's weights, as raw bytes.
    public let configJSON: Data?
    /// `adapter_config.json` of a PEFT adapter directory, as raw bytes.
    public let adapterConfigJSON: Data?
    /// The header (metadata, tensor table) of a GGUF file.
    public let gguf: GGUFFile?

    /// Every storage by key; built on first use when the reader gave each tensor's storage instead.
    var storages: [String: StorageLocation] {
        storageTable.value { [tensors, storagePerTensor, numberedStorages, namedStorages] in
            var storages: [String: StorageLocation] = [:]
            if let storagePerTensor {
                storages.reserveCapacity(tensors.count)
                for (i, t) in tensors.enumerated() { storages[t.storageKey] = storagePerTensor[i] }
                return storages
            }
            storages = namedStorages
            // `String(n)` spells the key back exactly: a numbered key is canonical decimal.
            for (n, location) in numberedStorages.enumerated() { if let location { storages[String(n)] = location } }
            return storages
        }
    }
    private let storageTable: LazyValue<[String: StorageLocation]>
    private let storagePerTensor: [StorageLocation]?
    /// The storages whose keys are canonical decimals (`"0"`, `"1"`, …, torch's keys), by number,
    /// when a reader gave them so; `namedStorages` holds the others then.
    private let numberedStorages: [StorageLocation?]
    private let namedStorages: [String: StorageLocation]
    /// Tensor positions by name. No two names are canonically equivalent (refused when opened),
    /// so a lookup finds the one candidate, whose bytes are then compared. Built on first use
    /// when the reader vouched for the names (`namesUnique`): `inspect` never looks one up.
    private let index: LazyValue<[String: Int]>
    /// Per tensor, a number for its storage (tensors with equal numbers share a storage key), and
    /// how many tensors use each storage: a view of a storage used once is unique without hashing it.
    private let storageIDs: [Int32]
    private let storageUsers: [Int32]
    /// Bytes of each storage, by storage number (0 for a storage the file lacks, refused when opened).
    private let storageBytes: [Int]

    /// `namesUnique` says the reader has seen that no two tensor names are canonically equal
    /// (distinct ASCII names at the top level of a safetensors header), so nothing is refused here
    /// and the name index waits for its first use. `storagePerTensor`, when a reader gives it, is each tensor's own storage in tensor order:
    /// every tensor has a storage key of its own, found in `storages` (safetensors), so no key is
    /// hashed to number the storages. `numberedStorages`, when a reader gives it, holds the
    /// storages whose keys are canonical decimals by their number (`storages` the others): a
    /// tensor's storage is then found by parsing its key, without hashing it.
    init(path: String, format: CheckpointFormat, root: Node, storages: [String: StorageLocation],
         configJSON: Data? = nil, adapterConfigJSON: Data? = nil, gguf: GGUFFile? = nil,
         storagePerTensor: [StorageLocation]? = nil, numberedStorages: [StorageLocation?] = [],
         namesUnique: Bool = false) throws {
        self.path = path
        self.format = format
        let perTensor = storages.isEmpty && storagePerTensor != nil && numberedStorages.isEmpty
        let lazyStorages = perTensor || !numberedStorages.isEmpty
        self.storageTable = LazyValue(lazyStorages ? nil : storages)
        self.storagePerTensor = perTensor ? storagePerTensor : nil
        self.numberedStorages = numberedStorages
        self.namedStorages = numberedStorages.isEmpty ? [:] : storages
        self.configJSON = configJSON
        self.adapterConfigJSON = adapterConfigJSON
        self.gguf = gguf
        var tensors: [TensorEntry] = []
        var metadata: [(String, Node)] = []
        self.root = Checkpoint.flatten(root, prefix: "", tensors: &tensors, metadata: &metadata)
        self.tensors = tensors
        self.metadata = metadata
        self.index = LazyValue(namesUnique ? nil : try Checkpoint.uniqueIndex(of: tensors, path: path))
        // One hash of each tensor's storage key gives its storage number; the storage itself is
        // looked up once per storage, and its size kept by number (`storageByteCount` hashes nothing).
        var ids: [String: Int32] = [:]
        var storageIDs: [Int32] = []
        var storageUsers: [Int32] = []
        var locations: [StorageLocation?] = []
        // Names are canonically distinct here (`uniqueIndex`), so keys equal to them are too.
        if numberedStorages.isEmpty, let storagePerTensor, storagePerTensor.count == tensors.count {
            storageIDs = (0..<Int32(tensors.count)).map { $0 }
            storageUsers = [Int32](repeating: 1, count: tensors.count)
            locations = storagePerTensor
        } else {
            // Numbered storages keep their number; the others are numbered after them.
            storageUsers = [Int32](repeating: 0, count: numberedStorages.count)
            locations = numberedStorages
            ids.reserveCapacity(storages.count)
            storageIDs.reserveCapacity(tensors.count)
            for i in tensors.indices {
                if let n = NumberedRecords.decimal(tensors[i].storageKey), n < numberedStorages.count, numberedStorages[n] != nil {
                    storageIDs.append(Int32(n))
                    storageUsers[n] += 1
                    continue
                }
                let next = Int32(storageUsers.count)
                let id = Checkpoint.number(&ids[tensors[i].storageKey, default: next])
                if id == next {
                    storageUsers.append(0)
                    locations.append(storages[tensors[i].storageKey])
                }
                storageIDs.append(id)
                storageUsers[Int(id)] += 1
            }
        }
        self.storageIDs = storageIDs
        self.storageUsers = storageUsers
        self.storageBytes = locations.map { $0?.byteCount ?? 0 }
        var total = 0
        for i in tensors.indices {
            try validate(tensors[i], storage: locations[Int(storageIDs[i])])
            // Every element or byte total over any subset of tensors then fits `Int`.
            let (sum, overflow) = total.addingReportingOverflow(tensors[i].byteCount)
            guard !overflow else {
                throw PthReaderError.exceedsLimit(path: path, entry: tensors[i].name,
                    reason: "the tensors up to this one total more than 2^63 bytes when materialised (stride-0 views), more than loratool can count")
            }
            total = sum
        }
    }

    /// Reads a dictionary slot through its `default:` subscript: one hash for a lookup-or-insert.
    private static func number(_ slot: inout Int32) -> Int32 { slot }

    /// The tensor with this dotted name (compared byte for byte), if any.
    public func tensor(named name: String) -> TensorEntry? {
        let index = self.index.value {
            var index: [String: Int] = [:]
            index.reserveCapacity(tensors.count)
            for (i, t) in tensors.enumerated() where index[t.name] == nil { index[t.name] = i }
            return index
        }
        guard let i = index[name], tensors[i].name.sameBytes(as: name) else { return nil }
        return tensors[i]
    }

    /// Number of elements of the tensors whose names start with `prefix`, each viewed element range once.
    ///
    /// Like `sum(p.numel() for p in model.parameters())`: tied weights (two names viewing the same
    /// elements of one storage) count once.
    public func parameterCount(under prefix: String = "") -> Int {
        var seen = Set<TensorView>()
        var total = 0
        // By index: iterating the entries would copy each (four reference counts) for nothing.
        for i in tensors.indices where prefix.isEmpty || tensors[i].name.hasPrefix(prefix) {
            // Only a storage used by several tensors can hold two equal views.
            if storageUsers[Int(storageIDs[i])] == 1 || seen.insert(TensorView(tensors[i])).inserted {
                total += tensors[i].elementCount
            }
        }
        return total
    }

    /// Number of elements over all tensors, tied weights counted once (`parameterCount(under: "")`).
    public var parameterCount: Int { parameterCount(under: "") }

    /// Bytes held by the storages the tensors use, each storage once.
    public var storageByteCount: Int {
        // Each storage lies inside the file, so the sum cannot really overflow; saturate to be sure.
        var counted = [Bool](repeating: false, count: storageUsers.count)
        var total = 0
        for id in storageIDs where !counted[Int(id)] {
            counted[Int(id)] = true
            let (sum, overflow) = total.addingReportingOverflow(storageBytes[Int(id)])
            total = overflow ? Int.max : sum
        }
        return total
    }

    /// Indexes tensors by name, refusing two tensors whose dotted names collide.
    ///
    /// Names are compared byte for byte. Two keys that flatten to one name (`{"a.b": t1, "a": {"b": t2}}`,
    /// `True` beside `'True'`) are refused by name, and so are two names that differ only in Unicode
    /// normalisation (NFC and NFD `café`): torch keeps both, but Swift's `String ==` (used throughout
    /// the model code) would take them for one, so they cannot be told apart safely.
    private static func uniqueIndex(of tensors: [TensorEntry], path: String) throws -> [String: Int] {
        // One dictionary with `String` keys finds canonically equivalent names, which include
        // byte-identical ones; the bytes then tell the two refusals apart.
        var canonical: [String: Int] = [:]
        canonical.reserveCapacity(tensors.count)
        for (i, t) in tensors.enumerated() {
            guard let other = canonical.updateValue(i, forKey: t.name) else { continue }
            if tensors[other].name.utf8.elementsEqual(t.name.utf8) {
                throw PthReaderError.malformed(path: path, entry: t.name,
                    reason: "two tensors flatten to this name (tensors \(other) and \(i) in file order, e.g. a key 'a.b' beside a nested 'a' → 'b', or True beside 'True'); refusing rather than picking one")
            }
            throw PthReaderError.malformed(path: path, entry: t.name,
                reason: "names '\(tensors[other].name.unicodeScalars.map { $0.escaped(asASCII: true) }.joined())' and '\(t.name.unicodeScalars.map { $0.escaped(asASCII: true) }.joined())' differ only in Unicode normalisation (NFC/NFD); refusing rather than confusing them")
        }
        return canonical
    }

    /// Checks that a tensor's view lies inside its storage, with overflow-safe arithmetic.
    func validate(_ t: TensorEntry) throws {
        try validate(t, storage: storages[t.storageKey])
    }

    /// `validate(_:)` with the tensor's storage already looked up (nil when the file lacks it).
    private func validate(_ t: TensorEntry, storage: StorageLocation?) throws {
        guard let storage else {
            throw PthReaderError.malformed(path: path, entry: t.name, reason: "tensor refers to storage '\(t.storageKey)', which the file does not contain")
        }
        guard storage.dtype == nil || storage.dtype == t.dtype else {
            throw PthReaderError.malformed(path: path, entry: t.name, reason: "tensor dtype \(t.dtype.rawValue) differs from its storage's \(storage.dtype!.rawValue)")
        }
        guard t.shape.count == t.strides.count else {
            throw PthReaderError.malformed(path: path, entry: t.name, reason: "shape has \(t.shape.count) dimensions but strides have \(t.strides.count)")
        }
        guard t.storageOffset >= 0, t.shape.allSatisfy({ $0 >= 0 }), t.strides.allSatisfy({ $0 >= 0 }) else {
            throw PthReaderError.malformed(path: path, entry: t.name, reason: "negative size, stride or offset")
        }
        guard t.checkedByteCount != nil else {
            throw PthReaderError.exceedsLimit(path: path, entry: t.name,
                reason: "shape \(t.shape) of \(t.dtype.rawValue) holds more than 2^63 bytes when materialised (a stride-0 view with strides \(t.strides)), more than loratool can count")
        }
        guard let extent = TensorLayout.extent(shape: t.shape, strides: t.strides, offset: t.storageOffset) else {
            throw PthReaderError.malformed(path: path, entry: t.name, reason: "shape \(t.shape) with strides \(t.strides) overflows")
        }
        let (bytes, overflow) = extent.multipliedReportingOverflow(by: t.dtype.itemSize)
        guard !overflow, bytes <= storage.byteCount else {
            throw PthReaderError.malformed(path: path, entry: t.name,
                reason: "view needs \(overflow ? "more than Int.max" : String(bytes)) bytes of storage '\(t.storageKey)' but it holds \(storage.byteCount)")
        }
    }

    /// Reads one tensor's elements as contiguous little-endian bytes of its dtype.
    ///
    /// The entry is checked against its storage first, so an entry built by hand cannot read out of bounds.
    public func bytes(of t: TensorEntry) throws -> [UInt8] {
        try validate(t)
        try ResourceLimits.checkMemory(t.checkedByteCount, path: path, entry: t.name,
                                       what: "reading shape \(t.shape) of \(t.dtype.rawValue)")
        guard t.elementCount > 0, let storage = storages[t.storageKey],
              let extent = TensorLayout.extent(shape: t.shape, strides: t.strides, offset: t.storageOffset) else { return [] }
        let item = t.dtype.itemSize
        let length = (extent - t.storageOffset) * item
        let raw = try [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            try storage.source.read(offset: storage.offset + t.storageOffset * item, into: UnsafeMutableRawBufferPointer(buffer), context: t.name)
            count = length
        }
        return t.isContiguous ? raw : TensorLayout.gather(raw, shape: t.shape, strides: t.strides, itemSize: item)
    }

    /// Whether two tensors hold the same dtype, shape and bytes, read in chunks with an early exit.
    ///
    /// Tensors that share a view of one storage are equal without reading anything; otherwise
    /// differing tensors usually cost one chunk each, equal ones a full read of both.
    public func contentsEqual(_ a: TensorEntry, _ b: TensorEntry, chunkBytes: Int = 1 << 20) throws -> Bool {
        guard a.dtype == b.dtype, a.shape == b.shape else { return false }
        try validate(a)
        try validate(b)
        if TensorView(a) == TensorView(b) { return true }
        guard a.isContiguous, b.isContiguous, let sa = storages[a.storageKey], let sb = storages[b.storageKey] else {
            return try bytes(of: a) == bytes(of: b)
        }
        let total = a.byteCount
        var done = 0
        var bufferA = [UInt8](repeating: 0, count: Swift.min(chunkBytes, total))
        var bufferB = bufferA
        while done < total {
            let n = Swift.min(chunkBytes, total - done)
            try bufferA.withUnsafeMutableBytes {
                try sa.source.read(offset: sa.offset + a.storageOffset * a.dtype.itemSize + done, into: UnsafeMutableRawBufferPointer(rebasing: $0[..<n]), context: a.name)
            }
            try bufferB.withUnsafeMutableBytes {
                try sb.source.read(offset: sb.offset + b.storageOffset * b.dtype.itemSize + done, into: UnsafeMutableRawBufferPointer(rebasing: $0[..<n]), context: b.name)
            }
            if bufferA[..<n] != bufferB[..<n] { return false }
            done += n
        }
        return true
    }

    /// Reads one tensor's elements widened (or narrowed) to `Float`, row-major.
    public func floats(of t: TensorEntry) throws -> [Float] {
        try validate(t)
        let (floatBytes, overflow) = t.elementCount.multipliedReportingOverflow(by: 4 + t.dtype.itemSize)
        try ResourceLimits.checkMemory(overflow ? nil : floatBytes, path: path, entry: t.name,
                                       what: "reading shape \(t.shape) of \(t.dtype.rawValue) as float32")
        let raw = try bytes(of: t)
        let count = t.elementCount
        return [Float](unsafeUninitializedCapacity: count) { out, n in
            raw.withUnsafeBytes { src in
                if count > 0 { t.dtype.decodeFloats(from: src.baseAddress!, count: count, into: out.baseAddress!) }
            }
            n = count
        }
    }
}
