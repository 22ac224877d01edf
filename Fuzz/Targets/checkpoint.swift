import Foundation
@testable import PthReader

/// Any file through `Checkpoint.open` (torch zip, legacy pickle, safetensors, GGUF), then every small tensor read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = FuzzSupport.file(UnsafeRawBufferPointer(start: data, count: size), name: "input.pth")
    guard let checkpoint = try? Checkpoint.open(path: path) else { return 0 }
    for tensor in checkpoint.tensors.prefix(64) where tensor.byteCount <= 1 << 20 {
        _ = try? checkpoint.bytes(of: tensor)
        _ = try? checkpoint.floats(of: tensor)
    }
    _ = checkpoint.parameterCount
    _ = checkpoint.storageByteCount
    return 0
}
