// Kernels over float16/bfloat16 weights for the forward pass: the matrix-vector product of
// decoding reads each 16-bit weight once and widens it in registers, so a token costs half the
// memory traffic of float32 weights. On x86-64 CPUs with AVX2, FMA and F16C (checked at run time)
// 8 columns go per instruction; elsewhere portable loops give the same products (the summation
// order differs, so results agree to rounding, not bit for bit).
#include "halfkernels.h"

#include <string.h>

static inline float widen_one(uint16_t bits, half_kind kind) {
    if (kind == HALF_KIND_BFLOAT16) {
        uint32_t wide = (uint32_t)bits << 16;
        float f;
        memcpy(&f, &wide, sizeof f);
        return f;
    }
    _Float16 h;
    memcpy(&h, &bits, sizeof h);
    return (float)h;
}

static void widen_portable(const uint16_t *src, half_kind kind, float *dst, size_t count) {
    for (size_t i = 0; i < count; i++) dst[i] = widen_one(src[i], kind);
}

static void matvec_portable(const uint16_t *w, half_kind kind, size_t ldw, size_t cols, size_t r0, size_t r1,
                            const float *x, float *y) {
    for (size_t r = r0; r < r1; r++) {
        const uint16_t *row = w + r * ldw;
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t c = 0;
        for (; c + 8 <= cols; c += 8)
            for (int j = 0; j < 8; j++) acc[j] += widen_one(row[c + j], kind) * x[c + j];
        float sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (; c < cols; c++) sum += widen_one(row[c], kind) * x[c];
        y[r] = sum;
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define KERNEL __attribute__((target("avx2,fma,f16c")))

KERNEL static inline __m256 load8(const uint16_t *p, half_kind kind) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (kind == HALF_KIND_BFLOAT16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

KERNEL static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

KERNEL static void widen_avx2(const uint16_t *src, half_kind kind, float *dst, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(dst + i, load8(src + i, kind));
    widen_portable(src + i, kind, dst + i, count - i);
}

// Four rows at a time share each load of x; two accumulators per row keep eight FMA chains in flight.
KERNEL __attribute__((always_inline)) static inline void matvec_avx2_kind(const uint16_t *w, half_kind kind, size_t ldw, size_t cols, size_t r0, size_t r1,
                                    const float *x, float *y) {
    size_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const uint16_t *p0 = w + r * ldw, *p1 = p0 + ldw, *p2 = p1 + ldw, *p3 = p2 + ldw;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        size_t c = 0;
        // The next four rows follow these in memory (when they are this product's): fetch them
        // while these are multiplied, one cache line per row every other step.
        const char *ahead = r + 8 <= r1 ? (const char *)(p0 + 4 * ldw) : NULL;
        for (; c + 16 <= cols; c += 16) {
            if (ahead && (c & 16) == 0) {
                _mm_prefetch(ahead + 2 * c, _MM_HINT_T0);
                _mm_prefetch(ahead + 2 * (c + ldw), _MM_HINT_T0);
                _mm_prefetch(ahead + 2 * (c + 2 * ldw), _MM_HINT_T0);
                _mm_prefetch(ahead + 2 * (c + 3 * ldw), _MM_HINT_T0);
            }
            __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
            a0 = _mm256_fmadd_ps(load8(p0 + c, kind), x0, a0);
            a1 = _mm256_fmadd_ps(load8(p1 + c, kind), x0, a1);
            a2 = _mm256_fmadd_ps(load8(p2 + c, kind), x0, a2);
            a3 = _mm256_fmadd_ps(load8(p3 + c, kind), x0, a3);
            b0 = _mm256_fmadd_ps(load8(p0 + c + 8, kind), x1, b0);
            b1 = _mm256_fmadd_ps(load8(p1 + c + 8, kind), x1, b1);
            b2 = _mm256_fmadd_ps(load8(p2 + c + 8, kind), x1, b2);
            b3 = _mm256_fmadd_ps(load8(p3 + c + 8, kind), x1, b3);
        }
        for (; c + 8 <= cols; c += 8) {
            __m256 x0 = _mm256_loadu_ps(x + c);
            a0 = _mm256_fmadd_ps(load8(p0 + c, kind), x0, a0);
            a1 = _mm256_fmadd_ps(load8(p1 + c, kind), x0, a1);
            a2 = _mm256_fmadd_ps(load8(p2 + c, kind), x0, a2);
            a3 = _mm256_fmadd_ps(load8(p3 + c, kind), x0, a3);
        }
        float s0 = hsum(_mm256_add_ps(a0, b0)), s1 = hsum(_mm256_add_ps(a1, b1));
        float s2 = hsum(_mm256_add_ps(a2, b2)), s3 = hsum(_mm256_add_ps(a3, b3));
        for (; c < cols; c++) {
            s0 += widen_one(p0[c], kind) * x[c];
            s1 += widen_one(p1[c], kind) * x[c];
            s2 += widen_one(p2[c], kind) * x[c];
            s3 += widen_one(p3[c], kind) * x[c];
        }
        y[r] = s0;
        y[r + 1] = s1;
        y[r + 2] = s2;
        y[r + 3] = s3;
    }
    for (; r < r1; r++) {
        const uint16_t *p = w + r * ldw;
        __m256 a = _mm256_setzero_ps();
        size_t c = 0;
        for (; c + 8 <= cols; c += 8) a = _mm256_fmadd_ps(load8(p + c, kind), _mm256_loadu_ps(x + c), a);
        float s = hsum(a);
        for (; c < cols; c++) s += widen_one(p[c], kind) * x[c];
        y[r] = s;
    }
}

// One copy per kind, so the kind test leaves the inner loop.
KERNEL static void matvec_avx2_f16(const uint16_t *w, size_t ldw, size_t cols, size_t r0, size_t r1, const float *x, float *y) {
    matvec_avx2_kind(w, HALF_KIND_FLOAT16, ldw, cols, r0, r1, x, y);
}

KERNEL static void matvec_avx2_bf16(const uint16_t *w, size_t ldw, size_t cols, size_t r0, size_t r1, const float *x, float *y) {
    matvec_avx2_kind(w, HALF_KIND_BFLOAT16, ldw, cols, r0, r1, x, y);
}

int half_kernels_vectorized(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }
    return cached;
}

void half_widen(const uint16_t *src, half_kind kind, float *dst, size_t count) {
    if (half_kernels_vectorized()) widen_avx2(src, kind, dst, count); else widen_portable(src, kind, dst, count);
}

void half_matvec(const uint16_t *w, half_kind kind, size_t ldw, size_t cols, size_t row_begin, size_t row_end,
                 const float *x, float *y) {
    if (!half_kernels_vectorized()) {
        matvec_portable(w, kind, ldw, cols, row_begin, row_end, x, y);
    } else if (kind == HALF_KIND_BFLOAT16) {
        matvec_avx2_bf16(w, ldw, cols, row_begin, row_end, x, y);
    } else {
        matvec_avx2_f16(w, ldw, cols, row_begin, row_end, x, y);
    }
}
#else
int half_kernels_vectorized(void) { return 0; }

void half_widen(const uint16_t *src, half_kind kind, float *dst, size_t count) { widen_portable(src, kind, dst, count); }

void half_matvec(const uint16_t *w, half_kind kind, size_t ldw, size_t cols, size_t row_begin, size_t row_end,
                 const float *x, float *y) {
    matvec_portable(w, kind, ldw, cols, row_begin, row_end, x, y);
}
#endif
