import Foundation

/// How a streaming rewrite (`merge`, `unmerge`, `convert`) has the C allocator reuse the memory of
/// tensors it is done with.
///
/// A rewrite holds a few tensors at a time (docs/merge.md: about three times the largest tensor
/// plus 64 MiB) but allocates a buffer for every tensor it reads into memory and every tensor it
/// merges. glibc serves blocks of 32 MiB and more — and, until its threshold adapts, smaller ones —
/// with fresh `mmap` pages and returns them on `free`, so the kernel faults in and zeroes every
/// page of every buffer again: a fifth of the CPU time of a 4.57 GB merge (`perf record`). With
/// `mmap` off for `malloc` and the heap's top kept up to 2 GiB, freed buffers stay in the heap and
/// the next tensors reuse their pages (4.57 GB merge 4.9 → 3.9 s; docs/PERFORMANCE.md). One arena
/// for every thread: a thread's own arena grows in 64 MiB heaps, so glibc still maps a larger
/// buffer anew, and frees a whole heap, whatever the settings; the pipeline's threads allocate a
/// few large buffers per tensor, so sharing the main heap's lock costs nothing measurable (4.57 GB
/// merge a further 8 % faster, peak RSS 291 → 193 MB). A process setting: the CLI calls it once,
/// before a command starts its threads, in the commands that stream checkpoints.
public enum StreamingMemory {
    /// Keeps freed buffers in the heap for reuse (glibc's `M_MMAP_MAX` 0, `M_TRIM_THRESHOLD` 2 GiB,
    /// `M_ARENA_MAX` 1).
    ///
    /// `mallopt` is looked up at run time (it is declared in `<malloc.h>`, which Swift's Glibc
    /// module does not import); a C library without it is left as it is.
    public static func reuseFreedBuffers() {
        typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: MallOpt.self)
        // glibc's <malloc.h>: M_TRIM_THRESHOLD is -1, M_MMAP_MAX is -4, M_ARENA_MAX is -8.
        _ = mallopt(-4, 0)
        _ = mallopt(-1, Int32.max)
        _ = mallopt(-8, 1)
    }
}
