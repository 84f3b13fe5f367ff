/*
 * gru.c: GRU over a whole sequence: forward (training or inference) and backpropagation
 * through time, in the Keras 3 layout described in gru_py.h. No masks, dropout or
 * state carried between calls: those are the caller's business.
 *
 * B batch, T timesteps, I input features, H units; k is a processing step and t the
 * input column it reads (t = k, or T-1-k with go_backwards).
 *
 * Cache (training forward -> backward), time-major so each step reads contiguous rows:
 *   states (T+1, B, H): states[0] = initial state, states[k+1] = state after step k
 *   gates  (T, B, 4H):  per step [z | r | hh | q], where
 *                       q = h_prev U_h + rb_h  (reset_after)  or  r * h_prev  (otherwise)
 * q is what the candidate's recurrent product needs in backward: with reset_after it is
 * the term r multiplies; without, it is the matrix whose product with U_h was taken.
 *
 * Work is split by batch rows between jobs (parallel.h): a job computes its rows' input
 * projections, runs their whole time loop and, in backward, their input gradient. The
 * weight gradients are one GEMM each over all B*T rows, split by output columns.
 */
#include <string.h>

#include "activations.h"
#include "blas.h"
#include "common.h"
#include "parallel.h"

/* Every buffer size of one configuration, in floats, computed once without overflow. */
typedef struct {
    size_t bh;        /* B*H: one state */
    size_t rows;      /* B*T: rows of the time-batched GEMMs */
    size_t proj;      /* B*T*3H: input projections, or gate gradients */
    size_t states;    /* (T+1)*B*H */
    size_t gates;     /* T*B*4H */
    size_t cache;     /* states + gates */
    size_t fwd_train; /* proj + B*3H */
    size_t fwd_infer; /* fwd_train + 2*B*H + B*4H */
    size_t bwd;       /* 2*proj + 2*B*H */
} gru_sizes;

/* Sum of n sizes into *out; 1 on overflow. */
static int add_overflows(const size_t *terms, size_t n, size_t *out) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (__builtin_add_overflow(total, terms[i], &total)) return 1;
    }
    *out = total;
    return 0;
}

static gp_status gru_compute_sizes(const gp_gru_config *cfg, gru_sizes *s) {
    const size_t B = cfg->batch, T = cfg->steps, I = cfg->input_size, H = cfg->units;
    size_t h3, h4, b_h3, b_h4, t1;
    if (gp_mul_overflows(B, H, &s->bh) || gp_mul_overflows(B, T, &s->rows) ||
        gp_mul_overflows(H, 3, &h3) || gp_mul_overflows(H, 4, &h4) ||
        gp_mul_overflows(s->rows, h3, &s->proj) || gp_mul_overflows(B, h3, &b_h3) ||
        gp_mul_overflows(B, h4, &b_h4) || __builtin_add_overflow(T, 1, &t1) ||
        gp_mul_overflows(t1, s->bh, &s->states) || gp_mul_overflows(s->rows, h4, &s->gates)) {
        return GP_ERR_BAD_SIZE;
    }
    const size_t cache[] = {s->states, s->gates};
    const size_t train[] = {s->proj, b_h3};
    const size_t bwd[] = {s->proj, s->proj, s->bh, s->bh};
    if (add_overflows(cache, 2, &s->cache) || add_overflows(train, 2, &s->fwd_train) ||
        add_overflows(bwd, 4, &s->bwd)) {
        return GP_ERR_BAD_SIZE;
    }
    const size_t infer[] = {s->fwd_train, s->bh, s->bh, b_h4};
    if (add_overflows(infer, 4, &s->fwd_infer)) return GP_ERR_BAD_SIZE;
    /* Callers turn float counts into bytes, and BLAS takes int sizes and strides. */
    if (!gp_fits_float_buffer(s->cache) || !gp_fits_float_buffer(s->fwd_infer) ||
        !gp_fits_float_buffer(s->bwd) || !gp_fits_blas_int(s->rows) || !gp_fits_blas_int(h4) ||
        !gp_fits_blas_int(I)) {
        return GP_ERR_BAD_SIZE;
    }
    return GP_OK;
}

gp_status gp_gru_check_config(const gp_gru_config *cfg) {
    if (!cfg) return GP_ERR_NULL_POINTER;
    if (!cfg->batch || !cfg->steps || !cfg->input_size || !cfg->units) return GP_ERR_BAD_SIZE;
    if (!gp_is_flag(cfg->reset_after) || !gp_is_flag(cfg->use_bias) ||
        !gp_is_flag(cfg->go_backwards)) {
        return GP_ERR_BAD_FLAG;
    }
    if (!gp_act_is_elementwise(cfg->activation) ||
        !gp_act_is_elementwise(cfg->recurrent_activation)) {
        return GP_ERR_BAD_ACTIVATION;
    }
    gru_sizes s;
    return gru_compute_sizes(cfg, &s);
}

size_t gp_gru_cache_size(const gp_gru_config *cfg) {
    gru_sizes s;
    return gp_gru_check_config(cfg) == GP_OK && gru_compute_sizes(cfg, &s) == GP_OK ? s.cache : 0;
}

size_t gp_gru_forward_workspace_size(const gp_gru_config *cfg, int training) {
    gru_sizes s;
    if (gp_gru_check_config(cfg) != GP_OK || gru_compute_sizes(cfg, &s) != GP_OK) return 0;
    return training ? s.fwd_train : s.fwd_infer;
}

size_t gp_gru_backward_workspace_size(const gp_gru_config *cfg) {
    gru_sizes s;
    return gp_gru_check_config(cfg) == GP_OK && gru_compute_sizes(cfg, &s) == GP_OK ? s.bwd : 0;
}

static inline size_t input_column(const gp_gru_config *cfg, size_t k) {
    return cfg->go_backwards ? cfg->steps - 1 - k : k;
}

/*
 * One step of the recurrence for `rows` batch rows (R below).
 *   h_next (R, H)   written
 *   gates  (R, 4H)  written: [z | r | hh | q]
 *   rec    (R, 3H)  scratch for the recurrent products
 *   h_prev (R, H)
 *   xw     row b at xw + b*xw_stride: the (3H) input projection, input bias included
 *   U (H, 3H), rb (3H) recurrent bias or NULL
 */
static void gru_step(float *h_next, float *gates, float *rec, const float *h_prev, const float *xw,
                     size_t xw_stride, const float *U, const float *rb, size_t rows,
                     const gp_gru_config *cfg) {
    const size_t B = rows, H = cfg->units, H3 = 3 * H, H4 = 4 * H;

    /* reset_after lets one product serve all three gates; otherwise the candidate's
     * product needs r first and only the z, r columns go in the first product. */
    gp_sgemm_rows(GP_CBLAS_NO_TRANS, B, cfg->reset_after ? H3 : 2 * H, H, 1.0f, h_prev, H, U, H3,
                  0.0f, rec, H3);

    for (size_t b = 0; b < B; b++) {
        float *g = gates + b * H4;
        const float *x_b = xw + b * xw_stride, *rec_b = rec + b * H3, *hp = h_prev + b * H;
        for (size_t j = 0; j < 2 * H; j++) g[j] = x_b[j] + rec_b[j] + (rb ? rb[j] : 0.0f);
        gp_act_forward(cfg->recurrent_activation, g, 2 * H);
        const float *r = g + H;
        float *q = g + 3 * H;
        if (cfg->reset_after) {
            for (size_t j = 0; j < H; j++) q[j] = rec_b[2 * H + j] + (rb ? rb[2 * H + j] : 0.0f);
        } else {
            for (size_t j = 0; j < H; j++) q[j] = r[j] * hp[j];
        }
    }

    if (!cfg->reset_after) {
        /* (r * h_prev) U_h for every row at once; q rows sit 4H apart in gates. */
        gp_sgemm_rows(GP_CBLAS_NO_TRANS, B, H, H, 1.0f, gates + 3 * H, H4, U + 2 * H, H3, 0.0f,
                      rec + 2 * H, H3);
    }

    for (size_t b = 0; b < B; b++) {
        float *g = gates + b * H4, *hh = g + 2 * H, *hn = h_next + b * H;
        const float *z = g, *r = g + H, *q = g + 3 * H, *hp = h_prev + b * H;
        const float *x_h = xw + b * xw_stride + 2 * H, *rec_h = rec + b * H3 + 2 * H;
        if (cfg->reset_after) {
            for (size_t j = 0; j < H; j++) hh[j] = x_h[j] + r[j] * q[j];
        } else {
            for (size_t j = 0; j < H; j++) hh[j] = x_h[j] + rec_h[j];
        }
        gp_act_forward(cfg->activation, hh, H);
        for (size_t j = 0; j < H; j++) hn[j] = z[j] * hp[j] + (1.0f - z[j]) * hh[j];
    }
}

/* Fills each of `rows` rows of width n with v, or zeros when v is NULL. */
static void fill_rows(float *dst, const float *v, size_t rows, size_t n) {
    for (size_t i = 0; i < rows; i++) {
        if (v) {
            memcpy(dst + i * n, v, n * sizeof(float));
        } else {
            memset(dst + i * n, 0, n * sizeof(float));
        }
    }
}

/* One job of the forward: the whole time loop for batch rows [b0, b1). Every pointer is
 * to the full-batch buffer; the job touches only its rows. */
typedef struct {
    const gp_gru_config *cfg;
    size_t b0, b1;
    float *outputs;                    /* (B, T, H) or NULL */
    float *states, *gates;             /* the cache's (T+1, B, H) and (T, B, 4H), or NULL */
    float *ping, *gate_scratch;        /* inference: (2, B, H) states and (B, 4H) gates */
    float *rec;                        /* (B, 3H) scratch */
    float *xw;                         /* (B, T, 3H) input projections, written by the job */
    const float *x, *kernel, *in_bias; /* (B, T, I), (I, 3H), (3H) or NULL */
    const float *initial_state;        /* (B, H) or NULL */
    const float *U, *rec_bias;         /* (H, 3H), (3H) or NULL */
} gru_forward_job;

static void gru_forward_rows(void *arg) {
    const gru_forward_job *job = arg;
    const gp_gru_config *cfg = job->cfg;
    const size_t B = cfg->batch, T = cfg->steps, H = cfg->units, H3 = 3 * H, H4 = 4 * H;
    const size_t b0 = job->b0, rows = job->b1 - job->b0, bh = B * H;
    if (!rows) return;
    /* All timesteps' input projections of these rows in one GEMM: xw = x W + b. */
    const size_t I = cfg->input_size;
    float *xw = job->xw + b0 * T * H3;
    fill_rows(xw, job->in_bias, rows * T, H3);
    gp_sgemm_rows(GP_CBLAS_NO_TRANS, rows * T, H3, I, 1.0f, job->x + b0 * T * I, I, job->kernel, H3,
                  job->in_bias ? 1.0f : 0.0f, xw, H3);

    float *h_prev = (job->states ? job->states : job->ping) + b0 * H;
    fill_rows(h_prev, job->initial_state ? job->initial_state + b0 * H : NULL, 1, rows * H);
    for (size_t k = 0; k < T; k++) {
        float *h_next = job->states ? job->states + (k + 1) * bh + b0 * H
                                    : job->ping + ((k + 1) % 2) * bh + b0 * H;
        float *gates_k = job->states ? job->gates + (k * B + b0) * H4 : job->gate_scratch + b0 * H4;
        gru_step(h_next, gates_k, job->rec + b0 * H3, h_prev, xw + input_column(cfg, k) * H3,
                 T * H3, job->U, job->rec_bias, rows, cfg);
        if (job->outputs) {
            for (size_t b = 0; b < rows; b++) {
                memcpy(job->outputs + ((b0 + b) * T + k) * H, h_next + b * H, H * sizeof(float));
            }
        }
        h_prev = h_next;
    }
}

gp_status gp_gru_forward(float *outputs, float *last_state, float *cache, float *workspace,
                         const float *x, const float *initial_state, const float *kernel,
                         const float *recurrent_kernel, const float *bias,
                         const gp_gru_config *cfg) {
    gp_status status = gp_gru_check_config(cfg);
    if (status != GP_OK) return status;
    if (!last_state || !workspace || !x || !kernel || !recurrent_kernel ||
        (cfg->use_bias && !bias)) {
        return GP_ERR_NULL_POINTER;
    }
    gru_sizes s;
    gru_compute_sizes(cfg, &s);
    const size_t B = cfg->batch, T = cfg->steps, H = cfg->units, H3 = 3 * H;
    const float *in_bias = cfg->use_bias ? bias : NULL;
    const float *rec_bias = cfg->use_bias && cfg->reset_after ? bias + H3 : NULL;

    float *xw = workspace, *rec = workspace + s.proj;

    /* Training keeps every state and gate in the cache; inference ping-pongs two states
     * and reuses one gate buffer. Rows are split between jobs (see gru_forward_rows). */
    gru_forward_job jobs[GP_MAX_JOBS];
    const size_t count = gp_parallel_jobs(B, s.rows * H);
    for (size_t i = 0; i < count; i++) {
        jobs[i] = (gru_forward_job){
            .cfg = cfg,
            .b0 = B * i / count,
            .b1 = B * (i + 1) / count,
            .outputs = outputs,
            .states = cache,
            .gates = cache ? cache + s.states : NULL,
            .ping = cache ? NULL : rec + B * H3,
            .gate_scratch = cache ? NULL : rec + B * H3 + 2 * s.bh,
            .rec = rec,
            .xw = xw,
            .x = x,
            .kernel = kernel,
            .in_bias = in_bias,
            .initial_state = initial_state,
            .U = recurrent_kernel,
            .rec_bias = rec_bias,
        };
    }
    gp_parallel_run(gru_forward_rows, jobs, sizeof jobs[0], count);
    const float *final = cache ? cache + T * s.bh : rec + B * H3 + (T % 2) * s.bh;
    memcpy(last_state, final, s.bh * sizeof(float));
    return GP_OK;
}

/* sums[j] += sum over rows of m[row, j], for m (rows, n). */
static void add_column_sums(float *sums, const float *m, size_t rows, size_t n) {
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < n; j++) sums[j] += m[i * n + j];
    }
}

/* One job of the backward: the whole reverse time loop for batch rows [b0, b1). */
typedef struct {
    const gp_gru_config *cfg;
    size_t b0, b1;
    float *d_in, *d_rec;         /* (B, T, 3H) and (T, B, 3H) gate gradients */
    float *dh, *dq;              /* (B, H): dL/d(state); dL/d(r * h_prev) when !reset_after */
    const float *states, *gates; /* the forward's cache */
    const float *d_outputs, *d_last_state; /* (B, T, H), (B, H), or NULL */
    const float *U;                        /* (H, 3H) */
    const float *kernel;                   /* (I, 3H) */
    float *d_x;                            /* (B, T, I) written */
} gru_backward_job;

static void gru_backward_rows(void *arg) {
    const gru_backward_job *job = arg;
    const gp_gru_config *cfg = job->cfg;
    const size_t B = cfg->batch, T = cfg->steps, H = cfg->units, H3 = 3 * H, H4 = 4 * H;
    const size_t b0 = job->b0, rows = job->b1 - job->b0;
    if (!rows) return;
    const float *U = job->U;
    float *dh = job->dh + b0 * H, *dq = job->dq + b0 * H;
    fill_rows(dh, job->d_last_state ? job->d_last_state + b0 * H : NULL, 1, rows * H);

    for (size_t k = T; k-- > 0;) {
        const size_t t = input_column(cfg, k);
        const float *h_prev = job->states + (k * B + b0) * H;
        const float *gates_k = job->gates + (k * B + b0) * H4;
        float *d_rec_k = job->d_rec + (k * B + b0) * H3;
        if (job->d_outputs) {
            for (size_t b = 0; b < rows; b++) {
                const float *d_out = job->d_outputs + ((b0 + b) * T + k) * H;
                for (size_t j = 0; j < H; j++) dh[b * H + j] += d_out[j];
            }
        }
        for (size_t b = 0; b < rows; b++) {
            const float *g = gates_k + b * H4, *hp = h_prev + b * H;
            const float *z = g, *r = g + H, *hh = g + 2 * H, *q = g + 3 * H;
            float *gi = job->d_in + ((b0 + b) * T + t) * H3, *gr = d_rec_k + b * H3;
            const float *dh_b = dh + b * H;
            /* h = z * h_prev + (1 - z) * hh */
            for (size_t j = 0; j < H; j++) {
                gi[j] = dh_b[j] * (hp[j] - hh[j]);
                gi[2 * H + j] = dh_b[j] * (1.0f - z[j]);
            }
            gp_act_backward(cfg->activation, hh, gi + 2 * H, H);
            if (cfg->reset_after) {
                /* hh = act(x_h + r * q): q's gradient feeds the recurrent GEMM */
                for (size_t j = 0; j < H; j++) {
                    gi[H + j] = gi[2 * H + j] * q[j];
                    gr[2 * H + j] = gi[2 * H + j] * r[j];
                }
                gp_act_backward(cfg->recurrent_activation, z, gi, 2 * H);
            } else {
                gp_act_backward(cfg->recurrent_activation, z, gi, H);
                memcpy(gr + 2 * H, gi + 2 * H, H * sizeof(float));
            }
        }
        if (!cfg->reset_after) {
            /* hh = act(x_h + q U_h), q = r * h_prev: dq = d(pre hh) U_h^T for all rows */
            gp_sgemm_rows(GP_CBLAS_TRANS, rows, H, H, 1.0f, d_rec_k + 2 * H, H3, U + 2 * H, H3,
                          0.0f, dq, H);
            for (size_t b = 0; b < rows; b++) {
                const float *r = gates_k + b * H4 + H, *hp = h_prev + b * H;
                const float *dq_b = dq + b * H;
                float *gi = job->d_in + ((b0 + b) * T + t) * H3;
                for (size_t j = 0; j < H; j++) gi[H + j] = dq_b[j] * hp[j];
                gp_act_backward(cfg->recurrent_activation, r, gi + H, H);
            }
        }
        /* dh_prev = dh * z (+ dq * r) + d_rec_k[:, cols] U[:, cols]^T */
        for (size_t b = 0; b < rows; b++) {
            const float *z = gates_k + b * H4, *r = z + H;
            const float *gi = job->d_in + ((b0 + b) * T + t) * H3;
            float *dh_b = dh + b * H, *gr = d_rec_k + b * H3;
            memcpy(gr, gi, 2 * H * sizeof(float));
            for (size_t j = 0; j < H; j++) dh_b[j] *= z[j];
            if (!cfg->reset_after) {
                for (size_t j = 0; j < H; j++) dh_b[j] += dq[b * H + j] * r[j];
            }
        }
        gp_sgemm_rows(GP_CBLAS_TRANS, rows, H, cfg->reset_after ? H3 : 2 * H, 1.0f, d_rec_k, H3, U,
                      H3, 1.0f, dh, H);
    }
    /* This job's rows of the input gradient are complete: dx = d_in W^T for them. */
    gp_sgemm_rows(GP_CBLAS_TRANS, rows * T, cfg->input_size, H3, 1.0f, job->d_in + b0 * T * H3, H3,
                  job->kernel, H3, 0.0f, job->d_x + b0 * T * cfg->input_size, cfg->input_size);
}

gp_status gp_gru_backward(float *d_x, float *d_initial_state, float *d_kernel,
                          float *d_recurrent_kernel, float *d_bias, float *workspace,
                          const float *cache, const float *x, const float *kernel,
                          const float *recurrent_kernel, const float *d_outputs,
                          const float *d_last_state, const gp_gru_config *cfg) {
    gp_status status = gp_gru_check_config(cfg);
    if (status != GP_OK) return status;
    if (!d_x || !d_kernel || !d_recurrent_kernel || (cfg->use_bias && !d_bias) || !workspace ||
        !cache || !x || !kernel || !recurrent_kernel) {
        return GP_ERR_NULL_POINTER;
    }
    gru_sizes s;
    gru_compute_sizes(cfg, &s);
    const size_t B = cfg->batch, I = cfg->input_size, H = cfg->units;
    const size_t H3 = 3 * H, H4 = 4 * H;
    const float *U = recurrent_kernel, *states = cache, *gates = cache + s.states;

    /* Gate pre-activation gradients, kept twice: d_in (B, T, 3H) in x's row order for the
     * kernel and input GEMMs, d_rec (T, B, 3H) in the states' row order for the
     * recurrent-kernel GEMM. They differ only in the candidate block when reset_after. */
    float *d_in = workspace, *d_rec = workspace + s.proj;
    float *dh = d_rec + s.proj; /* (B, H): dL/d(state) at the current step */
    gru_backward_job jobs[GP_MAX_JOBS];
    const size_t count = gp_parallel_jobs(B, s.rows * H);
    for (size_t i = 0; i < count; i++) {
        jobs[i] = (gru_backward_job){
            .cfg = cfg,
            .b0 = B * i / count,
            .b1 = B * (i + 1) / count,
            .d_in = d_in,
            .d_rec = d_rec,
            .dh = dh,
            .dq = dh + s.bh,
            .states = states,
            .gates = gates,
            .d_outputs = d_outputs,
            .d_last_state = d_last_state,
            .U = U,
            .kernel = kernel,
            .d_x = d_x,
        };
    }
    gp_parallel_run(gru_backward_rows, jobs, sizeof jobs[0], count);
    if (d_initial_state) memcpy(d_initial_state, dh, s.bh * sizeof(float));

    /* Weight gradients: one GEMM each over all B*T rows, split by output columns. */
    gp_parallel_sgemm(GP_CBLAS_TRANS, GP_CBLAS_NO_TRANS, I, H3, s.rows, 1.0f, x, I, d_in, H3, 1.0f,
                      d_kernel, H3);
    if (cfg->reset_after) {
        gp_parallel_sgemm(GP_CBLAS_TRANS, GP_CBLAS_NO_TRANS, H, H3, s.rows, 1.0f, states, H, d_rec,
                          H3, 1.0f, d_recurrent_kernel, H3);
    } else {
        gp_parallel_sgemm(GP_CBLAS_TRANS, GP_CBLAS_NO_TRANS, H, 2 * H, s.rows, 1.0f, states, H,
                          d_rec, H3, 1.0f, d_recurrent_kernel, H3);
        gp_parallel_sgemm(GP_CBLAS_TRANS, GP_CBLAS_NO_TRANS, H, H, s.rows, 1.0f, gates + 3 * H, H4,
                          d_rec + 2 * H, H3, 1.0f, d_recurrent_kernel + 2 * H, H3);
    }
    if (cfg->use_bias) {
        add_column_sums(d_bias, d_in, s.rows, H3);
        if (cfg->reset_after) add_column_sums(d_bias + H3, d_rec, s.rows, H3);
    }
    return GP_OK;
}
