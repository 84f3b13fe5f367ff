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

/*
 * Elementwise losses. Each kind has its own value and derivative below, and the row
 * loops are instantiated once per kind (the switch in gp_loss_forward/_backward picks
 * one per call), so that each loop body is straight-line code the compiler vectorises
 * instead of a branch on the kind for every entry.
 */
typedef struct {
    float delta;     /* Huber */
    float smoothing; /* binary crossentropy: y becomes y (1 - s) + s / 2 */
} element_params;

typedef float (*element_fn)(float y, float p, element_params k);

static inline float mse_value(float y, float p, element_params k) {
    (void)k;
    return (y - p) * (y - p);
}

static inline float mse_grad(float y, float p, element_params k) {
    (void)k;
    return 2.0f * (p - y);
}

static inline float mae_value(float y, float p, element_params k) {
    (void)k;
    return fabsf(y - p);
}

static inline float mae_grad(float y, float p, element_params k) {
    (void)k;
    /* sign(p - y) from two comparisons: no branch, which random signs would mispredict */
    return (float)(p > y) - (float)(p < y);
}

static inline float huber_value(float y, float p, element_params k) {
    /* m (e - m / 2) with m = min(e, delta) is e^2 / 2 up to delta and delta e - delta^2 / 2
     * beyond. GCC vectorises this single formula with a min, but not a choice between the
     * two formulas. */
    const float e = fabsf(p - y), m = e < k.delta ? e : k.delta;
    return m * (e - 0.5f * m);
}

static inline float huber_grad(float y, float p, element_params k) {
    const float e = p - y;
    if (fabsf(e) <= k.delta) return e;
    return e > 0.0f ? k.delta : -k.delta;
}

static inline float smoothed(float y, element_params k) {
    return y * (1.0f - k.smoothing) + 0.5f * k.smoothing;
}

static inline float bce_logits_value(float y, float p, element_params k) {
    /* max(p, 0) - p y + log(1 + exp(-|p|)): no overflow for any p */
    return (p > 0.0f ? p : 0.0f) - p * smoothed(y, k) + log1pf(expf(-fabsf(p)));
}

static inline float bce_logits_grad(float y, float p, element_params k) {
    /* sigmoid(p) from exp(-|p|), which cannot overflow */
    const float e = expf(-fabsf(p));
    return (p >= 0.0f ? 1.0f : e) / (1.0f + e) - smoothed(y, k);
}

static inline float bce_value(float y, float p, element_params k) {
    const float q = clip_probability(p);
    y = smoothed(y, k);
    return -(y * logf(q) + (1.0f - y) * logf(1.0f - q));
}

static inline float bce_grad(float y, float p, element_params k) {
    y = smoothed(y, k);
    return unclipped(p) ? -(y / p - (1.0f - y) / (1.0f - p)) : 0.0f;
}

enum { LANES = 16 };

/*
 * per_row[n] = mean_j value(y[n, j], p[n, j]). A row of LANES entries or more is summed
 * in LANES independent partial sums, added pairwise at the end: the compiler keeps them
 * in vector registers, whereas one running sum is a chain of dependent additions that
 * it may not reorder (float addition is not associative). The shorter partial sums also
 * round less than one long sum.
 */
static inline void elementwise_forward(float *per_row, const float *y_true, const float *y_pred,
                                       const gp_loss_config *cfg, element_fn value) {
    const size_t C = cfg->cols;
    const element_params k = {cfg->delta, cfg->label_smoothing};
    for (size_t n = 0; n < cfg->rows; n++) {
        const float *y = y_true + n * C, *p = y_pred + n * C;
        float sum = 0.0f;
        size_t j = 0;
        if (C >= LANES) {
            float lane[LANES] = {0.0f};
            for (; j + LANES <= C; j += LANES) {
                for (size_t l = 0; l < LANES; l++) lane[l] += value(y[j + l], p[j + l], k);
            }
            for (size_t width = LANES / 2; width > 0; width /= 2) {
                for (size_t l = 0; l < width; l++) lane[l] += lane[l + width];
            }
            sum = lane[0];
        }
        for (; j < C; j++) sum += value(y[j], p[j], k);
        per_row[n] = sum / (float)C;
    }
}

/* d_pred[n, j] = d_per_row[n] / C * grad(y[n, j], p[n, j]): the row value is a mean. */
static inline void elementwise_backward(float *d_pred, const float *y_true, const float *y_pred,
                                        const float *d_per_row, const gp_loss_config *cfg,
                                        element_fn grad) {
    const size_t C = cfg->cols;
    const element_params k = {cfg->delta, cfg->label_smoothing};
    for (size_t n = 0; n < cfg->rows; n++) {
        const float scale = d_per_row[n] / (float)C;
        const size_t row = n * C;
        for (size_t j = 0; j < C; j++) {
            d_pred[row + j] = scale * grad(y_true[row + j], y_pred[row + j], k);
        }
    }
}

gp_status gp_loss_forward(float *per_row, const float *y_true, const float *y_pred,
                          const gp_loss_config *cfg) {
    gp_status status = gp_loss_check_config(cfg);
    if (status != GP_OK) return status;
    if (!per_row || !y_true || !y_pred) return GP_ERR_NULL_POINTER;
    /* Each call names its element function, so that the compiler inlines it. */
    switch (cfg->kind) {
    case GP_LOSS_MSE:
        elementwise_forward(per_row, y_true, y_pred, cfg, mse_value);
        break;
    case GP_LOSS_MAE:
        elementwise_forward(per_row, y_true, y_pred, cfg, mae_value);
        break;
    case GP_LOSS_HUBER:
        elementwise_forward(per_row, y_true, y_pred, cfg, huber_value);
        break;
    case GP_LOSS_BINARY_CROSSENTROPY:
        if (cfg->from_logits) {
            elementwise_forward(per_row, y_true, y_pred, cfg, bce_logits_value);
        } else {
            elementwise_forward(per_row, y_true, y_pred, cfg, bce_value);
        }
        break;
    default: /* GP_LOSS_CATEGORICAL_CROSSENTROPY: the config check rejects the rest */
        for (size_t n = 0; n < cfg->rows; n++) {
            const target t = {y_true + n * cfg->cols, 0, cfg->label_smoothing, cfg->cols};
            per_row[n] = crossentropy_row(&t, y_pred + n * cfg->cols, cfg->from_logits);
        }
    }
    return GP_OK;
}

gp_status gp_loss_backward(float *d_pred, const float *y_true, const float *y_pred,
                           const float *d_per_row, const gp_loss_config *cfg) {
    gp_status status = gp_loss_check_config(cfg);
    if (status != GP_OK) return status;
    if (!d_pred || !y_true || !y_pred || !d_per_row) return GP_ERR_NULL_POINTER;
    switch (cfg->kind) {
    case GP_LOSS_MSE:
        elementwise_backward(d_pred, y_true, y_pred, d_per_row, cfg, mse_grad);
        break;
    case GP_LOSS_MAE:
        elementwise_backward(d_pred, y_true, y_pred, d_per_row, cfg, mae_grad);
        break;
    case GP_LOSS_HUBER:
        elementwise_backward(d_pred, y_true, y_pred, d_per_row, cfg, huber_grad);
        break;
    case GP_LOSS_BINARY_CROSSENTROPY:
        if (cfg->from_logits) {
            elementwise_backward(d_pred, y_true, y_pred, d_per_row, cfg, bce_logits_grad);
        } else {
            elementwise_backward(d_pred, y_true, y_pred, d_per_row, cfg, bce_grad);
        }
        break;
    default: /* GP_LOSS_CATEGORICAL_CROSSENTROPY */
        for (size_t n = 0; n < cfg->rows; n++) {
            const size_t row = n * cfg->cols;
            const target t = {y_true + row, 0, cfg->label_smoothing, cfg->cols};
            crossentropy_row_grad(d_pred + row, &t, y_pred + row, cfg->from_logits, d_per_row[n]);
        }
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
