// The few LAPACK routines loratool calls, through OpenBLAS's bundled LAPACK (Fortran ABI:
// everything by pointer, column-major, a hidden length argument after the arguments for each
// CHARACTER argument, as gfortran passes them). Declared here because Debian's libopenblas-dev
// ships no lapack.h; the symbols are in libopenblas itself.
#ifndef LORATOOL_LAPACK_SHIM_H
#define LORATOOL_LAPACK_SHIM_H
#include <stddef.h>

/// Singular value decomposition by divide and conquer (single precision).
void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda,
             float *s, float *u, const int *ldu, float *vt, const int *ldvt,
             float *work, const int *lwork, int *iwork, int *info, size_t jobz_len);

/// QR factorisation: R in the upper triangle, Householder reflectors below.
void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau,
             float *work, const int *lwork, int *info);

/// Forms the explicit Q of sgeqrf's reflectors.
void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda,
             const float *tau, float *work, const int *lwork, int *info);

/// glibc's malloc keeps freed layer-sized buffers in its heap under its adaptive mmap threshold, so
/// a loop that allocates one layer at a time grows (and fragments) the heap; a fixed 1 MiB
/// threshold serves every big buffer with mmap and returns it on free.
#if defined(__GLIBC__)
#include <malloc.h>
static inline void loratool_return_large_buffers(void) { mallopt(M_MMAP_THRESHOLD, 1 << 20); }
#else
static inline void loratool_return_large_buffers(void) {}
#endif

#endif
