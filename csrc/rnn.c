/*
 * rnn.c: GRU, LSTM and SimpleRNN over whole sequences: forward (training or inference)
 * and backpropagation through time, in the Keras 3 layouts described in gru_py.h, with
 * masks and dropout masks. State carried between calls is the caller's business.
 *
 * B batch, T timesteps, I input features, H units, G gate blocks, S state tensors; k is
 * a processing step and t the input column it reads (t = k, or T-1-k with go_backwards).
 *
 * What the three cells share lives here once: the input projection of all timesteps as
 * one GEMM, the time loop with masks, the recurrent products (one GEMM per step, or one
 * per gate block under recurrent dropout), the input gradient and the weight gradients as
 * GEMMs over all B*T rows. Each cell adds its step: gate math forward, and gate gradients
 * backward, for the rows of one job.
 *
 * Work is split by batch rows between jobs (parallel.h): a job computes its rows' input
 * projections, runs their whole time loop and, in backward, their input gradient. A
 * single sequence's forward is split within each step instead (see chunk_queue). The
 * weight gradients are one GEMM each over all B*T rows, split by output columns.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "activations.h"
#include "blas.h"
#include "common.h"
#include "gru_fused.h"
#include "packed_gemm.h"
#include "parallel.h"

/* Every buffer size of one configuration, in floats, computed once without overflow. */
typedef struct {
    size_t G, S;      /* gate blocks, state tensors */
    size_t W;         /* cached gate floats per row and step */
    size_t gh;        /* G*H: width of the gate pre-activations */
    size_t bh;        /* B*H: one state */
    size_t rows;      /* B*T: rows of the time-batched GEMMs */
    size_t proj;      /* B*T*G*H: input projections, or gate gradients */
    size_t states;    /* (T+1)*B*H: one state tensor over time */
    size_t x_size;    /* B*T*I: one gate's dropped-out copy of the inputs */
    size_t tbh;       /* T*B*H: one gate's dropped-out copy of every step's previous state */
    size_t cache;     /* S*states + T*B*W */
    size_t packed_w;  /* W (I, G*H) packed, for the forward's input projections */
    size_t packed_u;  /* U (H, G*H) packed, for the forward */
    size_t packed_ut; /* U^T (G*H, H) packed, for the backward */
    size_t packed_wt; /* W^T (G*H, I) packed, for the backward's step-by-step d_x */
    size_t fwd_train; /* proj + B*G*H + B*H + packed_w + packed_u (+ x_size) */
    size_t fwd_infer; /* fwd_train + 4*B*H + B*W */
    size_t bwd;       /* 2*proj + 4*B*H + B (+ x_size) + packed_ut (+ tbh) */
} rnn_sizes;

size_t gp_rnn_gate_count(gp_cell cell) {
    switch (cell) {
    case GP_CELL_GRU:
        return 3;
    case GP_CELL_LSTM:
        return 4;
    case GP_CELL_SIMPLE_RNN:
        return 1;
    default:
        return 0;
    }
}

size_t gp_rnn_state_count(gp_cell cell) {
    return cell == GP_CELL_LSTM ? 2 : (gp_rnn_gate_count(cell) ? 1 : 0);
}

/* Cached gate floats per row and step, in units of H. */
static size_t cached_gate_blocks(gp_cell cell) {
    return cell == GP_CELL_GRU ? 4 : (cell == GP_CELL_LSTM ? 5 : 0);
}

/* Sum of n sizes into *out; 1 on overflow. */
static int add_overflows(const size_t *terms, size_t n, size_t *out) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (__builtin_add_overflow(total, terms[i], &total)) return 1;
    }
    *out = total;
    return 0;
}

static gp_status rnn_compute_sizes(const gp_rnn_config *cfg, rnn_sizes *s) {
    const size_t B = cfg->batch, T = cfg->steps, I = cfg->input_size, H = cfg->units;
    s->G = gp_rnn_gate_count(cfg->cell);
    s->S = gp_rnn_state_count(cfg->cell);
    size_t t1, b_gh, b_w, s_states, gates;
    const size_t w = cached_gate_blocks(cfg->cell);
    if (gp_mul_overflows(w, H, &s->W) || gp_mul_overflows(s->G, H, &s->gh) ||
        gp_mul_overflows(B, H, &s->bh) || gp_mul_overflows(B, T, &s->rows) ||
        gp_mul_overflows(s->rows, s->gh, &s->proj) || gp_mul_overflows(B, s->gh, &b_gh) ||
        gp_mul_overflows(B, s->W, &b_w) || __builtin_add_overflow(T, 1, &t1) ||
        gp_mul_overflows(t1, s->bh, &s->states) || gp_mul_overflows(s->S, s->states, &s_states) ||
        gp_mul_overflows(s->rows, s->W, &gates) || gp_mul_overflows(s->rows, I, &s->x_size) ||
        gp_mul_overflows(T, s->bh, &s->tbh)) {
        return GP_ERR_BAD_SIZE;
    }
    s->packed_w = gp_packed_floats(I, s->gh);
    s->packed_u = gp_packed_floats(H, s->gh);
    s->packed_ut = gp_packed_floats(s->gh, H);
    s->packed_wt = gp_packed_floats(s->gh, I);
    if (!s->packed_w || !s->packed_u || !s->packed_ut || !s->packed_wt) return GP_ERR_BAD_SIZE;
    const size_t x_drop = cfg->input_dropout ? s->x_size : 0;
    const size_t cache[] = {s_states, gates};
    const size_t train[] = {s->proj, b_gh, s->bh, s->packed_w, s->packed_u, x_drop};
    const size_t bwd[] = {
        s->proj, s->proj, s->bh,  s->bh,        s->bh,
        s->bh,   B,       x_drop, s->packed_ut, cfg->recurrent_dropout ? s->tbh : 0};
    if (add_overflows(cache, 2, &s->cache) || add_overflows(train, 6, &s->fwd_train) ||
        add_overflows(bwd, 10, &s->bwd)) {
        return GP_ERR_BAD_SIZE;
    }
    const size_t infer[] = {s->fwd_train, s->bh, s->bh, s->bh, s->bh, b_w};
    if (add_overflows(infer, 6, &s->fwd_infer)) return GP_ERR_BAD_SIZE;
    /* Callers turn float counts into bytes, and BLAS takes int sizes and strides. */
    if (!gp_fits_float_buffer(s->cache) || !gp_fits_float_buffer(s->fwd_infer) ||
        !gp_fits_float_buffer(s->bwd) || !gp_fits_blas_int(s->rows) ||
        !gp_fits_blas_int(s->W > s->gh ? s->W : s->gh) || !gp_fits_blas_int(I)) {
        return GP_ERR_BAD_SIZE;
    }
    return GP_OK;
}

gp_status gp_rnn_check_config(const gp_rnn_config *cfg) {
    if (!cfg) return GP_ERR_NULL_POINTER;
    if (!gp_rnn_gate_count(cfg->cell)) return GP_ERR_BAD_PARAMETER;
    if (!cfg->batch || !cfg->steps || !cfg->input_size || !cfg->units) return GP_ERR_BAD_SIZE;
    if (!gp_is_flag(cfg->reset_after) || !gp_is_flag(cfg->use_bias) ||
        !gp_is_flag(cfg->go_backwards) || !gp_is_flag(cfg->zero_output_for_mask) ||
        !gp_is_flag(cfg->input_dropout) || !gp_is_flag(cfg->recurrent_dropout) ||
        (cfg->reset_after && cfg->cell != GP_CELL_GRU)) {
        return GP_ERR_BAD_FLAG;
    }
    if (!gp_act_is_elementwise(cfg->activation) ||
        !gp_act_is_elementwise(cfg->recurrent_activation)) {
        return GP_ERR_BAD_ACTIVATION;
    }
    rnn_sizes s;
    return rnn_compute_sizes(cfg, &s);
}

size_t gp_rnn_cache_size(const gp_rnn_config *cfg) {
    rnn_sizes s;
    return gp_rnn_check_config(cfg) == GP_OK && rnn_compute_sizes(cfg, &s) == GP_OK ? s.cache : 0;
}

size_t gp_rnn_forward_workspace_size(const gp_rnn_config *cfg, int training) {
    rnn_sizes s;
    if (gp_rnn_check_config(cfg) != GP_OK || rnn_compute_sizes(cfg, &s) != GP_OK) return 0;
    return training ? s.fwd_train : s.fwd_infer;
}

size_t gp_rnn_backward_workspace_size(const gp_rnn_config *cfg) {
    rnn_sizes s;
    return gp_rnn_check_config(cfg) == GP_OK && rnn_compute_sizes(cfg, &s) == GP_OK ? s.bwd : 0;
}

static inline size_t input_column(const gp_rnn_config *cfg, size_t k) {
    return cfg->go_backwards ? cfg->steps - 1 - k : k;
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

/* dst[r, :] = src[r, :] * m[r / per_mask_row, :] for `rows` rows of width n: a dropout
 * mask row applies to every timestep of its batch row. */
static void apply_row_mask(float *dst, const float *src, const float *m, size_t rows,
                           size_t per_mask_row, size_t n) {
    for (size_t r = 0; r < rows; r++) {
        const float *mr = m + (r / per_mask_row) * n;
        for (size_t j = 0; j < n; j++) dst[r * n + j] = src[r * n + j] * mr[j];
    }
}

/* How many distinct input dropout masks the gate blocks use: 0 without input dropout, 1
 * when every gate has the same mask (Keras' implementation 2, where one masked input and
 * one GEMM serve all gates), else G. */
static size_t input_mask_count(const gp_rnn_inputs *in, const gp_rnn_config *cfg,
                               const rnn_sizes *s) {
    if (!cfg->input_dropout) return 0;
    const size_t n = cfg->batch * cfg->input_size;
    for (size_t g = 1; g < s->G; g++) {
        if (memcmp(in->input_dropout, in->input_dropout + g * n, n * sizeof(float))) return s->G;
    }
    return 1;
}

/*
 * A training forward writes each step's gates and states to the cache, row after row, and
 * backward reads them back in reverse: at S2's first layer (B=64, T=100, H=128) 16 MB a
 * call, most of it from memory. The hardware prefetchers follow that poorly, each step's
 * rows being a short run that starts far from the last one, so the fused GRU rows waited
 * on memory for most of their time. Their loops ask for the row a few kilobytes ahead
 * while they work on this one: S2's epoch is 5-8% faster, S4's training step 11-14%.
 */
#define PREFETCH_AHEAD_BYTES 8192
#define CACHE_LINE_FLOATS 16 /* 64 bytes */

/* How many rows ahead to prefetch, for rows of row_floats floats. */
static size_t prefetch_distance(size_t row_floats) {
    const size_t rows = PREFETCH_AHEAD_BYTES / (row_floats * sizeof(float));
    return rows ? rows : 1;
}

/* Starts loading n floats at p into L1. A line about to be written is loaded too: it
 * then belongs to this core, and the writes do not wait for memory. */
static void prefetch_floats(const float *p, size_t n) {
    for (size_t i = 0; i < n; i += CACHE_LINE_FLOATS) __builtin_prefetch(p + i, 0, 3);
}

/* ---------------------------------------------------------------------------------- */
/* The recurrent products, with or without recurrent dropout                           */
/* ---------------------------------------------------------------------------------- */

/* Per-gate recurrent dropout masks of a job's rows: gate g's (rows, H) mask starts at
 * base + g * gate_stride. base is NULL without recurrent dropout. */
typedef struct {
    const float *base;
    size_t gate_stride;
} gate_masks;

static const float *gate_mask(gate_masks m, size_t g) {
    return m.base + g * m.gate_stride;
}

/*
 * A kernel as the products of a call read it: op(K) is K itself, the input kernel W
 * (I, G*H) or the recurrent kernel U (H, G*H) forward, or U^T backward. The products
 * multiply its packed copy (packed_gemm.h), made once per call; a batch of one row whose
 * call is too short to pay for that copy reads K where it lies (matrix-vector products),
 * with the packed products' own kernels where the columns allow, so that a product's bits
 * do not depend on whether K was packed.
 */
typedef struct {
    const float *k; /* K, row stride gh */
    size_t gh;
    int transposed;   /* op(K) = K^T */
    gp_packed packed; /* op(K) packed, or .data NULL */
} kernel_operand;

/* C[:, c0:c1] = A[:, k0:k1] op(K)[k0:k1, c0:c1], or += with `accumulate`, for `rows` rows;
 * indices are absolute, as in gp_packed_gemm. */
static void operand_gemm(float *c, size_t ldc, const float *a, size_t lda, const kernel_operand *u,
                         size_t rows, size_t k0, size_t k1, size_t c0, size_t c1, int accumulate) {
    if (u->packed.data) {
        gp_packed_gemm(c, ldc, a, lda, u->packed, rows, k0, k1, c0, c1, accumulate);
        return;
    }
    if (rows == 1 && !u->transposed && gp_row_gemm_fits(c1, u->gh)) {
        gp_row_gemm(c, a, u->k, u->gh, k0, k1, c0, c1, accumulate);
        return;
    }
    const float *b = u->transposed ? u->k + c0 * u->gh + k0 : u->k + k0 * u->gh + c0;
    gp_sgemm_rows(u->transposed ? GP_CBLAS_TRANS : GP_CBLAS_NO_TRANS, rows, c1 - c0, k1 - k0, 1.0f,
                  a + k0, lda, b, u->gh, accumulate ? 1.0f : 0.0f, c + c0, ldc);
}

/* K (rows, gh) as op(K), packed into `packed` when the batch has more than one row. */
static kernel_operand operand_for(const float *K, size_t rows, size_t gh, int transposed,
                                  float *packed, size_t batch) {
    kernel_operand u = {K, gh, transposed, {NULL, transposed ? gh : rows, transposed ? rows : gh}};
    if (batch > 1) {
        gp_packed_pack(packed, K, gh, u.packed.k, u.packed.n, transposed);
        u.packed.data = packed;
    }
    return u;
}

/* Packs into `packed` the panels of K (k, n), row stride n, whose first column is in
 * [c0, c1): jobs whose ranges cover [0, n) between them pack each panel once. */
static void pack_columns(float *packed, const float *K, size_t k, size_t n, size_t c0, size_t c1) {
    const size_t j0 = (c0 + GP_PANEL - 1) / GP_PANEL * GP_PANEL;
    size_t j1 = (c1 + GP_PANEL - 1) / GP_PANEL * GP_PANEL;
    if (j1 > n) j1 = n;
    if (j0 < j1) gp_packed_pack(packed + j0 * k, K + j0, n, k, j1 - j0, 0);
}

/* rec[:, g0*H : g1*H] = for each gate g: (h * rm_g) U_g, or h U for all those gates at
 * once without dropout. rec has gh columns; hm (rows, H) is scratch for h * rm_g. */
static void recurrent_product(float *rec, const float *h, const kernel_operand *U, size_t rows,
                              size_t H, size_t g0, size_t g1, gate_masks rm, float *hm) {
    if (!rm.base) {
        operand_gemm(rec, U->gh, h, H, U, rows, 0, H, g0 * H, g1 * H, 0);
        return;
    }
    for (size_t g = g0; g < g1; g++) {
        apply_row_mask(hm, h, gate_mask(rm, g), rows, 1, H);
        operand_gemm(rec, U->gh, hm, H, U, rows, 0, H, g * H, (g + 1) * H, 0);
    }
}

/* dh += for each gate g in [g0, g1): (d_rec_g U_g^T) * rm_g, or d_rec U^T over those gates
 * at once without dropout. tmp (rows, H) is scratch. */
static void recurrent_backprop(float *dh, const float *d_rec, const kernel_operand *UT, size_t rows,
                               size_t H, size_t g0, size_t g1, gate_masks rm, float *tmp) {
    if (!rm.base) {
        operand_gemm(dh, H, d_rec, UT->gh, UT, rows, g0 * H, g1 * H, 0, H, 1);
        return;
    }
    for (size_t g = g0; g < g1; g++) {
        operand_gemm(tmp, H, d_rec, UT->gh, UT, rows, g * H, (g + 1) * H, 0, H, 0);
        const float *m = gate_mask(rm, g);
        for (size_t i = 0; i < rows * H; i++) dh[i] += tmp[i] * m[i];
    }
}

/* ---------------------------------------------------------------------------------- */
/* One step of each cell, forward                                                      */
/* ---------------------------------------------------------------------------------- */

/* One step for the `rows` rows of a job, in two parts: the recurrent products, then the
 * gate math and state update of hidden units [u0, u1) (all of them unless the job splits
 * a single sequence by units). Every matrix is row-major with the row widths named; xw row
 * b is at xw + b * xw_stride (the step's input projection, bias included). */
typedef struct {
    size_t rows, u0, u1;
    float *h_next, *c_next;       /* (rows, H) written; c only for LSTM */
    const float *h_prev, *c_prev; /* (rows, H) */
    float *gates;                 /* (rows, W) written: what backward needs */
    float *rec;                   /* (rows, G*H) the recurrent products */
    float *hm;                    /* (rows, H) scratch: a gate's dropped-out h_prev */
    const float *xw;
    size_t xw_stride;
    const kernel_operand *U; /* the recurrent kernel */
    const float *rb;         /* the GRU's recurrent bias (3H) or NULL */
    gate_masks rm;           /* recurrent dropout */
    int training;            /* the gates are the cache, which backward reads back */
} step_fwd;

/* Where a cell's recurrent products go: SimpleRNN's straight into the new state, which
 * its update then completes in place. */
static float *product_target(const step_fwd *s, const gp_rnn_config *cfg) {
    return cfg->cell == GP_CELL_SIMPLE_RNN ? s->h_next : s->rec;
}

/* The step's recurrent products h_prev U (every gate's columns side by side), or with
 * recurrent dropout one product per gate. The GRU's reset_before candidate needs r first:
 * its update takes that product itself. */
static void step_product(const step_fwd *s, const gp_rnn_config *cfg) {
    const size_t G = gp_rnn_gate_count(cfg->cell);
    const size_t gates = cfg->cell == GP_CELL_GRU && !cfg->reset_after ? 2 : G;
    recurrent_product(product_target(s, cfg), s->h_prev, s->U, s->rows, cfg->units, 0, gates, s->rm,
                      s->hm);
}

/* Only the products that the update of the step's units [u0, u1) reads: columns
 * [g*H + u0, g*H + u1) of every gate g. (Not for recurrent dropout or the reset_before
 * candidate, whose products need more than the units' own inputs.) */
static void step_product_of_units(const step_fwd *s, const gp_rnn_config *cfg) {
    const size_t H = cfg->units, G = gp_rnn_gate_count(cfg->cell);
    GP_ASSERT(!s->rm.base && (cfg->cell != GP_CELL_GRU || cfg->reset_after));
    for (size_t g = 0; g < G; g++) {
        operand_gemm(product_target(s, cfg), G * H, s->h_prev, H, s->U, s->rows, 0, H,
                     g * H + s->u0, g * H + s->u1, 0);
    }
}

/* dst[u0:u1] = x[u0:u1] + rec[u0:u1] (+ bias[u0:u1]) for one gate block of one row. */
static void gate_sum(float *dst, const float *x, const float *rec, const float *bias, size_t u0,
                     size_t u1) {
    for (size_t j = u0; j < u1; j++) dst[j] = x[j] + rec[j] + (bias ? bias[j] : 0.0f);
}

static void gru_update(const step_fwd *s, const gp_rnn_config *cfg) {
    const size_t H = cfg->units, H3 = 3 * H, H4 = 4 * H, rows = s->rows;
    const size_t u0 = s->u0, u1 = s->u1, n = u1 - u0;
    const float *rb = s->rb;
    if (gp_gru_fused_available(cfg)) {
        /* A training forward's gates go past the caches: only backward reads them back,
         * after the rest of the forward and backward has gone through. Written the usual
         * way they were first read in from memory and then evicted the data in use;
         * streamed, S2's epoch is 1-5% faster, the more the busier the host's memory.
         * (Every row has the same alignment.) */
        const int stream = s->training && gp_gru_fused_can_stream(s->gates, H, u0);
        const size_t ahead = prefetch_distance(H4 + H);
        for (size_t b = 0; b < rows; b++) {
            if (b + ahead < rows) { /* its gates and new state, to be written */
                if (!stream) prefetch_floats(s->gates + (b + ahead) * H4, H4);
                prefetch_floats(s->h_next + (b + ahead) * H, H);
            }
            gp_gru_fused_forward_row(s->gates + b * H4, s->h_next + b * H, s->h_prev + b * H,
                                     s->xw + b * s->xw_stride, s->rec + b * H3, rb, H, u0, u1,
                                     stream);
        }
        return;
    }
    for (size_t b = 0; b < rows; b++) {
        float *g = s->gates + b * H4;
        const float *x_b = s->xw + b * s->xw_stride, *rec_b = s->rec + b * H3;
        const float *hp = s->h_prev + b * H;
        for (size_t blk = 0; blk < 2; blk++) {
            gate_sum(g + blk * H, x_b + blk * H, rec_b + blk * H, rb ? rb + blk * H : NULL, u0, u1);
            gp_act_forward(cfg->recurrent_activation, g + blk * H + u0, n);
        }
        const float *r = g + H;
        float *q = g + 3 * H;
        if (cfg->reset_after) {
            for (size_t j = u0; j < u1; j++) q[j] = rec_b[2 * H + j] + (rb ? rb[2 * H + j] : 0.0f);
        } else {
            const float *m = s->rm.base ? gate_mask(s->rm, 2) + b * H : NULL;
            for (size_t j = u0; j < u1; j++) q[j] = r[j] * hp[j] * (m ? m[j] : 1.0f);
        }
    }

    if (!cfg->reset_after) {
        /* q U_h for every row at once; q rows sit 4H apart in gates. Needs every unit of
         * q, so this convention never runs split by units. */
        GP_ASSERT(u0 == 0 && u1 == H);
        operand_gemm(s->rec, H3, s->gates + 3 * H, H4, s->U, rows, 0, H, 2 * H, H3, 0);
    }

    for (size_t b = 0; b < rows; b++) {
        float *g = s->gates + b * H4, *hh = g + 2 * H, *hn = s->h_next + b * H;
        const float *z = g, *r = g + H, *q = g + 3 * H, *hp = s->h_prev + b * H;
        const float *x_h = s->xw + b * s->xw_stride + 2 * H, *rec_h = s->rec + b * H3 + 2 * H;
        if (cfg->reset_after) {
            for (size_t j = u0; j < u1; j++) hh[j] = x_h[j] + r[j] * q[j];
        } else {
            for (size_t j = u0; j < u1; j++) hh[j] = x_h[j] + rec_h[j];
        }
        gp_act_forward(cfg->activation, hh + u0, n);
        for (size_t j = u0; j < u1; j++) hn[j] = z[j] * hp[j] + (1.0f - z[j]) * hh[j];
    }
}

static void lstm_update(const step_fwd *s, const gp_rnn_config *cfg) {
    const size_t H = cfg->units, H4 = 4 * H, H5 = 5 * H, rows = s->rows;
    const size_t u0 = s->u0, u1 = s->u1, n = u1 - u0;
    for (size_t b = 0; b < rows; b++) {
        float *g = s->gates + b * H5; /* [i | f | g | o | act(c)] */
        const float *x_b = s->xw + b * s->xw_stride, *rec_b = s->rec + b * H4;
        const float *cp = s->c_prev + b * H;
        float *cn = s->c_next + b * H, *hn = s->h_next + b * H, *act_c = g + 4 * H;
        for (size_t blk = 0; blk < 4; blk++) {
            gate_sum(g + blk * H, x_b + blk * H, rec_b + blk * H, NULL, u0, u1);
            gp_act_forward(blk == 2 ? cfg->activation : cfg->recurrent_activation, g + blk * H + u0,
                           n);
        }
        const float *i = g, *f = g + H, *cand = g + 2 * H, *o = g + 3 * H;
        for (size_t j = u0; j < u1; j++) cn[j] = act_c[j] = f[j] * cp[j] + i[j] * cand[j];
        gp_act_forward(cfg->activation, act_c + u0, n);
        for (size_t j = u0; j < u1; j++) hn[j] = o[j] * act_c[j];
    }
}

static void simple_update(const step_fwd *s, const gp_rnn_config *cfg) {
    const size_t H = cfg->units, u0 = s->u0, u1 = s->u1;
    for (size_t b = 0; b < s->rows; b++) {
        float *hn = s->h_next + b * H; /* holds the recurrent product */
        const float *x_b = s->xw + b * s->xw_stride;
        for (size_t j = u0; j < u1; j++) hn[j] += x_b[j];
        gp_act_forward(cfg->activation, hn + u0, u1 - u0);
    }
}

static void step_update(const step_fwd *s, const gp_rnn_config *cfg) {
    switch (cfg->cell) {
    case GP_CELL_GRU:
        gru_update(s, cfg);
        break;
    case GP_CELL_LSTM:
        lstm_update(s, cfg);
        break;
    default:
        simple_update(s, cfg);
        break;
    }
}

/* ---------------------------------------------------------------------------------- */
/* The forward time loop                                                               */
/* ---------------------------------------------------------------------------------- */

/*
 * The jobs of one forward split the batch rows: each runs the whole time loop over its
 * rows, with no synchronisation. A single sequence has no rows to split, so its jobs split
 * each step's work instead, by hidden units: the recurrent products that those units'
 * gates read, then their gate math and state update (not the GRU's reset_before
 * candidate, nor dropout, whose products need more than a job's own units). Each step
 * needs every unit of the step before, so the work becomes a queue of chunks taken in
 * order; a job starts a chunk once every chunk of the phase before is done. A job whose sibling has
 * no core (a busy machine) finds the sibling's chunks unclaimed and does them itself, so no job
 * waits for a thread that is not running.
 */
typedef struct {
    atomic_size_t claimed; /* chunks handed out */
    atomic_size_t done;    /* chunks finished */
    size_t per_phase;      /* chunks per phase: the projection, then one per step */
    size_t total;          /* per_phase * (T + 1) */
} chunk_queue;

/* One job of the forward: batch rows [b0, b1), hidden units [u0, u1) (all of them when
 * the jobs split rows). Every pointer is to the full-batch buffer; the job touches only
 * its part. */
typedef struct {
    const gp_rnn_config *cfg;
    const gp_rnn_inputs *in;
    const rnn_sizes *s;
    size_t b0, b1, u0, u1;
    chunk_queue *queue;          /* the chunks of a sequence split by units, else NULL */
    float *outputs;              /* (B, T, H) or NULL */
    float *h_states;             /* training: the cache's (T+1, B, H); inference: (2, B, H) */
    float *c_states;             /* the same for LSTM carries, else NULL */
    int training;                /* 1: h_states / c_states hold every step */
    float *gates;                /* training: the cache's (T, B, W); inference: (B, W) */
    float *rec;                  /* (B, G*H) scratch */
    float *xm;                   /* (B, T, I) scratch: one gate's dropped-out inputs */
    float *hm;                   /* (B, H) scratch: one gate's dropped-out states */
    float *xw;                   /* (T, B, G*H) input projections, written by the job */
    int per_step;                /* 1: xw holds one timestep's, (B, G*H) */
    const kernel_operand *W, *U; /* the input and recurrent kernels */
    float *u_panels;             /* where a split sequence's jobs pack U (phase 0) */
    size_t input_masks;          /* distinct input dropout masks: 0, 1 or G */
    const float *in_bias;        /* (G*H) or NULL */
    const float *rec_bias;       /* GRU (3H) or NULL */
} rnn_forward_job;

/* Row b0 of state buffer `base` after step k - 1 (k = 0: the initial state). */
static float *state_at(const rnn_forward_job *job, float *base, size_t k) {
    const size_t slot = job->training ? k : k % 2;
    return base + slot * job->s->bh + job->b0 * job->cfg->units;
}

/*
 * Columns [c0, c1) of the input projections of a job's rows for timesteps [t0, t1): xw =
 * x W + b, or with input dropout (all columns) xw_g = (x * m_g) W_g + b_g, one product
 * per distinct mask. A job projects either its one row's whole sequence at once, each
 * timestep a row of the product, or (job->per_step) all of its rows one timestep at a
 * time, just before the step reads them: a big batch's projections of every timestep
 * would be tens of megabytes, written once and then read back from memory step by step.
 * Row (t, b) goes to xw + t * B * G*H + b * G*H; stepwise, t is always 0.
 */
static void project_inputs(const rnn_forward_job *job, size_t rows, size_t t0, size_t t1, size_t c0,
                           size_t c1) {
    const gp_rnn_config *cfg = job->cfg;
    const size_t B = cfg->batch, T = cfg->steps, I = cfg->input_size, gh = job->s->gh;
    const size_t b0 = job->b0, masks = job->input_masks;
    GP_ASSERT(!masks || (c0 == 0 && c1 == gh));
    GP_ASSERT(job->per_step ? t1 == t0 + 1 : rows == 1);
    /* the rows of the product: the job's rows at one timestep, or one row's timesteps */
    const size_t n = job->per_step ? rows : t1 - t0;
    const size_t lda = job->per_step ? T * I : I, ldc = job->per_step ? gh : B * gh;
    float *xw = job->xw + b0 * gh;
    const float *x = job->in->x + (b0 * T + t0) * I;
    for (size_t r = 0; job->in_bias && r < n; r++) {
        fill_rows(xw + r * ldc + c0, job->in_bias + c0, 1, c1 - c0);
    }
    const size_t spans = masks > 1 ? job->s->G : 1;
    const size_t width = (c1 - c0) / spans;
    for (size_t g = 0; g < spans; g++) {
        const size_t col = c0 + g * width;
        const float *src = x;
        if (masks) {
            float *xm = job->xm + (b0 * T + t0) * I;
            const float *m = job->in->input_dropout + (g * B + b0) * I;
            for (size_t r = 0; r < n; r++) {
                apply_row_mask(xm + r * lda, x + r * lda, job->per_step ? m + r * I : m, 1, 1, I);
            }
            src = xm;
        }
        operand_gemm(xw, ldc, src, lda, job->W, n, 0, I, col, col + width, job->in_bias != NULL);
    }
}

/* This job's units of the initial states, in each of its rows. */
static void fill_initial(const rnn_forward_job *job, size_t rows) {
    const size_t H = job->cfg->units, u0 = job->u0, n = job->u1 - u0;
    const float *init = job->in->initial_state;
    for (size_t b = 0; b < rows; b++) {
        const size_t at = (job->b0 + b) * H + u0;
        float *h = state_at(job, job->h_states, 0) + b * H + u0;
        fill_rows(h, init ? init + at : NULL, 1, n);
        if (job->c_states) {
            float *c = state_at(job, job->c_states, 0) + b * H + u0;
            fill_rows(c, init ? init + job->s->bh + at : NULL, 1, n);
        }
    }
}

/* Skipped steps: carry the state (this job's units). */
static void apply_step_mask(const rnn_forward_job *job, size_t rows, size_t k, float *h_next,
                            const float *h_prev, float *c_next, const float *c_prev) {
    const gp_rnn_config *cfg = job->cfg;
    const size_t T = cfg->steps, H = cfg->units, t = input_column(cfg, k);
    const size_t u0 = job->u0, n = (job->u1 - u0) * sizeof(float);
    for (size_t b = 0; b < rows; b++) {
        if (job->in->mask[(job->b0 + b) * T + t]) continue;
        memcpy(h_next + b * H + u0, h_prev + b * H + u0, n);
        if (c_next) memcpy(c_next + b * H + u0, c_prev + b * H + u0, n);
    }
}

/* Step k's outputs (this job's units): the new state, or at a skipped step the previous
 * output (zeros before the first, or with zero_output_for_mask). */
static void write_outputs(const rnn_forward_job *job, size_t rows, size_t k, const float *h_next) {
    const gp_rnn_config *cfg = job->cfg;
    const size_t T = cfg->steps, H = cfg->units, t = input_column(cfg, k);
    const size_t u0 = job->u0, n = (job->u1 - u0) * sizeof(float);
    for (size_t b = 0; b < rows; b++) {
        float *out = job->outputs + ((job->b0 + b) * T + k) * H + u0;
        if (!job->in->mask || job->in->mask[(job->b0 + b) * T + t]) {
            memcpy(out, h_next + b * H + u0, n);
        } else if (cfg->zero_output_for_mask || k == 0) {
            memset(out, 0, n);
        } else {
            memcpy(out, out - H, n);
        }
    }
}

/* Step k of the job's rows, its update limited to the job's units. */
static step_fwd step_at(const rnn_forward_job *job, size_t rows, size_t k) {
    const gp_rnn_config *cfg = job->cfg;
    const size_t H = cfg->units, gh = job->s->gh, b0 = job->b0;
    return (step_fwd){
        .rows = rows,
        .u0 = job->u0,
        .u1 = job->u1,
        .h_prev = state_at(job, job->h_states, k),
        .h_next = state_at(job, job->h_states, k + 1),
        .c_prev = job->c_states ? state_at(job, job->c_states, k) : NULL,
        .c_next = job->c_states ? state_at(job, job->c_states, k + 1) : NULL,
        .gates = job->gates + ((job->training ? k * cfg->batch : 0) + b0) * job->s->W,
        .rec = job->rec + b0 * gh,
        .hm = job->hm + b0 * H,
        .xw = job->xw + ((job->per_step ? 0 : input_column(cfg, k)) * cfg->batch + b0) * gh,
        .xw_stride = gh,
        .U = job->U,
        .rb = job->rec_bias,
        .rm = {cfg->recurrent_dropout ? job->in->recurrent_dropout + b0 * H : NULL, job->s->bh},
        .training = job->training,
    };
}

/* The second part of step k: gate math, state update, masks and outputs of the job's
 * units. */
static void finish_step(const rnn_forward_job *job, const step_fwd *step, size_t k) {
    step_update(step, job->cfg);
    if (job->in->mask) {
        apply_step_mask(job, step->rows, k, step->h_next, step->h_prev, step->c_next, step->c_prev);
    }
    if (job->outputs) write_outputs(job, step->rows, k, step->h_next);
}

/* A job that splits the batch: the whole time loop over its rows. */
static void rnn_forward_rows(void *arg) {
    const rnn_forward_job *job = arg;
    const size_t rows = job->b1 - job->b0;
    if (!rows) return;
    const size_t T = job->cfg->steps, gh = job->s->gh;
    if (!job->per_step) project_inputs(job, rows, 0, T, 0, gh);
    fill_initial(job, rows);
    for (size_t k = 0; k < T; k++) {
        const size_t t = input_column(job->cfg, k);
        if (job->per_step) project_inputs(job, rows, t, t + 1, 0, gh);
        const step_fwd step = step_at(job, rows, k);
        step_product(&step, job->cfg);
        finish_step(job, &step, k);
    }
    gp_gru_fused_fence();
}

/* Waits until at least `count` chunks are done: spins for about a step's time, then gives
 * its core away, since the chunk it waits for may belong to a thread without one. */
static void wait_for_chunks(chunk_queue *q, size_t count) {
    for (unsigned spins = 0; atomic_load(&q->done) < count; spins++) {
        if (spins >= 2048) sched_yield();
    }
}

/*
 * A job that splits a single sequence: takes chunks from the queue until none is left.
 * Phase 0 packs the recurrent kernel and projects the inputs (by columns) and sets the
 * initial states (by units); then phase k + 1 is step k, split by hidden units: a chunk
 * computes the recurrent products that its units' update reads, then that update. Each
 * step reads every unit of the state before it, so it waits for the whole phase before;
 * that is the one barrier per step.
 */
static void rnn_forward_chunks(void *arg) {
    const rnn_forward_job *shared = arg;
    chunk_queue *q = shared->queue;
    const size_t H = shared->cfg->units, gh = shared->s->gh, rows = shared->b1 - shared->b0;
    const size_t parts = q->per_phase;
    for (;;) {
        const size_t chunk = atomic_fetch_add(&q->claimed, 1);
        if (chunk >= q->total) {
            gp_gru_fused_fence();
            return;
        }
        const size_t phase = chunk / parts, part = chunk % parts;
        const size_t c0 = gh * part / parts, c1 = gh * (part + 1) / parts;
        wait_for_chunks(q, phase * parts);
        rnn_forward_job job = *shared;
        job.u0 = H * part / parts;
        job.u1 = H * (part + 1) / parts;
        if (phase == 0) {
            pack_columns(job.u_panels, job.in->recurrent_kernel, H, gh, c0, c1);
            project_inputs(&job, rows, 0, job.cfg->steps, c0, c1);
            fill_initial(&job, rows);
        } else {
            const step_fwd step = step_at(&job, rows, phase - 1);
            step_product_of_units(&step, job.cfg);
            finish_step(&job, &step, phase - 1);
        }
        atomic_fetch_add(&q->done, 1);
    }
}

/* How many chunks per phase a single sequence is split into (1: it is not): only a lone
 * sequence, whose steps allow it, in a call long enough to pay for waking a worker thread
 * (tens of microseconds): its recurrent products, T*H*G*H multiply-adds, must exceed
 * GP_MIN_PARALLEL_WORK times this factor, about 2 M or 30 us of matrix-vector products.
 * A small batch that one job runs stays one job, so that its numbers do not change with
 * the thread count. */
#define UNIT_SPLIT_DISCOUNT 32

static size_t unit_chunks(const gp_rnn_config *cfg, const rnn_sizes *s) {
    if (cfg->batch > 1 || cfg->input_dropout || cfg->recurrent_dropout ||
        (cfg->cell == GP_CELL_GRU && !cfg->reset_after)) {
        return 1;
    }
    return gp_parallel_jobs(cfg->units, s->rows * cfg->units * s->gh / UNIT_SPLIT_DISCOUNT);
}

/*
 * A single step of a lone sequence (a cell called step by step from Python) runs its two
 * products side by side: the caller projects the inputs (x W) while the kept worker
 * multiplies the initial state (h U); then the caller updates the state. Each core
 * reads one whole kernel, so each keeps its kernel in its own L2 cache from call to call
 * (a 256-unit GRU's kernels are 0.75 MB each, one core's L2 1 MB). A split by units would
 * leave each core half of its L2: with rows of 3*256 floats, a job's columns of every row
 * fall in the same half of the cache sets. Each product is the one a single thread runs,
 * so the bits do not depend on the thread count. A worker kept awake by the calls before
 * takes its product at once; one that is asleep leaves it to the caller.
 */
typedef struct {
    const rnn_forward_job *job;
    const step_fwd *step;
    int recurrent; /* 1: h U, 0: x W */
} step_product_job;

static void run_step_product(void *arg) {
    const step_product_job *p = arg;
    if (p->recurrent) {
        step_product(p->step, p->job->cfg);
    } else {
        project_inputs(p->job, 1, 0, 1, 0, p->job->s->gh);
    }
}

static int splits_step_products(const gp_rnn_config *cfg, const rnn_sizes *s) {
    return cfg->batch == 1 && cfg->steps == 1 &&
           gp_parallel_jobs(2, (cfg->input_size + cfg->units) * s->gh) > 1;
}

gp_status gp_rnn_forward(float *outputs, float *last_state, float *cache, float *workspace,
                         const gp_rnn_inputs *in, const gp_rnn_config *cfg) {
    gp_status status = gp_rnn_check_config(cfg);
    if (status != GP_OK) return status;
    if (!last_state || !workspace || !in || !in->x || !in->kernel || !in->recurrent_kernel ||
        (cfg->use_bias && !in->bias) || (cfg->input_dropout && !in->input_dropout) ||
        (cfg->recurrent_dropout && !in->recurrent_dropout)) {
        return GP_ERR_NULL_POINTER;
    }
    rnn_sizes s;
    rnn_compute_sizes(cfg, &s);
    const size_t B = cfg->batch, T = cfg->steps, H = cfg->units;
    const int training = cache != NULL, lstm = cfg->cell == GP_CELL_LSTM;

    /* Workspace: xw | rec | hm | packed W | packed U | the dropped-out inputs, then for
     * inference the ping-pong states and one step's gates, which training keeps in the
     * cache instead (layout in gru_py.h). The dropped-out inputs and states are not kept:
     * backward makes them again from x, the states and the masks, step by step, while
     * those are in cache. */
    float *xw = workspace, *rec = xw + s.proj, *hm = rec + B * s.gh, *packed_w = hm + s.bh;
    float *packed_u = packed_w + s.packed_w, *after = packed_u + s.packed_u;
    const kernel_operand W = operand_for(in->kernel, cfg->input_size, s.gh, 0, packed_w, B);
    const size_t chunks = unit_chunks(cfg, &s);
    kernel_operand U = operand_for(in->recurrent_kernel, H, s.gh, 0, packed_u, B);
    /* A single sequence split between jobs has them pack U in its first phase. */
    if (chunks > 1) U.packed.data = packed_u;
    float *xm = after;
    if (cfg->input_dropout) after += s.x_size;
    float *h_states = training ? cache : after;
    float *c_states = lstm ? (training ? cache + s.states : after + 2 * s.bh) : NULL;
    float *gates = training ? cache + s.S * s.states : after + 4 * s.bh;

    rnn_forward_job jobs[GP_MAX_JOBS];
    const rnn_forward_job all = {
        .cfg = cfg,
        .in = in,
        .s = &s,
        .b1 = B,
        .u1 = H,
        .outputs = outputs,
        .h_states = h_states,
        .c_states = c_states,
        .training = training,
        .gates = gates,
        .rec = rec,
        .xm = xm,
        .hm = hm,
        .xw = xw,
        .W = &W,
        .U = &U,
        .u_panels = packed_u,
        .input_masks = input_mask_count(in, cfg, &s),
        .in_bias = cfg->use_bias ? in->bias : NULL,
        .rec_bias = cfg->use_bias && cfg->reset_after ? in->bias + 3 * H : NULL,
    };
    const size_t count = gp_parallel_jobs(B, s.rows * H);
    if (chunks > 1) {
        chunk_queue queue = {.per_phase = chunks, .total = chunks * (T + 1)};
        atomic_init(&queue.claimed, 0);
        atomic_init(&queue.done, 0);
        for (size_t i = 0; i < chunks; i++) {
            jobs[i] = all;
            jobs[i].queue = &queue;
        }
        gp_parallel_run(rnn_forward_chunks, jobs, sizeof jobs[0], chunks);
    } else if (splits_step_products(cfg, &s)) {
        fill_initial(&all, 1);
        const step_fwd step = step_at(&all, 1, 0);
        step_product_job products[2] = {{&all, &step, 0}, {&all, &step, 1}};
        gp_parallel_run(run_step_product, products, sizeof products[0], 2);
        finish_step(&all, &step, 0);
        gp_gru_fused_fence();
    } else {
        for (size_t i = 0; i < count; i++) {
            jobs[i] = all;
            jobs[i].b0 = B * i / count;
            jobs[i].b1 = B * (i + 1) / count;
            jobs[i].per_step = jobs[i].b1 - jobs[i].b0 > 1;
        }
        gp_parallel_run(rnn_forward_rows, jobs, sizeof jobs[0], count);
    }
    const size_t last = training ? T : T % 2;
    memcpy(last_state, h_states + last * s.bh, s.bh * sizeof(float));
    if (lstm) memcpy(last_state + s.bh, c_states + last * s.bh, s.bh * sizeof(float));
    return GP_OK;
}

int gp_rnn_step_products_checkable(const gp_rnn_config *cfg) {
    return gp_rnn_check_config(cfg) == GP_OK && cfg->steps == 1 &&
           cfg->cell != GP_CELL_SIMPLE_RNN && 2 * cfg->batch < cfg->input_size + cfg->units;
}

int gp_rnn_step_products_finite(const float *workspace, const gp_rnn_config *cfg) {
    GP_ASSERT(gp_rnn_step_products_checkable(cfg));
    /* the workspace starts with the step's input projections xw and recurrent products
     * rec, (B, G*H) each (gp_rnn_forward) */
    const size_t n = 2 * cfg->batch * gp_rnn_gate_count(cfg->cell) * cfg->units;
    return gp_find_nonfinite(workspace, n) == n;
}

/* ---------------------------------------------------------------------------------- */
/* One step of each cell, backward                                                     */
/* ---------------------------------------------------------------------------------- */

/* One reverse step for the `rows` rows of a job. On entry dh (and dc) hold the gradient
 * w.r.t. the states after the step; on return, w.r.t. the states before it. Rows whose
 * step was skipped (active[b] == 0) keep dh and dc and get zero gate gradients. */
typedef struct {
    size_t rows;
    float *dh, *dc;               /* (rows, H); dc only for LSTM */
    float *dq, *tmp;              /* (rows, H) scratch */
    const float *h_prev, *c_prev; /* (rows, H) states before the step */
    const float *h_next;          /* (rows, H) states after it */
    const float *gates;           /* (rows, W) from the forward */
    float *gi;                    /* row b at gi + b * gi_stride: (G*H) input-side gradient */
    size_t gi_stride;
    float *gr;                   /* (rows, G*H) recurrent-side gradient */
    const unsigned char *active; /* row b's mask entry at active[b * T]; NULL = all used */
    const kernel_operand *UT;    /* the recurrent kernel, transposed */
    gate_masks rm;
} step_bwd;

static int step_active(const step_bwd *s, size_t b, size_t T) {
    return !s->active || s->active[b * T];
}

/* Skipped rows: no gate gradient on either side. */
static void clear_gate_gradients(const step_bwd *s, size_t b, size_t gh) {
    memset(s->gi + b * s->gi_stride, 0, gh * sizeof(float));
    memset(s->gr + b * gh, 0, gh * sizeof(float));
}

static void gru_step_backward(const step_bwd *s, const gp_rnn_config *cfg) {
    const size_t H = cfg->units, H3 = 3 * H, H4 = 4 * H, T = cfg->steps, rows = s->rows;
    if (gp_gru_fused_available(cfg)) {
        const size_t ahead = prefetch_distance(H4 + H);
        for (size_t b = 0; b < rows; b++) {
            if (b + ahead < rows) { /* its cached gates, its previous state, its slot of gi */
                prefetch_floats(s->gates + (b + ahead) * H4, H4);
                prefetch_floats(s->h_prev + (b + ahead) * H, H);
                prefetch_floats(s->gi + (b + ahead) * s->gi_stride, H3);
            }
            if (step_active(s, b, T)) {
                gp_gru_fused_backward_row(s->gi + b * s->gi_stride, s->gr + b * H3, s->dh + b * H,
                                          s->gates + b * H4, s->h_prev + b * H, H);
            } else {
                clear_gate_gradients(s, b, H3);
            }
        }
        recurrent_backprop(s->dh, s->gr, s->UT, rows, H, 0, 3, s->rm, s->tmp);
        return;
    }
    for (size_t b = 0; b < rows; b++) {
        if (!step_active(s, b, T)) {
            clear_gate_gradients(s, b, H3);
            continue;
        }
        const float *g = s->gates + b * H4, *hp = s->h_prev + b * H;
        const float *z = g, *r = g + H, *hh = g + 2 * H, *q = g + 3 * H;
        float *gi = s->gi + b * s->gi_stride, *gr = s->gr + b * H3;
        const float *dh_b = s->dh + b * H;
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
        /* hh = act(x_h + q U_h), q = r * h_prev * rm_h: dq = d(pre hh) U_h^T */
        operand_gemm(s->dq, H, s->gr, H3, s->UT, rows, 2 * H, H3, 0, H, 0);
        for (size_t b = 0; b < rows; b++) {
            if (!step_active(s, b, T)) continue;
            const float *r = s->gates + b * H4 + H, *hp = s->h_prev + b * H;
            const float *m = s->rm.base ? gate_mask(s->rm, 2) + b * H : NULL;
            float *dq_b = s->dq + b * H, *gi = s->gi + b * s->gi_stride;
            /* fold the dropout mask into dq: both of q's factors below need it */
            if (m) {
                for (size_t j = 0; j < H; j++) dq_b[j] *= m[j];
            }
            for (size_t j = 0; j < H; j++) gi[H + j] = dq_b[j] * hp[j];
            gp_act_backward(cfg->recurrent_activation, r, gi + H, H);
        }
    }
    /* dh_prev = dh * z (+ dq * r) + the recurrent products' gradients */
    for (size_t b = 0; b < rows; b++) {
        if (!step_active(s, b, T)) continue;
        const float *z = s->gates + b * H4, *r = z + H;
        float *dh_b = s->dh + b * H;
        memcpy(s->gr + b * H3, s->gi + b * s->gi_stride, 2 * H * sizeof(float));
        for (size_t j = 0; j < H; j++) dh_b[j] *= z[j];
        if (!cfg->reset_after) {
            for (size_t j = 0; j < H; j++) dh_b[j] += s->dq[b * H + j] * r[j];
        }
    }
    recurrent_backprop(s->dh, s->gr, s->UT, rows, H, 0, cfg->reset_after ? 3 : 2, s->rm, s->tmp);
}

static void lstm_step_backward(const step_bwd *s, const gp_rnn_config *cfg) {
    const size_t H = cfg->units, H4 = 4 * H, H5 = 5 * H, T = cfg->steps, rows = s->rows;
    for (size_t b = 0; b < rows; b++) {
        if (!step_active(s, b, T)) {
            clear_gate_gradients(s, b, H4);
            continue;
        }
        const float *g = s->gates + b * H5, *cp = s->c_prev + b * H;
        const float *i = g, *f = g + H, *cand = g + 2 * H, *o = g + 3 * H, *act_c = g + 4 * H;
        float *gi = s->gi + b * s->gi_stride, *gr = s->gr + b * H4;
        float *dh_b = s->dh + b * H, *dc_b = s->dc + b * H;
        /* h = o * act(c): the carry's gradient gains dh * o * act'(c) */
        for (size_t j = 0; j < H; j++) gr[j] = dh_b[j] * o[j];
        gp_act_backward(cfg->activation, act_c, gr, H);
        for (size_t j = 0; j < H; j++) {
            const float dc_j = dc_b[j] + gr[j];
            gi[j] = dc_j * cand[j]; /* c = f c_prev + i g */
            gi[H + j] = dc_j * cp[j];
            gi[2 * H + j] = dc_j * i[j];
            gi[3 * H + j] = dh_b[j] * act_c[j];
            dc_b[j] = dc_j * f[j];
            dh_b[j] = 0.0f; /* h_prev reaches the loss only through the gates */
        }
        gp_act_backward(cfg->recurrent_activation, i, gi, 2 * H);
        gp_act_backward(cfg->activation, cand, gi + 2 * H, H);
        gp_act_backward(cfg->recurrent_activation, o, gi + 3 * H, H);
        memcpy(gr, gi, H4 * sizeof(float));
    }
    recurrent_backprop(s->dh, s->gr, s->UT, rows, H, 0, 4, s->rm, s->tmp);
}

static void simple_step_backward(const step_bwd *s, const gp_rnn_config *cfg) {
    const size_t H = cfg->units, T = cfg->steps, rows = s->rows;
    for (size_t b = 0; b < rows; b++) {
        if (!step_active(s, b, T)) {
            clear_gate_gradients(s, b, H);
            continue;
        }
        float *gi = s->gi + b * s->gi_stride, *dh_b = s->dh + b * H;
        memcpy(gi, dh_b, H * sizeof(float));
        gp_act_backward(cfg->activation, s->h_next + b * H, gi, H);
        memcpy(s->gr + b * H, gi, H * sizeof(float));
        memset(dh_b, 0, H * sizeof(float)); /* h_prev reaches the loss only through U */
    }
    recurrent_backprop(s->dh, s->gr, s->UT, rows, H, 0, 1, s->rm, s->tmp);
}

/* ---------------------------------------------------------------------------------- */
/* The backward time loop and the weight gradients                                     */
/* ---------------------------------------------------------------------------------- */

/* Where a job accumulates the weight gradients of its rows step by step (see
 * step_weight_gradients), or all NULL when they are one GEMM each after the time loop. */
typedef struct {
    float *d_kernel;           /* (I, G*H) */
    float *d_recurrent_kernel; /* (H, G*H) */
    float *d_bias;             /* (G*H), then the GRU's recurrent bias (3H); NULL without bias */
} weight_gradients;

/* One job of the backward: the whole reverse time loop for batch rows [b0, b1). */
typedef struct {
    const gp_rnn_config *cfg;
    const gp_rnn_inputs *in;
    const rnn_sizes *s;
    size_t b0, b1;
    float *d_in, *d_rec;      /* (B, T, G*H) and (T, B, G*H) gate gradients */
    float *dh, *dq, *tmp;     /* (S, B, H): dL/d(states); (B, H) and (B, H) scratch */
    int32_t *first_active;    /* (B): each row's first used processing step, or T */
    const kernel_operand *UT; /* the recurrent kernel, transposed */
    const kernel_operand *WT; /* the kernel, transposed, for d_x step by step; or NULL */
    size_t input_masks;       /* distinct input dropout masks: 0, 1 or G */
    float *xm;                /* (B, T, I) scratch under input dropout */
    const float *cache;
    const float *d_outputs, *d_last_state; /* (B, T, H), (S, B, H), or NULL */
    float *d_x;                            /* (B, T, I) written */
    weight_gradients acc; /* per-step weight gradients: where this job adds its own */
    int acc_is_scratch;   /* 1: acc is the job's own (zeroed first, summed in after) */
} rnn_backward_job;

/* Floats of the bias gradient: the input side's G*H, and the GRU's recurrent bias. */
static size_t bias_floats(const gp_rnn_config *cfg, size_t gh) {
    return cfg->reset_after ? 2 * gh : gh;
}

/* Adds step k's share of the weight gradients into the job's accumulators, while its gate
 * gradients are in cache: d_kernel += x_t^T gi and d_recurrent_kernel += h_prev^T gr, or
 * under dropout gate block by gate block, from the dropped-out inputs and states made
 * again here (in the job's rows of xm, and in the step's tmp, free by now); and the
 * biases' column sums. */
static void add_step_weight_gradients(const rnn_backward_job *job, const step_bwd *step, size_t k) {
    const gp_rnn_config *cfg = job->cfg;
    const rnn_sizes *s = job->s;
    const size_t T = cfg->steps, I = cfg->input_size, H = cfg->units, gh = s->gh;
    const size_t rows = step->rows, t = input_column(cfg, k), masks = job->input_masks;
    /* x_t's rows are T*I apart in x; dropped out, I apart in the scratch */
    const size_t b0 = job->b0, width = masks > 1 ? H : gh;
    const float *x_t = job->in->x + (b0 * T + t) * I;
    float *x_g = job->xm + b0 * T * I;
    for (size_t g = 0; g * width < gh; g++) {
        if (masks) {
            const float *m = job->in->input_dropout + (g * cfg->batch + b0) * I;
            for (size_t r = 0; r < rows; r++) {
                apply_row_mask(x_g + r * I, x_t + r * T * I, m + r * I, 1, 1, I);
            }
        }
        gp_gemm_at_b(job->acc.d_kernel + g * width, gh, masks ? x_g : x_t, masks ? I : T * I,
                     step->gi + g * width, step->gi_stride, I, width, rows);
    }
    if (!cfg->recurrent_dropout) {
        gp_gemm_at_b(job->acc.d_recurrent_kernel, gh, step->h_prev, H, step->gr, gh, H, gh, rows);
    }
    for (size_t g = 0; cfg->recurrent_dropout && g < s->G; g++) {
        apply_row_mask(step->tmp, step->h_prev, gate_mask(step->rm, g), rows, 1, H);
        gp_gemm_at_b(job->acc.d_recurrent_kernel + g * H, gh, step->tmp, H, step->gr + g * H, gh, H,
                     H, rows);
    }
    if (job->acc.d_bias) {
        gp_add_column_sums(job->acc.d_bias, step->gi, step->gi_stride, rows, gh);
        if (cfg->reset_after) gp_add_column_sums(job->acc.d_bias + gh, step->gr, gh, rows, gh);
    }
}

/* Adds the output gradient of step k into dh. A skipped step's output is the row's
 * previous output, which is the carried state once the row has used a step and a
 * constant (zeros) before that or with zero_output_for_mask. Each row's gradient is a
 * short run T*H floats from the next row's, beyond what the hardware prefetches, so the
 * rows of step k - 1 are asked for now, a step ahead. */
static void add_output_gradient(const rnn_backward_job *job, size_t rows, size_t k) {
    const gp_rnn_config *cfg = job->cfg;
    const size_t T = cfg->steps, H = cfg->units, t = input_column(cfg, k);
    for (size_t b = 0; b < rows; b++) {
        const size_t row = job->b0 + b;
        const float *d_out = job->d_outputs + (row * T + k) * H;
        if (k > 0) prefetch_floats(d_out - H, H);
        if (job->in->mask && !job->in->mask[row * T + t] &&
            (cfg->zero_output_for_mask || (size_t)job->first_active[row] >= k)) {
            continue;
        }
        float *dh_b = job->dh + row * H;
        for (size_t j = 0; j < H; j++) dh_b[j] += d_out[j];
    }
}

static void find_first_active(const rnn_backward_job *job, size_t rows) {
    const gp_rnn_config *cfg = job->cfg;
    const size_t T = cfg->steps;
    for (size_t b = 0; b < rows; b++) {
        const size_t row = job->b0 + b;
        size_t k = 0;
        while (k < T && !job->in->mask[row * T + input_column(cfg, k)]) k++;
        job->first_active[row] = (int32_t)k;
    }
}

/* Rows of d_x per tile when each gate's product is added in through scratch: small
 * enough that the tile of d_x and the scratch stay in cache between the gates. */
#define INPUT_GRADIENT_TILE_FLOATS 8192

/* d_x of a job's rows: d_in W^T, or with input dropout sum over distinct masks of
 * (d_in_g W_g^T) * m_g. */
static void input_gradient(const rnn_backward_job *job, size_t rows) {
    const gp_rnn_config *cfg = job->cfg;
    const size_t T = cfg->steps, I = cfg->input_size, gh = job->s->gh, masks = job->input_masks;
    const size_t n = rows * T, b0 = job->b0;
    const float *d_in = job->d_in + b0 * T * gh, *W = job->in->kernel;
    float *d_x = job->d_x + b0 * T * I;
    gp_sgemm_rows(GP_CBLAS_TRANS, n, I, masks > 1 ? cfg->units : gh, 1.0f, d_in, gh, W, gh, 0.0f,
                  d_x, I);
    if (!masks) return;
    /* d_x holds gate 0's product (all gates' with one mask): scale it by its mask, then
     * add the other gates' tile by tile through the scratch. */
    const float *drop = job->in->input_dropout + b0 * I;
    for (size_t r = 0; r < n; r++) {
        const float *m = drop + (r / T) * I;
        for (size_t j = 0; j < I; j++) d_x[r * I + j] *= m[j];
    }
    const size_t H = cfg->units, tile = INPUT_GRADIENT_TILE_FLOATS / I + 1;
    float *tmp = job->xm + b0 * T * I;
    for (size_t r0 = 0; masks > 1 && r0 < n; r0 += tile) {
        const size_t r1 = r0 + tile < n ? r0 + tile : n;
        for (size_t g = 1; g < masks; g++) {
            gp_sgemm_rows(GP_CBLAS_TRANS, r1 - r0, I, H, 1.0f, d_in + r0 * gh + g * H, gh,
                          W + g * H, gh, 0.0f, tmp, I);
            const float *m_g = drop + g * cfg->batch * I;
            for (size_t r = r0; r < r1; r++) {
                const float *m = m_g + (r / T) * I, *p = tmp + (r - r0) * I;
                for (size_t j = 0; j < I; j++) d_x[r * I + j] += p[j] * m[j];
            }
        }
    }
}

static void rnn_backward_rows(void *arg) {
    const rnn_backward_job *job = arg;
    const gp_rnn_config *cfg = job->cfg;
    const rnn_sizes *s = job->s;
    const size_t B = cfg->batch, T = cfg->steps, I = cfg->input_size, H = cfg->units;
    const size_t gh = s->gh, W = s->W, b0 = job->b0, rows = job->b1 - job->b0;
    if (!rows) return;
    const int lstm = cfg->cell == GP_CELL_LSTM;
    const float *h_states = job->cache, *c_states = lstm ? job->cache + s->states : NULL;
    const float *gates = job->cache + s->S * s->states;
    const float *d_last = job->d_last_state;
    fill_rows(job->dh + b0 * H, d_last ? d_last + b0 * H : NULL, 1, rows * H);
    if (lstm)
        fill_rows(job->dh + s->bh + b0 * H, d_last ? d_last + s->bh + b0 * H : NULL, 1, rows * H);
    if (job->in->mask && job->d_outputs) find_first_active(job, rows);

    /* Accumulated step by step, the gate gradients need no keeping beyond their step:
     * unless the input gradient is one GEMM after the loop, the job's rows of the first
     * step's slots serve every step. */
    const int per_step = job->acc.d_kernel != NULL;
    const int keep_gi = !per_step || (job->d_x && !job->WT);
    if (job->acc_is_scratch) {
        memset(job->acc.d_kernel, 0, I * gh * sizeof(float));
        memset(job->acc.d_recurrent_kernel, 0, H * gh * sizeof(float));
        if (job->acc.d_bias) memset(job->acc.d_bias, 0, bias_floats(cfg, gh) * sizeof(float));
    }
    step_bwd step = {
        .rows = rows,
        .dh = job->dh + b0 * H,
        .dc = lstm ? job->dh + s->bh + b0 * H : NULL,
        .dq = job->dq + b0 * H,
        .tmp = job->tmp + b0 * H,
        .gi_stride = keep_gi ? T * gh : gh,
        .UT = job->UT,
        .rm = {cfg->recurrent_dropout ? job->in->recurrent_dropout + b0 * H : NULL, s->bh},
    };
    for (size_t k = T; k-- > 0;) {
        const size_t t = input_column(cfg, k);
        if (job->d_outputs) add_output_gradient(job, rows, k);
        step.h_prev = h_states + (k * B + b0) * H;
        step.h_next = h_states + ((k + 1) * B + b0) * H;
        step.c_prev = lstm ? c_states + (k * B + b0) * H : NULL;
        step.gates = gates + (k * B + b0) * W;
        step.gi = job->d_in + (keep_gi ? b0 * T + t : b0) * gh;
        step.gr = job->d_rec + ((per_step ? 0 : k * B) + b0) * gh;
        step.active = job->in->mask ? job->in->mask + b0 * T + t : NULL;
        switch (cfg->cell) {
        case GP_CELL_GRU:
            gru_step_backward(&step, cfg);
            break;
        case GP_CELL_LSTM:
            lstm_step_backward(&step, cfg);
            break;
        default:
            simple_step_backward(&step, cfg);
            break;
        }
        if (per_step) add_step_weight_gradients(job, &step, k);
        if (job->WT) {
            operand_gemm(job->d_x + (b0 * T + t) * I, T * I, step.gi, step.gi_stride, job->WT, rows,
                         0, gh, 0, I, 0);
        }
    }
    if (job->d_x && !job->WT) input_gradient(job, rows);
}

/* d_kernel += x^T d_in, or with input dropout (x * m_g)^T d_in_g per distinct mask, the
 * dropped-out inputs (B, T, I) made in `dropped` gate by gate. */
static void kernel_gradient(float *d_kernel, const float *x, const float *masks_in, float *dropped,
                            const float *d_in, size_t masks, const rnn_sizes *s,
                            const gp_rnn_config *cfg) {
    const size_t I = cfg->input_size, gh = s->gh;
    const size_t width = masks > 1 ? cfg->units : gh; /* gate columns per GEMM */
    for (size_t g = 0; g * width < gh; g++) {
        if (masks) {
            apply_row_mask(dropped, x, masks_in + g * cfg->batch * I, s->rows, cfg->steps, I);
        }
        gp_parallel_sgemm(GP_CBLAS_TRANS, GP_CBLAS_NO_TRANS, I, width, s->rows, 1.0f,
                          masks ? dropped : x, I, d_in + g * width, gh, 1.0f, d_kernel + g * width,
                          gh);
    }
}

/* d_recurrent_kernel += h_prev^T d_rec over gate blocks [0, g1): one GEMM, or under
 * recurrent dropout one per gate, from the dropped-out states h_prev * rm_g made in
 * `dropped` (T, B, H). The states (T, B, H) are h_prev of every step. */
static void recurrent_kernel_gradient(float *d_rk, const float *states, const float *masks,
                                      float *dropped, const float *d_rec, size_t g1,
                                      const rnn_sizes *s, const gp_rnn_config *cfg) {
    const size_t H = cfg->units, gh = s->gh;
    if (!cfg->recurrent_dropout) {
        gp_parallel_sgemm(GP_CBLAS_TRANS, GP_CBLAS_NO_TRANS, H, g1 * H, s->rows, 1.0f, states, H,
                          d_rec, gh, 1.0f, d_rk, gh);
        return;
    }
    for (size_t g = 0; g < g1; g++) {
        for (size_t k = 0; k < cfg->steps; k++) {
            apply_row_mask(dropped + k * s->bh, states + k * s->bh, masks + g * s->bh, cfg->batch,
                           1, H);
        }
        gp_parallel_sgemm(GP_CBLAS_TRANS, GP_CBLAS_NO_TRANS, H, H, s->rows, 1.0f, dropped, H,
                          d_rec + g * H, gh, 1.0f, d_rk + g * H, gh);
    }
}

/*
 * Whether the jobs accumulate the weight gradients step by step (add_step_weight_gradients)
 * rather than run one GEMM each over all B*T rows after the time loop. Those GEMMs read
 * every gate gradient back from memory: at S4's B=256, T=200, H=64 that is tens of
 * megabytes for little arithmetic, where the step's gradients are still in cache. Step by
 * step suits small kernels (accumulators that stay in L2) and enough rows per job to fill
 * the micro-kernel. The micro-kernel reads whole panels of gate gradients: the gate
 * blocks side by side, or one at a time under dropout. The GRU's reset_before candidate
 * keeps the GEMMs after the loop. Job 0 adds into the gradients themselves; the others'
 * accumulators use d_rec's slots past the first step's, unused in this mode.
 */
#define STEP_GRADIENT_MAX_FLOATS ((size_t)1 << 17) /* 512 KiB of accumulators */
#define STEP_GRADIENT_MIN_ROWS 8

/* Floats of d_in and of d_rec past the first step's gate gradients (B*G*H), which are all
 * the step-by-step mode uses of them: room for the other jobs' accumulators in d_rec, and
 * for the packed W^T of a step-by-step d_x in d_in. */
static size_t past_first_step(const rnn_sizes *s) {
    return s->proj - s->bh * s->G;
}

static int step_weight_gradients(const gp_rnn_config *cfg, const rnn_sizes *s, size_t jobs) {
    const size_t acc = (cfg->input_size + cfg->units + 2) * s->gh;
    const size_t block = cfg->input_dropout || cfg->recurrent_dropout ? cfg->units : s->gh;
    return (cfg->cell != GP_CELL_GRU || cfg->reset_after) && block % GP_PANEL == 0 &&
           acc <= STEP_GRADIENT_MAX_FLOATS && cfg->batch / jobs >= STEP_GRADIENT_MIN_ROWS &&
           (jobs - 1) * acc <= past_first_step(s);
}

/* Job i's accumulators: the gradients themselves for job 0, else its slot of `scratch`. */
static void set_accumulators(rnn_backward_job *job, size_t i, const gp_rnn_gradients *grads,
                             float *scratch) {
    const gp_rnn_config *cfg = job->cfg;
    const size_t gh = job->s->gh, I = cfg->input_size, H = cfg->units;
    if (i == 0) {
        job->acc = (weight_gradients){grads->d_kernel, grads->d_recurrent_kernel,
                                      cfg->use_bias ? grads->d_bias : NULL};
        return;
    }
    float *mine = scratch + (i - 1) * (I + H + 2) * gh;
    job->acc = (weight_gradients){mine, mine + I * gh, cfg->use_bias ? mine + (I + H) * gh : NULL};
    job->acc_is_scratch = 1;
}

static void add_accumulators(const gp_rnn_gradients *grads, const weight_gradients *acc,
                             const gp_rnn_config *cfg, size_t gh) {
    const size_t nk = cfg->input_size * gh, nr = cfg->units * gh;
    for (size_t j = 0; j < nk; j++) grads->d_kernel[j] += acc->d_kernel[j];
    for (size_t j = 0; j < nr; j++) grads->d_recurrent_kernel[j] += acc->d_recurrent_kernel[j];
    if (acc->d_bias) {
        for (size_t j = 0; j < bias_floats(cfg, gh); j++) grads->d_bias[j] += acc->d_bias[j];
    }
}

gp_status gp_rnn_backward(const gp_rnn_gradients *grads, float *workspace, const float *cache,
                          const gp_rnn_inputs *in, const float *d_outputs,
                          const float *d_last_state, const gp_rnn_config *cfg) {
    gp_status status = gp_rnn_check_config(cfg);
    if (status != GP_OK) return status;
    if (!grads || !grads->d_kernel || !grads->d_recurrent_kernel ||
        (cfg->use_bias && !grads->d_bias) || !workspace || !cache || !in || !in->x || !in->kernel ||
        !in->recurrent_kernel || (cfg->input_dropout && !in->input_dropout) ||
        (cfg->recurrent_dropout && !in->recurrent_dropout)) {
        return GP_ERR_NULL_POINTER;
    }
    rnn_sizes s;
    rnn_compute_sizes(cfg, &s);
    const size_t B = cfg->batch, H = cfg->units, gh = s.gh;
    const float *states = cache, *gates = cache + s.S * s.states;

    /* Gate pre-activation gradients, kept twice: d_in (B, T, G*H) in x's row order for the
     * kernel and input GEMMs, d_rec (T, B, G*H) in the states' row order for the
     * recurrent-kernel GEMM. Only the GRU's candidate block differs between them.
     * Workspace: d_in | d_rec | dh (S, B, H) | dq | tmp | first_active | xm | packed U^T,
     * then under recurrent dropout the (T, B, H) dropped-out states of one gate for the
     * weight gradient's GEMMs. */
    float *d_in = workspace, *d_rec = d_in + s.proj, *dh = d_rec + s.proj;
    float *dq = dh + 2 * s.bh, *tmp = dq + s.bh, *first = tmp + s.bh, *xm = first + B;
    float *packed_ut = xm + (cfg->input_dropout ? s.x_size : 0);
    float *dropped_states = packed_ut + s.packed_ut;
    const kernel_operand UT = operand_for(in->recurrent_kernel, H, gh, 1, packed_ut, B);
    const size_t input_masks = input_mask_count(in, cfg, &s);
    rnn_backward_job jobs[GP_MAX_JOBS];
    const size_t count = gp_parallel_jobs(B, s.rows * H);
    const int per_step = step_weight_gradients(cfg, &s, count);
    /* With the weight gradients, d_x too is taken step by step, d_gates W^T while the
     * step's gate gradients are in cache, unless input dropout needs a product per mask:
     * one GEMM after the loop would read every step's gate gradients back from memory.
     * Then d_in keeps only the first step's gate gradients, and W^T is packed past them
     * (unless it does not fit there, with one or few steps). */
    const int per_step_dx =
        per_step && grads->d_x && !input_masks && s.packed_wt <= past_first_step(&s);
    const kernel_operand WT =
        per_step_dx ? operand_for(in->kernel, cfg->input_size, gh, 1, d_in + B * gh, B)
                    : (kernel_operand){0};
    for (size_t i = 0; i < count; i++) {
        jobs[i] = (rnn_backward_job){
            .cfg = cfg,
            .in = in,
            .s = &s,
            .b0 = B * i / count,
            .b1 = B * (i + 1) / count,
            .d_in = d_in,
            .d_rec = d_rec,
            .dh = dh,
            .dq = dq,
            .tmp = tmp,
            .first_active = (int32_t *)first,
            .UT = &UT,
            .WT = per_step_dx ? &WT : NULL,
            .input_masks = input_masks,
            .xm = xm,
            .cache = cache,
            .d_outputs = d_outputs,
            .d_last_state = d_last_state,
            .d_x = grads->d_x,
        };
        if (per_step) set_accumulators(&jobs[i], i, grads, d_rec + B * gh);
    }
    gp_parallel_run(rnn_backward_rows, jobs, sizeof jobs[0], count);
    if (grads->d_initial_state) memcpy(grads->d_initial_state, dh, s.S * s.bh * sizeof(float));
    if (per_step) {
        for (size_t i = 1; i < count; i++) add_accumulators(grads, &jobs[i].acc, cfg, gh);
        return GP_OK;
    }

    /* Weight gradients: one GEMM each over all B*T rows, split by output columns. */
    kernel_gradient(grads->d_kernel, in->x, in->input_dropout, xm, d_in, input_masks, &s, cfg);
    const int candidate_apart = cfg->cell == GP_CELL_GRU && !cfg->reset_after;
    recurrent_kernel_gradient(grads->d_recurrent_kernel, states, in->recurrent_dropout,
                              dropped_states, d_rec, candidate_apart ? 2 : s.G, &s, cfg);
    if (candidate_apart) {
        /* the candidate's product was taken with q = r * h_prev * rm_h, kept in the cache */
        gp_parallel_sgemm(GP_CBLAS_TRANS, GP_CBLAS_NO_TRANS, H, H, s.rows, 1.0f, gates + 3 * H, s.W,
                          d_rec + 2 * H, gh, 1.0f, grads->d_recurrent_kernel + 2 * H, gh);
    }
    if (cfg->use_bias) {
        gp_add_column_sums(grads->d_bias, d_in, gh, s.rows, gh);
        if (cfg->reset_after) gp_add_column_sums(grads->d_bias + gh, d_rec, gh, s.rows, gh);
    }
    return GP_OK;
}
