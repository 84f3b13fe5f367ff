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

#include "simd_math.h"

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

#ifdef GP_HAVE_X86_SIMD
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

#endif /* GP_HAVE_X86_SIMD */

/* Decided once; every caller sees the same answer, so the race on first use is benign. */
int gp_cpu_has_avx2_fma(void) {
#ifdef GP_HAVE_X86_SIMD
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
#else
    return 0;
#endif
}

int gp_act_is_elementwise(gp_activation act) {
    return act == GP_ACT_LINEAR || act == GP_ACT_SIGMOID || act == GP_ACT_TANH ||
           act == GP_ACT_HARD_SIGMOID || act == GP_ACT_RELU;
}

void gp_act_forward(gp_activation act, float *v, size_t n) {
    switch (act) {
    case GP_ACT_SIGMOID:
#ifdef GP_HAVE_X86_SIMD
        if (gp_cpu_has_avx2_fma()) {
            sigmoid_avx2(v, n);
            break;
        }
#endif
        for (size_t i = 0; i < n; i++) v[i] = sigmoid(v[i]);
        break;
    case GP_ACT_TANH:
#ifdef GP_HAVE_X86_SIMD
        if (gp_cpu_has_avx2_fma()) {
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
