/*
 * test_core.c: unit tests of the C core (the recurrent layers GRU, LSTM and SimpleRNN, Dense,
 * status codes, BLAS info), built with AddressSanitizer + UBSan + LeakSanitizer; every buffer
 * is malloc'd at exactly the size the API reports. The recurrent layers are compared with a
 * double-precision scalar reference written here from the formulas in gru_py.h. Not tested
 * here: agreement with other frameworks (Python tests), concurrent calls, speed, overruns
 * inside the uninstrumented OpenBLAS.
 * Dimension letters: B batch, T timesteps, I input features, H units, G gate blocks, S state
 * tensors (Dense: N rows, O units).
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gru_fused.h" /* internal: the fused GRU rows */
#include "gru_py.h"
#include "packed_gemm.h" /* internal: the per-step product kernels */

/* ---------------------------------------------------------------------------------- */
/* Harness: CHECK records a failure with file:line and a message, then carries on.     */
/* ---------------------------------------------------------------------------------- */

static long g_passed, g_failed;
enum { MAX_REPORTED = 200 };

__attribute__((format(printf, 4, 5))) static void check_at(int ok, const char *file, int line,
                                                           const char *fmt, ...) {
    if (ok) {
        g_passed++;
        return;
    }
    g_failed++;
    if (g_failed > MAX_REPORTED) return;
    va_list ap;
    va_start(ap, fmt);
    printf("%s:%d: FAILED: ", file, line);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    if (g_failed == MAX_REPORTED) printf("(further failures are counted, not printed)\n");
}

#define CHECK(cond, ...) check_at((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

/* ---------------------------------------------------------------------------------- */
/* Buffers and data                                                                    */
/* ---------------------------------------------------------------------------------- */

/* Exactly n floats, so that ASan flags the first float past the end. */
static float *falloc(size_t n) {
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "test_core: out of memory (%zu floats)\n", n);
        exit(2);
    }
    return p;
}

static float *falloc_fill(size_t n, float v) {
    float *p = falloc(n);
    for (size_t i = 0; i < n; i++) p[i] = v;
    return p;
}

static float *fdup(const float *src, size_t n) {
    float *p = falloc(n);
    memcpy(p, src, n * sizeof *p);
    return p;
}

static void ffill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

/* Small LCG: deterministic data in [-scale, scale). */
static uint32_t g_lcg = 1;

static float lcg_uniform(float scale) {
    g_lcg = g_lcg * 1664525u + 1013904223u;
    return scale * ((float)(g_lcg >> 8) / 8388608.0f - 1.0f);
}

static void frand(float *p, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) p[i] = lcg_uniform(scale);
}

/* Entries where a and b differ (== comparison, so a NaN counts as a difference). */
static size_t count_unequal(const float *a, const float *b, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += !(a[i] == b[i]);
    return bad;
}

/* Entries where |a - b| > tol (NaN counts). */
static size_t count_far(const float *a, const float *b, size_t n, double tol) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += !(fabs((double)a[i] - (double)b[i]) <= tol);
    return bad;
}

static size_t count_nonzero(const float *a, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += !(a[i] == 0.0f);
    return bad;
}

/* Entries where got is not 2 * once. Parameter gradients accumulate, so a second backward
 * on the same data doubles them; only up to rounding, though: the core adds bias-gradient
 * rows one at a time into the accumulator, (g + m0) + m1 + ... which is not bitwise 2g.
 * Build with -DTEST_EXACT_ACCUMULATE to demand bitwise equality instead. */
static size_t count_not_doubled(const float *got, const float *once, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const double want = 2.0 * (double)once[i];
#ifdef TEST_EXACT_ACCUMULATE
        bad += !((double)got[i] == want);
#else
        bad += !(fabs((double)got[i] - want) <= 4e-6 * (1.0 + fabs(want)));
#endif
    }
    return bad;
}

static double dot(const float *a, const float *w, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)w[i];
    return s;
}

static const char *act_name(gp_activation a) {
    switch (a) {
    case GP_ACT_LINEAR:
        return "linear";
    case GP_ACT_SIGMOID:
        return "sigmoid";
    case GP_ACT_TANH:
        return "tanh";
    case GP_ACT_HARD_SIGMOID:
        return "hard_sigmoid";
    case GP_ACT_RELU:
        return "relu";
    case GP_ACT_SOFTMAX:
        return "softmax";
    default:
        return "?";
    }
}

static const gp_activation ELEMENTWISE[5] = {GP_ACT_LINEAR, GP_ACT_SIGMOID, GP_ACT_TANH,
                                             GP_ACT_HARD_SIGMOID, GP_ACT_RELU};

static double *dalloc(size_t n) {
    double *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "test_core: out of memory (%zu doubles)\n", n);
        exit(2);
    }
    return p;
}

/* A double copy of n floats; NULL stays NULL. */
static double *ddup(const float *src, size_t n) {
    if (!src) return NULL;
    double *p = dalloc(n);
    for (size_t i = 0; i < n; i++) p[i] = src[i];
    return p;
}

static double ddot(const double *a, const float *w, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * (double)w[i];
    return s;
}

/* |got - want| relative to 1 + |want|; infinite when got is NaN. */
static double rel_err(double got, double want) {
    const double e = fabs(got - want) / (1.0 + fabs(want));
    return e == e ? e : INFINITY;
}

/* ---------------------------------------------------------------------------------- */
/* Recurrent fixture: inputs, weights and every output/scratch buffer of one config    */
/* ---------------------------------------------------------------------------------- */

static const char *cell_name(gp_cell cell) {
    switch (cell) {
    case GP_CELL_GRU:
        return "gru";
    case GP_CELL_LSTM:
        return "lstm";
    case GP_CELL_SIMPLE_RNN:
        return "simple_rnn";
    default:
        return "?";
    }
}

/* Cached gate floats per row and step, as gru_py.h documents the cache: GRU [z | r | hh | q],
 * LSTM [i | f | g | o | act(c)], SimpleRNN none. */
static size_t cached_width(const gp_rnn_config *c) {
    return c->cell == GP_CELL_GRU ? 4 * c->units : (c->cell == GP_CELL_LSTM ? 5 * c->units : 0);
}

/* How a fixture masks its steps. MASK_PADDED gives row b the pattern b % 5 of mask_entry, so
 * a batch of 5 rows or more holds every kind of row. */
typedef enum { MASK_NONE = 0, MASK_ALL_USED, MASK_PADDED } mask_kind;

static const char *const MASK_NAMES[3] = {"none", "all-used", "padded"};

static unsigned char mask_entry(size_t b, size_t t, size_t T) {
    switch (b % 5) {
    case 0: /* left-padded */
        return t >= T / 2;
    case 1: /* right-padded */
        return t < T - T / 2;
    case 2: /* holes, the first step among them: 0 1 1 0 1 */
        return (0x16u >> (t % 5)) & 1u;
    case 3: /* fully masked */
        return 0;
    default:
        return 1;
    }
}

/* Dropout multipliers as Keras draws them for rate 0.2: 0 (a quarter of them here, so that
 * every row loses some inputs) or 1 / (1 - 0.2). */
static void drop_fill(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = lcg_uniform(1.0f) < -0.5f ? 0.0f : 1.25f;
}

typedef struct {
    gp_rnn_config cfg;
    char name[200];
    size_t G, S;
    /* B*T*I, B*H, S*B*H, B*T*H, I*G*H, H*G*H, bias floats, G*B*I, G*B*H */
    size_t n_x, n_h, n_s, n_out, n_k, n_r, n_b, n_idrop, n_rdrop;
    size_t n_cache, n_fws_train, n_fws_infer, n_bws;
    float *x, *h0, *kernel, *rec, *bias; /* h0 always allocated; bias NULL if !use_bias */
    unsigned char *mask;                 /* (B, T); NULL for MASK_NONE */
    float *idrop, *rdrop;                /* NULL unless the config's dropout flag is set */
    float *d_out, *d_last;
    float *out, *last, *cache, *fws_train, *fws_infer, *bws;
    float *d_x, *d_h0, *d_k, *d_r, *d_b; /* d_b NULL if !use_bias */
} rnn_fix;

/* Shape (B, T, I, H) of the next configs; the default is the tiny gradient-check shape. */
static const size_t DEFAULT_SHAPE[4] = {2, 3, 3, 4};
static size_t g_shape[4] = {2, 3, 3, 4};

/* Back to the default shape, for the tests after a test that set its own. */
static void restore_default_shape(void) {
    memcpy(g_shape, DEFAULT_SHAPE, sizeof g_shape);
}

static gp_rnn_config rnn_cfg(gp_cell cell, gp_activation act, gp_activation rec_act,
                             int reset_after, int use_bias, int go_backwards) {
    const gp_rnn_config c = {.cell = cell,
                             .batch = g_shape[0],
                             .steps = g_shape[1],
                             .input_size = g_shape[2],
                             .units = g_shape[3],
                             .activation = act,
                             .recurrent_activation = rec_act,
                             .reset_after = reset_after,
                             .use_bias = use_bias,
                             .go_backwards = go_backwards};
    return c;
}

/* Most tests run over four cell variants: GRU with reset_after 0 and 1, LSTM, SimpleRNN. */
enum { VARIANTS = 4 };

static gp_rnn_config variant_cfg(int v, gp_activation act, gp_activation rec_act, int use_bias,
                                 int go_backwards) {
    static const gp_cell cells[VARIANTS] = {GP_CELL_GRU, GP_CELL_GRU, GP_CELL_LSTM,
                                            GP_CELL_SIMPLE_RNN};
    return rnn_cfg(cells[v], act, rec_act, v == 1, use_bias, go_backwards);
}

static void rnn_fix_init(rnn_fix *f, const gp_rnn_config *cfg, mask_kind mask, uint32_t seed,
                         float weight_scale) {
    memset(f, 0, sizeof *f);
    f->cfg = *cfg;
    const gp_rnn_config *c = &f->cfg;
    snprintf(f->name, sizeof f->name,
             "%s(B=%zu T=%zu I=%zu H=%zu act=%s rec=%s reset_after=%d bias=%d back=%d "
             "zero_out=%d in_drop=%d rec_drop=%d mask=%s)",
             cell_name(c->cell), c->batch, c->steps, c->input_size, c->units,
             act_name(c->activation), act_name(c->recurrent_activation), c->reset_after,
             c->use_bias, c->go_backwards, c->zero_output_for_mask, c->input_dropout,
             c->recurrent_dropout, MASK_NAMES[mask]);
    const size_t B = c->batch, T = c->steps, I = c->input_size, H = c->units;
    f->G = gp_rnn_gate_count(c->cell);
    f->S = gp_rnn_state_count(c->cell);
    const size_t GH = f->G * H;
    f->n_x = B * T * I;
    f->n_h = B * H;
    f->n_s = f->S * B * H;
    f->n_out = B * T * H;
    f->n_k = I * GH;
    f->n_r = H * GH;
    f->n_b = (c->reset_after ? 2 : 1) * GH;
    f->n_idrop = f->G * B * I;
    f->n_rdrop = f->G * B * H;
    f->n_cache = gp_rnn_cache_size(c);
    f->n_fws_train = gp_rnn_forward_workspace_size(c, 1);
    f->n_fws_infer = gp_rnn_forward_workspace_size(c, 0);
    f->n_bws = gp_rnn_backward_workspace_size(c);
    /* dropout keeps nothing more: backward makes the dropped-out inputs and states again */
    const size_t want_cache = f->S * (T + 1) * B * H + T * B * cached_width(c);
    CHECK(f->n_cache == want_cache, "%s: cache_size %zu, want %zu", f->name, f->n_cache,
          want_cache);
    CHECK(f->n_fws_train > 0 && f->n_fws_infer > 0 && f->n_bws > 0,
          "%s: workspace sizes %zu %zu %zu", f->name, f->n_fws_train, f->n_fws_infer, f->n_bws);
    if (!f->n_cache || !f->n_fws_train || !f->n_fws_infer || !f->n_bws) {
        fprintf(stderr, "test_core: cannot size %s\n", f->name);
        exit(2);
    }

    g_lcg = seed;
    f->x = falloc(f->n_x);
    f->h0 = falloc(f->n_s);
    f->kernel = falloc(f->n_k);
    f->rec = falloc(f->n_r);
    f->bias = c->use_bias ? falloc(f->n_b) : NULL;
    f->d_out = falloc(f->n_out);
    f->d_last = falloc(f->n_s);
    frand(f->x, f->n_x, 1.0f);
    frand(f->h0, f->n_s, 0.5f);
    frand(f->kernel, f->n_k, weight_scale);
    frand(f->rec, f->n_r, weight_scale);
    if (f->bias) frand(f->bias, f->n_b, weight_scale);
    frand(f->d_out, f->n_out, 1.0f);
    frand(f->d_last, f->n_s, 1.0f);
    if (mask != MASK_NONE) {
        f->mask = malloc(B * T);
        if (!f->mask) {
            fprintf(stderr, "test_core: out of memory (mask of %s)\n", f->name);
            exit(2);
        }
        for (size_t b = 0; b < B; b++) {
            for (size_t t = 0; t < T; t++) {
                f->mask[b * T + t] = mask == MASK_PADDED ? mask_entry(b, t, T) : 1;
            }
        }
    }
    if (c->input_dropout) {
        f->idrop = falloc(f->n_idrop);
        drop_fill(f->idrop, f->n_idrop);
    }
    if (c->recurrent_dropout) {
        f->rdrop = falloc(f->n_rdrop);
        drop_fill(f->rdrop, f->n_rdrop);
    }

    /* Outputs and scratch start as NaN: the core must never read them before writing. */
    f->out = falloc_fill(f->n_out, NAN);
    f->last = falloc_fill(f->n_s, NAN);
    f->cache = falloc_fill(f->n_cache, NAN);
    f->fws_train = falloc_fill(f->n_fws_train, NAN);
    f->fws_infer = falloc_fill(f->n_fws_infer, NAN);
    f->bws = falloc_fill(f->n_bws, NAN);
    f->d_x = falloc_fill(f->n_x, NAN);
    f->d_h0 = falloc_fill(f->n_s, NAN);
    f->d_k = falloc_fill(f->n_k, 0.0f);
    f->d_r = falloc_fill(f->n_r, 0.0f);
    f->d_b = c->use_bias ? falloc_fill(f->n_b, 0.0f) : NULL;
}

static void rnn_fix_free(rnn_fix *f) {
    float *all[] = {f->x,     f->h0,     f->kernel, f->rec,  f->bias,  f->idrop,     f->rdrop,
                    f->d_out, f->d_last, f->out,    f->last, f->cache, f->fws_train, f->fws_infer,
                    f->bws,   f->d_x,    f->d_h0,   f->d_k,  f->d_r,   f->d_b};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    free(f->mask);
    memset(f, 0, sizeof *f);
}

static gp_rnn_inputs rnn_inputs(const rnn_fix *f, const float *h0) {
    const gp_rnn_inputs in = {.x = f->x,
                              .initial_state = h0,
                              .kernel = f->kernel,
                              .recurrent_kernel = f->rec,
                              .bias = f->bias,
                              .mask = f->mask,
                              .input_dropout = f->idrop,
                              .recurrent_dropout = f->rdrop};
    return in;
}

/* Training forward (cache non-NULL) or inference forward (cache NULL). */
static gp_status rnn_fwd(rnn_fix *f, float *out, float *last, float *cache, const float *h0) {
    const gp_rnn_inputs in = rnn_inputs(f, h0);
    return gp_rnn_forward(out, last, cache, cache ? f->fws_train : f->fws_infer, &in, &f->cfg);
}

/* Backward from f->cache into d_x, d_h0 and the fixture's parameter gradients. */
static gp_status rnn_bwd(rnn_fix *f, float *d_x, float *d_h0, const float *d_out,
                         const float *d_last) {
    const gp_rnn_gradients g = {d_x, d_h0, f->d_k, f->d_r, f->d_b};
    const gp_rnn_inputs in = rnn_inputs(f, f->h0);
    return gp_rnn_backward(&g, f->bws, f->cache, &in, d_out, d_last, &f->cfg);
}

static void rnn_zero_param_grads(rnn_fix *f) {
    ffill(f->d_k, f->n_k, 0.0f);
    ffill(f->d_r, f->n_r, 0.0f);
    if (f->d_b) ffill(f->d_b, f->n_b, 0.0f);
}

/* ---------------------------------------------------------------------------------- */
/* Double-precision reference recurrence                                               */
/* ---------------------------------------------------------------------------------- */

/* Written from the formulas and the mask and dropout rules in gru_py.h, independently of
 * rnn.c: one row, one step and one unit at a time, in double. Its central differences
 * (step 1e-6) are exact to about 1e-9, so they judge the core's float32 gradients tightly. */
typedef struct {
    const gp_rnn_config *cfg;
    double *x, *h0, *kernel, *rec, *bias; /* h0 (S, B, H); bias NULL without use_bias */
    const unsigned char *mask;            /* NULL: every step used */
    const float *idrop, *rdrop;           /* NULL: no dropout */
} ref_model;

/* The reference for fixture f; f->h0 must hold zeros when the core gets no initial state. */
static void ref_model_init(ref_model *m, const rnn_fix *f) {
    m->cfg = &f->cfg;
    m->x = ddup(f->x, f->n_x);
    m->h0 = ddup(f->h0, f->n_s);
    m->kernel = ddup(f->kernel, f->n_k);
    m->rec = ddup(f->rec, f->n_r);
    m->bias = ddup(f->bias, f->n_b);
    m->mask = f->mask;
    m->idrop = f->idrop;
    m->rdrop = f->rdrop;
}

static void ref_model_free(ref_model *m) {
    free(m->x);
    free(m->h0);
    free(m->kernel);
    free(m->rec);
    free(m->bias);
}

static double ref_act(gp_activation a, double v) {
    switch (a) {
    case GP_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-v));
    case GP_ACT_TANH:
        return tanh(v);
    case GP_ACT_HARD_SIGMOID:
        return v <= -3.0 ? 0.0 : (v >= 3.0 ? 1.0 : v / 6.0 + 0.5);
    case GP_ACT_RELU:
        return v > 0.0 ? v : 0.0;
    default:
        return v;
    }
}

/* Dropout multiplier of gate g for input feature i (or state unit i) of row b. */
static double ref_in_mult(const ref_model *m, size_t g, size_t b, size_t i) {
    return m->idrop ? m->idrop[(g * m->cfg->batch + b) * m->cfg->input_size + i] : 1.0;
}

static double ref_rec_mult(const ref_model *m, size_t g, size_t b, size_t i) {
    return m->rdrop ? m->rdrop[(g * m->cfg->batch + b) * m->cfg->units + i] : 1.0;
}

/* Stores row b's states (and gates, for k >= 1) after step k - 1 into a cache laid out as
 * gru_py.h documents it. */
static void ref_store(double *cache, const gp_rnn_config *c, size_t k, size_t b, const double *h,
                      const double *cs, const double *gate) {
    const size_t B = c->batch, H = c->units, W = cached_width(c);
    const size_t S = gp_rnn_state_count(c->cell), n_states = (c->steps + 1) * B * H;
    for (size_t j = 0; j < H; j++) {
        cache[(k * B + b) * H + j] = h[j];
        if (S == 2) cache[n_states + (k * B + b) * H + j] = cs[j];
    }
    if (k == 0) return;
    for (size_t j = 0; j < W; j++) cache[S * n_states + ((k - 1) * B + b) * W + j] = gate[j];
}

/* out (B, T, H), last (S, B, H), and the training cache when cache is non-NULL. */
static void ref_forward(const ref_model *m, double *out, double *last, double *cache) {
    const gp_rnn_config *c = m->cfg;
    const size_t B = c->batch, T = c->steps, I = c->input_size, H = c->units;
    const size_t GH = gp_rnn_gate_count(c->cell) * H;
    const gp_activation act = c->activation, ract = c->recurrent_activation;
    double *h = dalloc(H), *cs = dalloc(H), *prev = dalloc(H), *hn = dalloc(H), *cn = dalloc(H);
    double *px = dalloc(GH), *ph = dalloc(GH), *gate = dalloc(5 * H);
    for (size_t b = 0; b < B; b++) {
        for (size_t j = 0; j < H; j++) {
            h[j] = m->h0[b * H + j];
            cs[j] = c->cell == GP_CELL_LSTM ? m->h0[(B + b) * H + j] : 0.0;
            prev[j] = 0.0;
        }
        if (cache) ref_store(cache, c, 0, b, h, cs, gate);
        for (size_t k = 0; k < T; k++) {
            const size_t t = c->go_backwards ? T - 1 - k : k;
            const double *xt = m->x + (b * T + t) * I;
            /* px = (x * m_g) W_g + b_g; ph = (h * rm_g) U_g (+ rb_g with reset_after) */
            for (size_t col = 0; col < GH; col++) {
                const size_t g = col / H;
                double sx = m->bias ? m->bias[col] : 0.0;
                double sh = m->bias && c->reset_after ? m->bias[GH + col] : 0.0;
                for (size_t i = 0; i < I; i++) {
                    sx += xt[i] * ref_in_mult(m, g, b, i) * m->kernel[i * GH + col];
                }
                for (size_t l = 0; l < H; l++) {
                    sh += h[l] * ref_rec_mult(m, g, b, l) * m->rec[l * GH + col];
                }
                px[col] = sx;
                ph[col] = sh;
            }
            if (c->cell == GP_CELL_GRU) {
                double *z = gate, *r = gate + H, *hh = gate + 2 * H, *q = gate + 3 * H;
                for (size_t j = 0; j < H; j++) {
                    z[j] = ref_act(ract, px[j] + ph[j]);
                    r[j] = ref_act(ract, px[H + j] + ph[H + j]);
                }
                for (size_t j = 0; j < H; j++) {
                    q[j] = c->reset_after ? ph[2 * H + j] : r[j] * h[j] * ref_rec_mult(m, 2, b, j);
                }
                for (size_t j = 0; j < H; j++) {
                    double pre = px[2 * H + j];
                    if (c->reset_after) {
                        pre += r[j] * q[j];
                    } else {
                        for (size_t l = 0; l < H; l++) pre += q[l] * m->rec[l * GH + 2 * H + j];
                    }
                    hh[j] = ref_act(act, pre);
                    hn[j] = z[j] * h[j] + (1.0 - z[j]) * hh[j];
                }
            } else if (c->cell == GP_CELL_LSTM) {
                for (size_t j = 0; j < H; j++) {
                    const double i_ = ref_act(ract, px[j] + ph[j]);
                    const double f_ = ref_act(ract, px[H + j] + ph[H + j]);
                    const double g_ = ref_act(act, px[2 * H + j] + ph[2 * H + j]);
                    const double o_ = ref_act(ract, px[3 * H + j] + ph[3 * H + j]);
                    cn[j] = f_ * cs[j] + i_ * g_;
                    const double ac = ref_act(act, cn[j]);
                    hn[j] = o_ * ac;
                    gate[j] = i_;
                    gate[H + j] = f_;
                    gate[2 * H + j] = g_;
                    gate[3 * H + j] = o_;
                    gate[4 * H + j] = ac;
                }
            } else {
                for (size_t j = 0; j < H; j++) hn[j] = ref_act(act, px[j] + ph[j]);
            }
            const int used = !m->mask || m->mask[b * T + t];
            for (size_t j = 0; j < H; j++) {
                if (used) {
                    h[j] = prev[j] = hn[j];
                    if (c->cell == GP_CELL_LSTM) cs[j] = cn[j];
                }
                out[(b * T + k) * H + j] = used ? hn[j] : (c->zero_output_for_mask ? 0.0 : prev[j]);
            }
            if (cache) ref_store(cache, c, k + 1, b, h, cs, gate);
        }
        for (size_t j = 0; j < H; j++) {
            last[b * H + j] = h[j];
            if (c->cell == GP_CELL_LSTM) last[(B + b) * H + j] = cs[j];
        }
    }
    free(h);
    free(cs);
    free(prev);
    free(hn);
    free(cn);
    free(px);
    free(ph);
    free(gate);
}

/* The loss every gradient check differentiates: sum(out * d_out) + sum(last * d_last). */
static double ref_loss(const ref_model *m, const rnn_fix *f, double *out, double *last) {
    ref_forward(m, out, last, NULL);
    return ddot(out, f->d_out, f->n_out) + ddot(last, f->d_last, f->n_s);
}

/* Worst rel_err of got against want over n entries; its index goes to *at. */
static double worst_err(const float *got, const double *want, size_t n, size_t *at) {
    double worst = 0.0;
    *at = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = rel_err(got[i], want[i]);
        if (e > worst) worst = e, *at = i;
    }
    return worst;
}

/* Float32 forwards and gradients of these few small steps agree with the double reference
 * to within about 6e-7 (relative to 1 + |value|); the tolerances leave a margin of 3 to 15. */
static const double REF_FWD_TOL = 2e-6, REF_GRAD_TOL = 1e-5;

/* Compares the core's training forward of f (f->out, f->last, f->cache) with the reference:
 * outputs, last state and the cache in its documented layout, every state and the gates of
 * used steps (a skipped step's gates are never read). Returns the worst error. */
static double ref_check_forward(const rnn_fix *f, const ref_model *m) {
    const gp_rnn_config *c = &f->cfg;
    const size_t B = c->batch, T = c->steps, H = c->units, W = cached_width(c);
    const size_t states = f->S * (T + 1) * B * H;
    double *out = dalloc(f->n_out), *last = dalloc(f->n_s), *cache = dalloc(f->n_cache);
    ref_forward(m, out, last, cache);
    const struct {
        const char *name;
        const float *got;
        const double *want;
        size_t n;
    } whole[] = {{"outputs", f->out, out, f->n_out},
                 {"last_state", f->last, last, f->n_s},
                 {"cache states", f->cache, cache, states}};
    double worst = 0.0;
    for (size_t w = 0; w < sizeof whole / sizeof whole[0]; w++) {
        size_t at;
        const double e = worst_err(whole[w].got, whole[w].want, whole[w].n, &at);
        CHECK(e <= REF_FWD_TOL, "%s: %s[%zu] = %.8g, reference %.8g", f->name, whole[w].name, at,
              (double)whole[w].got[at], whole[w].want[at]);
        if (e > worst) worst = e;
    }
    for (size_t k = 0; W && k < T; k++) { /* SimpleRNN caches no gates */
        const size_t t = c->go_backwards ? T - 1 - k : k;
        for (size_t b = 0; b < B; b++) {
            if (f->mask && !f->mask[b * T + t]) continue;
            const size_t row = states + (k * B + b) * W;
            size_t at;
            const double e = worst_err(f->cache + row, cache + row, W, &at);
            CHECK(e <= REF_FWD_TOL, "%s: cached gates step %zu row %zu [%zu] = %.8g, ref %.8g",
                  f->name, k, b, at, (double)f->cache[row + at], cache[row + at]);
            if (e > worst) worst = e;
        }
    }
    free(out);
    free(last);
    free(cache);
    return worst;
}

/* ---------------------------------------------------------------------------------- */
/* 1. Keras golden values and the reference forward                                    */
/* ---------------------------------------------------------------------------------- */

static void test_gru_keras_golden(void) {
    static const float want[2][3] = {
        {0.5144776f, 0.6426879f, 0.4020829f},   /* reset_after = 0, bias (9) */
        {0.5217289f, 0.6371659f, 0.39384964f}}; /* reset_after = 1, bias (2, 9) */
    for (int reset_after = 0; reset_after <= 1; reset_after++) {
        const gp_rnn_config cfg = {.cell = GP_CELL_GRU,
                                   .batch = 3,
                                   .steps = 6,
                                   .input_size = 4,
                                   .units = 3,
                                   .activation = GP_ACT_TANH,
                                   .recurrent_activation = GP_ACT_SIGMOID,
                                   .reset_after = reset_after,
                                   .use_bias = 1};
        const size_t B = 3, T = 6, I = 4, H = 3, nb = (reset_after ? 2u : 1u) * 3 * H;
        float *x = falloc(B * T * I), *kernel = falloc_fill(I * 3 * H, 0.01f);
        float *rec = falloc_fill(H * 3 * H, 0.02f), *bias = falloc_fill(nb, 0.03f);
        for (size_t i = 0; i < B * T * I; i++) x[i] = (float)i; /* x[b][t][i] = b*24+t*4+i */
        const gp_rnn_inputs in = {.x = x, .kernel = kernel, .recurrent_kernel = rec, .bias = bias};
        float *cache = falloc_fill(gp_rnn_cache_size(&cfg), NAN);
        float *ws_train = falloc_fill(gp_rnn_forward_workspace_size(&cfg, 1), NAN);
        float *ws_infer = falloc_fill(gp_rnn_forward_workspace_size(&cfg, 0), NAN);

        for (int training = 1; training >= 0; training--) {
            float *out = falloc_fill(B * T * H, NAN), *last = falloc_fill(B * H, NAN);
            gp_status st = gp_rnn_forward(out, last, training ? cache : NULL,
                                          training ? ws_train : ws_infer, &in, &cfg);
            CHECK(st == GP_OK, "golden reset_after=%d training=%d: status %d", reset_after,
                  training, (int)st);
            for (size_t b = 0; b < B; b++) {
                for (size_t j = 0; j < H; j++) {
                    const float got = last[b * H + j];
                    CHECK(fabsf(got - want[reset_after][b]) <= 1e-6f,
                          "golden reset_after=%d training=%d: last_state[%zu][%zu] = %.8g, "
                          "Keras %.8g",
                          reset_after, training, b, j, (double)got, (double)want[reset_after][b]);
                    CHECK(out[(b * T + T - 1) * H + j] == got,
                          "golden reset_after=%d training=%d: outputs[%zu][T-1][%zu] = %.8g "
                          "!= last_state %.8g",
                          reset_after, training, b, j, (double)out[(b * T + T - 1) * H + j],
                          (double)got);
                }
            }
            free(out);
            free(last);
        }
        free(x);
        free(kernel);
        free(rec);
        free(bias);
        free(cache);
        free(ws_train);
        free(ws_infer);
    }
}

/* Every cell with every activation pair (SimpleRNN has no gates, so only its activation
 * varies), two complementary flag sets each: use_bias, go_backwards, a padded mask with
 * zero_output_for_mask either way, input and recurrent dropout, an initial state or NULL. */
static void test_rnn_reference_forward(void) {
    const size_t shape[4] = {5, 4, 3, 3};
    memcpy(g_shape, shape, sizeof g_shape);
    double worst = 0.0;
    size_t configs = 0;
    uint32_t seed = 3000;
    for (int v = 0; v < VARIANTS; v++) {
        const int rec_acts = v == 3 ? 1 : 5;
        for (int a = 0; a < 5; a++) {
            for (int r = 0; r < rec_acts; r++) {
                for (int half = 0; half < 2; half++, seed++, configs++) {
                    const unsigned bits = (half ? ~seed : seed) & 63u;
                    gp_rnn_config cfg = variant_cfg(v, ELEMENTWISE[a], ELEMENTWISE[r],
                                                    (int)(bits & 1u), (int)(bits >> 1 & 1u));
                    cfg.zero_output_for_mask = (int)(bits >> 2 & 1u);
                    cfg.input_dropout = (int)(bits >> 3 & 1u);
                    cfg.recurrent_dropout = (int)(bits >> 4 & 1u);
                    const int with_h0 = half;
                    rnn_fix f;
                    rnn_fix_init(&f, &cfg, bits >> 5 ? MASK_NONE : MASK_PADDED, seed, 0.5f);
                    if (!with_h0) ffill(f.h0, f.n_s, 0.0f);
                    const gp_status st = rnn_fwd(&f, f.out, f.last, f.cache, with_h0 ? f.h0 : NULL);
                    CHECK(st == GP_OK, "%s: forward status %d", f.name, (int)st);
                    ref_model m;
                    ref_model_init(&m, &f);
                    const double e = ref_check_forward(&f, &m);
                    if (e > worst) worst = e;
                    ref_model_free(&m);
                    rnn_fix_free(&f);
                }
            }
        }
    }
    printf("rnn reference forward: %zu configs, worst error %.2g\n", configs, worst);
    restore_default_shape();
}

/* ---------------------------------------------------------------------------------- */
/* 2. Gradients against central differences                                            */
/* ---------------------------------------------------------------------------------- */

/* Core gradients against central differences of the double reference, with masks and
 * dropout masks; the forward is compared too. Skipped steps must get exactly zero input
 * gradient. */
static const double REF_EPS = 1e-6;

static void ref_gradcheck(const gp_rnn_config *cfg, mask_kind mask, int with_h0, uint32_t seed,
                          double *worst, size_t *total) {
    rnn_fix f;
    rnn_fix_init(&f, cfg, mask, seed, 0.5f);
    if (!with_h0) ffill(f.h0, f.n_s, 0.0f);
    gp_status st = rnn_fwd(&f, f.out, f.last, f.cache, with_h0 ? f.h0 : NULL);
    CHECK(st == GP_OK, "%s: forward status %d", f.name, (int)st);
    st = rnn_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last);
    CHECK(st == GP_OK, "%s: backward status %d", f.name, (int)st);

    ref_model m;
    ref_model_init(&m, &f);
    ref_check_forward(&f, &m);
    double *out = dalloc(f.n_out), *last = dalloc(f.n_s);
    const struct {
        const char *name;
        double *param;
        const float *grad;
        size_t n;
    } tensors[] = {{"x", m.x, f.d_x, f.n_x},
                   {"initial_state", m.h0, f.d_h0, f.n_s},
                   {"kernel", m.kernel, f.d_k, f.n_k},
                   {"recurrent_kernel", m.rec, f.d_r, f.n_r},
                   {"bias", m.bias, f.d_b, cfg->use_bias ? f.n_b : 0}};
    for (size_t t = 0; t < sizeof tensors / sizeof tensors[0]; t++) {
        for (size_t i = 0; i < tensors[t].n; i++) {
            double *p = tensors[t].param + i;
            const double v = *p, hi = v + REF_EPS, lo = v - REF_EPS;
            *p = hi;
            const double l_hi = ref_loss(&m, &f, out, last);
            *p = lo;
            const double l_lo = ref_loss(&m, &f, out, last);
            *p = v;
            const double numeric = (l_hi - l_lo) / (hi - lo);
            const double e = rel_err(tensors[t].grad[i], numeric);
            ++*total;
            if (e > *worst) *worst = e;
            CHECK(e <= REF_GRAD_TOL, "%s h0=%d: d_%s[%zu] core %.8g, reference %.8g", f.name,
                  with_h0, tensors[t].name, i, (double)tensors[t].grad[i], numeric);
        }
    }
    if (f.mask) {
        const size_t I = cfg->input_size;
        size_t bad = 0;
        for (size_t bt = 0; bt < cfg->batch * cfg->steps; bt++) {
            if (!f.mask[bt]) bad += count_nonzero(f.d_x + bt * I, I);
        }
        CHECK(bad == 0, "%s: %zu entries of d_x at skipped steps are not 0", f.name, bad);
    }
    free(out);
    free(last);
    ref_model_free(&m);
    rnn_fix_free(&f);
}

/* Every cell variant with every combination of mask (none or padded), zero_output_for_mask,
 * go_backwards and dropout (none, input, recurrent, both); smooth activations, so that the
 * central differences cross no kink. */
static void test_rnn_reference_gradients(void) {
    static const gp_activation smooth[3] = {GP_ACT_TANH, GP_ACT_SIGMOID, GP_ACT_LINEAR};
    const size_t shape[4] = {5, 4, 3, 3};
    memcpy(g_shape, shape, sizeof g_shape);
    double worst = 0.0;
    size_t total = 0;
    uint32_t seed = 3500;
    for (int v = 0; v < VARIANTS; v++) {
        for (int combo = 0; combo < 32; combo++, seed++) {
            gp_rnn_config cfg = variant_cfg(v, smooth[combo % 3], smooth[(combo + v) % 2],
                                            (combo + v) % 3 != 0, combo >> 1 & 1);
            cfg.zero_output_for_mask = combo & 1;
            cfg.input_dropout = combo >> 2 & 1;
            cfg.recurrent_dropout = combo >> 3 & 1;
            ref_gradcheck(&cfg, combo >> 4 ? MASK_PADDED : MASK_NONE, combo % 5 != 0, seed, &worst,
                          &total);
        }
    }
    /* Masks and both dropouts on other shapes: nine units (the vectorised activations'
     * blocks of 8 and their scalar tail), one step (rows used or fully masked), and a single
     * left-padded row of one unit. */
    static const size_t shapes[][4] = {{5, 3, 2, 9}, {6, 1, 2, 2}, {1, 4, 1, 1}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        memcpy(g_shape, shapes[sh], sizeof g_shape);
        for (int combo = 0; combo < 2 * VARIANTS; combo++, seed++) {
            const int back = combo / VARIANTS;
            gp_rnn_config cfg = variant_cfg(combo % VARIANTS, GP_ACT_TANH, GP_ACT_SIGMOID, 1, back);
            cfg.zero_output_for_mask = back;
            cfg.input_dropout = cfg.recurrent_dropout = 1;
            ref_gradcheck(&cfg, MASK_PADDED, 1, seed, &worst, &total);
        }
    }
    /* Sixteen units and rows: the weight gradients accumulate step by step (rnn.c,
     * step_weight_gradients) rather than in one GEMM after the time loop; with and without
     * masks and both dropouts. */
    const size_t per_step_shape[4] = {16, 2, 2, 16};
    memcpy(g_shape, per_step_shape, sizeof g_shape);
    for (int combo = 0; combo < 6 * VARIANTS; combo++, seed++) {
        const int kind = combo / VARIANTS; /* back, mask, dropout: bits 0, 1 and kind >= 4 */
        gp_rnn_config cfg = variant_cfg(combo % VARIANTS, GP_ACT_TANH, GP_ACT_SIGMOID, 1, kind & 1);
        cfg.input_dropout = cfg.recurrent_dropout = kind >= 4;
        ref_gradcheck(&cfg, kind & 2 || kind == 5 ? MASK_PADDED : MASK_NONE, 1, seed, &worst,
                      &total);
    }
    printf("rnn reference gradcheck: %zu entries, worst error %.2g\n", total, worst);
    restore_default_shape();
}

/* Central differences of the float32 core itself, over every activation including the
 * kinked ones, whose kinks a perturbation can cross: such entries are detected from the
 * cached activation outputs and skipped. */
static const float EPS = 1e-2f;

static int grad_close(double analytic, double numeric) {
    return fabs(analytic - numeric) <= 2e-3 + 2e-2 * fabs(numeric);
}

/* Region of a piecewise activation at output y: entries in the same region on both sides
 * of a perturbation mean no kink was crossed. Smooth activations have one region. */
static int act_region(gp_activation a, float y) {
    if (a == GP_ACT_RELU) return y > 0.0f;
    if (a == GP_ACT_HARD_SIGMOID) return y <= 0.0f ? 0 : (y >= 1.0f ? 2 : 1);
    return 0;
}

static int is_kinked(gp_activation a) {
    return a == GP_ACT_RELU || a == GP_ACT_HARD_SIGMOID;
}

/* Gate / output entries seen on a flat (zero-slope) piece of relu or hard_sigmoid during the
 * gradient checks, so the tests can insist that the zero-slope branches were exercised. */
static size_t g_flat_hard_sigmoid, g_flat_relu;

static void count_flat(gp_activation a, float y) {
    if (a == GP_ACT_HARD_SIGMOID && (y <= 0.0f || y >= 1.0f)) g_flat_hard_sigmoid++;
    if (a == GP_ACT_RELU && y <= 0.0f) g_flat_relu++;
}

/* The activation whose output a training cache (unmasked) holds at index i, from the layout
 * in gru_py.h, or GP_ACT_COUNT for an entry that is no activation output: GRU and LSTM
 * states, LSTM carries, the GRU's q. SimpleRNN keeps no gates, but its states after each
 * step are activation outputs. */
static gp_activation cache_activation(const gp_rnn_config *c, size_t i) {
    const size_t H = c->units, B = c->batch, W = cached_width(c);
    const size_t states = gp_rnn_state_count(c->cell) * (c->steps + 1) * B * H;
    if (i < states) {
        return c->cell == GP_CELL_SIMPLE_RNN && i >= B * H ? c->activation : GP_ACT_COUNT;
    }
    const size_t block = (i - states) % W / H;
    if (c->cell == GP_CELL_GRU) {
        return block < 2 ? c->recurrent_activation : (block == 2 ? c->activation : GP_ACT_COUNT);
    }
    return block == 2 || block == 4 ? c->activation : c->recurrent_activation;
}

/* 1 if every activation output of two training caches lies in the same region. */
static int same_regions(const rnn_fix *f, const float *c1, const float *c2) {
    for (size_t i = 0; i < f->n_cache; i++) {
        const gp_activation a = cache_activation(&f->cfg, i);
        if (act_region(a, c1[i]) != act_region(a, c2[i])) return 0;
    }
    return 1;
}

static double rnn_loss(rnn_fix *f, const float *h0, float *cache) {
    gp_status st = rnn_fwd(f, f->out, f->last, cache, h0);
    CHECK(st == GP_OK, "%s: forward status %d", f->name, (int)st);
    return dot(f->out, f->d_out, f->n_out) + dot(f->last, f->d_last, f->n_s);
}

/* One gradient check of the core; counts the entries skipped at kinks into *skipped / *total. */
static void rnn_gradcheck(const gp_rnn_config *cfg, int with_h0, uint32_t seed, float scale,
                          size_t *skipped, size_t *total) {
    rnn_fix f;
    rnn_fix_init(&f, cfg, MASK_NONE, seed, scale);
    /* Without an initial state the analytic pass gets NULL (zeros); the numeric pass then
     * perturbs an explicit zero state, which must mean the same thing. */
    if (!with_h0) ffill(f.h0, f.n_s, 0.0f);
    const float *h0_arg = with_h0 ? f.h0 : NULL;

    gp_status st = rnn_fwd(&f, f.out, f.last, f.cache, h0_arg);
    CHECK(st == GP_OK, "%s: forward status %d", f.name, (int)st);
    st = rnn_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last);
    CHECK(st == GP_OK, "%s: backward status %d", f.name, (int)st);

    float *base = fdup(f.cache, f.n_cache);
    for (size_t i = 0; i < f.n_cache; i++) count_flat(cache_activation(cfg, i), base[i]);
    /* The perturbed forwards are the oracle. Run as one job, each skips a thread start,
     * which would dominate the sanitized run; test_rnn_threads_agree covers the split. */
    const int threads = gp_blas_get_num_threads();
    gp_blas_set_num_threads(1);
    float *c_plus = falloc(f.n_cache), *c_minus = falloc(f.n_cache);
    const int kinked = is_kinked(cfg->activation) || is_kinked(cfg->recurrent_activation);
    struct {
        const char *name;
        float *param;
        const float *grad;
        size_t n;
    } tensors[] = {{"x", f.x, f.d_x, f.n_x},
                   {"initial_state", f.h0, f.d_h0, f.n_s},
                   {"kernel", f.kernel, f.d_k, f.n_k},
                   {"recurrent_kernel", f.rec, f.d_r, f.n_r},
                   {"bias", f.bias, f.d_b, cfg->use_bias ? f.n_b : 0}};
    for (size_t t = 0; t < sizeof tensors / sizeof tensors[0]; t++) {
        for (size_t i = 0; i < tensors[t].n; i++) {
            float *p = tensors[t].param + i;
            const float v = *p, hi = v + EPS, lo = v - EPS;
            *p = hi;
            const double l_hi = rnn_loss(&f, f.h0, c_plus);
            *p = lo;
            const double l_lo = rnn_loss(&f, f.h0, c_minus);
            *p = v;
            const double numeric = (l_hi - l_lo) / ((double)hi - (double)lo);
            const double analytic = tensors[t].grad[i];
            ++*total;
            /* relu / hard_sigmoid: a central difference across a kink measures the mean of
             * two slopes, not the derivative, so such entries are skipped (and counted). */
            if (kinked && (!same_regions(&f, base, c_plus) || !same_regions(&f, base, c_minus))) {
                ++*skipped;
                continue;
            }
            CHECK(grad_close(analytic, numeric), "%s h0=%d: d_%s[%zu] analytic %.6g, numeric %.6g",
                  f.name, with_h0, tensors[t].name, i, analytic, numeric);
        }
    }
    gp_blas_set_num_threads(threads);
    free(base);
    free(c_plus);
    free(c_minus);
    rnn_fix_free(&f);
}

static void test_rnn_gradients(void) {
    size_t skipped = 0, total = 0;
    uint32_t seed = 1000;
    /* Every GRU flag combination with the Keras defaults. */
    for (int combo = 0; combo < 16; combo++) {
        const gp_rnn_config cfg = rnn_cfg(GP_CELL_GRU, GP_ACT_TANH, GP_ACT_SIGMOID, combo & 1,
                                          (combo >> 1) & 1, (combo >> 2) & 1);
        rnn_gradcheck(&cfg, (combo >> 3) & 1, seed++, 0.3f, &skipped, &total);
    }
    /* Every activation pair of every variant (SimpleRNN: every activation), the other
     * flags cycling. */
    int combo = 0;
    for (int v = 0; v < VARIANTS; v++) {
        for (int a = 0; a < 5; a++) {
            for (int r = 0; r < (v == 3 ? 1 : 5); r++, combo++) {
                const gp_rnn_config cfg = variant_cfg(v, ELEMENTWISE[a], ELEMENTWISE[r],
                                                      (combo >> 1) & 1, (combo >> 2) & 1);
                rnn_gradcheck(&cfg, (combo >> 3) & 1 ? 0 : 1, seed++, 0.3f, &skipped, &total);
            }
        }
    }
    /* Large weights push hard_sigmoid into its clipped (zero-slope) range. */
    size_t sat_skipped = 0, sat_total = 0;
    CHECK(g_flat_relu > 0, "rnn gradcheck never reached relu's zero branch");
    const size_t flat_before = g_flat_hard_sigmoid;
    for (int v = 0; v < VARIANTS; v++) {
        const gp_rnn_config cfg =
            variant_cfg(v, GP_ACT_HARD_SIGMOID, GP_ACT_HARD_SIGMOID, 1, v & 1);
        rnn_gradcheck(&cfg, 1, seed++, 3.0f, &sat_skipped, &sat_total);
    }
    CHECK(g_flat_hard_sigmoid - flat_before > 0, "hard_sigmoid gates never clipped");
    printf("rnn gradcheck: flat gates: relu %zu, clipped hard_sigmoid %zu\n", g_flat_relu,
           g_flat_hard_sigmoid);
    printf("rnn gradcheck: %zu entries, %zu skipped at kinks; saturating: %zu entries, %zu "
           "skipped\n",
           total, skipped, sat_total, sat_skipped);
    /* Skips must stay rare, or the check would be vacuous. */
    CHECK(skipped * 50 <= total, "rnn gradcheck skipped %zu of %zu entries", skipped, total);
    CHECK(sat_skipped * 4 <= sat_total, "saturating rnn gradcheck skipped %zu of %zu entries",
          sat_skipped, sat_total);
}

/* Edge and odd shapes (B, T, I, H), including all-ones and a step count of 1: gradients,
 * the accumulate/write contract, and training vs inference, for every cell variant. */
static void test_rnn_contract_current_shape(void);

static void test_rnn_shapes(void) {
    static const size_t shapes[][4] = {
        {1, 1, 1, 1}, {1, 4, 2, 1}, {3, 1, 5, 2}, {3, 5, 2, 7}, {5, 7, 9, 17}};
    size_t skipped = 0, total = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        memcpy(g_shape, shapes[s], sizeof g_shape);
        for (int v = 0; v < VARIANTS; v++) {
            const unsigned seed = 2000u + 4u * (unsigned)s + (unsigned)v;
            const gp_rnn_config grad_cfg = variant_cfg(v, GP_ACT_TANH, GP_ACT_SIGMOID, 1, v & 1);
            rnn_gradcheck(&grad_cfg, 1, seed, 0.3f, &skipped, &total);
            const gp_rnn_config cfg = variant_cfg(v, GP_ACT_TANH, GP_ACT_SIGMOID, 1, 1 - (v & 1));
            rnn_fix f;
            rnn_fix_init(&f, &cfg, MASK_NONE, seed + 100u, 0.5f);
            float *out_i = falloc_fill(f.n_out, NAN), *last_i = falloc_fill(f.n_s, NAN);
            CHECK(rnn_fwd(&f, f.out, f.last, f.cache, f.h0) == GP_OK, "%s: train", f.name);
            CHECK(rnn_fwd(&f, out_i, last_i, NULL, f.h0) == GP_OK, "%s: infer", f.name);
            CHECK(count_unequal(f.out, out_i, f.n_out) == 0 &&
                      count_unequal(f.last, last_i, f.n_s) == 0,
                  "%s: training and inference forwards differ", f.name);
            free(out_i);
            free(last_i);
            rnn_fix_free(&f);
        }
        test_rnn_contract_current_shape();
    }
    printf("rnn shapes gradcheck: %zu entries\n", total);
    restore_default_shape();
}

/* One Dense gradient check on shape (N, I, O). */
static void dense_gradcheck(const size_t shape[3], gp_activation act, int use_bias, uint32_t seed,
                            float scale, size_t *skipped, size_t *total) {
    const size_t N = shape[0], I = shape[1], O = shape[2];
    const gp_dense_config cfg = {N, I, O, act, use_bias};
    const size_t n_ws = gp_dense_backward_workspace_size(&cfg);
    CHECK(n_ws == N * O, "dense %s: workspace size %zu", act_name(act), n_ws);
    g_lcg = seed;
    float *x = falloc(N * I), *kernel = falloc(I * O), *bias = use_bias ? falloc(O) : NULL;
    float *d_y = falloc(N * O);
    frand(x, N * I, 1.0f);
    frand(kernel, I * O, scale);
    if (bias) frand(bias, O, scale);
    frand(d_y, N * O, 1.0f);
    float *y = falloc_fill(N * O, NAN), *y_base = falloc(N * O), *y_pm = falloc(N * O);
    float *ws = falloc_fill(n_ws, NAN), *d_x = falloc_fill(N * I, NAN);
    float *d_k = falloc_fill(I * O, 0.0f), *d_b = use_bias ? falloc_fill(O, 0.0f) : NULL;

    gp_status st = gp_dense_forward(y, x, kernel, bias, &cfg);
    CHECK(st == GP_OK, "dense %s bias=%d: forward status %d", act_name(act), use_bias, (int)st);
    st = gp_dense_backward(d_x, d_k, d_b, ws, x, kernel, y, d_y, &cfg);
    CHECK(st == GP_OK, "dense %s bias=%d: backward status %d", act_name(act), use_bias, (int)st);
    memcpy(y_base, y, N * O * sizeof *y);
    for (size_t k = 0; k < N * O; k++) count_flat(act, y_base[k]);

    struct {
        const char *name;
        float *param;
        const float *grad;
        size_t n;
    } tensors[] = {{"x", x, d_x, N * I},
                   {"kernel", kernel, d_k, I * O},
                   {"bias", bias, d_b, use_bias ? O : 0}};
    for (size_t t = 0; t < sizeof tensors / sizeof tensors[0]; t++) {
        for (size_t i = 0; i < tensors[t].n; i++) {
            float *p = tensors[t].param + i;
            const float v = *p, hi = v + EPS, lo = v - EPS;
            int crossed = 0;
            double l[2];
            for (int side = 0; side < 2; side++) {
                *p = side ? lo : hi;
                st = gp_dense_forward(y_pm, x, kernel, bias, &cfg);
                CHECK(st == GP_OK, "dense %s: forward status %d", act_name(act), (int)st);
                l[side] = dot(y_pm, d_y, N * O);
                for (size_t k = 0; k < N * O; k++) {
                    crossed |= act_region(act, y_pm[k]) != act_region(act, y_base[k]);
                }
            }
            *p = v;
            const double numeric = (l[0] - l[1]) / ((double)hi - (double)lo);
            ++*total;
            /* Skipped only when the perturbation crosses a relu / hard_sigmoid kink. */
            if (crossed) {
                ++*skipped;
                continue;
            }
            CHECK(grad_close(tensors[t].grad[i], numeric),
                  "dense N=%zu I=%zu O=%zu %s bias=%d scale=%g: d_%s[%zu] analytic %.6g, "
                  "numeric %.6g",
                  N, I, O, act_name(act), use_bias, (double)scale, tensors[t].name, i,
                  (double)tensors[t].grad[i], numeric);
        }
    }
    free(x);
    free(kernel);
    free(bias);
    free(d_y);
    free(y);
    free(y_base);
    free(y_pm);
    free(ws);
    free(d_x);
    free(d_k);
    free(d_b);
}

static void test_dense_gradients(void) {
    static const gp_activation acts[6] = {GP_ACT_LINEAR,       GP_ACT_SIGMOID, GP_ACT_TANH,
                                          GP_ACT_HARD_SIGMOID, GP_ACT_RELU,    GP_ACT_SOFTMAX};
    static const size_t shapes[][3] = {{4, 3, 5}, {1, 1, 1}, {1, 4, 2}, {7, 2, 3}};
    size_t skipped = 0, total = 0, sat_skipped = 0, sat_total = 0;
    uint32_t seed = 5000;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int a = 0; a < 6; a++) {
            for (int use_bias = 0; use_bias <= 1; use_bias++) {
                dense_gradcheck(shapes[s], acts[a], use_bias, seed++, 0.3f, &skipped, &total);
            }
        }
    }
    /* Large weights: relu half off, hard_sigmoid partly clipped (zero slope). */
    g_flat_relu = g_flat_hard_sigmoid = 0;
    for (int use_bias = 0; use_bias <= 1; use_bias++) {
        dense_gradcheck(shapes[0], GP_ACT_RELU, use_bias, seed++, 3.0f, &sat_skipped, &sat_total);
        dense_gradcheck(shapes[0], GP_ACT_HARD_SIGMOID, use_bias, seed++, 6.0f, &sat_skipped,
                        &sat_total);
        dense_gradcheck(shapes[0], GP_ACT_SOFTMAX, use_bias, seed++, 3.0f, &sat_skipped,
                        &sat_total);
    }
    CHECK(g_flat_relu > 0 && g_flat_hard_sigmoid > 0,
          "dense gradcheck never reached a flat piece (relu %zu, hard_sigmoid %zu)", g_flat_relu,
          g_flat_hard_sigmoid);
    printf("dense gradcheck: %zu entries, %zu skipped at kinks; large weights: %zu entries, "
           "%zu skipped\n",
           total, skipped, sat_total, sat_skipped);
    CHECK(skipped * 50 <= total, "dense gradcheck skipped %zu of %zu entries", skipped, total);
    CHECK(sat_skipped * 4 <= sat_total, "large-weight dense gradcheck skipped %zu of %zu",
          sat_skipped, sat_total);
}

/* ---------------------------------------------------------------------------------- */
/* 3. Gradient contract: parameters accumulate, inputs/states are written              */
/* ---------------------------------------------------------------------------------- */

/* Every cell variant, plain and with go_backwards, a padded mask and both dropout masks
 * (whose per-gate GEMMs accumulate separately). */
static void test_rnn_contract_current_shape(void) {
    for (int combo = 0; combo < 2 * VARIANTS; combo++) {
        const int extras = combo / VARIANTS;
        gp_rnn_config cfg = variant_cfg(combo % VARIANTS, GP_ACT_TANH, GP_ACT_SIGMOID, 1, extras);
        cfg.input_dropout = cfg.recurrent_dropout = extras;
        rnn_fix f;
        rnn_fix_init(&f, &cfg, extras ? MASK_PADDED : MASK_NONE, 77u + (unsigned)combo, 0.3f);
        CHECK(rnn_fwd(&f, f.out, f.last, f.cache, f.h0) == GP_OK, "%s: forward", f.name);
        /* d_x and d_initial_state start as NaN (fixture); parameter grads as zeros. */
        CHECK(rnn_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last) == GP_OK, "%s: backward 1", f.name);
        float *k1 = fdup(f.d_k, f.n_k), *r1 = fdup(f.d_r, f.n_r), *b1 = fdup(f.d_b, f.n_b);
        float *x1 = fdup(f.d_x, f.n_x), *h1 = fdup(f.d_h0, f.n_s);
        CHECK(count_unequal(x1, x1, f.n_x) == 0 && count_unequal(h1, h1, f.n_s) == 0,
              "%s: d_x / d_initial_state not fully written (NaN left)", f.name);
        ffill(f.d_x, f.n_x, 12345.0f);
        ffill(f.d_h0, f.n_s, -777.0f);
        CHECK(rnn_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last) == GP_OK, "%s: backward 2", f.name);
        CHECK(count_not_doubled(f.d_k, k1, f.n_k) == 0, "%s: d_kernel after 2 calls != 2x (%zu)",
              f.name, count_not_doubled(f.d_k, k1, f.n_k));
        CHECK(count_not_doubled(f.d_r, r1, f.n_r) == 0,
              "%s: d_recurrent_kernel after 2 calls != 2x (%zu)", f.name,
              count_not_doubled(f.d_r, r1, f.n_r));
        CHECK(count_not_doubled(f.d_b, b1, f.n_b) == 0, "%s: d_bias after 2 calls != 2x (%zu)",
              f.name, count_not_doubled(f.d_b, b1, f.n_b));
        CHECK(count_unequal(f.d_x, x1, f.n_x) == 0, "%s: d_x not overwritten (%zu)", f.name,
              count_unequal(f.d_x, x1, f.n_x));
        CHECK(count_unequal(f.d_h0, h1, f.n_s) == 0, "%s: d_initial_state not overwritten", f.name);
        free(k1);
        free(r1);
        free(b1);
        free(x1);
        free(h1);
        rnn_fix_free(&f);
    }
}

static void test_rnn_gradient_contract(void) {
    test_rnn_contract_current_shape();
}

static void test_dense_gradient_contract(void) {
    for (int a = 0; a < 2; a++) {
        const gp_activation act = a ? GP_ACT_SOFTMAX : GP_ACT_TANH;
        const gp_dense_config cfg = {6, 3, 4, act, 1};
        const size_t N = 6, I = 3, O = 4;
        g_lcg = 99;
        float *x = falloc(N * I), *kernel = falloc(I * O), *bias = falloc(O);
        float *d_y = falloc(N * O), *y = falloc_fill(N * O, NAN);
        float *ws = falloc_fill(gp_dense_backward_workspace_size(&cfg), NAN);
        float *d_x = falloc_fill(N * I, NAN), *d_k = falloc_fill(I * O, 0.0f);
        float *d_b = falloc_fill(O, 0.0f);
        frand(x, N * I, 1.0f);
        frand(kernel, I * O, 0.5f);
        frand(bias, O, 0.5f);
        frand(d_y, N * O, 1.0f);
        CHECK(gp_dense_forward(y, x, kernel, bias, &cfg) == GP_OK, "dense contract forward");
        CHECK(gp_dense_backward(d_x, d_k, d_b, ws, x, kernel, y, d_y, &cfg) == GP_OK,
              "dense contract backward 1");
        float *k1 = fdup(d_k, I * O), *b1 = fdup(d_b, O), *x1 = fdup(d_x, N * I);
        CHECK(count_unequal(x1, x1, N * I) == 0, "dense %s: d_x not fully written", act_name(act));
        ffill(d_x, N * I, 4242.0f);
        CHECK(gp_dense_backward(d_x, d_k, d_b, ws, x, kernel, y, d_y, &cfg) == GP_OK,
              "dense contract backward 2");
        CHECK(count_not_doubled(d_k, k1, I * O) == 0, "dense %s: d_kernel after 2 calls != 2x",
              act_name(act));
        CHECK(count_not_doubled(d_b, b1, O) == 0, "dense %s: d_bias after 2 calls != 2x (%zu)",
              act_name(act), count_not_doubled(d_b, b1, O));
        CHECK(count_unequal(d_x, x1, N * I) == 0, "dense %s: d_x not overwritten", act_name(act));
        free(x);
        free(kernel);
        free(bias);
        free(d_y);
        free(y);
        free(ws);
        free(d_x);
        free(d_k);
        free(d_b);
        free(k1);
        free(b1);
        free(x1);
    }
}

/* ---------------------------------------------------------------------------------- */
/* 4. Training and inference agree; go_backwards, masks and dropout masks              */
/* ---------------------------------------------------------------------------------- */

/* Every cell variant, every candidate activation, three recurrent ones, every combination
 * of use_bias, go_backwards, a padded mask (with zero_output_for_mask alternating) and both
 * dropout masks. Five rows, so that the mask holds every kind of row. */
static void test_rnn_train_vs_infer(void) {
    const size_t shape[4] = {5, 4, 3, 3};
    memcpy(g_shape, shape, sizeof g_shape);
    int combo = 0;
    for (int v = 0; v < VARIANTS; v++) {
        for (int a = 0; a < 5; a++) {
            for (int r = 0; r < 5; r += 2) {
                for (int flags = 0; flags < 16; flags++, combo++) {
                    gp_rnn_config cfg =
                        variant_cfg(v, ELEMENTWISE[a], ELEMENTWISE[r], flags & 1, (flags >> 1) & 1);
                    cfg.zero_output_for_mask = combo & 1;
                    cfg.input_dropout = cfg.recurrent_dropout = (flags >> 3) & 1;
                    rnn_fix f;
                    rnn_fix_init(&f, &cfg, (flags >> 2) & 1 ? MASK_PADDED : MASK_NONE,
                                 300u + (unsigned)combo, 0.5f);
                    const float *h0 = combo % 3 ? f.h0 : NULL;
                    float *out_i = falloc_fill(f.n_out, NAN), *last_i = falloc_fill(f.n_s, NAN);
                    CHECK(rnn_fwd(&f, f.out, f.last, f.cache, h0) == GP_OK, "%s: train", f.name);
                    CHECK(rnn_fwd(&f, out_i, last_i, NULL, h0) == GP_OK, "%s: infer", f.name);
                    CHECK(count_unequal(f.out, out_i, f.n_out) == 0,
                          "%s: outputs differ between training and inference (%zu)", f.name,
                          count_unequal(f.out, out_i, f.n_out));
                    CHECK(count_unequal(f.last, last_i, f.n_s) == 0,
                          "%s: last_state differs between training and inference", f.name);
                    free(out_i);
                    free(last_i);
                    rnn_fix_free(&f);
                }
            }
        }
    }
    restore_default_shape();
}

/* go_backwards on x (and mask) == forward on x and mask reversed in time, outputs in
 * processing order; and the gradients match after undoing the reversal. Tolerance, not
 * equality: the row order of the time-batched GEMMs differs between the two. */
static void test_rnn_go_backwards(void) {
    const size_t shape[4] = {5, 4, 3, 3};
    memcpy(g_shape, shape, sizeof g_shape);
    for (int combo = 0; combo < 2 * VARIANTS; combo++) {
        const int extras = combo / VARIANTS; /* a padded mask and both dropout masks */
        gp_rnn_config cfg_back = variant_cfg(combo % VARIANTS, GP_ACT_TANH, GP_ACT_SIGMOID, 1, 1);
        cfg_back.input_dropout = cfg_back.recurrent_dropout = extras;
        cfg_back.zero_output_for_mask = extras && combo % 2;
        gp_rnn_config cfg_fwd = cfg_back;
        cfg_fwd.go_backwards = 0;
        const mask_kind mask = extras ? MASK_PADDED : MASK_NONE;
        rnn_fix back, fwd;
        rnn_fix_init(&back, &cfg_back, mask, 900u + (unsigned)combo, 0.5f);
        rnn_fix_init(&fwd, &cfg_fwd, mask, 900u + (unsigned)combo, 0.5f);
        const size_t B = back.cfg.batch, T = back.cfg.steps, I = back.cfg.input_size;
        for (size_t b = 0; b < B; b++) {
            for (size_t t = 0; t < T; t++) {
                const size_t rt = b * T + (T - 1 - t);
                memcpy(fwd.x + (b * T + t) * I, back.x + rt * I, I * sizeof(float));
                if (extras) fwd.mask[b * T + t] = back.mask[rt];
            }
        }
        CHECK(rnn_fwd(&back, back.out, back.last, back.cache, back.h0) == GP_OK, "back fwd");
        CHECK(rnn_fwd(&fwd, fwd.out, fwd.last, fwd.cache, fwd.h0) == GP_OK, "fwd fwd");
        CHECK(count_far(back.out, fwd.out, back.n_out, 1e-6) == 0,
              "%s: go_backwards outputs != forward on reversed x", back.name);
        CHECK(count_far(back.last, fwd.last, back.n_s, 1e-6) == 0,
              "%s: go_backwards last_state != forward on reversed x", back.name);
        CHECK(rnn_bwd(&back, back.d_x, back.d_h0, back.d_out, back.d_last) == GP_OK, "bwd");
        CHECK(rnn_bwd(&fwd, fwd.d_x, fwd.d_h0, fwd.d_out, fwd.d_last) == GP_OK, "bwd");
        size_t bad = 0;
        for (size_t b = 0; b < B; b++) {
            for (size_t t = 0; t < T; t++) {
                bad += count_far(fwd.d_x + (b * T + t) * I, back.d_x + (b * T + (T - 1 - t)) * I, I,
                                 1e-5);
            }
        }
        CHECK(bad == 0, "%s: go_backwards d_x != reversed d_x (%zu)", back.name, bad);
        CHECK(count_far(back.d_h0, fwd.d_h0, back.n_s, 1e-5) == 0 &&
                  count_far(back.d_k, fwd.d_k, back.n_k, 1e-5) == 0 &&
                  count_far(back.d_r, fwd.d_r, back.n_r, 1e-5) == 0 &&
                  count_far(back.d_b, fwd.d_b, back.n_b, 1e-5) == 0,
              "%s: go_backwards state/parameter gradients differ", back.name);
        rnn_fix_free(&back);
        rnn_fix_free(&fwd);
    }
    restore_default_shape();
}

/* Keras mask semantics, checked exactly on every kind of row: a skipped step carries the
 * states (seen in the cache) and repeats the row's previous output, zeros before the row's
 * first used step or with zero_output_for_mask; a used step outputs its new state; a fully
 * masked row ends in its initial state and passes d_last_state straight through to
 * d_initial_state. (Skipped steps' zero input gradient is checked in ref_gradcheck.) */
static void test_rnn_masks(void) {
    const size_t shape[4] = {6, 5, 3, 4};
    memcpy(g_shape, shape, sizeof g_shape);
    uint32_t seed = 4000;
    for (int v = 0; v < VARIANTS; v++) {
        for (int flags = 0; flags < 4; flags++, seed++) {
            gp_rnn_config cfg = variant_cfg(v, GP_ACT_TANH, GP_ACT_SIGMOID, 1, flags & 1);
            cfg.zero_output_for_mask = flags >> 1;
            rnn_fix f;
            rnn_fix_init(&f, &cfg, MASK_PADDED, seed, 0.5f);
            CHECK(rnn_fwd(&f, f.out, f.last, f.cache, f.h0) == GP_OK, "%s: forward", f.name);
            CHECK(rnn_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last) == GP_OK, "%s: backward", f.name);
            const size_t B = cfg.batch, T = cfg.steps, H = cfg.units;
            const size_t states = (T + 1) * B * H;
            for (size_t b = 0; b < B; b++) {
                int seen = 0;
                for (size_t k = 0; k < T; k++) {
                    const size_t t = cfg.go_backwards ? T - 1 - k : k;
                    const int used = f.mask[b * T + t];
                    const float *out_k = f.out + (b * T + k) * H;
                    size_t bad = 0;
                    if (used) {
                        bad += count_unequal(out_k, f.cache + ((k + 1) * B + b) * H, H);
                    } else {
                        for (size_t s = 0; s < f.S; s++) {
                            const float *after = f.cache + s * states + ((k + 1) * B + b) * H;
                            bad += count_unequal(after, after - B * H, H);
                        }
                        if (cfg.zero_output_for_mask || !seen) {
                            bad += count_nonzero(out_k, H);
                        } else {
                            bad += count_unequal(out_k, out_k - H, H);
                        }
                    }
                    CHECK(bad == 0,
                          "%s: row %zu step %zu (used %d, after a used step %d): %zu "
                          "entries break the mask rules",
                          f.name, b, k, used, seen, bad);
                    seen |= used;
                }
                if (seen) continue;
                for (size_t s = 0; s < f.S; s++) {
                    const size_t row = s * B * H + b * H;
                    CHECK(count_unequal(f.last + row, f.h0 + row, H) == 0,
                          "%s: fully masked row %zu: last state %zu != initial state", f.name, b,
                          s);
                    CHECK(count_unequal(f.d_h0 + row, f.d_last + row, H) == 0,
                          "%s: fully masked row %zu: d_initial_state %zu != d_last_state", f.name,
                          b, s);
                }
            }
            rnn_fix_free(&f);
        }
    }

    /* A mask of all ones is no mask, bit for bit. */
    for (int v = 0; v < VARIANTS; v++) {
        for (int back = 0; back <= 1; back++, seed++) {
            gp_rnn_config cfg = variant_cfg(v, GP_ACT_TANH, GP_ACT_SIGMOID, 1, back);
            cfg.zero_output_for_mask = back;
            rnn_fix none, ones;
            rnn_fix_init(&none, &cfg, MASK_NONE, seed, 0.5f);
            rnn_fix_init(&ones, &cfg, MASK_ALL_USED, seed, 0.5f);
            rnn_fix *both[2] = {&none, &ones};
            for (int i = 0; i < 2; i++) {
                rnn_fix *f = both[i];
                CHECK(rnn_fwd(f, f->out, f->last, f->cache, f->h0) == GP_OK, "%s: fwd", f->name);
                CHECK(rnn_bwd(f, f->d_x, f->d_h0, f->d_out, f->d_last) == GP_OK, "%s: bwd",
                      f->name);
            }
            CHECK(count_unequal(none.out, ones.out, none.n_out) == 0 &&
                      count_unequal(none.last, ones.last, none.n_s) == 0 &&
                      count_unequal(none.cache, ones.cache, none.n_cache) == 0,
                  "%s: an all-ones mask changes the forward", ones.name);
            CHECK(count_unequal(none.d_x, ones.d_x, none.n_x) == 0 &&
                      count_unequal(none.d_h0, ones.d_h0, none.n_s) == 0 &&
                      count_unequal(none.d_k, ones.d_k, none.n_k) == 0 &&
                      count_unequal(none.d_r, ones.d_r, none.n_r) == 0 &&
                      count_unequal(none.d_b, ones.d_b, none.n_b) == 0,
                  "%s: an all-ones mask changes the gradients", ones.name);
            rnn_fix_free(&none);
            rnn_fix_free(&ones);
        }
    }
    restore_default_shape();
}

/* Dropout masks of all ones change nothing but rounding (the per-gate GEMMs group the sums
 * differently); an input feature dropped for every gate of a row gets no gradient and does
 * not reach the outputs; for LSTM and SimpleRNN, whose states reach the next step only
 * through the gates, a unit dropped for every gate of a row gets no initial-state
 * gradient. (Values under random masks: test_rnn_reference_*.) */
static void test_rnn_dropout(void) {
    for (int v = 0; v < VARIANTS; v++) {
        const uint32_t seed = 4500u + (unsigned)v;
        gp_rnn_config cfg = variant_cfg(v, GP_ACT_TANH, GP_ACT_SIGMOID, 1, v & 1);
        rnn_fix plain;
        rnn_fix_init(&plain, &cfg, MASK_NONE, seed, 0.5f);
        cfg.input_dropout = cfg.recurrent_dropout = 1;
        rnn_fix ones, cut;
        rnn_fix_init(&ones, &cfg, MASK_NONE, seed, 0.5f);
        rnn_fix_init(&cut, &cfg, MASK_NONE, seed, 0.5f);
        ffill(ones.idrop, ones.n_idrop, 1.0f);
        ffill(ones.rdrop, ones.n_rdrop, 1.0f);
        const size_t B = cfg.batch, T = cfg.steps, I = cfg.input_size, H = cfg.units;
        const size_t b = 1, i_cut = 2, j_cut = 1; /* row 1 loses feature 2 and unit 1 */
        for (size_t g = 0; g < cut.G; g++) {
            cut.idrop[(g * B + b) * I + i_cut] = 0.0f;
            cut.rdrop[(g * B + b) * H + j_cut] = 0.0f;
        }
        rnn_fix *all[3] = {&plain, &ones, &cut};
        for (int i = 0; i < 3; i++) {
            rnn_fix *f = all[i];
            CHECK(rnn_fwd(f, f->out, f->last, f->cache, f->h0) == GP_OK, "%s: fwd", f->name);
            CHECK(rnn_bwd(f, f->d_x, f->d_h0, f->d_out, f->d_last) == GP_OK, "%s: bwd", f->name);
        }
        CHECK(count_far(plain.out, ones.out, plain.n_out, 1e-6) == 0 &&
                  count_far(plain.last, ones.last, plain.n_s, 1e-6) == 0,
              "%s: all-ones dropout masks change the forward", ones.name);
        CHECK(count_far(plain.d_x, ones.d_x, plain.n_x, 1e-5) == 0 &&
                  count_far(plain.d_h0, ones.d_h0, plain.n_s, 1e-5) == 0 &&
                  count_far(plain.d_k, ones.d_k, plain.n_k, 1e-5) == 0 &&
                  count_far(plain.d_r, ones.d_r, plain.n_r, 1e-5) == 0 &&
                  count_far(plain.d_b, ones.d_b, plain.n_b, 1e-5) == 0,
              "%s: all-ones dropout masks change the gradients", ones.name);

        size_t bad = 0;
        for (size_t t = 0; t < T; t++) bad += cut.d_x[(b * T + t) * I + i_cut] != 0.0f;
        CHECK(bad == 0, "%s: a dropped input feature has %zu nonzero d_x entries", cut.name, bad);
        float *out1 = fdup(cut.out, cut.n_out);
        for (size_t t = 0; t < T; t++) cut.x[(b * T + t) * I + i_cut] += 1.0f;
        CHECK(rnn_fwd(&cut, cut.out, cut.last, cut.cache, cut.h0) == GP_OK, "%s: fwd", cut.name);
        CHECK(count_unequal(cut.out, out1, cut.n_out) == 0,
              "%s: changing a dropped input feature changes the outputs", cut.name);
        free(out1);
        if (cfg.cell != GP_CELL_GRU) {
            CHECK(cut.d_h0[b * H + j_cut] == 0.0f,
                  "%s: a state unit dropped for every gate has d_initial_state %g", cut.name,
                  (double)cut.d_h0[b * H + j_cut]);
        }
        rnn_fix_free(&plain);
        rnn_fix_free(&ones);
        rnn_fix_free(&cut);
    }
}

/* ---------------------------------------------------------------------------------- */
/* 5. Optional (NULL-able) arguments                                                   */
/* ---------------------------------------------------------------------------------- */

/* Every cell variant, plain and with a padded mask (whose output gradient depends on each
 * row's first used step). */
static void test_rnn_optional_arguments(void) {
    const size_t shape[4] = {5, 3, 3, 4};
    memcpy(g_shape, shape, sizeof g_shape);
    for (int combo = 0; combo < 4 * VARIANTS; combo++) {
        const int v = combo % VARIANTS, back = (combo / VARIANTS) & 1;
        const gp_rnn_config cfg = variant_cfg(v, GP_ACT_TANH, GP_ACT_SIGMOID, 1, back);
        rnn_fix f;
        rnn_fix_init(&f, &cfg, combo / (2 * VARIANTS) ? MASK_PADDED : MASK_NONE,
                     400u + (unsigned)combo, 0.5f);
        float *last2 = falloc_fill(f.n_s, NAN), *cache2 = falloc_fill(f.n_cache, NAN);
        float *zeros_h = falloc_fill(f.n_s, 0.0f), *zeros_out = falloc_fill(f.n_out, 0.0f);

        /* outputs == NULL: same last_state (and cache) as with outputs. */
        CHECK(rnn_fwd(&f, f.out, f.last, f.cache, f.h0) == GP_OK, "%s: forward", f.name);
        CHECK(rnn_fwd(&f, NULL, last2, cache2, f.h0) == GP_OK,
              "%s: training forward with outputs NULL", f.name);
        CHECK(count_unequal(f.last, last2, f.n_s) == 0 &&
                  count_unequal(f.cache, cache2, f.n_cache) == 0,
              "%s: outputs NULL changes last_state or cache", f.name);
        ffill(last2, f.n_s, NAN);
        CHECK(rnn_fwd(&f, NULL, last2, NULL, f.h0) == GP_OK,
              "%s: inference forward with outputs NULL", f.name);
        CHECK(count_unequal(f.last, last2, f.n_s) == 0, "%s: outputs NULL (inference)", f.name);

        /* initial_state == NULL means zeros. */
        float *out_z = falloc_fill(f.n_out, NAN), *out_n = falloc_fill(f.n_out, NAN);
        CHECK(rnn_fwd(&f, out_z, last2, NULL, zeros_h) == GP_OK, "%s: zero h0", f.name);
        CHECK(rnn_fwd(&f, out_n, last2, NULL, NULL) == GP_OK, "%s: NULL h0", f.name);
        CHECK(count_unequal(out_z, out_n, f.n_out) == 0,
              "%s: initial_state NULL differs from zeros", f.name);
        free(out_z);
        free(out_n);

        /* Backward: the reference run with every argument. */
        CHECK(rnn_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last) == GP_OK, "%s: backward", f.name);
        float *k_ref = fdup(f.d_k, f.n_k), *r_ref = fdup(f.d_r, f.n_r);
        float *b_ref = fdup(f.d_b, f.n_b), *x_ref = fdup(f.d_x, f.n_x);
        float *dx2 = falloc(f.n_x), *dh2 = falloc(f.n_s);

#define RNN_RESET_GRADS()                                                                          \
    do {                                                                                           \
        rnn_zero_param_grads(&f);                                                                  \
        ffill(dx2, f.n_x, NAN);                                                                    \
        ffill(dh2, f.n_s, NAN);                                                                    \
    } while (0)
#define RNN_SAME_GRADS(what)                                                                       \
    CHECK(count_unequal(f.d_k, k_ref, f.n_k) == 0 && count_unequal(f.d_r, r_ref, f.n_r) == 0 &&    \
              count_unequal(f.d_b, b_ref, f.n_b) == 0 && count_unequal(dx2, x_ref, f.n_x) == 0,    \
          "%s: %s changes the gradients", f.name, what)

        /* d_initial_state == NULL: allowed, nothing else changes. */
        RNN_RESET_GRADS();
        CHECK(rnn_bwd(&f, dx2, NULL, f.d_out, f.d_last) == GP_OK,
              "%s: backward with d_initial_state NULL", f.name);
        RNN_SAME_GRADS("d_initial_state NULL");

        /* d_x == NULL: allowed (the input gradient is skipped), nothing else changes. */
        RNN_RESET_GRADS();
        CHECK(rnn_bwd(&f, NULL, dh2, f.d_out, f.d_last) == GP_OK, "%s: backward with d_x NULL",
              f.name);
        CHECK(count_unequal(f.d_k, k_ref, f.n_k) == 0 && count_unequal(f.d_r, r_ref, f.n_r) == 0 &&
                  count_unequal(f.d_b, b_ref, f.n_b) == 0 && count_unequal(dh2, f.d_h0, f.n_s) == 0,
              "%s: d_x NULL changes the other gradients", f.name);

        /* d_outputs == NULL, then d_last_state == NULL, are the same as zeros. */
        float *dh_ref = falloc(f.n_s);
        for (int which = 0; which < 2; which++) {
            const float *d_out_z = which ? f.d_out : zeros_out;
            const float *d_last_z = which ? zeros_h : f.d_last;
            const char *what = which ? "d_last_state NULL (vs zeros)" : "d_outputs NULL (vs zeros)";
            RNN_RESET_GRADS();
            CHECK(rnn_bwd(&f, dx2, dh2, d_out_z, d_last_z) == GP_OK, "%s: zeros", f.name);
            memcpy(k_ref, f.d_k, f.n_k * sizeof(float));
            memcpy(r_ref, f.d_r, f.n_r * sizeof(float));
            memcpy(b_ref, f.d_b, f.n_b * sizeof(float));
            memcpy(x_ref, dx2, f.n_x * sizeof(float));
            memcpy(dh_ref, dh2, f.n_s * sizeof(float));
            RNN_RESET_GRADS();
            CHECK(rnn_bwd(&f, dx2, dh2, which ? f.d_out : NULL, which ? NULL : f.d_last) == GP_OK,
                  "%s: backward with %s", f.name, what);
            RNN_SAME_GRADS(what);
            CHECK(count_unequal(dh2, dh_ref, f.n_s) == 0, "%s: %s: d_initial_state differs", f.name,
                  what);
        }
        free(dh_ref);

        /* Both NULL: every gradient is zero. */
        RNN_RESET_GRADS();
        CHECK(rnn_bwd(&f, dx2, dh2, NULL, NULL) == GP_OK, "%s: both NULL", f.name);
        CHECK(count_nonzero(dx2, f.n_x) == 0 && count_nonzero(dh2, f.n_s) == 0 &&
                  count_nonzero(f.d_k, f.n_k) == 0 && count_nonzero(f.d_r, f.n_r) == 0 &&
                  count_nonzero(f.d_b, f.n_b) == 0,
              "%s: d_outputs and d_last_state NULL must give zero gradients", f.name);
#undef RNN_RESET_GRADS
#undef RNN_SAME_GRADS
        free(k_ref);
        free(r_ref);
        free(b_ref);
        free(x_ref);
        free(dx2);
        free(dh2);
        free(last2);
        free(cache2);
        free(zeros_h);
        free(zeros_out);
        rnn_fix_free(&f);
    }
    restore_default_shape();
}

/* use_bias = 0: bias and d_bias are ignored, NULL or not. */
static void test_rnn_no_bias_ignores_bias(void) {
    for (int v = 0; v < VARIANTS; v++) {
        const gp_rnn_config cfg = variant_cfg(v, GP_ACT_TANH, GP_ACT_SIGMOID, 0, 0);
        rnn_fix f;
        rnn_fix_init(&f, &cfg, MASK_NONE, 500u + (unsigned)v, 0.5f);
        float *junk = falloc_fill(f.n_b, NAN), *d_junk = falloc_fill(f.n_b, 5.0f);
        float *out2 = falloc_fill(f.n_out, NAN), *last2 = falloc_fill(f.n_s, NAN);
        float *dx2 = falloc_fill(f.n_x, NAN);
        CHECK(rnn_fwd(&f, f.out, f.last, f.cache, f.h0) == GP_OK, "%s: bias NULL", f.name);
        gp_rnn_inputs in = rnn_inputs(&f, f.h0);
        in.bias = junk;
        CHECK(gp_rnn_forward(out2, last2, NULL, f.fws_infer, &in, &f.cfg) == GP_OK,
              "%s: ignored bias", f.name);
        CHECK(count_unequal(f.out, out2, f.n_out) == 0,
              "%s: use_bias=0 but the bias array changed the outputs", f.name);
        CHECK(rnn_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last) == GP_OK, "%s: d_bias NULL", f.name);
        const gp_rnn_gradients g = {dx2, NULL, f.d_k, f.d_r, d_junk};
        CHECK(gp_rnn_backward(&g, f.bws, f.cache, &in, f.d_out, f.d_last, &f.cfg) == GP_OK,
              "%s: ignored d_bias", f.name);
        size_t touched = 0;
        for (size_t i = 0; i < f.n_b; i++) touched += d_junk[i] != 5.0f;
        CHECK(touched == 0, "%s: use_bias=0 but d_bias was written", f.name);
        CHECK(count_unequal(f.d_x, dx2, f.n_x) == 0, "%s: ignored d_bias changed d_x", f.name);
        free(junk);
        free(d_junk);
        free(out2);
        free(last2);
        free(dx2);
        rnn_fix_free(&f);
    }
}

static void test_dense_optional_arguments(void) {
    const gp_dense_config cfg = {3, 4, 2, GP_ACT_SIGMOID, 1};
    const size_t N = 3, I = 4, O = 2;
    g_lcg = 4711;
    float *x = falloc(N * I), *kernel = falloc(I * O), *bias = falloc(O), *d_y = falloc(N * O);
    frand(x, N * I, 1.0f);
    frand(kernel, I * O, 0.5f);
    frand(bias, O, 0.5f);
    frand(d_y, N * O, 1.0f);
    float *y = falloc_fill(N * O, NAN), *ws = falloc_fill(N * O, NAN);
    float *d_x = falloc(N * I), *d_k = falloc_fill(I * O, 0.0f), *d_b = falloc_fill(O, 0.0f);
    float *d_k2 = falloc_fill(I * O, 0.0f), *d_b2 = falloc_fill(O, 0.0f);
    CHECK(gp_dense_forward(y, x, kernel, bias, &cfg) == GP_OK, "dense forward");
    CHECK(gp_dense_backward(d_x, d_k, d_b, ws, x, kernel, y, d_y, &cfg) == GP_OK, "dense bwd");
    CHECK(gp_dense_backward(NULL, d_k2, d_b2, ws, x, kernel, y, d_y, &cfg) == GP_OK,
          "dense backward with d_x NULL");
    CHECK(count_unequal(d_k, d_k2, I * O) == 0 && count_unequal(d_b, d_b2, O) == 0,
          "dense: d_x NULL changes the parameter gradients");

    /* use_bias = 0: bias NULL or junk give the same y; d_bias NULL allowed and untouched. */
    const gp_dense_config nb = {3, 4, 2, GP_ACT_SIGMOID, 0};
    float *y2 = falloc_fill(N * O, NAN), *junk = falloc_fill(O, NAN);
    CHECK(gp_dense_forward(y, x, kernel, NULL, &nb) == GP_OK, "dense no-bias forward NULL");
    CHECK(gp_dense_forward(y2, x, kernel, junk, &nb) == GP_OK, "dense no-bias forward junk");
    CHECK(count_unequal(y, y2, N * O) == 0, "dense use_bias=0: bias array changed y");
    CHECK(gp_dense_backward(d_x, d_k, NULL, ws, x, kernel, y, d_y, &nb) == GP_OK,
          "dense no-bias backward d_bias NULL");
    ffill(junk, O, 3.0f);
    CHECK(gp_dense_backward(d_x, d_k, junk, ws, x, kernel, y, d_y, &nb) == GP_OK,
          "dense no-bias backward d_bias junk");
    CHECK(junk[0] == 3.0f && junk[1] == 3.0f, "dense use_bias=0 but d_bias written");
    free(x);
    free(kernel);
    free(bias);
    free(d_y);
    free(y);
    free(ws);
    free(d_x);
    free(d_k);
    free(d_b);
    free(d_k2);
    free(d_b2);
    free(y2);
    free(junk);
}

/* Huge inputs saturate sigmoid / tanh / hard_sigmoid and push softmax far from 0: every
 * output and gradient must stay finite (exp must not overflow into inf or NaN). */
static size_t count_nonfinite(const float *a, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += (size_t)!isfinite(a[i]);
    return bad;
}

static void test_extreme_inputs(void) {
    static const gp_activation acts[3] = {GP_ACT_SIGMOID, GP_ACT_TANH, GP_ACT_HARD_SIGMOID};
    for (int a = 0; a < 3; a++) {
        for (int v = 0; v < VARIANTS; v++) {
            const gp_rnn_config cfg = variant_cfg(v, acts[a], acts[2 - a], 1, 0);
            rnn_fix f;
            rnn_fix_init(&f, &cfg, MASK_NONE, 700u, 0.5f);
            for (size_t i = 0; i < f.n_x; i++) f.x[i] *= 1e6f;
            CHECK(rnn_fwd(&f, f.out, f.last, f.cache, f.h0) == GP_OK, "%s: forward", f.name);
            CHECK(rnn_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last) == GP_OK, "%s: bwd", f.name);
            CHECK(count_nonfinite(f.out, f.n_out) == 0 && count_nonfinite(f.last, f.n_s) == 0,
                  "%s: inputs of 1e6 give non-finite outputs", f.name);
            CHECK(count_nonfinite(f.d_x, f.n_x) == 0 && count_nonfinite(f.d_h0, f.n_s) == 0 &&
                      count_nonfinite(f.d_k, f.n_k) == 0 && count_nonfinite(f.d_r, f.n_r) == 0 &&
                      count_nonfinite(f.d_b, f.n_b) == 0,
                  "%s: inputs of 1e6 give non-finite gradients", f.name);
            rnn_fix_free(&f);
        }
    }
    for (int a = 0; a < 4; a++) {
        const gp_activation act = a == 3 ? GP_ACT_SOFTMAX : acts[a];
        const gp_dense_config cfg = {2, 2, 3, act, 1};
        float x[4] = {1e30f, -1e30f, -3e4f, 2e4f}, kernel[6] = {1, -1, 0.5f, -2, 3, 0};
        float bias[3] = {0, 0, 0}, d_y[6] = {1, -1, 2, 0.5f, -3, 1};
        float *y = falloc_fill(6, NAN), *ws = falloc_fill(6, NAN), *d_x = falloc_fill(4, NAN);
        float *d_k = falloc_fill(6, 0.0f), *d_b = falloc_fill(3, 0.0f);
        CHECK(gp_dense_forward(y, x, kernel, bias, &cfg) == GP_OK, "dense extreme forward");
        CHECK(gp_dense_backward(d_x, d_k, d_b, ws, x, kernel, y, d_y, &cfg) == GP_OK,
              "dense extreme backward");
        CHECK(count_nonfinite(y, 6) == 0 && count_nonfinite(d_x, 4) == 0 &&
                  count_nonfinite(d_b, 3) == 0,
              "dense %s: huge pre-activations give non-finite values", act_name(act));
        if (act == GP_ACT_SOFTMAX) {
            for (int r = 0; r < 2; r++) {
                const float sum = y[3 * r] + y[3 * r + 1] + y[3 * r + 2];
                CHECK(fabsf(sum - 1.0f) <= 1e-6f, "dense softmax row %d sums to %g", r,
                      (double)sum);
            }
        }
        free(y);
        free(ws);
        free(d_x);
        free(d_k);
        free(d_b);
    }
}

/* ---------------------------------------------------------------------------------- */
/* 6. Status codes and sizes                                                           */
/* ---------------------------------------------------------------------------------- */

static void test_rnn_counts(void) {
    static const struct {
        gp_cell cell;
        size_t gates, states;
    } want[] = {{GP_CELL_GRU, 3, 1},   {GP_CELL_LSTM, 4, 2}, {GP_CELL_SIMPLE_RNN, 1, 1},
                {GP_CELL_COUNT, 0, 0}, {(gp_cell)99, 0, 0},  {(gp_cell)-1, 0, 0}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const size_t g = gp_rnn_gate_count(want[i].cell), s = gp_rnn_state_count(want[i].cell);
        CHECK(g == want[i].gates && s == want[i].states,
              "cell %d: gate_count %zu, state_count %zu, want %zu, %zu", (int)want[i].cell, g, s,
              want[i].gates, want[i].states);
    }
}

/* Dropout keeps nothing more in the cache. Input dropout needs scratch for one gate's
 * dropped-out inputs (B, T, I) in every forward and in backward; recurrent dropout, in
 * backward, for one gate's dropped-out states (T, B, H) when the weight gradient is one
 * GEMM after the time loop. */
static void test_rnn_workspace_sizes(void) {
    for (int v = 0; v < VARIANTS; v++) {
        size_t cache[4], fws_train[4], fws_infer[4], bws[4];
        for (int drop = 0; drop < 4; drop++) {
            gp_rnn_config cfg = variant_cfg(v, GP_ACT_TANH, GP_ACT_SIGMOID, 1, 0);
            cfg.input_dropout = drop & 1;
            cfg.recurrent_dropout = drop >> 1;
            cache[drop] = gp_rnn_cache_size(&cfg);
            fws_train[drop] = gp_rnn_forward_workspace_size(&cfg, 1);
            fws_infer[drop] = gp_rnn_forward_workspace_size(&cfg, 0);
            bws[drop] = gp_rnn_backward_workspace_size(&cfg);
        }
        const char *cell = cell_name(variant_cfg(v, GP_ACT_TANH, GP_ACT_SIGMOID, 1, 0).cell);
        const gp_rnn_config base = variant_cfg(v, GP_ACT_TANH, GP_ACT_SIGMOID, 1, 0);
        const size_t x_copy = base.batch * base.steps * base.input_size;
        const size_t h_copy = base.steps * base.batch * base.units;
        for (int drop = 1; drop < 4; drop++) {
            const int input = drop & 1, recurrent = drop >> 1;
            CHECK(cache[drop] == cache[0], "%s v%d dropout %d: cache size %zu, without %zu", cell,
                  v, drop, cache[drop], cache[0]);
            const size_t scratch = input ? x_copy : 0;
            CHECK(fws_train[drop] == fws_train[0] + scratch,
                  "%s v%d dropout %d: training workspace %zu, without %zu", cell, v, drop,
                  fws_train[drop], fws_train[0]);
            CHECK(fws_infer[drop] == fws_infer[0] + scratch &&
                      bws[drop] == bws[0] + scratch + (recurrent ? h_copy : 0),
                  "%s v%d dropout %d: inference and backward workspaces %zu, %zu; without %zu, "
                  "%zu",
                  cell, v, drop, fws_infer[drop], bws[drop], fws_infer[0], bws[0]);
        }
    }
}

/* Checks that `bad` is rejected with `want` by every recurrent entry point. The buffers in
 * `f` belong to a small valid config; they are handed to forward/backward only when the
 * config check already rejects `bad`, so a core that wrongly accepted it cannot overrun
 * them. */
static void expect_rnn_rejected(rnn_fix *f, const gp_rnn_config *bad, gp_status want,
                                const char *what) {
    const gp_status got = gp_rnn_check_config(bad);
    CHECK(got == want, "%s %s: check_config %d, want %d", f->name, what, (int)got, (int)want);
    CHECK(gp_rnn_cache_size(bad) == 0, "%s %s: cache_size %zu, want 0", f->name, what,
          gp_rnn_cache_size(bad));
    CHECK(gp_rnn_forward_workspace_size(bad, 1) == 0 && gp_rnn_forward_workspace_size(bad, 0) == 0,
          "%s %s: forward_workspace_size not 0", f->name, what);
    CHECK(gp_rnn_backward_workspace_size(bad) == 0, "%s %s: backward_workspace_size not 0", f->name,
          what);
    if (got != want) return;
    const gp_rnn_inputs in = rnn_inputs(f, f->h0);
    gp_status st = gp_rnn_forward(f->out, f->last, f->cache, f->fws_train, &in, bad);
    CHECK(st == want, "%s %s: forward %d, want %d", f->name, what, (int)st, (int)want);
    const gp_rnn_gradients g = {f->d_x, f->d_h0, f->d_k, f->d_r, f->d_b};
    st = gp_rnn_backward(&g, f->bws, f->cache, &in, f->d_out, f->d_last, bad);
    CHECK(st == want, "%s %s: backward %d, want %d", f->name, what, (int)st, (int)want);
}

/* One rejected forward / backward call, its pointers given one at a time. */
#define EXPECT_NULL(call, what)                                                                    \
    CHECK((call) == GP_ERR_NULL_POINTER, "%s: %s not rejected as a NULL pointer", f.name, what)

/* Every cell variant, with a mask and both dropout masks, so that each pointer is required. */
static void test_rnn_status(void) {
    for (int v = 0; v < VARIANTS; v++) {
        gp_rnn_config ok = variant_cfg(v, GP_ACT_TANH, GP_ACT_SIGMOID, 1, 0);
        ok.zero_output_for_mask = ok.input_dropout = ok.recurrent_dropout = 1;
        rnn_fix f;
        rnn_fix_init(&f, &ok, MASK_PADDED, 600u + (unsigned)v, 0.3f);
        CHECK(gp_rnn_check_config(&ok) == GP_OK, "%s: valid config rejected", f.name);

        expect_rnn_rejected(&f, NULL, GP_ERR_NULL_POINTER, "NULL config");
        gp_rnn_config c;
        c = ok, c.batch = 0, expect_rnn_rejected(&f, &c, GP_ERR_BAD_SIZE, "batch 0");
        c = ok, c.steps = 0, expect_rnn_rejected(&f, &c, GP_ERR_BAD_SIZE, "steps 0");
        c = ok, c.input_size = 0, expect_rnn_rejected(&f, &c, GP_ERR_BAD_SIZE, "input_size 0");
        c = ok, c.units = 0, expect_rnn_rejected(&f, &c, GP_ERR_BAD_SIZE, "units 0");
        c = ok, c.batch = SIZE_MAX / 2,
        expect_rnn_rejected(&f, &c, GP_ERR_BAD_SIZE, "batch SIZE_MAX/2");
        c = ok, c.units = SIZE_MAX / 3,
        expect_rnn_rejected(&f, &c, GP_ERR_BAD_SIZE, "units SIZE_MAX/3");
        c = ok, c.units = SIZE_MAX / 4 + 1,
        expect_rnn_rejected(&f, &c, GP_ERR_BAD_SIZE, "units SIZE_MAX/4+1");
        c = ok, c.steps = SIZE_MAX, expect_rnn_rejected(&f, &c, GP_ERR_BAD_SIZE, "steps SIZE_MAX");
        c = ok, c.input_size = SIZE_MAX,
        expect_rnn_rejected(&f, &c, GP_ERR_BAD_SIZE, "input SIZE_MAX");
        c = ok, c.batch = (size_t)1 << 32, c.steps = (size_t)1 << 32,
        expect_rnn_rejected(&f, &c, GP_ERR_BAD_SIZE, "batch*steps = 2^64");
        /* No overflow, but beyond BLAS's int sizes. */
        c = ok, c.input_size = (size_t)INT_MAX + 1,
        expect_rnn_rejected(&f, &c, GP_ERR_BAD_SIZE, "input_size INT_MAX+1");
        c = ok, c.batch = 1, c.steps = (size_t)INT_MAX + 1,
        expect_rnn_rejected(&f, &c, GP_ERR_BAD_SIZE, "B*T INT_MAX+1");

        c = ok, c.cell = GP_CELL_COUNT,
        expect_rnn_rejected(&f, &c, GP_ERR_BAD_PARAMETER, "cell COUNT");
        c = ok, c.cell = (gp_cell)99, expect_rnn_rejected(&f, &c, GP_ERR_BAD_PARAMETER, "cell 99");
        c = ok, c.cell = (gp_cell)-1, expect_rnn_rejected(&f, &c, GP_ERR_BAD_PARAMETER, "cell -1");
        if (ok.cell == GP_CELL_GRU) {
            c = ok, c.reset_after = 2,
            expect_rnn_rejected(&f, &c, GP_ERR_BAD_FLAG, "reset_after 2");
        } else {
            c = ok, c.reset_after = 1,
            expect_rnn_rejected(&f, &c, GP_ERR_BAD_FLAG, "reset_after 1 on a non-GRU cell");
        }
        c = ok, c.use_bias = 2, expect_rnn_rejected(&f, &c, GP_ERR_BAD_FLAG, "use_bias 2");
        c = ok, c.go_backwards = 2, expect_rnn_rejected(&f, &c, GP_ERR_BAD_FLAG, "go_backwards 2");
        c = ok, c.go_backwards = -1,
        expect_rnn_rejected(&f, &c, GP_ERR_BAD_FLAG, "go_backwards -1");
        c = ok, c.zero_output_for_mask = 2,
        expect_rnn_rejected(&f, &c, GP_ERR_BAD_FLAG, "zero_output_for_mask 2");
        c = ok, c.input_dropout = 2,
        expect_rnn_rejected(&f, &c, GP_ERR_BAD_FLAG, "input_dropout 2");
        c = ok, c.recurrent_dropout = -1,
        expect_rnn_rejected(&f, &c, GP_ERR_BAD_FLAG, "recurrent_dropout -1");

        const gp_activation bad_acts[3] = {GP_ACT_SOFTMAX, GP_ACT_COUNT, (gp_activation)99};
        for (int i = 0; i < 3; i++) {
            char what[64];
            snprintf(what, sizeof what, "activation %d", (int)bad_acts[i]);
            c = ok, c.activation = bad_acts[i];
            expect_rnn_rejected(&f, &c, GP_ERR_BAD_ACTIVATION, what);
            snprintf(what, sizeof what, "recurrent_activation %d", (int)bad_acts[i]);
            c = ok, c.recurrent_activation = bad_acts[i];
            expect_rnn_rejected(&f, &c, GP_ERR_BAD_ACTIVATION, what);
        }

        /* Required pointers, one at a time. */
        const gp_rnn_inputs in = rnn_inputs(&f, f.h0);
        gp_rnn_inputs bad_in;
        float *o = f.out, *l = f.last, *ca = f.cache, *w = f.fws_train;
        CHECK(gp_rnn_forward(o, l, ca, w, &in, &ok) == GP_OK, "%s: forward valid", f.name);
        EXPECT_NULL(gp_rnn_forward(o, NULL, ca, w, &in, &ok), "forward last_state");
        EXPECT_NULL(gp_rnn_forward(o, l, ca, NULL, &in, &ok), "forward workspace");
        EXPECT_NULL(gp_rnn_forward(o, l, ca, w, NULL, &ok), "forward inputs");
        bad_in = in, bad_in.x = NULL;
        EXPECT_NULL(gp_rnn_forward(o, l, ca, w, &bad_in, &ok), "forward x");
        bad_in = in, bad_in.kernel = NULL;
        EXPECT_NULL(gp_rnn_forward(o, l, ca, w, &bad_in, &ok), "forward kernel");
        bad_in = in, bad_in.recurrent_kernel = NULL;
        EXPECT_NULL(gp_rnn_forward(o, l, ca, w, &bad_in, &ok), "forward recurrent_kernel");
        bad_in = in, bad_in.bias = NULL;
        EXPECT_NULL(gp_rnn_forward(o, l, ca, w, &bad_in, &ok), "forward bias with use_bias=1");
        bad_in = in, bad_in.input_dropout = NULL;
        EXPECT_NULL(gp_rnn_forward(o, l, ca, w, &bad_in, &ok), "forward input_dropout mask");
        bad_in = in, bad_in.recurrent_dropout = NULL;
        EXPECT_NULL(gp_rnn_forward(o, l, ca, w, &bad_in, &ok), "forward recurrent_dropout mask");

        const gp_rnn_gradients g = {f.d_x, f.d_h0, f.d_k, f.d_r, f.d_b};
        gp_rnn_gradients bad_g;
        float *bw = f.bws;
        const float *dout = f.d_out, *dlast = f.d_last;
        CHECK(gp_rnn_backward(&g, bw, ca, &in, dout, dlast, &ok) == GP_OK, "%s: backward valid",
              f.name);
        EXPECT_NULL(gp_rnn_backward(NULL, bw, ca, &in, dout, dlast, &ok), "backward gradients");
        bad_g = g, bad_g.d_x = NULL; /* optional: no input gradient wanted */
        CHECK(gp_rnn_backward(&bad_g, bw, ca, &in, dout, dlast, &ok) == GP_OK,
              "%s: backward with d_x NULL rejected", f.name);
        bad_g = g, bad_g.d_kernel = NULL;
        EXPECT_NULL(gp_rnn_backward(&bad_g, bw, ca, &in, dout, dlast, &ok), "backward d_kernel");
        bad_g = g, bad_g.d_recurrent_kernel = NULL;
        EXPECT_NULL(gp_rnn_backward(&bad_g, bw, ca, &in, dout, dlast, &ok),
                    "backward d_recurrent_kernel");
        bad_g = g, bad_g.d_bias = NULL;
        EXPECT_NULL(gp_rnn_backward(&bad_g, bw, ca, &in, dout, dlast, &ok),
                    "backward d_bias with use_bias=1");
        EXPECT_NULL(gp_rnn_backward(&g, NULL, ca, &in, dout, dlast, &ok), "backward workspace");
        EXPECT_NULL(gp_rnn_backward(&g, bw, NULL, &in, dout, dlast, &ok), "backward cache");
        EXPECT_NULL(gp_rnn_backward(&g, bw, ca, NULL, dout, dlast, &ok), "backward inputs");
        bad_in = in, bad_in.x = NULL;
        EXPECT_NULL(gp_rnn_backward(&g, bw, ca, &bad_in, dout, dlast, &ok), "backward x");
        bad_in = in, bad_in.kernel = NULL;
        EXPECT_NULL(gp_rnn_backward(&g, bw, ca, &bad_in, dout, dlast, &ok), "backward kernel");
        bad_in = in, bad_in.recurrent_kernel = NULL;
        EXPECT_NULL(gp_rnn_backward(&g, bw, ca, &bad_in, dout, dlast, &ok),
                    "backward recurrent_kernel");
        bad_in = in, bad_in.input_dropout = NULL;
        EXPECT_NULL(gp_rnn_backward(&g, bw, ca, &bad_in, dout, dlast, &ok),
                    "backward input_dropout mask");
        bad_in = in, bad_in.recurrent_dropout = NULL;
        EXPECT_NULL(gp_rnn_backward(&g, bw, ca, &bad_in, dout, dlast, &ok),
                    "backward recurrent_dropout mask");

        /* bias / d_bias NULL are fine without a bias, and the mask may be NULL. */
        gp_rnn_config nb = ok;
        nb.use_bias = 0;
        CHECK(gp_rnn_check_config(&nb) == GP_OK, "%s: use_bias=0 config", f.name);
        bad_in = in, bad_in.bias = NULL, bad_in.mask = NULL;
        CHECK(gp_rnn_forward(o, l, ca, w, &bad_in, &nb) == GP_OK,
              "%s: forward bias and mask NULL with use_bias=0", f.name);
        bad_g = g, bad_g.d_bias = NULL;
        CHECK(gp_rnn_backward(&bad_g, bw, ca, &bad_in, dout, dlast, &nb) == GP_OK,
              "%s: backward d_bias NULL with use_bias=0", f.name);
        rnn_fix_free(&f);
    }
}
#undef EXPECT_NULL

static void expect_dense_rejected(const gp_dense_config *bad, gp_status want, const char *what,
                                  float *y, const float *x, const float *kernel, const float *bias,
                                  float *d_x, float *d_k, float *d_b, float *ws, const float *d_y) {
    const gp_status got = gp_dense_check_config(bad);
    CHECK(got == want, "dense %s: check_config %d, want %d", what, (int)got, (int)want);
    CHECK(gp_dense_backward_workspace_size(bad) == 0, "dense %s: workspace size %zu", what,
          gp_dense_backward_workspace_size(bad));
    if (got != want) return;
    gp_status st = gp_dense_forward(y, x, kernel, bias, bad);
    CHECK(st == want, "dense %s: forward %d, want %d", what, (int)st, (int)want);
    st = gp_dense_backward(d_x, d_k, d_b, ws, x, kernel, y, d_y, bad);
    CHECK(st == want, "dense %s: backward %d, want %d", what, (int)st, (int)want);
}

static void test_dense_status(void) {
    const gp_dense_config ok = {2, 3, 4, GP_ACT_RELU, 1};
    const size_t N = 2, I = 3, O = 4;
    float *x = falloc_fill(N * I, 0.5f), *kernel = falloc_fill(I * O, 0.25f);
    float *bias = falloc_fill(O, 0.1f), *y = falloc_fill(N * O, NAN);
    float *d_y = falloc_fill(N * O, 1.0f), *ws = falloc_fill(N * O, NAN);
    float *d_x = falloc(N * I), *d_k = falloc_fill(I * O, 0.0f), *d_b = falloc_fill(O, 0.0f);
    CHECK(gp_dense_check_config(&ok) == GP_OK, "dense valid config rejected");
    CHECK(gp_dense_backward_workspace_size(&ok) == N * O, "dense workspace size");

#define REJECT(cfgp, want, what)                                                                   \
    expect_dense_rejected(cfgp, want, what, y, x, kernel, bias, d_x, d_k, d_b, ws, d_y)
    REJECT(NULL, GP_ERR_NULL_POINTER, "NULL config");
    gp_dense_config c;
    c = ok, c.rows = 0, REJECT(&c, GP_ERR_BAD_SIZE, "rows 0");
    c = ok, c.input_size = 0, REJECT(&c, GP_ERR_BAD_SIZE, "input_size 0");
    c = ok, c.units = 0, REJECT(&c, GP_ERR_BAD_SIZE, "units 0");
    c = ok, c.rows = SIZE_MAX / 2, REJECT(&c, GP_ERR_BAD_SIZE, "rows SIZE_MAX/2");
    c = ok, c.units = SIZE_MAX / 3, REJECT(&c, GP_ERR_BAD_SIZE, "units SIZE_MAX/3");
    c = ok, c.input_size = SIZE_MAX, REJECT(&c, GP_ERR_BAD_SIZE, "input_size SIZE_MAX");
    c = ok, c.rows = (size_t)1 << 32, c.units = (size_t)1 << 32,
    REJECT(&c, GP_ERR_BAD_SIZE, "rows*units = 2^64");
    c = ok, c.input_size = (size_t)INT_MAX + 1, REJECT(&c, GP_ERR_BAD_SIZE, "input INT_MAX+1");
    c = ok, c.use_bias = 2, REJECT(&c, GP_ERR_BAD_FLAG, "use_bias 2");
    c = ok, c.use_bias = -1, REJECT(&c, GP_ERR_BAD_FLAG, "use_bias -1");
    c = ok, c.activation = GP_ACT_COUNT, REJECT(&c, GP_ERR_BAD_ACTIVATION, "activation COUNT");
    c = ok, c.activation = (gp_activation)99, REJECT(&c, GP_ERR_BAD_ACTIVATION, "activation 99");
#undef REJECT
    c = ok, c.activation = GP_ACT_SOFTMAX;
    CHECK(gp_dense_check_config(&c) == GP_OK, "dense softmax must be accepted");

    CHECK(gp_dense_forward(y, x, kernel, bias, &ok) == GP_OK, "dense forward valid");
    CHECK(gp_dense_forward(NULL, x, kernel, bias, &ok) == GP_ERR_NULL_POINTER, "dense y NULL");
    CHECK(gp_dense_forward(y, NULL, kernel, bias, &ok) == GP_ERR_NULL_POINTER, "dense x NULL");
    CHECK(gp_dense_forward(y, x, NULL, bias, &ok) == GP_ERR_NULL_POINTER, "dense kernel NULL");
    CHECK(gp_dense_forward(y, x, kernel, NULL, &ok) == GP_ERR_NULL_POINTER,
          "dense bias NULL with use_bias=1");
    CHECK(gp_dense_backward(d_x, d_k, d_b, ws, x, kernel, y, d_y, &ok) == GP_OK,
          "dense backward valid");
    CHECK(gp_dense_backward(d_x, NULL, d_b, ws, x, kernel, y, d_y, &ok) == GP_ERR_NULL_POINTER,
          "dense backward d_kernel NULL");
    CHECK(gp_dense_backward(d_x, d_k, NULL, ws, x, kernel, y, d_y, &ok) == GP_ERR_NULL_POINTER,
          "dense backward d_bias NULL with use_bias=1");
    CHECK(gp_dense_backward(d_x, d_k, d_b, NULL, x, kernel, y, d_y, &ok) == GP_ERR_NULL_POINTER,
          "dense backward workspace NULL");
    CHECK(gp_dense_backward(d_x, d_k, d_b, ws, NULL, kernel, y, d_y, &ok) == GP_ERR_NULL_POINTER,
          "dense backward x NULL");
    CHECK(gp_dense_backward(d_x, d_k, d_b, ws, x, NULL, y, d_y, &ok) == GP_ERR_NULL_POINTER,
          "dense backward kernel NULL");
    CHECK(gp_dense_backward(d_x, d_k, d_b, ws, x, kernel, NULL, d_y, &ok) == GP_ERR_NULL_POINTER,
          "dense backward y NULL");
    CHECK(gp_dense_backward(d_x, d_k, d_b, ws, x, kernel, y, NULL, &ok) == GP_ERR_NULL_POINTER,
          "dense backward d_y NULL");
    free(x);
    free(kernel);
    free(bias);
    free(y);
    free(d_y);
    free(ws);
    free(d_x);
    free(d_k);
    free(d_b);
}

static void test_status_str(void) {
    const gp_status all[] = {
        GP_OK,           GP_ERR_NULL_POINTER,  GP_ERR_BAD_SIZE,  GP_ERR_BAD_ACTIVATION,
        GP_ERR_BAD_FLAG, GP_ERR_BAD_PARAMETER, GP_ERR_BAD_LABEL, (gp_status)99,
        (gp_status)-1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *s = gp_status_str(all[i]);
        CHECK(s != NULL && s[0] != '\0', "gp_status_str(%d) is NULL or empty", (int)all[i]);
    }
    /* The known statuses, and an unknown one, have different descriptions. */
    const int known = (int)GP_ERR_BAD_LABEL + 1;
    for (int i = 0; i <= known; i++) {
        for (int j = i + 1; j <= known; j++) {
            const char *a = gp_status_str((gp_status)i), *b = gp_status_str((gp_status)j);
            CHECK(a && b && strcmp(a, b) != 0, "gp_status_str(%d) == gp_status_str(%d)", i, j);
        }
    }
}

/* ---------------------------------------------------------------------------------- */
/* 7. BLAS information and threads                                                     */
/* ---------------------------------------------------------------------------------- */

static void test_blas_info(void) {
    const char *config = gp_blas_config();
    CHECK(config != NULL && config[0] != '\0', "gp_blas_config() NULL or empty");
    if (config) printf("OpenBLAS: %s\n", config);
    CHECK(gp_blas_get_num_threads() >= 1, "gp_blas_get_num_threads() = %d",
          gp_blas_get_num_threads());
    const int before = gp_blas_get_num_threads();
    gp_blas_set_num_threads(1);
    CHECK(gp_blas_get_num_threads() == 1, "after set_num_threads(1): %d",
          gp_blas_get_num_threads());
    gp_blas_set_num_threads(before); /* the later tests run with the caller's setting */
}

/* ---------------------------------------------------------------------------------- */
/* The packed per-step products (internal), with every micro-kernel this CPU runs       */
/* ---------------------------------------------------------------------------------- */

static const char *isa_name(gp_isa isa) {
    return isa == GP_ISA_AVX512 ? "avx512" : (isa == GP_ISA_AVX2 ? "avx2" : "scalar");
}

/* One product against a double-precision loop: columns [c0, c1) and depth [k0, k1) of a
 * (rows, k) x (k, n) product, C with two spare columns on each side that must survive. */
static void check_packed_product(size_t rows, size_t k, size_t n, size_t k0, size_t k1, size_t c0,
                                 size_t c1, int transposed, int accumulate) {
    const size_t ldc = n + 4, lda = k + 1;
    float *a = falloc(rows * lda), *b = falloc(k * n), *c = falloc(rows * ldc);
    float *packed = falloc(gp_packed_floats(k, n));
    frand(a, rows * lda, 1.0f);
    frand(b, k * n, 1.0f);
    frand(c, rows * ldc, 1.0f);
    float *before = fdup(c, rows * ldc);
    /* transposed: b holds B^T (n, k), row stride k */
    gp_packed_pack(packed, b, transposed ? k : n, k, n, transposed);
    gp_packed_gemm(c + 2, ldc, a, lda, (gp_packed){packed, k, n}, rows, k0, k1, c0, c1, accumulate);
    size_t bad = 0;
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < ldc; j++) {
            const size_t col = j - 2; /* wraps below 0: then outside [c0, c1) */
            double want = before[i * ldc + j];
            if (j >= 2 && col >= c0 && col < c1) {
                double sum = accumulate ? want : 0.0;
                for (size_t kk = k0; kk < k1; kk++) {
                    const float bv = transposed ? b[col * k + kk] : b[kk * n + col];
                    sum += (double)a[i * lda + kk] * (double)bv;
                }
                want = sum;
            }
            bad += !(fabs((double)c[i * ldc + j] - want) <= 1e-5 * (1.0 + (double)k));
        }
    }
    CHECK(bad == 0,
          "packed gemm %s rows %zu k %zu n %zu [%zu,%zu)x[%zu,%zu) transposed %d accumulate %d: "
          "%zu wrong entries",
          isa_name(gp_packed_isa()), rows, k, n, k0, k1, c0, c1, transposed, accumulate, bad);
    free(a);
    free(b);
    free(c);
    free(packed);
    free(before);
}

/* C (m, n) += A^T B against a double-precision loop, with spare rows and columns in every
 * operand's stride. */
static void check_at_b_product(size_t m, size_t n, size_t k) {
    const size_t lda = m + 3, ldb = n + 16, ldc = n + 5;
    float *a = falloc(k * lda), *b = falloc(k * ldb), *c = falloc(m * ldc);
    frand(a, k * lda, 1.0f);
    frand(b, k * ldb, 1.0f);
    frand(c, m * ldc, 1.0f);
    float *before = fdup(c, m * ldc);
    gp_gemm_at_b(c, ldc, a, lda, b, ldb, m, n, k);
    size_t bad = 0;
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < ldc; j++) {
            double want = before[i * ldc + j];
            for (size_t kk = 0; j < n && kk < k; kk++) {
                want += (double)a[kk * lda + i] * (double)b[kk * ldb + j];
            }
            bad += !(fabs((double)c[i * ldc + j] - want) <= 1e-5 * (1.0 + (double)k));
        }
    }
    CHECK(bad == 0, "A^T B %s m %zu n %zu k %zu: %zu wrong entries", isa_name(gp_packed_isa()), m,
          n, k, bad);
    free(a);
    free(b);
    free(c);
    free(before);
}

/* One row times a row-major B read where it lies (gp_row_gemm), against a double-precision
 * loop, and bit for bit against the same product of B packed. B's rows are ldb floats,
 * wider than the n columns used; c has two spare columns on each side that must survive. */
static void check_row_product(size_t k, size_t n, size_t ldb, size_t k0, size_t k1, size_t c0,
                              size_t c1, int accumulate) {
    const size_t ldc = n + 4;
    float *a = falloc(k), *b = falloc(k * ldb), *c = falloc(ldc), *c_packed = falloc(ldc);
    float *packed = falloc(gp_packed_floats(k, n));
    frand(a, k, 1.0f);
    frand(b, k * ldb, 1.0f);
    frand(c, ldc, 1.0f);
    memcpy(c_packed, c, ldc * sizeof(float));
    float *before = fdup(c, ldc);
    gp_row_gemm(c + 2, a, b, ldb, k0, k1, c0, c1, accumulate);
    gp_packed_pack(packed, b, ldb, k, n, 0);
    gp_packed_gemm(c_packed + 2, ldc, a, k, (gp_packed){packed, k, n}, 1, k0, k1, c0, c1,
                   accumulate);
    size_t bad = 0;
    for (size_t j = 0; j < ldc; j++) {
        const size_t col = j - 2; /* wraps below 0: then outside [c0, c1) */
        double want = before[j];
        if (j >= 2 && col >= c0 && col < c1) {
            double sum = accumulate ? want : 0.0;
            for (size_t kk = k0; kk < k1; kk++) sum += (double)a[kk] * (double)b[kk * ldb + col];
            want = sum;
        }
        bad += !(fabs((double)c[j] - want) <= 1e-5 * (1.0 + (double)k));
    }
    CHECK(bad == 0 && memcmp(c, c_packed, ldc * sizeof(float)) == 0,
          "row gemm %s k %zu n %zu ldb %zu [%zu,%zu)x[%zu,%zu) accumulate %d: %zu wrong entries, "
          "or not the packed product's bits",
          isa_name(gp_packed_isa()), k, n, ldb, k0, k1, c0, c1, accumulate, bad);
    free(a);
    free(b);
    free(c);
    free(c_packed);
    free(packed);
    free(before);
}

/* gp_add_column_sums bit for bit against its documented order: each column's rows summed
 * from zero, then added in. B's rows are ldb floats, wider than the n columns summed,
 * whose spare floats must not count; sums has a spare float on each side. */
static void check_column_sums(size_t k, size_t n, size_t ldb) {
    float *b = falloc(k * ldb + 1), *sums = falloc(n + 2);
    frand(b, k * ldb + 1, 1.0f);
    frand(sums, n + 2, 1.0f);
    float *want = fdup(sums, n + 2);
    for (size_t j = 0; j < n; j++) {
        float sum = 0.0f;
        for (size_t kk = 0; kk < k; kk++) sum += b[kk * ldb + j];
        want[j + 1] += sum;
    }
    gp_add_column_sums(sums + 1, b, ldb, k, n);
    CHECK(memcmp(sums, want, (n + 2) * sizeof(float)) == 0,
          "column sums %s k %zu n %zu ldb %zu: not the documented order's bits",
          isa_name(gp_packed_isa()), k, n, ldb);
    free(b);
    free(sums);
    free(want);
}

/* Row counts across the tile heights (6, 8) and panel counts across the tile widths, with
 * column ranges that start and end inside a panel, as the per-gate products do. */
static void test_packed_gemm(void) {
    const gp_isa chosen = gp_packed_isa();
    CHECK(gp_packed_force_isa(GP_ISA_SCALAR) == 0, "the scalar kernel must always run");
    CHECK(gp_packed_floats(3, 17) == 3 * 32 && gp_packed_floats(5, 16) == 5 * 16,
          "packed sizes round columns up to whole panels");
    CHECK(gp_packed_floats(SIZE_MAX / 8, 40) == 0, "an overflowing packed size reports 0");
    for (int isa = GP_ISA_SCALAR; isa <= GP_ISA_AVX512; isa++) {
        if (gp_packed_force_isa((gp_isa)isa) != 0) {
            printf("packed gemm: %s not supported here, not tested\n", isa_name((gp_isa)isa));
            continue;
        }
        for (size_t rows = 1; rows <= 17; rows += 2) {
            check_packed_product(rows, 7, 53, 0, 7, 0, 53, rows % 4 == 1, rows % 3 == 0);
        }
        check_packed_product(9, 40, 48, 0, 40, 16, 32, 0, 0);     /* one whole panel */
        check_packed_product(13, 40, 72, 0, 40, 5, 70, 0, 1);     /* ragged both ends */
        check_packed_product(6, 48, 24, 16, 32, 0, 24, 1, 1);     /* a block of depth */
        check_packed_product(8, 30, 90, 30, 30, 3, 61, 0, 0);     /* empty depth: zeros */
        check_packed_product(5, 12, 33, 0, 12, 20, 20, 1, 0);     /* no columns: untouched */
        check_packed_product(16, 64, 192, 0, 64, 128, 192, 0, 0); /* a gate block */
        check_row_product(7, 48, 48, 0, 7, 0, 48, 0);             /* whole rows */
        check_row_product(33, 150, 160, 0, 33, 3, 150, 1);        /* ragged, inside wider rows */
        check_row_product(20, 384, 384, 4, 17, 128, 256, 0);      /* one gate's units, some depth */
        check_row_product(9, 64, 64, 9, 9, 0, 64, 0);             /* empty depth: zeros */
        check_row_product(12, 500, 512, 0, 12, 17, 499, 1);       /* 31 panels: 16, 8 and 7 */
        check_at_b_product(1, 16, 5);
        check_at_b_product(13, 48, 33);
        check_at_b_product(64, 192, 128);
        check_at_b_product(8, 32, 0);        /* no rows: C unchanged */
        check_column_sums(32, 384, 384 * 3); /* a step's gate gradients, 24 panels */
        check_column_sums(7, 30, 30);        /* a partial last panel, at the array's end */
        check_column_sums(5, 400, 403);      /* 25 panels and a partial one */
        check_column_sums(0, 48, 48);        /* no rows: sums unchanged */
    }
    gp_packed_force_isa(chosen);
}

/* gp_find_nonfinite with every scan this CPU runs: the first NaN or infinity at block
 * edges and in partial blocks, and none among the largest, smallest and subnormal floats. */
static void test_find_nonfinite_every_isa(void) {
    const gp_isa chosen = gp_packed_isa();
    const size_t sizes[] = {1, 17, 4096, 4097, 10000};
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (int isa = GP_ISA_SCALAR; isa <= GP_ISA_AVX512; isa++) {
        if (gp_packed_force_isa((gp_isa)isa) != 0) continue;
        for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
            const size_t n = sizes[c];
            float *v = falloc(n);
            const float finite[] = {FLT_MAX, -FLT_MAX, FLT_MIN, 1e-40f, 0.0f, -1.0f};
            for (size_t i = 0; i < n; i++) v[i] = finite[i % 6];
            CHECK(gp_find_nonfinite(v, n) == n, "%s n %zu: a finite array reported",
                  isa_name((gp_isa)isa), n);
            const size_t at[] = {0, n - 1, 4095, 4096};
            for (size_t a = 0; a < 4; a++) {
                if (at[a] >= n) continue;
                for (size_t b = 0; b < 3; b++) {
                    const float keep = v[at[a]];
                    v[at[a]] = bad[b];
                    if (at[a] + 1 < n) v[n - 1] = bad[(b + 1) % 3]; /* a later one too */
                    CHECK(gp_find_nonfinite(v, n) == at[a], "%s n %zu: %g at %zu not found first",
                          isa_name((gp_isa)isa), n, (double)bad[b], at[a]);
                    v[at[a]] = keep;
                    v[n - 1] = finite[(n - 1) % 6];
                }
            }
            free(v);
        }
    }
    gp_packed_force_isa(chosen);
}

/* One fused GRU row forward and backward at the ISA now chosen, into out: the gates (4H),
 * h_next (H), then gi (3H), gr (3H) and dh (H). Units [u0, u1) forward, all backward. */
static void fused_gru_row(float *out, const float *in, size_t H, size_t u0, size_t u1) {
    const float *h_prev = in, *x = in + H, *rec = x + 3 * H, *rb = rec + 3 * H, *d = rb + 3 * H;
    float *gates = out, *h_next = gates + 4 * H, *gi = h_next + H, *gr = gi + 3 * H,
          *dh = gr + 3 * H;
    memset(out, 0, 12 * H * sizeof(float));
    gp_gru_fused_forward_row(gates, h_next, h_prev, x, rec, rb, H, u0, u1, 0);
    memcpy(dh, d, H * sizeof(float));
    gp_gru_fused_backward_row(gi, gr, dh, gates, h_prev, H);
}

/* The fused GRU rows give the same bits with 8 lanes (AVX2) and 16 (AVX-512): same
 * operations in the same order, including a row's partial last vector and a unit range
 * that starts and ends inside a vector. Inputs up to +-6 cover saturated gates and tanh's
 * small-argument series. */
static void test_gru_fused_widths_agree(void) {
    const gp_isa chosen = gp_packed_isa();
    if (gp_packed_force_isa(GP_ISA_AVX2) != 0 || gp_packed_force_isa(GP_ISA_AVX512) != 0) {
        printf("fused GRU widths: AVX2 and AVX-512 not both supported here, not compared\n");
        gp_packed_force_isa(chosen);
        return;
    }
    const size_t units[] = {5, 16, 37, 64};
    for (size_t c = 0; c < sizeof units / sizeof units[0]; c++) {
        const size_t H = units[c];
        float *in = malloc(11 * H * sizeof(float));
        float *wide = malloc(12 * H * sizeof(float)), *narrow = malloc(12 * H * sizeof(float));
        frand(in, 11 * H, 6.0f);
        for (size_t range = 0; range < 2; range++) {
            const size_t u0 = range ? 3 : 0, u1 = range ? H - 1 : H;
            gp_packed_force_isa(GP_ISA_AVX512);
            fused_gru_row(wide, in, H, u0, u1);
            gp_packed_force_isa(GP_ISA_AVX2);
            fused_gru_row(narrow, in, H, u0, u1);
            CHECK(count_unequal(wide, narrow, 12 * H) == 0,
                  "fused GRU row H %zu units [%zu, %zu): AVX-512 and AVX2 differ", H, u0, u1);
        }
        free(in);
        free(wide);
        free(narrow);
    }
    gp_packed_force_isa(chosen);
}

/* Streamed gates (non-temporal stores) are the same bits as stored ones, under each ISA,
 * for whole rows and for a unit range that starts at a vector boundary; rows that are not
 * at a vector boundary, or whose units do not fill whole vectors, are not streamed. */
static void test_gru_fused_streamed_gates(void) {
    const gp_isa chosen = gp_packed_isa();
    const size_t H = 64;
    float *in = falloc(11 * H), *g0 = aligned_alloc(64, 5 * H * sizeof(float));
    float *g1 = aligned_alloc(64, 5 * H * sizeof(float));
    frand(in, 11 * H, 6.0f);
    const float *h_prev = in, *x = in + H, *rec = x + 3 * H, *rb = rec + 3 * H;
    for (int isa = GP_ISA_AVX2; isa <= GP_ISA_AVX512; isa++) {
        if (gp_packed_force_isa((gp_isa)isa) != 0) continue;
        CHECK(gp_gru_fused_can_stream(g1, H, 0) && gp_gru_fused_can_stream(g1, H, 16),
              "%s: 64-byte aligned gates must stream", isa_name((gp_isa)isa));
        CHECK(!gp_gru_fused_can_stream(g1 + 1, H, 0) && !gp_gru_fused_can_stream(g1, 20, 0) &&
                  !gp_gru_fused_can_stream(g1, H, 4),
              "%s: gates off a vector boundary must not stream", isa_name((gp_isa)isa));
        for (size_t u0 = 0; u0 <= 16; u0 += 16) {
            memset(g0, 0, 5 * H * sizeof(float));
            memset(g1, 0, 5 * H * sizeof(float));
            gp_gru_fused_forward_row(g0, g0 + 4 * H, h_prev, x, rec, rb, H, u0, H, 0);
            gp_gru_fused_forward_row(g1, g1 + 4 * H, h_prev, x, rec, rb, H, u0, H, 1);
            gp_gru_fused_fence();
            CHECK(count_unequal(g0, g1, 5 * H) == 0, "%s units [%zu, %zu): streamed gates differ",
                  isa_name((gp_isa)isa), u0, H);
        }
    }
    gp_packed_force_isa(chosen);
    free(in);
    free(g0);
    free(g1);
}

/* Runs forward and backward with the given OpenBLAS thread count (which also sets how
 * many jobs the recurrence is split into) from zeroed accumulators. */
static void rnn_run_with_threads(rnn_fix *f, int threads) {
    gp_blas_set_num_threads(threads);
    rnn_zero_param_grads(f);
    CHECK(rnn_fwd(f, f->out, f->last, f->cache, f->h0) == GP_OK, "%s: forward", f->name);
    CHECK(rnn_bwd(f, f->d_x, f->d_h0, f->d_out, f->d_last) == GP_OK, "%s: backward", f->name);
}

/* Splitting the batch between threads changes nothing but rounding: every row's
 * recurrence is the same arithmetic whichever job runs it, but OpenBLAS chooses its GEMM
 * kernel by size, so a smaller per-job product may round differently. Masks and dropout
 * masks are indexed by batch row, so each job must find its own rows' entries. */
static void test_rnn_threads_agree(void) {
    const int before = gp_blas_get_num_threads();
    /* the second shape has its weight gradients accumulated step by step, per job; the
     * third is a single step of one sequence, whose two products run side by side */
    static const size_t shapes[3][4] = {{5, 7, 3, 6}, {16, 4, 3, 16}, {1, 1, 5, 16}};
    for (int combo = 0; combo < 12 * VARIANTS; combo++) {
        memcpy(g_shape, shapes[combo / (4 * VARIANTS)], sizeof g_shape);
        const int single_step = g_shape[0] == 1 && g_shape[1] == 1;
        const int extras = combo / (2 * VARIANTS) & 1;
        gp_rnn_config cfg =
            variant_cfg(combo % VARIANTS, GP_ACT_TANH, GP_ACT_SIGMOID, 1, (combo / VARIANTS) & 1);
        cfg.input_dropout = cfg.recurrent_dropout = extras;
        rnn_fix f;
        rnn_fix_init(&f, &cfg, extras ? MASK_PADDED : MASK_NONE, 1300u + (unsigned)combo, 0.5f);
        rnn_run_with_threads(&f, 1);
        float *want[] = {fdup(f.out, f.n_out), fdup(f.last, f.n_s), fdup(f.d_x, f.n_x),
                         fdup(f.d_h0, f.n_s),  fdup(f.d_k, f.n_k),  fdup(f.d_r, f.n_r),
                         fdup(f.d_b, f.n_b)};
        const size_t sizes[] = {f.n_out, f.n_s, f.n_x, f.n_s, f.n_k, f.n_r, f.n_b};
        rnn_run_with_threads(&f, 2);
        const float *got[] = {f.out, f.last, f.d_x, f.d_h0, f.d_k, f.d_r, f.d_b};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            /* a single step's forward runs the one-thread products: the same bits */
            const double tol = single_step && i < 2 ? 0.0 : 1e-5;
            CHECK(count_far(want[i], got[i], sizes[i], tol) == 0,
                  "%s: result %zu differs between 1 and 2 threads", f.name, i);
            free(want[i]);
        }
        rnn_fix_free(&f);
    }
    restore_default_shape();
    gp_blas_set_num_threads(before);
}

/* gp_rnn_step_products_checkable and gp_rnn_step_products_finite: which configurations
 * qualify, and that a NaN or an infinity anywhere in either kernel shows in the products
 * of an inference step, even against a zero input or state, and with a mask skipping the
 * step; and that overflowing products of finite kernels show too. */
static void test_rnn_step_products(void) {
    static const size_t step[4] = {1, 1, 5, 4};
    memcpy(g_shape, step, sizeof g_shape);
    for (int v = 0; v < VARIANTS; v++) {
        gp_rnn_config cfg = variant_cfg(v, GP_ACT_TANH, GP_ACT_SIGMOID, 1, 0);
        const int checkable = cfg.cell != GP_CELL_SIMPLE_RNN;
        CHECK(gp_rnn_step_products_checkable(&cfg) == checkable, "variant %d: checkable", v);
        gp_rnn_config other = cfg;
        other.steps = 2;
        CHECK(!gp_rnn_step_products_checkable(&other), "variant %d: two steps", v);
        other = cfg;
        other.batch = 5; /* 2 * 5 products per column, against 5 + 4 kernel rows */
        CHECK(!gp_rnn_step_products_checkable(&other), "variant %d: a wide batch", v);
        other.units = 0;
        CHECK(!gp_rnn_step_products_checkable(&other), "variant %d: a bad config", v);
        if (!checkable) continue;
        for (int masked = 0; masked < 2; masked++) {
            rnn_fix f;
            rnn_fix_init(&f, &cfg, masked ? MASK_PADDED : MASK_NONE, 1500u + (unsigned)v, 0.5f);
            if (f.mask) f.mask[0] = 0;
            ffill(f.h0, f.n_s, 0.0f); /* the usual zero initial state */
            f.x[1] = 0.0f;
            CHECK(rnn_fwd(&f, NULL, f.last, NULL, f.h0) == GP_OK &&
                      gp_rnn_step_products_finite(f.fws_infer, &f.cfg) == 1,
                  "%s: finite products", f.name);
            float *const weights[2] = {f.kernel, f.rec};
            const size_t counts[2] = {f.n_k, f.n_r};
            const float bad[3] = {NAN, INFINITY, -INFINITY};
            for (int w = 0; w < 2; w++) {
                /* row 1 of the kernel meets x[1] = 0; every row of U meets h = 0 */
                const size_t at = w == 0 ? f.G * cfg.units + 2 : counts[w] - 1;
                for (int b = 0; b < 3; b++) {
                    const float kept = weights[w][at];
                    weights[w][at] = bad[b];
                    CHECK(rnn_fwd(&f, NULL, f.last, NULL, f.h0) == GP_OK &&
                              gp_rnn_step_products_finite(f.fws_infer, &f.cfg) == 0,
                          "%s: %g in %s[%zu] not seen in the products", f.name, (double)bad[b],
                          w ? "recurrent_kernel" : "kernel", at);
                    weights[w][at] = kept;
                }
            }
            ffill(f.kernel, f.n_k, 3e38f);
            ffill(f.x, f.n_x, 10.0f);
            CHECK(rnn_fwd(&f, NULL, f.last, NULL, f.h0) == GP_OK &&
                      gp_rnn_step_products_finite(f.fws_infer, &f.cfg) == 0,
                  "%s: overflowing products of finite kernels", f.name);
            rnn_fix_free(&f);
        }
    }
    restore_default_shape();
}

int main(void) {
    test_blas_info();
    test_status_str();
    test_rnn_counts();
    test_packed_gemm();
    test_gru_fused_widths_agree();
    test_gru_fused_streamed_gates();
    test_find_nonfinite_every_isa();
    test_rnn_workspace_sizes();
    test_rnn_status();
    test_dense_status();
    test_gru_keras_golden();
    test_rnn_reference_forward();
    test_rnn_train_vs_infer();
    test_rnn_threads_agree();
    test_rnn_step_products();
    test_rnn_go_backwards();
    test_rnn_masks();
    test_rnn_dropout();
    test_rnn_optional_arguments();
    test_rnn_no_bias_ignores_bias();
    test_dense_optional_arguments();
    test_extreme_inputs();
    test_rnn_gradient_contract();
    test_dense_gradient_contract();
    test_rnn_reference_gradients();
    test_rnn_gradients();
    test_rnn_shapes();
    test_dense_gradients();
    /* The recurrences again with each other micro-kernel of the per-step products. */
    const gp_isa chosen = gp_packed_isa();
    for (int isa = GP_ISA_SCALAR; isa <= GP_ISA_AVX512; isa++) {
        if (isa == (int)chosen || gp_packed_force_isa((gp_isa)isa) != 0) continue;
        printf("recurrences with the %s micro-kernel\n", isa_name((gp_isa)isa));
        test_rnn_reference_forward();
        test_rnn_reference_gradients();
        test_rnn_dropout();
    }
    gp_packed_force_isa(chosen);
    printf("%ld passed, %ld failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
