import CLapack

/// Process-wide memory settings for commands that stream one layer-sized buffer at a time.
public enum MemoryRuntime {
    /// Makes the allocator return every buffer of 1 MiB or more to the system when it is freed.
    ///
    /// glibc's adaptive mmap threshold otherwise moves such buffers into the heap, which fragments
    /// and never shrinks: `extract` on a 0.78 GB model peaked at 2.0 GB RSS instead of 0.41 GB.
    public static func returnLargeBuffersToSystem() {
        loratool_return_large_buffers()
    }
}
