import CHalfKernels
import COpenBLAS

/// The threads of a forward pass: work cut into independent chunks runs on the caller and the
/// persistent helpers of the 16-bit kernels (`half_pool_run`), each BLAS call on the thread that
/// makes it.
///
/// On first use it takes OpenBLAS's thread count (`OPENBLAS_NUM_THREADS`, by default one per core)
/// for itself and sets OpenBLAS to one thread for the rest of the process. So OpenBLAS's own
/// workers stay asleep (left to themselves they spin for a while after each call and take cores
/// from the helpers), and how a product is cut depends on its shape only: the same weights give
/// the same bits however many threads run them, even when several forward passes run at once
/// (`verify` compares two runs of one model exactly).
enum ForwardThreads {
    /// Threads of each step (1 when `BLASRuntime.useSingleThread` ran before the first use).
    static let count: Int = {
        let threads = Int(max(1, openblas_get_num_threads()))
        openblas_set_num_threads(1)
        return threads
    }()

    /// Runs `body(chunk)` for every chunk in `0 ..< chunks`, concurrently and in any order;
    /// `body` must only write what its chunk owns. Returns when all are done.
    static func run(chunks: Int, _ body: (Int) -> Void) {
        let threads = count
        guard threads > 1, chunks > 1 else {
            for chunk in 0..<chunks { body(chunk) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var closure = body
            withUnsafeMutablePointer(to: &closure) { pointer in
                half_pool_run(chunks, { context, chunk in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(chunk)
                }, pointer, Int32(threads))
            }
        }
    }

    /// Activation rows per chunk of the element-wise steps (norms, SwiGLU, rotary embedding).
    static let elementRows = 16

    /// Runs `body(rows)` over consecutive blocks of `elementRows` of `0 ..< rows` as `run` does
    /// (on the caller alone for one block, as when decoding); `body` writes only its rows.
    static func forEachRowBlock(_ rows: Int, _ body: (Range<Int>) -> Void) {
        run(chunks: (rows + elementRows - 1) / elementRows) { block in
            body(block * elementRows ..< min(rows, (block + 1) * elementRows))
        }
    }

    /// float32 bytes of weight rows per chunk of a product (see docs/PERFORMANCE.md for the
    /// measurement that chose it): a 16-bit chunk is widened into a buffer of this size.
    static let chunkBytes = 1 << 20

    /// Fewest weight rows worth a chunk of their own.
    static let minimumChunkRows = 16

    /// Runs `body(first, count)` over chunks of `rows` weight rows of `columns` floats as `run`
    /// does: chunks of at most `chunkBytes`, four at least and an even number when there are
    /// enough rows (two threads get equal shares), cut by the shape alone.
    static func forEachRowChunk(rows: Int, columns: Int, _ body: (_ first: Int, _ count: Int) -> Void) {
        let blockRows = max(1, min(rows, chunkBytes / (4 * max(1, columns))))
        var chunks = (rows + blockRows - 1) / blockRows
        if rows >= minimumChunkRows * 4 { chunks = max(4, chunks + chunks % 2) }
        let chunkRows = (rows + chunks - 1) / chunks
        run(chunks: (rows + chunkRows - 1) / chunkRows) { chunk in
            let first = chunk * chunkRows
            body(first, min(chunkRows, rows - first))
        }
    }
}
