import Foundation
import Model

/// adapter_config.json and config.json decoding, and rank/alpha pattern matching on a few names.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigs(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    if let config = try? JSONDecoder().decode(PEFTAdapterConfig.self, from: bytes) {
        for module in ["model.layers.0.self_attn.q_proj", "layers.10.mlp.down_proj", "x"] {
            _ = config.rank(for: module)
            _ = config.scale(for: module)
        }
    }
    _ = try? ModelConfiguration.decode(bytes, path: "config.json")
    return 0
}
