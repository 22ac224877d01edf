#ifndef CFILECOPY_H
#define CFILECOPY_H

#include <stdint.h>
#include <sys/types.h>

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

/// Copies `count` bytes of `in_fd` at `offset` to `out_fd` at its file position, reading them
/// through read-only `mmap` windows of 8 MiB: each 256 KiB piece is first run through `update`
/// (continuing `*checksum`; NULL: no checksum) and then written with `write(2)` straight from
/// the mapping while it is still in cache. The bytes cross memory once on the way in and once
/// on the way out, as with `cp`; unlike `copy_file_range(2)`, the speed does not depend on the
/// input and output offsets being equal modulo the page size.
///
/// Returns 0 when all was copied; 1 when the input ended inside the range (truncated while
/// mapped: SIGBUS while hashing, caught as for `lt_checksum_file_range`, or `EFAULT` from
/// `write`); -1 with `errno` set when a window could not be mapped, and -2 with `errno` set when
/// `write` failed. In every case `*done` is the number of bytes written and `*checksum` covers
/// exactly those, so the caller can go on from there another way.
int lt_copy_mapped_range(int in_fd, long long offset, long long count, int out_fd,
                         lt_checksum_update update, uint32_t *checksum, long long *done);

/// Allocates `length` bytes of disk for `fd` from offset 0 (`fallocate(2)`, mode 0: the file's
/// size becomes at least `length`), so that the writes that follow fill blocks already allocated
/// instead of reserving them one page at a time. Never emulated by writing zeros, as
/// `posix_fallocate(3)` does where the file system cannot.
///
/// Returns 0, or the `errno` of `fallocate` (`EOPNOTSUPP` where the file system does not support
/// it, `ENOSPC` when the disk lacks the room).
int lt_preallocate(int fd, long long length);

#endif
