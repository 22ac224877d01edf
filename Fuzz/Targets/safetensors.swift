import Foundation
@testable import PthReader

/// Safetensors headers: the input is the JSON header; the data section is 64 zero bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var file = withUnsafeBytes(of: UInt64(size).littleEndian, Array.init)
    file += UnsafeBufferPointer(start: data, count: size)
    file += [UInt8](repeating: 0, count: 64)
    let path = file.withUnsafeBytes { FuzzSupport.file($0, name: "input.safetensors") }
    guard let checkpoint = try? Checkpoint.open(path: path) else { return 0 }
    for tensor in checkpoint.tensors.prefix(64) { _ = try? checkpoint.bytes(of: tensor) }
    return 0
}
