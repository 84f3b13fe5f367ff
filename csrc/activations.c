/*
 * activations.c: the elementwise activations and their derivatives.
 * sigmoid and tanh, the GRU's hot spots, have an AVX2+FMA implementation chosen at run
 * time (the package is built without -march flags) and a portable scalar one; both are
 * accurate to about 1e-7 absolute, well inside the 1e-6 the tests sweep for. Building
 * with -DGP_NO_SIMD keeps only the scalar code.
 */
#include "activations.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(GP_NO_SIMD)
#define GP_HAVE_AVX2 1
#include <immintrin.h>
#endif

/* Written so that exp never overflows: for x < 0 use e^x / (1 + e^x). */
static inline float sigmoid(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

/* Keras 3: relu6(x + 3) / 6, i.e. clip(x / 6 + 1/2, 0, 1). */
static inline float hard_sigmoid(float x) {
    const float y = x / 6.0f + 0.5f;
    return y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y);
}

#ifdef GP_HAVE_AVX2
/*
 * exp(x) for 8 floats: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two parts so that r
 * is exact), exp(r) by its degree-7 Taylor polynomial (truncation error below 6e-9
 * relative), times 2^n built in the exponent bits. Inputs are clamped to where 2^n is a
 * normal float, so the callers' saturated results come out as 0 or 1 without overflow.
 */
__attribute__((target("avx2,fma"))) static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i bits =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

/* 1 / (1 + e^-x): e^-x is at most e^87, so the sum never overflows. */
__attribute__((target("avx2,fma"))) static inline __m256 sigmoid8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

/*
 * tanh(x) = sign(x) (1 - e) / (1 + e), e = e^(-2|x|) <= 1, so nothing overflows. Below
 * |x| = 0.25 the subtraction 1 - e would lose relative accuracy; there the odd Taylor
 * series through x^9 is used instead (its next term is under 3e-9 relative).
 */
__attribute__((target("avx2,fma"))) static inline __m256 tanh8(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 ax = _mm256_andnot_ps(sign, x);
    const __m256 e = exp8(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 big = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    const __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(62.0f / 2835.0f);
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-17.0f / 315.0f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.0f / 15.0f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1.0f / 3.0f));
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, x2), ax, ax);
    const __m256 use_small = _mm256_cmp_ps(ax, _mm256_set1_ps(0.25f), _CMP_LT_OQ);
    const __m256 magnitude = _mm256_blendv_ps(big, small, use_small);
    return _mm256_or_ps(magnitude, _mm256_and_ps(x, sign));
}

/* Applies f to v[0..n) in blocks of 8; the tail goes through a zero-padded block, so
 * every element gets the same arithmetic wherever it sits. */
#define GP_DEFINE_AVX2_ARRAY(name, f)                                                              \
    __attribute__((target("avx2,fma"))) static void name(float *v, size_t n) {                     \
        size_t i = 0;                                                                              \
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(v + i, f(_mm256_loadu_ps(v + i)));             \
        if (i < n) {                                                                               \
            float block[8] = {0};                                                                  \
            memcpy(block, v + i, (n - i) * sizeof(float));                                         \
            _mm256_storeu_ps(block, f(_mm256_loadu_ps(block)));                                    \
            memcpy(v + i, block, (n - i) * sizeof(float));                                         \
        }                                                                                          \
    }

GP_DEFINE_AVX2_ARRAY(sigmoid_avx2, sigmoid8)
GP_DEFINE_AVX2_ARRAY(tanh_avx2, tanh8)

/* Decided once; every caller sees the same answer, so the race on first use is benign. */
static int has_avx2_fma(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}
#endif /* GP_HAVE_AVX2 */

int gp_act_is_elementwise(gp_activation act) {
    return act == GP_ACT_LINEAR || act == GP_ACT_SIGMOID || act == GP_ACT_TANH ||
           act == GP_ACT_HARD_SIGMOID || act == GP_ACT_RELU;
}

void gp_act_forward(gp_activation act, float *v, size_t n) {
    switch (act) {
    case GP_ACT_SIGMOID:
#ifdef GP_HAVE_AVX2
        if (has_avx2_fma()) {
            sigmoid_avx2(v, n);
            break;
        }
#endif
        for (size_t i = 0; i < n; i++) v[i] = sigmoid(v[i]);
        break;
    case GP_ACT_TANH:
#ifdef GP_HAVE_AVX2
        if (has_avx2_fma()) {
            tanh_avx2(v, n);
            break;
        }
#endif
        for (size_t i = 0; i < n; i++) v[i] = tanhf(v[i]);
        break;
    case GP_ACT_HARD_SIGMOID:
        for (size_t i = 0; i < n; i++) v[i] = hard_sigmoid(v[i]);
        break;
    case GP_ACT_RELU:
        for (size_t i = 0; i < n; i++) v[i] = v[i] > 0.0f ? v[i] : 0.0f;
        break;
    default: /* GP_ACT_LINEAR; callers have rejected the rest */
        break;
    }
}

void gp_act_backward(gp_activation act, const float *y, float *d, size_t n) {
    switch (act) {
    case GP_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) d[i] *= y[i] * (1.0f - y[i]);
        break;
    case GP_ACT_TANH:
        for (size_t i = 0; i < n; i++) d[i] *= 1.0f - y[i] * y[i];
        break;
    case GP_ACT_HARD_SIGMOID:
        /* Slope 1/6 strictly inside (0, 1); flat where the output is clipped. */
        for (size_t i = 0; i < n; i++) d[i] = (y[i] > 0.0f && y[i] < 1.0f) ? d[i] / 6.0f : 0.0f;
        break;
    case GP_ACT_RELU:
        for (size_t i = 0; i < n; i++) d[i] = y[i] > 0.0f ? d[i] : 0.0f;
        break;
    default: /* GP_ACT_LINEAR */
        break;
    }
}
