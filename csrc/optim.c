/*
 * optim.c: optimizer updates, one fused pass over each tensor: gradient scaling and
 * clipping, decoupled weight decay and the update rule, with Keras 3's operation order
 * so that float32 results match Keras'. Learning-rate schedules and the iteration
 * counter live in Python; this file sees only the numbers of one step.
 */
#include <math.h>

#include "common.h"

double gp_sum_squares(const float *v, size_t n) {
    double total = 0.0;
    for (size_t i = 0; i < n; i++) total += (double)v[i] * (double)v[i];
    return total;
}

static gp_status check_step(const float *w, const float *grad, size_t n,
                            const gp_optim_step *step) {
    if (!w || !grad || !step) return GP_ERR_NULL_POINTER;
    if (!n || !gp_fits_float_buffer(n)) return GP_ERR_BAD_SIZE;
    return GP_OK;
}

/*
 * Element i's processed gradient: scaled, then clipped to [-bound, bound] (infinite
 * without clipping); with `decay`, the weight's decoupled decay too, in *w. Selects rather
 * than branches, and `decay` a constant where Adam's loop inlines this, so that the loop
 * vectorises (with -fno-math-errno, for sqrtf): scalar, Adam took 2.5 ns a weight, a tenth
 * of S2's time outside the recurrences.
 */
__attribute__((always_inline)) static inline float
prepare(float *w, const float *grad, size_t i, const gp_optim_step *step, float bound, int decay) {
    const float g = grad[i] * step->grad_scale;
    if (decay) *w = *w - *w * step->weight_decay * step->learning_rate;
    return g > bound ? bound : (g < -bound ? -bound : g);
}

/* prepare's bound: the clip value, or infinity (no clipping). */
static float clip_bound(const gp_optim_step *step) {
    return step->clip_value > 0.0f ? step->clip_value : INFINITY;
}

gp_status gp_sgd_update(float *w, float *velocity, const float *grad, size_t n,
                        const gp_optim_step *step, float momentum, int nesterov) {
    gp_status status = check_step(w, grad, n, step);
    if (status != GP_OK) return status;
    if (!gp_is_flag(nesterov)) return GP_ERR_BAD_FLAG;
    if (momentum != 0.0f && !velocity) return GP_ERR_NULL_POINTER;
    const float lr = step->learning_rate, bound = clip_bound(step);
    const int decay = step->weight_decay != 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float g = prepare(&w[i], grad, i, step, bound, decay);
        if (momentum == 0.0f) {
            w[i] -= g * lr;
            continue;
        }
        velocity[i] = -g * lr + velocity[i] * momentum;
        w[i] += nesterov ? -g * lr + velocity[i] * momentum : velocity[i];
    }
    return GP_OK;
}

typedef struct {
    float alpha, one_minus_b1, one_minus_b2, epsilon, bound;
} adam_rates;

/* Adam over n weights, with or without AMSGrad's running maximum v_hat and weight decay:
 * inlined once per combination, so that no loop tests either. */
__attribute__((always_inline)) static inline void adam_loop(float *w, float *m, float *v,
                                                            float *v_hat, const float *grad,
                                                            size_t n, const gp_optim_step *step,
                                                            const adam_rates *rates, int decay) {
    const float alpha = rates->alpha, b1 = rates->one_minus_b1, b2 = rates->one_minus_b2;
    const float epsilon = rates->epsilon, bound = rates->bound;
    const gp_optim_step settings = *step; /* not reloaded after each store */
    for (size_t i = 0; i < n; i++) {
        float wi = w[i];
        const float g = prepare(&wi, grad, i, &settings, bound, decay);
        const float mi = m[i] + (g - m[i]) * b1, vi = v[i] + (g * g - v[i]) * b2;
        float second = vi;
        if (v_hat) second = v_hat[i] = v_hat[i] > vi ? v_hat[i] : vi;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - (mi * alpha) / (sqrtf(second) + epsilon);
    }
}

gp_status gp_adam_update(float *w, float *m, float *v, float *v_hat, const float *grad, size_t n,
                         const gp_optim_step *step, double beta_1, double beta_2, float epsilon,
                         double iteration) {
    gp_status status = check_step(w, grad, n, step);
    if (status != GP_OK) return status;
    if (!m || !v) return GP_ERR_NULL_POINTER;
    if (!(iteration >= 1.0)) return GP_ERR_BAD_SIZE;
    const float alpha = (float)((double)step->learning_rate * sqrt(1.0 - pow(beta_2, iteration)) /
                                (1.0 - pow(beta_1, iteration)));
    const adam_rates rates = {alpha, (float)(1.0 - beta_1), (float)(1.0 - beta_2), epsilon,
                              clip_bound(step)};
    const int decay = step->weight_decay != 0.0f;
    if (v_hat && decay) {
        adam_loop(w, m, v, v_hat, grad, n, step, &rates, 1);
    } else if (v_hat) {
        adam_loop(w, m, v, v_hat, grad, n, step, &rates, 0);
    } else if (decay) {
        adam_loop(w, m, v, NULL, grad, n, step, &rates, 1);
    } else {
        adam_loop(w, m, v, NULL, grad, n, step, &rates, 0);
    }
    return GP_OK;
}

gp_status gp_rmsprop_update(float *w, float *velocity, float *momentum_buf, float *average_grad,
                            const float *grad, size_t n, const gp_optim_step *step, double rho,
                            float momentum, float epsilon) {
    gp_status status = check_step(w, grad, n, step);
    if (status != GP_OK) return status;
    if (!velocity) return GP_ERR_NULL_POINTER;
    const float lr = step->learning_rate, r = (float)rho, one_minus_r = (float)(1.0 - rho);
    const float bound = clip_bound(step);
    const int decay = step->weight_decay != 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float g = prepare(&w[i], grad, i, step, bound, decay);
        velocity[i] = r * velocity[i] + one_minus_r * g * g;
        float den = velocity[i] + epsilon;
        if (average_grad) {
            average_grad[i] = r * average_grad[i] + one_minus_r * g;
            den = velocity[i] - average_grad[i] * average_grad[i] + epsilon;
        }
        const float increment = lr * g / sqrtf(den);
        if (momentum_buf) {
            momentum_buf[i] = momentum * momentum_buf[i] + increment;
            w[i] -= momentum_buf[i];
        } else {
            w[i] -= increment;
        }
    }
    return GP_OK;
}

gp_status gp_adagrad_update(float *w, float *accumulator, const float *grad, size_t n,
                            const gp_optim_step *step, float epsilon) {
    gp_status status = check_step(w, grad, n, step);
    if (status != GP_OK) return status;
    if (!accumulator) return GP_ERR_NULL_POINTER;
    const float lr = step->learning_rate, bound = clip_bound(step);
    const int decay = step->weight_decay != 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float g = prepare(&w[i], grad, i, step, bound, decay);
        accumulator[i] += g * g;
        w[i] -= lr * g / sqrtf(accumulator[i] + epsilon);
    }
    return GP_OK;
}
