/*
 * dense.c: the fully connected layer y = act(x W + b) on (N, I) rows, forward and
 * backward, and the activations on (N, C) rows it applies, softmax included (the one
 * activation a recurrent gate cannot use).
 * N rows (every leading axis flattened), I input features, O output units, C columns.
 */
#include <math.h>
#include <string.h>

#include "activations.h"
#include "blas.h"
#include "common.h"
#include "packed_gemm.h"
#include "parallel.h"

gp_status gp_dense_check_config(const gp_dense_config *cfg) {
    if (!cfg) return GP_ERR_NULL_POINTER;
    if (!cfg->rows || !cfg->input_size || !cfg->units) return GP_ERR_BAD_SIZE;
    if (!gp_is_flag(cfg->use_bias)) return GP_ERR_BAD_FLAG;
    if (!gp_act_is_elementwise(cfg->activation) && cfg->activation != GP_ACT_SOFTMAX) {
        return GP_ERR_BAD_ACTIVATION;
    }
    size_t floats;
    if (!gp_fits_blas_int(cfg->rows) || !gp_fits_blas_int(cfg->input_size) ||
        !gp_fits_blas_int(cfg->units) || gp_mul_overflows(cfg->rows, cfg->units, &floats) ||
        !gp_fits_float_buffer(floats)) {
        return GP_ERR_BAD_SIZE;
    }
    return GP_OK;
}

size_t gp_dense_backward_workspace_size(const gp_dense_config *cfg) {
    return gp_dense_check_config(cfg) == GP_OK ? cfg->rows * cfg->units : 0;
}

/* Each row of y (rows, n) becomes softmax(row). Subtracting the row max keeps exp from
 * overflowing without changing the result. */
static void softmax_rows(float *y, size_t rows, size_t n) {
    for (size_t i = 0; i < rows; i++) {
        float *row = y + i * n;
        float max = row[0];
        for (size_t j = 1; j < n; j++) max = row[j] > max ? row[j] : max;
        float sum = 0.0f;
        for (size_t j = 0; j < n; j++) {
            row[j] = expf(row[j] - max);
            sum += row[j];
        }
        const float inv = 1.0f / sum;
        for (size_t j = 0; j < n; j++) row[j] *= inv;
    }
}

static gp_status check_rows(size_t rows, size_t cols, gp_activation activation) {
    size_t total;
    if (!rows || !cols || gp_mul_overflows(rows, cols, &total) || !gp_fits_float_buffer(total)) {
        return GP_ERR_BAD_SIZE;
    }
    if (!gp_act_is_elementwise(activation) && activation != GP_ACT_SOFTMAX) {
        return GP_ERR_BAD_ACTIVATION;
    }
    return GP_OK;
}

/* In place on y (rows, cols). */
static void activate_rows(float *y, size_t rows, size_t cols, gp_activation activation) {
    if (activation == GP_ACT_SOFTMAX) {
        softmax_rows(y, rows, cols);
    } else {
        gp_act_forward(activation, y, rows * cols);
    }
}

gp_status gp_activation_forward(float *y, const float *x, size_t rows, size_t cols,
                                gp_activation activation) {
    gp_status status = check_rows(rows, cols, activation);
    if (status != GP_OK) return status;
    if (!y || !x) return GP_ERR_NULL_POINTER;
    if (y != x) memcpy(y, x, rows * cols * sizeof(float));
    activate_rows(y, rows, cols, activation);
    return GP_OK;
}

gp_status gp_activation_backward(float *d_x, const float *y, const float *d_y, size_t rows,
                                 size_t cols, gp_activation activation) {
    gp_status status = check_rows(rows, cols, activation);
    if (status != GP_OK) return status;
    if (!d_x || !y || !d_y) return GP_ERR_NULL_POINTER;
    if (activation == GP_ACT_SOFTMAX) {
        /* Softmax Jacobian-vector product: y * (d_y - <d_y, y>) per row. */
        for (size_t i = 0; i < rows; i++) {
            const float *yi = y + i * cols, *dyi = d_y + i * cols;
            float dot = 0.0f;
            for (size_t j = 0; j < cols; j++) dot += dyi[j] * yi[j];
            for (size_t j = 0; j < cols; j++) d_x[i * cols + j] = yi[j] * (dyi[j] - dot);
        }
    } else {
        if (d_x != d_y) memcpy(d_x, d_y, rows * cols * sizeof(float));
        gp_act_backward(activation, y, d_x, rows * cols);
    }
    return GP_OK;
}

gp_status gp_dense_forward(float *y, const float *x, const float *kernel, const float *bias,
                           const gp_dense_config *cfg) {
    gp_status status = gp_dense_check_config(cfg);
    if (status != GP_OK) return status;
    if (!y || !x || !kernel || (cfg->use_bias && !bias)) return GP_ERR_NULL_POINTER;
    const size_t N = cfg->rows, I = cfg->input_size, O = cfg->units;

    if (cfg->use_bias) {
        for (size_t i = 0; i < N; i++) memcpy(y + i * O, bias, O * sizeof(float));
    }
    gp_parallel_sgemm(GP_CBLAS_NO_TRANS, GP_CBLAS_NO_TRANS, N, O, I, 1.0f, x, I, kernel, O,
                      cfg->use_bias ? 1.0f : 0.0f, y, O);
    activate_rows(y, N, O, cfg->activation);
    return GP_OK;
}

gp_status gp_dense_backward(float *d_x, float *d_kernel, float *d_bias, float *workspace,
                            const float *x, const float *kernel, const float *y, const float *d_y,
                            const gp_dense_config *cfg) {
    gp_status status = gp_dense_check_config(cfg);
    if (status != GP_OK) return status;
    if (!d_kernel || (cfg->use_bias && !d_bias) || !workspace || !x || !kernel || !y || !d_y) {
        return GP_ERR_NULL_POINTER;
    }
    const size_t N = cfg->rows, I = cfg->input_size, O = cfg->units;

    /* d_pre: the gradient with respect to the pre-activation x W + b. */
    float *d_pre = workspace;
    gp_activation_backward(d_pre, y, d_y, N, O, cfg->activation);

    gp_parallel_sgemm(GP_CBLAS_TRANS, GP_CBLAS_NO_TRANS, I, O, N, 1.0f, x, I, d_pre, O, 1.0f,
                      d_kernel, O);
    if (cfg->use_bias) gp_add_column_sums(d_bias, d_pre, O, N, O);
    if (d_x) {
        gp_parallel_sgemm(GP_CBLAS_NO_TRANS, GP_CBLAS_TRANS, N, I, O, 1.0f, d_pre, O, kernel, O,
                          0.0f, d_x, I);
    }
    return GP_OK;
}
