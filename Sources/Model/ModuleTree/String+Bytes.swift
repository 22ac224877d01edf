extension StringProtocol {
    /// Whether `needle` occurs in this name, compared byte for byte (UTF-8).
    ///
    /// Tensor names are compared as bytes everywhere (never by Unicode canonical equivalence), and
    /// this is also what keeps a scan over a million names fast: Foundation's `contains` goes
    /// through `NSString` and made it cost seconds.
    public func containsBytes(_ needle: String) -> Bool {
        var haystack = String(self)
        var pattern = needle
        return haystack.withUTF8 { h in
            pattern.withUTF8 { n in
                guard n.count > 0 else { return true }
                guard h.count >= n.count else { return false }
                let first = n[0]
                var i = 0
                while i <= h.count - n.count {
                    if h[i] == first {
                        var j = 1
                        while j < n.count && h[i + j] == n[j] { j += 1 }
                        if j == n.count { return true }
                    }
                    i += 1
                }
                return false
            }
        }
    }
}
