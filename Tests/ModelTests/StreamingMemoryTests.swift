import Foundation
import Model
import Testing

/// `StreamingMemory.reuseFreedBuffers` (a process setting; harmless for the other tests): a large
/// buffer freed and allocated again reuses the pages it had, instead of fresh `mmap` pages that
/// the kernel must fault in and zero each time (glibc's default above 32 MiB).
@Suite struct StreamingMemoryTests {
    /// Minor page faults of the calling thread so far.
    static func threadFaults() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(1), &usage) // RUSAGE_THREAD (Linux), not imported by the Glibc module
        return usage.ru_minflt
    }

    @Test func aFreedLargeBufferIsReusedWithoutPageFaults() throws {
        StreamingMemory.reuseFreedBuffers()
        let size = 40 << 20 // above glibc's largest dynamic mmap threshold (32 MiB), below a thread arena's 64 MiB
        func cycle() throws {
            let buffer = try #require(malloc(size))
            memset(buffer, 1, size)
            free(buffer)
        }
        try cycle()
        let before = Self.threadFaults()
        try cycle()
        let faults = Self.threadFaults() - before
        // Fresh pages would fault once per 4 KiB page: 10,240 for 40 MiB.
        #expect(faults < (size >> 12) / 10, "\(faults) page faults for a reused \(size >> 20) MiB buffer")
    }
}
