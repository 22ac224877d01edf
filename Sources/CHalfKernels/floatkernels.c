// float32 element-wise kernels of the forward pass that need exp: SwiGLU and the softmax's
// exponentials. exp is Cody–Waite range reduction x = n·ln2 + r, Cephes' degree-6 polynomial for
// exp(r) and scaling by 2^n through the exponent bits: within ~2 ulp over [-87, 88]; below, ~1e-38
// (0 for softmax purposes); above, clamped. With AVX2 and FMA (checked at run time) 8 values go
// per instruction, elsewhere the scalar form of the same steps (FMA rounding aside: results agree
// to an ulp or two, not bit for bit).
#include "halfkernels.h"

#include <string.h>

static inline float exp_scalar(float x) {
    const float magic = 12582912.0f;  // 1.5 · 2^23: adding it rounds to an integer in the low mantissa bits
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    float t = x * 1.44269504088896341f + magic;
    float n = t - magic;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * (r * r) + r + 1.0f;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - 0x4B400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

float float_exp(float x) { return exp_scalar(x); }

static void swiglu_scalar(const float *gate, const float *up, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + exp_scalar(-gate[i])) * up[i];
}

static float exp_shifted_scalar(float *x, size_t n, float shift) {
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lanes[j] += (x[i + j] = exp_scalar(x[i + j] - shift));
    float sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for (; i < n; i++) sum += (x[i] = exp_scalar(x[i] - shift));
    return sum;
}

#if defined(__x86_64__)
#include <immintrin.h>

#define KERNEL __attribute__((target("avx2,fma")))

KERNEL static inline __m256 exp8(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), magic);
    __m256 n = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000)), _mm256_set1_epi32(127));
    return _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(e, 23)));
}

KERNEL static void swiglu_avx2(const float *gate, const float *up, float *out, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, g))));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    swiglu_scalar(gate + i, up + i, out + i, n - i);
}

KERNEL static float exp_shifted_avx2(float *x, size_t n, float shift) {
    const __m256 s = _mm256_set1_ps(shift);
    __m256 lanes = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
        _mm256_storeu_ps(x + i, e);
        lanes = _mm256_add_ps(lanes, e);
    }
    float l[8];
    _mm256_storeu_ps(l, lanes);
    float sum = ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
    for (; i < n; i++) sum += (x[i] = exp_scalar(x[i] - shift));
    return sum;
}

void float_swiglu(const float *gate, const float *up, float *out, size_t n) {
    if (half_kernels_vectorized()) swiglu_avx2(gate, up, out, n); else swiglu_scalar(gate, up, out, n);
}

float float_exp_shifted(float *x, size_t n, float shift) {
    return half_kernels_vectorized() ? exp_shifted_avx2(x, n, shift) : exp_shifted_scalar(x, n, shift);
}
#else
void float_swiglu(const float *gate, const float *up, float *out, size_t n) { swiglu_scalar(gate, up, out, n); }

float float_exp_shifted(float *x, size_t n, float shift) { return exp_shifted_scalar(x, n, shift); }
#endif
