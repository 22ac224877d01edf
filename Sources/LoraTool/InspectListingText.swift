import Model
import PthReader

/// The human listing of an `InspectionListing`: the bytes `InspectText.render` gives for the
/// full report, written straight from the module table and the checkpoint's tensors into one
/// buffer (no row strings, no `ModuleInfo` per module).
enum InspectListingText {
    static func render(_ listing: InspectionListing, isAdapter: Bool = false) -> [UInt8] {
        let report = listing.report, table = listing.table, tensors = listing.checkpoint.tensors
        var out = Array("\(report.path) (\(report.format))\n".utf8)
        if isAdapter, let a = report.adapter {
            out += "a LoRA adapter (\(a.format)), not a model: merge it with `loratool merge BASE \(report.path) -o OUT`\n".utf8
        }
        // Widths first (as the report listing measures its rows), then the rows. The summaries
        // are written once, in the first pass, and kept (`summaries`, module m's ending at `ends[m]`).
        var scratch: [UInt8] = []
        var width0 = 0, width1 = 0
        var summaries: [UInt8] = [], ends = [Int](repeating: 0, count: table.count), widths = ends
        for m in 1..<table.count {
            width0 = max(width0, pathWidth(table, m, scratch: &scratch))
            widths[m] = summary(listing, m, into: &scratch)
            width1 = max(width1, widths[m])
            summaries += scratch
            ends[m] = summaries.count
        }
        width0 = min(width0, 60)
        width1 = min(width1, 48)
        var inModel = [Bool](repeating: false, count: tensors.count)
        out.reserveCapacity(out.count + (table.count - 1) * (width0 + width1 + 40))
        for m in 1..<table.count {
            let start = out.count
            let pathWidth = indentedPath(table, m, into: &scratch)
            out += scratch
            pad(&out, pathWidth, to: width0)
            out.append(literal: "  ")
            let summaryWidth = widths[m]
            out += summaries[ends[m - 1]..<ends[m]]
            let positions = table.parameterPositions(m)
            if !positions.isEmpty {
                pad(&out, summaryWidth, to: width1)
                out.append(literal: "  ")
                for (k, p) in positions.enumerated() {
                    let i = Int(p)
                    inModel[i] = true
                    if k > 0 { out.append(literal: "; ") }
                    appendLastComponent(of: tensors[i].name, to: &out)
                    out.append(literal: " [")
                    for (j, size) in tensors[i].shape.enumerated() {
                        if j > 0 { out.append(literal: ", ") }
                        out.append(decimal: size)
                    }
                    out.append(literal: "] ")
                    out += listing.dtype(i).utf8
                }
            }
            trimTrailingSpaces(&out, rowStart: start)
            out.append(0x0A)
        }
        let others = tensors.indices.filter { !inModel[$0] }
        out += InspectText.tail(report, tensorCount: tensors.count, others: others.count) { k in
            (tensors[others[k]].name, tensors[others[k]].shape, listing.dtype(others[k]))
        }.utf8
        return out
    }

    /// The width of module `m`'s indented path (`indentedPath`'s result), without writing an
    /// ASCII path (`scratch` is used for any other).
    private static func pathWidth(_ table: ModuleTable, _ m: Int, scratch: inout [UInt8]) -> Int {
        let path = table.pathUTF8(m)
        guard path.allSatisfy({ $0 < 0x80 }) else { return indentedPath(table, m, into: &scratch) }
        let depth = depthOfASCIIPath(path)
        return (depth > 1 ? 2 * (depth - 1) : 0) + path.count
    }

    /// The number of non-empty `.`-separated components of an ASCII path.
    private static func depthOfASCIIPath(_ path: ArraySlice<UInt8>) -> Int {
        var depth = 0
        var inComponent = false
        for b in path {
            if b == UInt8(ascii: ".") { inComponent = false } else if !inComponent { inComponent = true; depth += 1 }
        }
        return depth
    }

    /// Writes module `m`'s path, indented two spaces per level below the first, into `out`
    /// (replacing what it held) and returns its width as `TextColumns.width` counts it.
    private static func indentedPath(_ table: ModuleTable, _ m: Int, into out: inout [UInt8]) -> Int {
        out.removeAll(keepingCapacity: true)
        let path = table.pathUTF8(m)
        guard path.allSatisfy({ $0 < 0x80 }) else {
            let text = table.path(m)
            let depth = TextColumns.componentCount(text)
            let indented = (depth > 1 ? String(repeating: "  ", count: depth - 1) : "") + text
            out += indented.utf8
            return TextColumns.width(indented)
        }
        let depth = depthOfASCIIPath(path)
        if depth > 1 { out += repeatElement(UInt8(ascii: " "), count: 2 * (depth - 1)) }
        out += path
        return out.count
    }

    /// Writes module `m`'s summary as the listing shows it (` (head)`, `, tied to ...` added) into
    /// `out` (replacing what it held) and returns its width.
    private static func summary(_ listing: InspectionListing, _ m: Int, into out: inout [UInt8]) -> Int {
        out.removeAll(keepingCapacity: true)
        let table = listing.table
        table.kinds[m].appendSummary(to: &out)
        if table.heads[m] { out += " (head)".utf8 }
        if let tied = listing.report.tiedHead,
           table.parameterPositions(m).contains(where: { listing.checkpoint.tensors[Int($0)].name == tied.head }) {
            out += ", tied to \(tied.embedding)".utf8
        }
        return out.allSatisfy { $0 < 0x80 } ? out.count : String(decoding: out, as: UTF8.self).count
    }

    /// `TextColumns.lastComponent(name)`'s bytes, found on the bytes for an ASCII name.
    private static func appendLastComponent(of name: String, to out: inout [UInt8]) {
        var name = name
        let done = name.withUTF8 { bytes -> Bool in
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return false }
            var end = bytes.count
            while end > 0, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
            // Only dots (or nothing): the whole name, as `TextColumns.lastComponent` gives it.
            guard end > 0 else { out.append(contentsOf: bytes); return true }
            var start = end
            while start > 0, bytes[start - 1] != UInt8(ascii: ".") { start -= 1 }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<end]))
            return true
        }
        if !done { out += TextColumns.lastComponent(name).utf8 }
    }

    private static func pad(_ out: inout [UInt8], _ width: Int, to target: Int) {
        if width < target { out += repeatElement(UInt8(ascii: " "), count: target - width) }
    }

    /// `TextColumns.trimTrailingSpaces` on bytes: ASCII rows lose their trailing space bytes,
    /// others their trailing space `Character`s.
    private static func trimTrailingSpaces(_ out: inout [UInt8], rowStart: Int) {
        if out[rowStart...].allSatisfy({ $0 < 0x80 }) {
            while out.count > rowStart, out.last == UInt8(ascii: " ") { out.removeLast() }
        } else {
            var row = String(decoding: out[rowStart...], as: UTF8.self)
            while row.last == " " { row.removeLast() }
            out.replaceSubrange(rowStart..., with: row.utf8)
        }
    }
}
