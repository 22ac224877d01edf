import PthReader

extension InspectionReport.MetadataValue {
    /// A GGUF metadata value; arrays longer than 16 elements (token lists, merges) are summarised
    /// as text (`<6400 string values>`) rather than listed.
    public init(gguf value: GGUFValue) {
        switch value {
        case .string(let s): self = .string(s)
        case .bool(let b): self = .bool(b)
        case .float32(let f): self = .double(Double(f))
        case .float64(let d): self = .double(d)
        case .array(let type, let items):
            self = items.count > 16 ? .string("<\(items.count) \(type) values>") : .list(items.map { InspectionReport.MetadataValue(gguf: $0) })
        default: self = value.intValue.map { .int($0) } ?? .string(value.summary)
        }
    }
}
