// Splitting one matrix-vector product, or any job cut into chunks (a prefill's widen-and-multiply
// of 16-bit weights, its attention), across threads. Decoding issues a few dozen products per
// token, each tens of microseconds long, so helpers are persistent: after a job each spins
// briefly for the next one (it usually follows within microseconds; the forward pass runs no
// other threads, OpenBLAS being single-threaded inside the chunks), then sleeps on a condition
// variable. The rows are cut into chunks that the caller and the helpers claim one at
// a time, so a helper that is late (descheduled on a busy machine) costs nothing: the caller
// takes its chunks. One caller at a time owns the helpers; a concurrent caller runs alone.
#include "halfkernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

enum { MAX_HELPERS = 7, SPIN_ROUNDS = 20000, MIN_PARALLEL_ELEMENTS = 1 << 16, CHUNKS_PER_THREAD = 4 };

// The current job: a matrix-vector product cut into row chunks, or a caller's function run once
// per chunk. Written by the owner only while no chunk of the previous job is unfinished.
static struct {
    enum { JOB_MATVEC, JOB_CALL } what;
    const uint16_t *w;
    half_kind kind;
    size_t ldw, cols, rows, chunk_rows;
    const float *x;
    float *y;
    void (*body)(void *context, size_t chunk);
    void *context;
    uint32_t chunks;
} job;

// generation << 32 | next unclaimed chunk: a claim succeeds only for the generation it read.
static _Atomic uint64_t claim;
static _Atomic uint32_t finished;           // chunks of the current job done
static _Atomic uint32_t generation;         // bumped for each job
static pthread_mutex_t sleep_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int sleepers;
static int started;                         // helpers running (grows, never shrinks)
static pthread_mutex_t owner = PTHREAD_MUTEX_INITIALIZER;

// Claims and runs chunks of generation `gen` until none is left.
static void work(uint32_t gen) {
    for (;;) {
        uint64_t seen = atomic_load_explicit(&claim, memory_order_acquire);
        if ((uint32_t)(seen >> 32) != gen || (uint32_t)seen >= job.chunks) return;
        if (!atomic_compare_exchange_weak_explicit(&claim, &seen, seen + 1, memory_order_acq_rel, memory_order_acquire)) continue;
        if (job.what == JOB_CALL) {
            job.body(job.context, (size_t)(uint32_t)seen);
        } else {
            size_t r0 = (size_t)(uint32_t)seen * job.chunk_rows;
            size_t r1 = r0 + job.chunk_rows < job.rows ? r0 + job.chunk_rows : job.rows;
            half_matvec(job.w, job.kind, job.ldw, job.cols, r0, r1, job.x, job.y);
        }
        atomic_fetch_add_explicit(&finished, 1, memory_order_release);
    }
}

static void *helper_main(void *arg) {
    (void)arg;
    uint32_t seen = atomic_load_explicit(&generation, memory_order_acquire);
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&generation, memory_order_acquire) == seen) {
            if (++spins < SPIN_ROUNDS) { CPU_RELAX(); continue; }
            pthread_mutex_lock(&sleep_mutex);
            while (atomic_load_explicit(&generation, memory_order_acquire) == seen) {
                sleepers++;
                pthread_cond_wait(&wake, &sleep_mutex);
                sleepers--;
            }
            pthread_mutex_unlock(&sleep_mutex);
        }
        seen = atomic_load_explicit(&generation, memory_order_acquire);
        work(seen);
    }
    return NULL;
}

// Called with `owner` held.
static int ensure_helpers(int wanted) {
    while (started < wanted) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attr, helper_main, NULL);
        pthread_attr_destroy(&attr);
        if (failed) break;
        started++;
    }
    return started;
}

// Runs `job` (set up by the caller, who holds `owner`) on the caller and the helpers, then
// releases `owner`.
static void run_job(void) {
    uint32_t gen = atomic_load_explicit(&generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&finished, 0, memory_order_relaxed);
    atomic_store_explicit(&claim, (uint64_t)gen << 32, memory_order_release);
    atomic_store_explicit(&generation, gen, memory_order_release);
    pthread_mutex_lock(&sleep_mutex);
    if (sleepers) pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&sleep_mutex);
    work(gen);
    // Only chunks a helper has claimed and is running remain.
    int spins = 0;
    while (atomic_load_explicit(&finished, memory_order_acquire) < job.chunks) {
        if (++spins < 1000) CPU_RELAX(); else { sched_yield(); spins = 0; }
    }
    pthread_mutex_unlock(&owner);
}

// Takes `owner` and starts helpers for a job of `threads` threads over `elements` elements;
// returns the helper count, or 0 when the job should run on the caller alone (`owner` not held).
static int acquire(int threads, size_t elements) {
    if (threads > MAX_HELPERS + 1) threads = MAX_HELPERS + 1;
    if (threads <= 1 || elements < MIN_PARALLEL_ELEMENTS || pthread_mutex_trylock(&owner) != 0) return 0;
    int helpers = ensure_helpers(threads - 1);
    if (helpers == 0) pthread_mutex_unlock(&owner);
    return helpers;
}

void half_matvec_parallel(const uint16_t *w, half_kind kind, size_t ldw, size_t cols, size_t rows,
                          const float *x, float *y, int threads) {
    int helpers = rows < 16 ? 0 : acquire(threads, rows * cols);
    if (helpers == 0) {
        half_matvec(w, kind, ldw, cols, 0, rows, x, y);
        return;
    }
    size_t pieces = (size_t)(helpers + 1) * CHUNKS_PER_THREAD;
    size_t chunk_rows = ((rows + pieces - 1) / pieces + 3) & ~(size_t)3;  // multiples of the kernel's 4 rows
    job.what = JOB_MATVEC;
    job.w = w;
    job.kind = kind;
    job.ldw = ldw;
    job.cols = cols;
    job.rows = rows;
    job.chunk_rows = chunk_rows;
    job.x = x;
    job.y = y;
    job.chunks = (uint32_t)((rows + chunk_rows - 1) / chunk_rows);
    run_job();
}

void half_pool_run(size_t chunks, void (*body)(void *context, size_t chunk), void *context, int threads) {
    int helpers = chunks < 2 || chunks > UINT32_MAX ? 0 : acquire(threads, MIN_PARALLEL_ELEMENTS);
    if (helpers == 0) {
        for (size_t c = 0; c < chunks; c++) body(context, c);
        return;
    }
    job.what = JOB_CALL;
    job.body = body;
    job.context = context;
    job.chunks = (uint32_t)chunks;
    run_job();
}
