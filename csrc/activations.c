/*
 * activations.c: scalar reference implementations of the elementwise activations.
 * Each function switches on the activation once and then runs a plain loop over the
 * array, so the compiler can vectorise the loop body. Hand-written SIMD comes later.
 */
#include "activations.h"

#include <math.h>

/* Written so that exp never overflows: for x < 0 use e^x / (1 + e^x). */
static inline float sigmoid(float x) {
    if (x >= 0.0f) {
        return 1.0f / (1.0f + expf(-x));
    }
    const float e = expf(x);
    return e / (1.0f + e);
}

/* Keras 3: relu6(x + 3) / 6, i.e. clip(x / 6 + 1/2, 0, 1). */
static inline float hard_sigmoid(float x) {
    const float y = x / 6.0f + 0.5f;
    return y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y);
}

int gp_act_is_elementwise(gp_activation act) {
    return act == GP_ACT_LINEAR || act == GP_ACT_SIGMOID || act == GP_ACT_TANH ||
           act == GP_ACT_HARD_SIGMOID || act == GP_ACT_RELU;
}

void gp_act_forward(gp_activation act, float *v, size_t n) {
    switch (act) {
    case GP_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) v[i] = sigmoid(v[i]);
        break;
    case GP_ACT_TANH:
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
