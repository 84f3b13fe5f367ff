/*
 * loss.c: Keras' loss functions, per row of the last axis, and their gradients. The
 * reduction over rows (sample weights, "sum_over_batch_size") is left to the caller,
 * which owns the weights. N rows, C columns (the last axis).
 * Crossentropies take one-hot (or soft) targets, or integer labels for the sparse form;
 * both share one row implementation with the target given either way.
 */
#include <math.h>

#include "common.h"

/* Keras' backend epsilon, used to clip probabilities. */
static const float EPS = 1e-7f;

gp_status gp_loss_check_config(const gp_loss_config *cfg) {
    if (!cfg) return GP_ERR_NULL_POINTER;
    size_t total;
    if (!cfg->rows || !cfg->cols || gp_mul_overflows(cfg->rows, cfg->cols, &total) ||
        !gp_fits_float_buffer(total)) {
        return GP_ERR_BAD_SIZE;
    }
    if (!gp_is_flag(cfg->from_logits)) return GP_ERR_BAD_FLAG;
    if ((unsigned)cfg->kind >= (unsigned)GP_LOSS_COUNT ||
        !(cfg->label_smoothing >= 0.0f && cfg->label_smoothing <= 1.0f) ||
        (cfg->kind == GP_LOSS_HUBER && !(cfg->delta > 0.0f))) {
        return GP_ERR_BAD_PARAMETER;
    }
    return GP_OK;
}

/* A crossentropy target: a row of y (smoothed), or the one-hot row of `label`. */
typedef struct {
    const float *y;  /* (C) or NULL for a label */
    long long label; /* used when y == NULL */
    float smoothing; /* label smoothing s */
    size_t cols;
} target;

static inline float target_at(const target *t, size_t j) {
    if (!t->y) return j == (size_t)t->label ? 1.0f : 0.0f;
    return t->y[j] * (1.0f - t->smoothing) + t->smoothing / (float)t->cols;
}

/* log(sum_j exp(p_j)), shifted by the max so that exp cannot overflow. */
static float log_sum_exp(const float *p, size_t n) {
    float max = p[0];
    for (size_t j = 1; j < n; j++) max = p[j] > max ? p[j] : max;
    float sum = 0.0f;
    for (size_t j = 0; j < n; j++) sum += expf(p[j] - max);
    return max + logf(sum);
}

static float sum_of(const float *p, size_t n) {
    float sum = 0.0f;
    for (size_t j = 0; j < n; j++) sum += p[j];
    return sum;
}

static inline float clip_probability(float q) {
    return q < EPS ? EPS : (q > 1.0f - EPS ? 1.0f - EPS : q);
}

/* 1 when the probability is inside the clip range, where the clip passes the gradient. */
static inline int unclipped(float q) {
    return q >= EPS && q <= 1.0f - EPS;
}

static float crossentropy_row(const target *t, const float *p, int from_logits) {
    const size_t C = t->cols;
    float loss = 0.0f;
    if (from_logits) {
        const float lse = log_sum_exp(p, C);
        for (size_t j = 0; j < C; j++) loss -= target_at(t, j) * (p[j] - lse);
    } else {
        const float sum = sum_of(p, C);
        for (size_t j = 0; j < C; j++) loss -= target_at(t, j) * logf(clip_probability(p[j] / sum));
    }
    return loss;
}

/* d[j] = scale * d(loss)/d(p_j) for one row. */
static void crossentropy_row_grad(float *d, const target *t, const float *p, int from_logits,
                                  float scale) {
    const size_t C = t->cols;
    if (from_logits) {
        /* d/dp_k = softmax_k * sum_j y_j - y_k */
        const float lse = log_sum_exp(p, C);
        float target_sum = 0.0f;
        for (size_t j = 0; j < C; j++) target_sum += target_at(t, j);
        for (size_t j = 0; j < C; j++) {
            d[j] = scale * (expf(p[j] - lse) * target_sum - target_at(t, j));
        }
        return;
    }
    /* q = p / S (then clipped): with g_j = d(loss)/d(q_j) = -y_j / q_j where unclipped,
     * d/dp_k = (g_k - sum_j g_j q_j) / S. */
    const float sum = sum_of(p, C);
    float g_dot_q = 0.0f;
    for (size_t j = 0; j < C; j++) {
        const float q = p[j] / sum;
        d[j] = unclipped(q) ? -target_at(t, j) / q : 0.0f;
        g_dot_q += d[j] * q;
    }
    for (size_t j = 0; j < C; j++) d[j] = scale * (d[j] - g_dot_q) / sum;
}

/* Elementwise losses: the value and the derivative with respect to p for one entry. */
static float element_loss(const gp_loss_config *cfg, float y, float p) {
    switch (cfg->kind) {
    case GP_LOSS_MSE:
        return (y - p) * (y - p);
    case GP_LOSS_MAE:
        return fabsf(y - p);
    case GP_LOSS_HUBER: {
        const float e = fabsf(p - y);
        return e <= cfg->delta ? 0.5f * e * e : cfg->delta * e - 0.5f * cfg->delta * cfg->delta;
    }
    default: { /* GP_LOSS_BINARY_CROSSENTROPY */
        const float s = cfg->label_smoothing;
        y = y * (1.0f - s) + 0.5f * s;
        if (cfg->from_logits) {
            /* max(p, 0) - p y + log(1 + exp(-|p|)): no overflow for any p */
            return (p > 0.0f ? p : 0.0f) - p * y + log1pf(expf(-fabsf(p)));
        }
        const float q = clip_probability(p);
        return -(y * logf(q) + (1.0f - y) * logf(1.0f - q));
    }
    }
}

static float element_grad(const gp_loss_config *cfg, float y, float p) {
    switch (cfg->kind) {
    case GP_LOSS_MSE:
        return 2.0f * (p - y);
    case GP_LOSS_MAE:
        return p > y ? 1.0f : (p < y ? -1.0f : 0.0f);
    case GP_LOSS_HUBER: {
        const float e = p - y;
        if (fabsf(e) <= cfg->delta) return e;
        return e > 0.0f ? cfg->delta : -cfg->delta;
    }
    default: { /* GP_LOSS_BINARY_CROSSENTROPY */
        const float s = cfg->label_smoothing;
        y = y * (1.0f - s) + 0.5f * s;
        if (cfg->from_logits) {
            const float sig = p >= 0.0f ? 1.0f / (1.0f + expf(-p)) : expf(p) / (1.0f + expf(p));
            return sig - y;
        }
        return unclipped(p) ? -(y / p - (1.0f - y) / (1.0f - p)) : 0.0f;
    }
    }
}

static int is_crossentropy(const gp_loss_config *cfg) {
    return cfg->kind == GP_LOSS_CATEGORICAL_CROSSENTROPY;
}

gp_status gp_loss_forward(float *per_row, const float *y_true, const float *y_pred,
                          const gp_loss_config *cfg) {
    gp_status status = gp_loss_check_config(cfg);
    if (status != GP_OK) return status;
    if (!per_row || !y_true || !y_pred) return GP_ERR_NULL_POINTER;
    const size_t C = cfg->cols;
    for (size_t n = 0; n < cfg->rows; n++) {
        const float *y = y_true + n * C, *p = y_pred + n * C;
        if (is_crossentropy(cfg)) {
            const target t = {y, 0, cfg->label_smoothing, C};
            per_row[n] = crossentropy_row(&t, p, cfg->from_logits);
            continue;
        }
        float sum = 0.0f;
        for (size_t j = 0; j < C; j++) sum += element_loss(cfg, y[j], p[j]);
        per_row[n] = sum / (float)C;
    }
    return GP_OK;
}

gp_status gp_loss_backward(float *d_pred, const float *y_true, const float *y_pred,
                           const float *d_per_row, const gp_loss_config *cfg) {
    gp_status status = gp_loss_check_config(cfg);
    if (status != GP_OK) return status;
    if (!d_pred || !y_true || !y_pred || !d_per_row) return GP_ERR_NULL_POINTER;
    const size_t C = cfg->cols;
    for (size_t n = 0; n < cfg->rows; n++) {
        const float *y = y_true + n * C, *p = y_pred + n * C;
        float *d = d_pred + n * C;
        if (is_crossentropy(cfg)) {
            const target t = {y, 0, cfg->label_smoothing, C};
            crossentropy_row_grad(d, &t, p, cfg->from_logits, d_per_row[n]);
            continue;
        }
        /* the row value is a mean over C entries */
        const float scale = d_per_row[n] / (float)C;
        for (size_t j = 0; j < C; j++) d[j] = scale * element_grad(cfg, y[j], p[j]);
    }
    return GP_OK;
}

static gp_status check_sparse(const long long *labels, const float *y_pred,
                              const gp_loss_config *cfg) {
    gp_status status = gp_loss_check_config(cfg);
    if (status != GP_OK) return status;
    if (!labels || !y_pred) return GP_ERR_NULL_POINTER;
    if (cfg->label_smoothing != 0.0f) return GP_ERR_BAD_PARAMETER;
    for (size_t n = 0; n < cfg->rows; n++) {
        if (labels[n] < 0 || (unsigned long long)labels[n] >= cfg->cols) return GP_ERR_BAD_LABEL;
    }
    return GP_OK;
}

gp_status gp_sparse_crossentropy_forward(float *per_row, const long long *labels,
                                         const float *y_pred, const gp_loss_config *cfg) {
    gp_status status = check_sparse(labels, y_pred, cfg);
    if (status != GP_OK) return status;
    if (!per_row) return GP_ERR_NULL_POINTER;
    for (size_t n = 0; n < cfg->rows; n++) {
        const target t = {NULL, labels[n], 0.0f, cfg->cols};
        per_row[n] = crossentropy_row(&t, y_pred + n * cfg->cols, cfg->from_logits);
    }
    return GP_OK;
}

gp_status gp_sparse_crossentropy_backward(float *d_pred, const long long *labels,
                                          const float *y_pred, const float *d_per_row,
                                          const gp_loss_config *cfg) {
    gp_status status = check_sparse(labels, y_pred, cfg);
    if (status != GP_OK) return status;
    if (!d_pred || !d_per_row) return GP_ERR_NULL_POINTER;
    for (size_t n = 0; n < cfg->rows; n++) {
        const target t = {NULL, labels[n], 0.0f, cfg->cols};
        crossentropy_row_grad(d_pred + n * cfg->cols, &t, y_pred + n * cfg->cols, cfg->from_logits,
                              d_per_row[n]);
    }
    return GP_OK;
}
