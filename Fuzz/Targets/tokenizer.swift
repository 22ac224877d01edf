import Foundation
import Model

/// tokenizer.json loading, then encoding a fixed text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if let tokenizer = try? BPETokenizer(jsonData: Data(UnsafeBufferPointer(start: data, count: size))) {
        _ = tokenizer.encode("Hello, world! 你好 <|im_start|>user\n12345")
    }
    return 0
}
