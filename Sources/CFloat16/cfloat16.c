// Bulk float16 <-> float32 conversion. On x86-64 CPUs with F16C (every AVX2 CPU) the hardware
// instructions convert 8 values at a time; elsewhere the compiler's own _Float16 conversion is
// used. Both round to nearest even, so results are identical.
#include "cfloat16.h"

#include <string.h>

static void to_float_portable(const uint16_t *src, float *dst, size_t count) {
    for (size_t i = 0; i < count; i++) {
        _Float16 h;
        memcpy(&h, &src[i], sizeof h);
        dst[i] = (float)h;
    }
}

static void from_float_portable(const float *src, uint16_t *dst, size_t count) {
    for (size_t i = 0; i < count; i++) {
        _Float16 h = (_Float16)src[i];
        memcpy(&dst[i], &h, sizeof h);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx,f16c")))
static void to_float_f16c(const uint16_t *src, float *dst, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    to_float_portable(src + i, dst + i, count - i);
}

__attribute__((target("avx,f16c")))
static void from_float_f16c(const float *src, uint16_t *dst, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(dst + i), h);
    }
    from_float_portable(src + i, dst + i, count - i);
}

static int has_f16c(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
    }
    return cached;
}

void cfloat16_to_float(const uint16_t *src, float *dst, size_t count) {
    if (has_f16c()) to_float_f16c(src, dst, count); else to_float_portable(src, dst, count);
}

void cfloat16_from_float(const float *src, uint16_t *dst, size_t count) {
    if (has_f16c()) from_float_f16c(src, dst, count); else from_float_portable(src, dst, count);
}
#else
void cfloat16_to_float(const uint16_t *src, float *dst, size_t count) { to_float_portable(src, dst, count); }
void cfloat16_from_float(const float *src, uint16_t *dst, size_t count) { from_float_portable(src, dst, count); }
#endif
