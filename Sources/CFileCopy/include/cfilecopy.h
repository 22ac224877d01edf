#ifndef CFILECOPY_H
#define CFILECOPY_H

#include <sys/types.h>

/// Copies up to `length` bytes from `in_fd` at `*in_offset` (advanced by the count copied) to
/// `out_fd` at its file position, inside the kernel: Linux `copy_file_range(2)`, which Swift's
/// Glibc module does not declare (glibc declares it only under `_GNU_SOURCE`).
/// Returns the bytes copied, 0 at the end of the input, or -1 with `errno` set.
ssize_t lt_copy_file_range(int in_fd, long long *in_offset, int out_fd, size_t length);

#endif
