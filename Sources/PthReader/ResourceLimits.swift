import Foundation

/// The machine-relative bounds on what loratool materialises: memory for a tensor read into
/// memory, free disk space for an output file.
///
/// A stride-0 view (`torch.zeros(1).expand(10**15)`) is legal and tiny on disk, but reading it
/// contiguously would need its full size; such reads are refused up front, naming the size,
/// instead of aborting on the allocation.
public enum ResourceLimits {
    /// Physical memory in bytes: no single tensor is materialised beyond it.
    ///
    /// `LORATOOL_MEMORY_LIMIT` (bytes) lowers it, for tests and for shared machines.
    public static let memoryBytes: Int = {
        let physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        if let text = ProcessInfo.processInfo.environment["LORATOOL_MEMORY_LIMIT"], let limit = Int(text), limit > 0 {
            return Swift.min(limit, physical)
        }
        return physical
    }()

    /// Bytes available to an unprivileged writer in the directory that will hold `path`, or nil if unknown.
    public static func freeDiskBytes(forOutput path: String) -> Int? {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else { return nil }
        let (bytes, overflow) = Int(clamping: info.f_bavail).multipliedReportingOverflow(by: Int(clamping: info.f_frsize))
        return overflow ? Int.max : bytes
    }

    /// Throws unless `bytes` (nil: more than `Int.max`) fits in memory.
    static func checkMemory(_ bytes: Int?, path: String, entry: String, what: String) throws {
        if let bytes, bytes <= memoryBytes { return }
        throw PthReaderError.exceedsLimit(path: path, entry: entry,
            reason: "\(what) would need \(describe(bytes)) in memory, more than the machine's \(describe(memoryBytes)) of physical memory; refused before reading")
    }

    /// Throws unless `bytes` fit the free space of the output's file system.
    public static func checkDiskSpace(_ bytes: Int?, output: String, largest: (name: String, bytes: Int)?) throws {
        guard let free = freeDiskBytes(forOutput: output) else { return }
        if let bytes, bytes <= free { return }
        let detail = largest.map { "; the largest tensor, \($0.name), alone is \(describe($0.bytes))" } ?? ""
        throw PthReaderError.exceedsLimit(path: output, entry: nil,
            reason: "the output would hold \(describe(bytes)) of tensor data but its file system has \(describe(free)) free\(detail); nothing was written")
    }

    /// `1234` → `1234 bytes`, larger sizes with a binary unit too; nil is "more than 2^63 bytes".
    public static func describe(_ bytes: Int?) -> String {
        guard let bytes else { return "more than 2^63 bytes" }
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes), unit = ""
        for u in units where value >= 1024 {
            value /= 1024
            unit = u
        }
        return unit.isEmpty ? "\(bytes) bytes" : "\(bytes) bytes (\(String(format: "%.1f", value)) \(unit))"
    }
}

extension ResourceLimits {
    /// Refuses up front to write `root` to `output` when its tensors (aliases once) exceed the free disk space.
    public static func checkDiskSpace(forWriting root: Node, to output: String) throws {
        var seen = Set<TensorView>()
        var total: Int? = 0
        var largest: (name: String, bytes: Int)?
        func visit(_ node: Node) {
            switch node {
            case .tensor(let t):
                guard seen.insert(TensorView(t)).inserted else { return }
                let bytes = t.checkedByteCount
                if let b = bytes, b > (largest?.bytes ?? -1) { largest = (t.name, b) }
                if let t0 = total, let b = bytes {
                    let (sum, overflow) = t0.addingReportingOverflow(b)
                    total = overflow ? nil : sum
                } else {
                    total = nil
                }
            case .dict(let items, _): items.forEach { visit($0.value) }
            case .list(let items), .tuple(let items): items.forEach(visit)
            default: break
            }
        }
        visit(root)
        try checkDiskSpace(total, output: output, largest: largest)
    }
}
