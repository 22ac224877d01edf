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

#endif
