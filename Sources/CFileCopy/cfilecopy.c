#define _GNU_SOURCE
#include <unistd.h>
#include "cfilecopy.h"

ssize_t lt_copy_file_range(int in_fd, long long *in_offset, int out_fd, size_t length) {
    off64_t offset = (off64_t)*in_offset;
    ssize_t n = copy_file_range(in_fd, &offset, out_fd, NULL, length, 0);
    if (n > 0) *in_offset = (long long)offset;
    return n;
}
