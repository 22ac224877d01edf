#ifndef CFILECOPY_H
#define CFILECOPY_H

#include <stdint.h>
#include <sys/types.h>

/// Copies up to `length` bytes from `in_fd` at `*in_offset` (advanced by the count copied) to
/// `out_fd` at its file position, inside the kernel: Linux `copy_file_range(2)`, which Swift's
/// Glibc module does not declare (glibc declares it only under `_GNU_SOURCE`).
/// Returns the bytes copied, 0 at the end of the input, or -1 with `errno` set.
ssize_t lt_copy_file_range(int in_fd, long long *in_offset, int out_fd, size_t length);

/// A running checksum over bytes: `update(previous, bytes, count)` (ISA-L's `crc32_gzip_refl`).
typedef uint32_t (*lt_checksum_update)(uint32_t previous, const unsigned char *bytes, uint64_t count);

/// Runs `update` over `count` bytes of `fd` at `offset`, continuing `*checksum`, reading them
/// straight from the page cache through read-only `mmap` windows of 8 MiB (no copy into a
/// buffer, as `pread` makes; each window is unmapped before the next, so the resident set stays
/// small).
///
/// A file truncated by another process while it is mapped makes the next access to a page past
/// its new end raise SIGBUS. That signal is caught here (a process-wide handler, installed once,
/// that acts only on a fault inside the window this thread is reading and passes every other
/// SIGBUS on to the handler that was there before) and reported, never a crash.
///
/// Returns 0 with `*checksum` updated; 1 when the file ended inside the range (SIGBUS), with
/// `*checksum` unchanged; -1 with `errno` set when the range could not be mapped (the caller
/// reads it with `pread` instead).
int lt_checksum_file_range(int fd, long long offset, long long count, lt_checksum_update update, uint32_t *checksum);

#endif
