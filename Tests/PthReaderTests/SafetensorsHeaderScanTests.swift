import Foundation
import Testing
@testable import PthReader

/// The one-pass scan of common safetensors headers gives exactly the strict reader's entries, and
/// leaves every other header (escapes, odd numbers, duplicates, extra fields, bad JSON) to it.
@Suite struct SafetensorsHeaderScanTests {
    static func scan(_ header: String) -> (metadata: [DictItem], entries: [SafetensorsFormat.Entry])? {
        SafetensorsHeaderScan.scan(Array(header.utf8), path: "h.safetensors")
    }

    @Test func commonHeadersGiveTheStrictEntries() throws {
        let headers = [
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            #"  { "__metadata__" : {"format":"pt","z":"1"} , "b.w" : { "shape" : [ 1 , 2 ] , "data_offsets" : [8,16], "dtype":"F16" },"a":{"data_offsets":[0,8],"dtype":"BF16","shape":[4]} }  "#,
            #"{"__metadata__":null,"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#,
            #"{}"#,
            #"{"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"y":{"dtype":"I64","shape":[10,0,3],"data_offsets":[0,0]}}"#,
            #"{"x":{"dtype":"F32","shape":[9223372036854775807],"data_offsets":[0,8]}}"#,
        ]
        for header in headers {
            let scanned = try #require(Self.scan(header), "\(header)")
            let strict = try SafetensorsFormat.strictEntries(Array(header.utf8), path: "h.safetensors")
            #expect(scanned.entries == strict.entries, "\(header)")
            #expect(scanned.metadata == strict.metadata, "\(header)")
        }
    }

    @Test func everyOtherHeaderIsLeftToTheStrictReader() {
        let headers = [
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            #"{"__metadata__":{},"__metadata__":{},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            #"{"caf\u00e9":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            "{\"caf\u{E9}\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
            #"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#,
            #"{"a":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}"#,
            #"{"a":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}}"#,
            #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}"#,
            #"{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,8]}}"#,
            #"{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}}"#,
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}"#,
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}"#,
            #"{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            #"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#,
            #"{"a":{"shape":[2],"data_offsets":[0,8]}}"#,
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x"#,
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},}"#,
            #"{"__metadata__":{"x":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            #"["a"]"#,
            #"{"a":[]}"#,
            "{\"a\\tb\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        ]
        for header in headers { #expect(Self.scan(header) == nil, "\(header)") }
    }
}
