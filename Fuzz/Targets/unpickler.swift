@testable import PthReader

/// The pickle VM on arbitrary bytes, with a persistent-id loader like the torch zip reader's,
/// read twice: with the tensor lane and opcode by opcode. The two must agree (the same tree, or
/// the same error); a disagreement stops the run as a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUnpickler(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    func read(lane: Bool) -> String {
        var unpickler = Unpickler(bytes: bytes, path: "fuzz.pkl", entry: "data.pkl",
                                  persistentLoad: TorchZipFormat.storageLoader(path: "fuzz.pkl", entry: "data.pkl"))
        unpickler.maxCreatedValues = 1_000_000
        unpickler.tensorLane = lane
        do { return "\(try unpickler.load())" } catch { return "error: \(error)" }
    }
    let withLane = read(lane: true), plain = read(lane: false)
    if withLane != plain { fatalError("the tensor lane disagrees with the opcodes:\n\(withLane)\n\(plain)") }
    return 0
}
