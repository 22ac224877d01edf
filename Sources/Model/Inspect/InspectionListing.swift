import PthReader

/// An `InspectionReport` whose tensors and modules are left where they are: in the checkpoint's
/// tensor list and a `ModuleTable`.
///
/// `inspect` lists a million tensors and modules from here without building a `TensorInfo` and
/// a `ModuleInfo` (and their strings) for each; `tensorInfo(_:)` and `moduleInfo(_:)` give those
/// values one at a time, and `InspectionReport(checkpoint:)` is this listing with all of them.
public struct InspectionListing: Sendable {
    /// The report with `tensors` and `modules` empty (the rest filled in).
    public var report: InspectionReport
    public let checkpoint: Checkpoint
    /// The modules of the model's state dict; module 0 (the root) is not listed.
    public let table: ModuleTable
    /// GGUF type names of the tensors that have no torch dtype, by position.
    private let dtypeNames: [Int: String]

    /// Reads what the listing needs from an opened checkpoint (see `InspectionReport.init(checkpoint:)`).
    public init(checkpoint: Checkpoint) throws {
        let prefix = StateDictLocator.prefix(of: checkpoint)
        let table = ModuleTable(tensors: checkpoint.tensors, prefix: prefix)
        var dtypeNames: [Int: String] = [:]
        report = try InspectionReport(shellOf: checkpoint, table: table, dtypeNames: &dtypeNames)
        self.checkpoint = checkpoint
        self.table = table
        self.dtypeNames = dtypeNames
    }

    /// Number of tensors listed.
    public var tensorCount: Int { checkpoint.tensors.count }

    /// The dtype shown for tensor `i`: torch's name, or the GGUF type of a quantised tensor.
    public func dtype(_ i: Int) -> String {
        dtypeNames[i] ?? checkpoint.tensors[i].dtype.rawValue
    }

    /// Tensor `i` as the report lists it.
    public func tensorInfo(_ i: Int) -> InspectionReport.TensorInfo {
        let t = checkpoint.tensors[i]
        return InspectionReport.TensorInfo(name: t.name, dtype: dtype(i), shape: t.shape, elements: t.elementCount, bytes: t.byteCount,
                                           storage: t.storageKey, storageOffset: t.storageOffset, strides: t.strides, contiguous: t.isContiguous)
    }

    /// Module `m` (1 ..< `table.count`) as the report lists it.
    public func moduleInfo(_ m: Int) -> InspectionReport.ModuleInfo {
        let positions = table.parameterPositions(m)
        return InspectionReport.ModuleInfo(path: table.path(m), kind: table.kinds[m].identifier, summary: table.kinds[m].summary,
                                           parameters: positions.map { checkpoint.tensors[Int($0)].name }, isHead: table.heads[m],
                                           parameterIndices: positions.map { Int($0) })
    }
}
