#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#include "cfilecopy.h"

// The window this thread is reading, and where to jump when it faults. Initial-exec TLS: the
// handler reads it without any allocation or lock.
static __thread __attribute__((tls_model("initial-exec"))) sigjmp_buf *volatile guard_jump;
static __thread __attribute__((tls_model("initial-exec"))) const char *guard_low;
static __thread __attribute__((tls_model("initial-exec"))) const char *guard_high;

static struct sigaction previous_bus;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int installed;

static void on_bus(int signal_number, siginfo_t *info, void *context) {
    sigjmp_buf *jump = guard_jump;
    const char *address = (const char *)info->si_addr;
    if (jump && address >= guard_low && address < guard_high) {
        guard_jump = NULL;
        siglongjmp(*jump, 1);
    }
    // Not a fault of ours: do what would have happened without this handler.
    if (previous_bus.sa_flags & SA_SIGINFO) {
        if (previous_bus.sa_sigaction) { previous_bus.sa_sigaction(signal_number, info, context); return; }
    } else if (previous_bus.sa_handler != SIG_DFL && previous_bus.sa_handler != SIG_IGN) {
        previous_bus.sa_handler(signal_number);
        return;
    }
    // Default (or ignored, which cannot help a fault): restore the default action and return, so
    // the faulting instruction runs again and the process ends as it would have.
    signal(signal_number, SIG_DFL);
}

static void install(void) {
    struct sigaction action = {0};
    action.sa_sigaction = on_bus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    installed = sigaction(SIGBUS, &action, &previous_bus) == 0;
}

// 8 MiB windows: mapped pages count in the resident set while mapped. 256 KiB pieces stay in
// L2: each is hashed and then written while its bytes are still there, so the copy reads them
// from cache rather than from memory a second time.
enum { window_size = 8 << 20, piece_size = 256 << 10 };

int lt_copy_mapped_range(int in_fd, long long offset, long long count, int out_fd,
                         lt_checksum_update update, uint32_t *checksum, long long *done_out) {
    long long done = 0;
    *done_out = 0;
    if (count <= 0) return 0;
    if (offset < 0) { errno = EINVAL; return -1; }
    if (update) {
        pthread_once(&install_once, install);
        if (!installed) { errno = ENOTSUP; return -1; }
    }
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    uint32_t running = *checksum;
    while (done < count) {
        long long start = offset + done;
        long long aligned = start - start % page;
        long long want = count - done < window_size ? count - done : window_size;
        size_t length = (size_t)(start - aligned + want);
        void *mapped = mmap(NULL, length, PROT_READ, MAP_SHARED, in_fd, (off_t)aligned);
        if (mapped == MAP_FAILED) break;
        const unsigned char *bytes = (const unsigned char *)mapped + (start - aligned);
        // Values read after a jump back must live in memory, not in registers.
        void *volatile window = mapped;
        volatile size_t window_length = length;
        volatile uint32_t result = running;
        volatile long long at = 0;
        sigjmp_buf jump;
        if (sigsetjmp(jump, 1) != 0) {
            // The fault came while hashing the piece at `at`: the pieces before it are written
            // and in `result`.
            munmap(window, window_length);
            *checksum = result;
            *done_out = done + at;
            return 1;
        }
        guard_low = (const char *)mapped;
        guard_high = (const char *)mapped + length;
        guard_jump = &jump;
        for (at = 0; at < want; ) {
            long long n = want - at < piece_size ? want - at : piece_size;
            if (update) result = update(result, bytes + at, (uint64_t)n);
            long long written = 0;
            while (out_fd >= 0 && written < n) {
                // A page of the input that vanished (truncated) makes write() fail with EFAULT,
                // never a signal: the kernel reads the mapping.
                ssize_t k = write(out_fd, bytes + at + written, (size_t)(n - written));
                if (k > 0) { written += k; continue; }
                if (k < 0 && errno == EINTR) continue;
                int code = k < 0 ? errno : EIO;
                guard_jump = NULL;
                munmap(mapped, length);
                *checksum = result;
                *done_out = done + at + written;
                if (code == EFAULT) return 1;
                errno = code;
                return -2;
            }
            at += n;
        }
        guard_jump = NULL;
        running = result;
        munmap(mapped, length);
        done += want;
    }
    *checksum = running;
    *done_out = done;
    return done < count ? -1 : 0;
}

int lt_checksum_file_range(int fd, long long offset, long long count, lt_checksum_update update, uint32_t *checksum) {
    uint32_t running = *checksum;
    long long done = 0;
    int result = lt_copy_mapped_range(fd, offset, count, -1, update, &running, &done);
    if (result == 0) *checksum = running;
    return result;
}

int lt_preallocate(int fd, long long length) {
    if (length <= 0) return 0;
    int result;
    do { result = fallocate(fd, 0, 0, (off_t)length); } while (result != 0 && errno == EINTR);
    return result == 0 ? 0 : errno;
}
