import Foundation

extension StringProtocol {
    /// Whether both texts hold the same UTF-8 bytes (never Unicode canonical equivalence), with
    /// one `memcmp` when both are stored contiguously (native strings always are).
    ///
    /// `utf8.elementsEqual` walks the views a byte at a time: a few percent of a million-tensor file.
    package func sameBytes(as other: some StringProtocol) -> Bool {
        let fast = utf8.withContiguousStorageIfAvailable { a in
            other.utf8.withContiguousStorageIfAvailable { b in
                a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
            }
        }
        if let fast, let result = fast { return result }
        return utf8.elementsEqual(other.utf8)
    }
}
