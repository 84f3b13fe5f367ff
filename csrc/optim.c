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

/* The shared prologue for element i: the processed gradient, after weight decay. */
static inline float prepare(float *w, const float *grad, size_t i, const gp_optim_step *step) {
    float g = grad[i] * step->grad_scale;
    if (step->clip_value > 0.0f) {
        g = g > step->clip_value ? step->clip_value
                                 : (g < -step->clip_value ? -step->clip_value : g);
    }
    if (step->weight_decay != 0.0f) w[i] = w[i] - w[i] * step->weight_decay * step->learning_rate;
    return g;
}

gp_status gp_sgd_update(float *w, float *velocity, const float *grad, size_t n,
                        const gp_optim_step *step, float momentum, int nesterov) {
    gp_status status = check_step(w, grad, n, step);
    if (status != GP_OK) return status;
    if (!gp_is_flag(nesterov)) return GP_ERR_BAD_FLAG;
    if (momentum != 0.0f && !velocity) return GP_ERR_NULL_POINTER;
    const float lr = step->learning_rate;
    for (size_t i = 0; i < n; i++) {
        const float g = prepare(w, grad, i, step);
        if (momentum == 0.0f) {
            w[i] -= g * lr;
            continue;
        }
        velocity[i] = -g * lr + velocity[i] * momentum;
        w[i] += nesterov ? -g * lr + velocity[i] * momentum : velocity[i];
    }
    return GP_OK;
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
    const float one_minus_b1 = (float)(1.0 - beta_1), one_minus_b2 = (float)(1.0 - beta_2);
    for (size_t i = 0; i < n; i++) {
        const float g = prepare(w, grad, i, step);
        m[i] += (g - m[i]) * one_minus_b1;
        v[i] += (g * g - v[i]) * one_minus_b2;
        float second = v[i];
        if (v_hat) {
            v_hat[i] = v_hat[i] > v[i] ? v_hat[i] : v[i];
            second = v_hat[i];
        }
        w[i] -= (m[i] * alpha) / (sqrtf(second) + epsilon);
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
    for (size_t i = 0; i < n; i++) {
        const float g = prepare(w, grad, i, step);
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
    const float lr = step->learning_rate;
    for (size_t i = 0; i < n; i++) {
        const float g = prepare(w, grad, i, step);
        accumulator[i] += g * g;
        w[i] -= lr * g / sqrtf(accumulator[i] + epsilon);
    }
    return GP_OK;
}
