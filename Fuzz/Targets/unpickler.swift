@testable import PthReader

/// The pickle VM on arbitrary bytes, with a persistent-id loader like the torch zip reader's.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUnpickler(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var unpickler = Unpickler(bytes: bytes, path: "fuzz.pkl", entry: "data.pkl") { pid in
        try TorchZipFormat.storageRef(pid, path: "fuzz.pkl", entry: "data.pkl")
    }
    unpickler.maxCreatedValues = 1_000_000
    unpickler.tensorLane = true
    _ = try? unpickler.load()
    return 0
}
