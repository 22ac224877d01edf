#ifndef HALFKERNELS_H
#define HALFKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// How a half-width weight's 16-bit elements encode a float.
typedef enum {
    /// IEEE 754 binary16 (torch.float16).
    HALF_KIND_FLOAT16 = 0,
    /// bfloat16: the high 16 bits of a float32 (torch.bfloat16).
    HALF_KIND_BFLOAT16 = 1,
} half_kind;

/// Widens `count` half-width elements of `kind` to float32 (exact).
void half_widen(const uint16_t *src, half_kind kind, float *dst, size_t count);

/// Matrix-vector product over half-width rows, accumulated in float32:
/// `y[r] = sum_c widen(w[r * ldw + c]) * x[c]` for `r` in `[row_begin, row_end)`, `c` in `[0, cols)`.
/// `y` is indexed by `r` (pass the output of row 0).
void half_matvec(const uint16_t *w, half_kind kind, size_t ldw, size_t cols, size_t row_begin, size_t row_end,
                 const float *x, float *y);

/// `half_matvec` over rows `[0, rows)` split across up to `threads` threads (the caller and
/// persistent helper threads started on first use). Runs on the caller alone when `threads` <= 1,
/// when the product is small, or when another thread is using the helpers at the moment.
void half_matvec_parallel(const uint16_t *w, half_kind kind, size_t ldw, size_t cols, size_t rows,
                          const float *x, float *y, int threads);

/// Runs `body(context, c)` for every chunk `c` in `[0, chunks)` on up to `threads` threads (the
/// caller and the helpers of `half_matvec_parallel`), returning when all are done. Chunks run in
/// any order, concurrently; on the caller alone when `threads` <= 1, for one chunk, or when
/// another thread is using the helpers at the moment.
void half_pool_run(size_t chunks, void (*body)(void *context, size_t chunk), void *context, int threads);

/// exp(x) in float32 (range reduction and a degree-6 polynomial, within ~2 ulp over [-87, 88];
/// smaller inputs give ~1e-38, larger are clamped): the scalar form of the kernels below.
float float_exp(float x);

/// `out[i] = silu(gate[i]) · up[i]`, `silu(a) = a / (1 + exp(-a))`, for `i` in `[0, n)` (SwiGLU).
void float_swiglu(const float *gate, const float *up, float *out, size_t n);

/// `x[i] = exp(x[i] - shift)` for `i` in `[0, n)`; returns their sum (a softmax's numerators).
float float_exp_shifted(float *x, size_t n, float shift);

/// Whether the AVX2/FMA/F16C kernels are used on this CPU (1) or the portable loops (0).
int half_kernels_vectorized(void);

#endif
