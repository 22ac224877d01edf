import COpenBLAS
import Foundation

/// What OpenBLAS runs on, and the kernel family it should use on this CPU.
///
/// Debian's OpenBLAS 0.3.21 (a DYNAMIC_ARCH build) does not recognise some recent x86 CPUs and
/// falls back to its generic `Prescott` (SSE3) kernels, 3–4× slower than the AVX2/AVX-512 ones.
/// The kernel family can only be chosen before the library initialises, through the
/// `OPENBLAS_CORETYPE` environment variable; `loratool` re-executes itself with it set (see
/// `LogitsCommand`/`VerifyCommand`) when `suggestedCoreType` says so.
public enum BLASRuntime {
    /// The kernel family OpenBLAS picked (`Prescott`, `Haswell`, `SkylakeX`, ...).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// A better `OPENBLAS_CORETYPE` for this CPU when OpenBLAS fell back to generic kernels and the
    /// user did not choose one; `nil` when nothing should change.
    public static var suggestedCoreType: String? {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil else { return nil }
        let current = coreName.lowercased()
        guard current == "prescott" || current == "core2" || current == "nehalem" || current == "katmai" else { return nil }
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "fma"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// Re-executes the current process with `OPENBLAS_CORETYPE` set when `suggestedCoreType` has one.
    ///
    /// Returns only when nothing was changed or the exec failed (the process then continues as is).
    public static func reexecWithFasterKernelsIfNeeded() {
        guard let core = suggestedCoreType else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        let args = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // exec failed: keep running with the generic kernels.
        for p in argv { free(p) }
    }

    /// Runs OpenBLAS on the calling thread only, and stops its idle worker threads.
    ///
    /// For work made of many small products (a merge's rank-r updates) splitting each product
    /// across threads costs more than it saves. OpenBLAS starts its workers when it loads, and an
    /// idle worker spins (`sched_yield`) for about 0.1 s before it sleeps: on two cores that took
    /// a core from a short merge (MiniMind2-Small: 114 → 86 ms with no workers). The workers are
    /// stopped with OpenBLAS's own `blas_thread_shutdown_` (what its fork handler calls; a later
    /// multi-threaded call starts them again), looked up at run time so that an OpenBLAS without
    /// it is simply left as is. Call it only while no other thread uses BLAS: the CLI does, once,
    /// before a command's work.
    public static func useSingleThread() {
        openblas_set_num_threads(1)
        typealias Shutdown = @convention(c) () -> Int32
        if let symbol = dlsym(nil, "blas_thread_shutdown_") {
            _ = unsafeBitCast(symbol, to: Shutdown.self)()
        }
    }
}
