/*
 * test_core.c: unit tests of the C core (GRU, Dense, status codes, BLAS info), built with
 * AddressSanitizer + UBSan + LeakSanitizer; every buffer is malloc'd at exactly the size the
 * API reports. Not tested here: exact agreement with the float64 reference and other
 * frameworks (Python tests), threading, speed, overruns inside the uninstrumented OpenBLAS.
 * Dimension letters: B batch, T timesteps, I input features, H units (Dense: N rows, O units).
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gru_py.h"

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

/* ---------------------------------------------------------------------------------- */
/* GRU fixture: inputs, weights and every output/scratch buffer of one configuration.  */
/* ---------------------------------------------------------------------------------- */

typedef struct {
    gp_gru_config cfg;
    char name[160];
    size_t n_x, n_h, n_out, n_k, n_r, n_b; /* B*T*I, B*H, B*T*H, I*3H, H*3H, bias floats */
    size_t n_cache, n_fws_train, n_fws_infer, n_bws;
    float *x, *h0, *kernel, *rec, *bias; /* h0 always allocated; bias NULL if !use_bias */
    float *d_out, *d_last;
    float *out, *last, *cache, *fws_train, *fws_infer, *bws;
    float *d_x, *d_h0, *d_k, *d_r, *d_b; /* d_b NULL if !use_bias */
} gru_fix;

/* Shape (B, T, I, H) of the next fixtures; the default is the tiny gradient-check shape. */
static size_t g_gru_shape[4] = {2, 3, 3, 4};

static void gru_fix_init(gru_fix *f, gp_activation act, gp_activation rec_act, int reset_after,
                         int use_bias, int go_backwards, uint32_t seed, float weight_scale) {
    memset(f, 0, sizeof *f);
    const gp_gru_config c = {.batch = g_gru_shape[0],
                             .steps = g_gru_shape[1],
                             .input_size = g_gru_shape[2],
                             .units = g_gru_shape[3],
                             .activation = act,
                             .recurrent_activation = rec_act,
                             .reset_after = reset_after,
                             .use_bias = use_bias,
                             .go_backwards = go_backwards};
    f->cfg = c;
    snprintf(f->name, sizeof f->name,
             "gru(B=%zu T=%zu I=%zu H=%zu act=%s rec=%s reset_after=%d bias=%d back=%d)", c.batch,
             c.steps, c.input_size, c.units, act_name(act), act_name(rec_act), reset_after,
             use_bias, go_backwards);
    const size_t B = c.batch, T = c.steps, I = c.input_size, H = c.units;
    f->n_x = B * T * I;
    f->n_h = B * H;
    f->n_out = B * T * H;
    f->n_k = I * 3 * H;
    f->n_r = H * 3 * H;
    f->n_b = (reset_after ? 2 : 1) * 3 * H;
    f->n_cache = gp_gru_cache_size(&f->cfg);
    f->n_fws_train = gp_gru_forward_workspace_size(&f->cfg, 1);
    f->n_fws_infer = gp_gru_forward_workspace_size(&f->cfg, 0);
    f->n_bws = gp_gru_backward_workspace_size(&f->cfg);
    CHECK(f->n_cache == (T + 1) * B * H + T * B * 4 * H, "%s: cache_size %zu", f->name, f->n_cache);
    CHECK(f->n_fws_train > 0 && f->n_fws_infer > 0 && f->n_bws > 0,
          "%s: workspace sizes %zu %zu %zu", f->name, f->n_fws_train, f->n_fws_infer, f->n_bws);
    if (!f->n_cache || !f->n_fws_train || !f->n_fws_infer || !f->n_bws) {
        fprintf(stderr, "test_core: cannot size %s\n", f->name);
        exit(2);
    }

    g_lcg = seed;
    f->x = falloc(f->n_x);
    f->h0 = falloc(f->n_h);
    f->kernel = falloc(f->n_k);
    f->rec = falloc(f->n_r);
    f->bias = use_bias ? falloc(f->n_b) : NULL;
    f->d_out = falloc(f->n_out);
    f->d_last = falloc(f->n_h);
    frand(f->x, f->n_x, 1.0f);
    frand(f->h0, f->n_h, 0.5f);
    frand(f->kernel, f->n_k, weight_scale);
    frand(f->rec, f->n_r, weight_scale);
    if (f->bias) frand(f->bias, f->n_b, weight_scale);
    frand(f->d_out, f->n_out, 1.0f);
    frand(f->d_last, f->n_h, 1.0f);

    /* Outputs and scratch start as NaN: the core must never read them before writing. */
    f->out = falloc_fill(f->n_out, NAN);
    f->last = falloc_fill(f->n_h, NAN);
    f->cache = falloc_fill(f->n_cache, NAN);
    f->fws_train = falloc_fill(f->n_fws_train, NAN);
    f->fws_infer = falloc_fill(f->n_fws_infer, NAN);
    f->bws = falloc_fill(f->n_bws, NAN);
    f->d_x = falloc_fill(f->n_x, NAN);
    f->d_h0 = falloc_fill(f->n_h, NAN);
    f->d_k = falloc_fill(f->n_k, 0.0f);
    f->d_r = falloc_fill(f->n_r, 0.0f);
    f->d_b = use_bias ? falloc_fill(f->n_b, 0.0f) : NULL;
}

static void gru_fix_free(gru_fix *f) {
    float *all[] = {f->x,      f->h0,  f->kernel, f->rec,   f->bias,      f->d_out,
                    f->d_last, f->out, f->last,   f->cache, f->fws_train, f->fws_infer,
                    f->bws,    f->d_x, f->d_h0,   f->d_k,   f->d_r,       f->d_b};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    memset(f, 0, sizeof *f);
}

/* Training forward (cache non-NULL) or inference forward (cache NULL). */
static gp_status gru_fwd(gru_fix *f, float *out, float *last, float *cache, const float *h0) {
    return gp_gru_forward(out, last, cache, cache ? f->fws_train : f->fws_infer, f->x, h0,
                          f->kernel, f->rec, f->bias, &f->cfg);
}

static gp_status gru_bwd(gru_fix *f, float *d_x, float *d_h0, const float *d_out,
                         const float *d_last) {
    return gp_gru_backward(d_x, d_h0, f->d_k, f->d_r, f->d_b, f->bws, f->cache, f->x, f->kernel,
                           f->rec, d_out, d_last, &f->cfg);
}

/* ---------------------------------------------------------------------------------- */
/* 1. Keras golden values                                                              */
/* ---------------------------------------------------------------------------------- */

static void test_gru_keras_golden(void) {
    static const float want[2][3] = {
        {0.5144776f, 0.6426879f, 0.4020829f},   /* reset_after = 0, bias (9) */
        {0.5217289f, 0.6371659f, 0.39384964f}}; /* reset_after = 1, bias (2, 9) */
    for (int reset_after = 0; reset_after <= 1; reset_after++) {
        const gp_gru_config cfg = {3, 6, 4, 3, GP_ACT_TANH, GP_ACT_SIGMOID, reset_after, 1, 0};
        const size_t B = 3, T = 6, I = 4, H = 3, nb = (reset_after ? 2u : 1u) * 3 * H;
        float *x = falloc(B * T * I), *kernel = falloc_fill(I * 3 * H, 0.01f);
        float *rec = falloc_fill(H * 3 * H, 0.02f), *bias = falloc_fill(nb, 0.03f);
        for (size_t i = 0; i < B * T * I; i++) x[i] = (float)i; /* x[b][t][i] = b*24+t*4+i */
        float *cache = falloc_fill(gp_gru_cache_size(&cfg), NAN);
        float *ws_train = falloc_fill(gp_gru_forward_workspace_size(&cfg, 1), NAN);
        float *ws_infer = falloc_fill(gp_gru_forward_workspace_size(&cfg, 0), NAN);

        for (int training = 1; training >= 0; training--) {
            float *out = falloc_fill(B * T * H, NAN), *last = falloc_fill(B * H, NAN);
            gp_status st =
                gp_gru_forward(out, last, training ? cache : NULL, training ? ws_train : ws_infer,
                               x, NULL, kernel, rec, bias, &cfg);
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

/* ---------------------------------------------------------------------------------- */
/* 2. Gradients against central differences                                            */
/* ---------------------------------------------------------------------------------- */

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

/* 1 if every gate of two training caches lies in the same activation region. Relies on the
 * cache layout documented in gru.c: (T+1)*B*H states, then per (step, row) [z | r | hh | q]. */
static int gru_same_regions(const gp_gru_config *c, const float *c1, const float *c2) {
    const size_t H = c->units, rows = c->steps * c->batch;
    const size_t off = (c->steps + 1) * c->batch * H;
    for (size_t row = 0; row < rows; row++) {
        const float *g1 = c1 + off + row * 4 * H, *g2 = c2 + off + row * 4 * H;
        for (size_t j = 0; j < 3 * H; j++) {
            const gp_activation a = j < 2 * H ? c->recurrent_activation : c->activation;
            if (act_region(a, g1[j]) != act_region(a, g2[j])) return 0;
        }
    }
    return 1;
}

static double gru_loss(gru_fix *f, const float *h0, float *cache) {
    gp_status st = gru_fwd(f, f->out, f->last, cache, h0);
    CHECK(st == GP_OK, "%s: forward status %d", f->name, (int)st);
    return dot(f->out, f->d_out, f->n_out) + dot(f->last, f->d_last, f->n_h);
}

/* One GRU gradient check; counts the entries skipped at kinks into *skipped / *total. */
static void gru_gradcheck(gp_activation act, gp_activation rec_act, int reset_after, int use_bias,
                          int go_backwards, int with_h0, uint32_t seed, float scale,
                          size_t *skipped, size_t *total) {
    gru_fix f;
    gru_fix_init(&f, act, rec_act, reset_after, use_bias, go_backwards, seed, scale);
    /* Without an initial state the analytic pass gets NULL (zeros); the numeric pass then
     * perturbs an explicit zero state, which must mean the same thing. */
    if (!with_h0) ffill(f.h0, f.n_h, 0.0f);
    const float *h0_arg = with_h0 ? f.h0 : NULL;

    gp_status st = gru_fwd(&f, f.out, f.last, f.cache, h0_arg);
    CHECK(st == GP_OK, "%s: forward status %d", f.name, (int)st);
    st = gru_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last);
    CHECK(st == GP_OK, "%s: backward status %d", f.name, (int)st);

    float *base = fdup(f.cache, f.n_cache);
    {
        const size_t H = f.cfg.units, off = (f.cfg.steps + 1) * f.n_h;
        for (size_t row = 0; row < f.cfg.steps * f.cfg.batch; row++) {
            for (size_t j = 0; j < 3 * H; j++) {
                count_flat(j < 2 * H ? rec_act : act, base[off + row * 4 * H + j]);
            }
        }
    }
    float *c_plus = falloc(f.n_cache), *c_minus = falloc(f.n_cache);
    const int kinked = is_kinked(act) || is_kinked(rec_act);
    struct {
        const char *name;
        float *param;
        const float *grad;
        size_t n;
    } tensors[] = {{"x", f.x, f.d_x, f.n_x},
                   {"initial_state", f.h0, f.d_h0, f.n_h},
                   {"kernel", f.kernel, f.d_k, f.n_k},
                   {"recurrent_kernel", f.rec, f.d_r, f.n_r},
                   {"bias", f.bias, f.d_b, use_bias ? f.n_b : 0}};
    for (size_t t = 0; t < sizeof tensors / sizeof tensors[0]; t++) {
        for (size_t i = 0; i < tensors[t].n; i++) {
            float *p = tensors[t].param + i;
            const float v = *p, hi = v + EPS, lo = v - EPS;
            *p = hi;
            const double l_hi = gru_loss(&f, f.h0, c_plus);
            *p = lo;
            const double l_lo = gru_loss(&f, f.h0, c_minus);
            *p = v;
            const double numeric = (l_hi - l_lo) / ((double)hi - (double)lo);
            const double analytic = tensors[t].grad[i];
            ++*total;
            /* relu / hard_sigmoid: a central difference across a kink measures the mean of
             * two slopes, not the derivative, so such entries are skipped (and counted). */
            if (kinked && (!gru_same_regions(&f.cfg, base, c_plus) ||
                           !gru_same_regions(&f.cfg, base, c_minus))) {
                ++*skipped;
                continue;
            }
            CHECK(grad_close(analytic, numeric), "%s h0=%d: d_%s[%zu] analytic %.6g, numeric %.6g",
                  f.name, with_h0, tensors[t].name, i, analytic, numeric);
        }
    }
    free(base);
    free(c_plus);
    free(c_minus);
    gru_fix_free(&f);
}

static void test_gru_gradients(void) {
    size_t skipped = 0, total = 0;
    uint32_t seed = 1000;
    /* Every flag combination with the Keras defaults. */
    for (int combo = 0; combo < 16; combo++) {
        gru_gradcheck(GP_ACT_TANH, GP_ACT_SIGMOID, combo & 1, (combo >> 1) & 1, (combo >> 2) & 1,
                      (combo >> 3) & 1, seed++, 0.3f, &skipped, &total);
    }
    /* Every activation pair, both reset_after, the other flags cycling. */
    int combo = 0;
    for (int a = 0; a < 5; a++) {
        for (int r = 0; r < 5; r++) {
            for (int reset_after = 0; reset_after <= 1; reset_after++, combo++) {
                gru_gradcheck(ELEMENTWISE[a], ELEMENTWISE[r], reset_after, (combo >> 1) & 1,
                              (combo >> 2) & 1, (combo >> 3) & 1 ? 0 : 1, seed++, 0.3f, &skipped,
                              &total);
            }
        }
    }
    /* Large weights push hard_sigmoid into its clipped (zero-slope) range. */
    size_t sat_skipped = 0, sat_total = 0;
    CHECK(g_flat_relu > 0, "gru gradcheck never reached relu's zero branch");
    const size_t flat_before = g_flat_hard_sigmoid;
    for (int reset_after = 0; reset_after <= 1; reset_after++) {
        gru_gradcheck(GP_ACT_HARD_SIGMOID, GP_ACT_HARD_SIGMOID, reset_after, 1, reset_after, 1,
                      seed++, 3.0f, &sat_skipped, &sat_total);
    }
    CHECK(g_flat_hard_sigmoid - flat_before > 0, "hard_sigmoid gates never clipped");
    printf("gru gradcheck: flat gates: relu %zu, clipped hard_sigmoid %zu\n", g_flat_relu,
           g_flat_hard_sigmoid);
    printf("gru gradcheck: %zu entries, %zu skipped at kinks; saturating: %zu entries, %zu "
           "skipped\n",
           total, skipped, sat_total, sat_skipped);
    /* Skips must stay rare, or the check would be vacuous. */
    CHECK(skipped * 50 <= total, "gru gradcheck skipped %zu of %zu entries", skipped, total);
    CHECK(sat_skipped * 4 <= sat_total, "saturating gru gradcheck skipped %zu of %zu entries",
          sat_skipped, sat_total);
}

/* Edge and odd shapes (B, T, I, H), including all-ones and a step count of 1: gradients,
 * the accumulate/write contract, and training vs inference. */
static void test_gru_contract_current_shape(void);

static void test_gru_shapes(void) {
    static const size_t shapes[][4] = {
        {1, 1, 1, 1}, {1, 4, 2, 1}, {3, 1, 5, 2}, {3, 5, 2, 7}, {5, 7, 9, 17}};
    size_t skipped = 0, total = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        memcpy(g_gru_shape, shapes[s], sizeof g_gru_shape);
        for (int reset_after = 0; reset_after <= 1; reset_after++) {
            gru_gradcheck(GP_ACT_TANH, GP_ACT_SIGMOID, reset_after, 1, reset_after, 1,
                          2000u + (unsigned)(2 * s) + (unsigned)reset_after, 0.3f, &skipped,
                          &total);
            gru_fix f;
            gru_fix_init(&f, GP_ACT_TANH, GP_ACT_SIGMOID, reset_after, 1, 1 - reset_after,
                         2100u + (unsigned)s, 0.5f);
            float *out_i = falloc_fill(f.n_out, NAN), *last_i = falloc_fill(f.n_h, NAN);
            CHECK(gru_fwd(&f, f.out, f.last, f.cache, f.h0) == GP_OK, "%s: train", f.name);
            CHECK(gru_fwd(&f, out_i, last_i, NULL, f.h0) == GP_OK, "%s: infer", f.name);
            CHECK(count_unequal(f.out, out_i, f.n_out) == 0 &&
                      count_unequal(f.last, last_i, f.n_h) == 0,
                  "%s: training and inference forwards differ", f.name);
            free(out_i);
            free(last_i);
            gru_fix_free(&f);
        }
        test_gru_contract_current_shape();
    }
    printf("gru shapes gradcheck: %zu entries\n", total);
    const size_t default_shape[4] = {2, 3, 3, 4};
    memcpy(g_gru_shape, default_shape, sizeof g_gru_shape);
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

static void test_gru_contract_current_shape(void) {
    for (int combo = 0; combo < 4; combo++) {
        gru_fix f;
        gru_fix_init(&f, GP_ACT_TANH, GP_ACT_SIGMOID, combo & 1, 1, combo >> 1,
                     77u + (unsigned)combo, 0.3f);
        CHECK(gru_fwd(&f, f.out, f.last, f.cache, f.h0) == GP_OK, "%s: forward", f.name);
        /* d_x and d_initial_state start as NaN (fixture); parameter grads as zeros. */
        CHECK(gru_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last) == GP_OK, "%s: backward 1", f.name);
        float *k1 = fdup(f.d_k, f.n_k), *r1 = fdup(f.d_r, f.n_r), *b1 = fdup(f.d_b, f.n_b);
        float *x1 = fdup(f.d_x, f.n_x), *h1 = fdup(f.d_h0, f.n_h);
        CHECK(count_unequal(x1, x1, f.n_x) == 0 && count_unequal(h1, h1, f.n_h) == 0,
              "%s: d_x / d_initial_state not fully written (NaN left)", f.name);
        ffill(f.d_x, f.n_x, 12345.0f);
        ffill(f.d_h0, f.n_h, -777.0f);
        CHECK(gru_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last) == GP_OK, "%s: backward 2", f.name);
        CHECK(count_not_doubled(f.d_k, k1, f.n_k) == 0, "%s: d_kernel after 2 calls != 2x (%zu)",
              f.name, count_not_doubled(f.d_k, k1, f.n_k));
        CHECK(count_not_doubled(f.d_r, r1, f.n_r) == 0,
              "%s: d_recurrent_kernel after 2 calls != 2x (%zu)", f.name,
              count_not_doubled(f.d_r, r1, f.n_r));
        CHECK(count_not_doubled(f.d_b, b1, f.n_b) == 0, "%s: d_bias after 2 calls != 2x (%zu)",
              f.name, count_not_doubled(f.d_b, b1, f.n_b));
        CHECK(count_unequal(f.d_x, x1, f.n_x) == 0, "%s: d_x not overwritten (%zu)", f.name,
              count_unequal(f.d_x, x1, f.n_x));
        CHECK(count_unequal(f.d_h0, h1, f.n_h) == 0, "%s: d_initial_state not overwritten", f.name);
        free(k1);
        free(r1);
        free(b1);
        free(x1);
        free(h1);
        gru_fix_free(&f);
    }
}

static void test_gru_gradient_contract(void) {
    test_gru_contract_current_shape();
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
/* 4. Training and inference forwards agree; go_backwards reads time in reverse        */
/* ---------------------------------------------------------------------------------- */

/* Every candidate activation, three recurrent ones, every flag combination. */
static void test_gru_train_vs_infer(void) {
    int combo = 0;
    for (int a = 0; a < 5; a++) {
        for (int r = 0; r < 5; r += 2) {
            for (int flags = 0; flags < 8; flags++, combo++) {
                gru_fix f;
                gru_fix_init(&f, ELEMENTWISE[a], ELEMENTWISE[r], flags & 1, (flags >> 1) & 1,
                             (flags >> 2) & 1, 300u + (unsigned)combo, 0.5f);
                const float *h0 = combo % 3 ? f.h0 : NULL;
                float *out_i = falloc_fill(f.n_out, NAN), *last_i = falloc_fill(f.n_h, NAN);
                CHECK(gru_fwd(&f, f.out, f.last, f.cache, h0) == GP_OK, "%s: train", f.name);
                CHECK(gru_fwd(&f, out_i, last_i, NULL, h0) == GP_OK, "%s: infer", f.name);
                CHECK(count_unequal(f.out, out_i, f.n_out) == 0,
                      "%s: outputs differ between training and inference (%zu)", f.name,
                      count_unequal(f.out, out_i, f.n_out));
                CHECK(count_unequal(f.last, last_i, f.n_h) == 0,
                      "%s: last_state differs between training and inference", f.name);
                free(out_i);
                free(last_i);
                gru_fix_free(&f);
            }
        }
    }
}

/* go_backwards on x == forward on x reversed in time, outputs in processing order; and the
 * gradients match after undoing the reversal. Tolerance, not equality: the row order of
 * the time-batched GEMMs differs between the two. */
static void test_gru_go_backwards(void) {
    for (int reset_after = 0; reset_after <= 1; reset_after++) {
        gru_fix back, fwd;
        gru_fix_init(&back, GP_ACT_TANH, GP_ACT_SIGMOID, reset_after, 1, 1, 900u, 0.5f);
        gru_fix_init(&fwd, GP_ACT_TANH, GP_ACT_SIGMOID, reset_after, 1, 0, 900u, 0.5f);
        const size_t B = back.cfg.batch, T = back.cfg.steps, I = back.cfg.input_size;
        for (size_t b = 0; b < B; b++) {
            for (size_t t = 0; t < T; t++) {
                memcpy(fwd.x + (b * T + t) * I, back.x + (b * T + (T - 1 - t)) * I,
                       I * sizeof(float));
            }
        }
        CHECK(gru_fwd(&back, back.out, back.last, back.cache, back.h0) == GP_OK, "back fwd");
        CHECK(gru_fwd(&fwd, fwd.out, fwd.last, fwd.cache, fwd.h0) == GP_OK, "fwd fwd");
        CHECK(count_far(back.out, fwd.out, back.n_out, 1e-6) == 0,
              "reset_after=%d: go_backwards outputs != forward on reversed x", reset_after);
        CHECK(count_far(back.last, fwd.last, back.n_h, 1e-6) == 0,
              "reset_after=%d: go_backwards last_state != forward on reversed x", reset_after);
        CHECK(gru_bwd(&back, back.d_x, back.d_h0, back.d_out, back.d_last) == GP_OK, "bwd");
        CHECK(gru_bwd(&fwd, fwd.d_x, fwd.d_h0, fwd.d_out, fwd.d_last) == GP_OK, "bwd");
        size_t bad = 0;
        for (size_t b = 0; b < B; b++) {
            for (size_t t = 0; t < T; t++) {
                bad += count_far(fwd.d_x + (b * T + t) * I, back.d_x + (b * T + (T - 1 - t)) * I, I,
                                 1e-5);
            }
        }
        CHECK(bad == 0, "reset_after=%d: go_backwards d_x != reversed d_x (%zu)", reset_after, bad);
        CHECK(count_far(back.d_h0, fwd.d_h0, back.n_h, 1e-5) == 0 &&
                  count_far(back.d_k, fwd.d_k, back.n_k, 1e-5) == 0 &&
                  count_far(back.d_r, fwd.d_r, back.n_r, 1e-5) == 0 &&
                  count_far(back.d_b, fwd.d_b, back.n_b, 1e-5) == 0,
              "reset_after=%d: go_backwards state/parameter gradients differ", reset_after);
        gru_fix_free(&back);
        gru_fix_free(&fwd);
    }
}

/* ---------------------------------------------------------------------------------- */
/* 5. Optional (NULL-able) arguments                                                   */
/* ---------------------------------------------------------------------------------- */

static void test_gru_optional_arguments(void) {
    for (int combo = 0; combo < 4; combo++) {
        gru_fix f;
        gru_fix_init(&f, GP_ACT_TANH, GP_ACT_SIGMOID, combo & 1, 1, combo >> 1,
                     400u + (unsigned)combo, 0.5f);
        float *last2 = falloc_fill(f.n_h, NAN), *cache2 = falloc_fill(f.n_cache, NAN);
        float *zeros_h = falloc_fill(f.n_h, 0.0f), *zeros_out = falloc_fill(f.n_out, 0.0f);

        /* outputs == NULL: same last_state (and cache) as with outputs. */
        CHECK(gru_fwd(&f, f.out, f.last, f.cache, f.h0) == GP_OK, "%s: forward", f.name);
        CHECK(gru_fwd(&f, NULL, last2, cache2, f.h0) == GP_OK,
              "%s: training forward with outputs NULL", f.name);
        CHECK(count_unequal(f.last, last2, f.n_h) == 0 &&
                  count_unequal(f.cache, cache2, f.n_cache) == 0,
              "%s: outputs NULL changes last_state or cache", f.name);
        ffill(last2, f.n_h, NAN);
        CHECK(gru_fwd(&f, NULL, last2, NULL, f.h0) == GP_OK,
              "%s: inference forward with outputs NULL", f.name);
        CHECK(count_unequal(f.last, last2, f.n_h) == 0, "%s: outputs NULL (inference)", f.name);

        /* initial_state == NULL means zeros. */
        float *out_z = falloc_fill(f.n_out, NAN), *out_n = falloc_fill(f.n_out, NAN);
        CHECK(gru_fwd(&f, out_z, last2, NULL, zeros_h) == GP_OK, "%s: zero h0", f.name);
        CHECK(gru_fwd(&f, out_n, last2, NULL, NULL) == GP_OK, "%s: NULL h0", f.name);
        CHECK(count_unequal(out_z, out_n, f.n_out) == 0,
              "%s: initial_state NULL differs from zeros", f.name);
        free(out_z);
        free(out_n);

        /* Backward: the reference run with every argument. */
        CHECK(gru_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last) == GP_OK, "%s: backward", f.name);
        float *k_ref = fdup(f.d_k, f.n_k), *r_ref = fdup(f.d_r, f.n_r);
        float *b_ref = fdup(f.d_b, f.n_b), *x_ref = fdup(f.d_x, f.n_x);
        float *dx2 = falloc(f.n_x), *dh2 = falloc(f.n_h);

#define GRU_RESET_GRADS()                                                                          \
    do {                                                                                           \
        ffill(f.d_k, f.n_k, 0.0f);                                                                 \
        ffill(f.d_r, f.n_r, 0.0f);                                                                 \
        ffill(f.d_b, f.n_b, 0.0f);                                                                 \
        ffill(dx2, f.n_x, NAN);                                                                    \
        ffill(dh2, f.n_h, NAN);                                                                    \
    } while (0)
#define GRU_SAME_GRADS(what)                                                                       \
    CHECK(count_unequal(f.d_k, k_ref, f.n_k) == 0 && count_unequal(f.d_r, r_ref, f.n_r) == 0 &&    \
              count_unequal(f.d_b, b_ref, f.n_b) == 0 && count_unequal(dx2, x_ref, f.n_x) == 0,    \
          "%s: %s changes the gradients", f.name, what)

        /* d_initial_state == NULL: allowed, nothing else changes. */
        GRU_RESET_GRADS();
        CHECK(gru_bwd(&f, dx2, NULL, f.d_out, f.d_last) == GP_OK,
              "%s: backward with d_initial_state NULL", f.name);
        GRU_SAME_GRADS("d_initial_state NULL");

        /* d_outputs == NULL, then d_last_state == NULL, are the same as zeros. */
        float *dh_ref = falloc(f.n_h);
        for (int which = 0; which < 2; which++) {
            const float *d_out_z = which ? f.d_out : zeros_out;
            const float *d_last_z = which ? zeros_h : f.d_last;
            const char *what = which ? "d_last_state NULL (vs zeros)" : "d_outputs NULL (vs zeros)";
            GRU_RESET_GRADS();
            CHECK(gru_bwd(&f, dx2, dh2, d_out_z, d_last_z) == GP_OK, "%s: zeros", f.name);
            memcpy(k_ref, f.d_k, f.n_k * sizeof(float));
            memcpy(r_ref, f.d_r, f.n_r * sizeof(float));
            memcpy(b_ref, f.d_b, f.n_b * sizeof(float));
            memcpy(x_ref, dx2, f.n_x * sizeof(float));
            memcpy(dh_ref, dh2, f.n_h * sizeof(float));
            GRU_RESET_GRADS();
            CHECK(gru_bwd(&f, dx2, dh2, which ? f.d_out : NULL, which ? NULL : f.d_last) == GP_OK,
                  "%s: backward with %s", f.name, what);
            GRU_SAME_GRADS(what);
            CHECK(count_unequal(dh2, dh_ref, f.n_h) == 0, "%s: %s: d_initial_state differs", f.name,
                  what);
        }
        free(dh_ref);

        /* Both NULL: every gradient is zero. */
        GRU_RESET_GRADS();
        CHECK(gru_bwd(&f, dx2, dh2, NULL, NULL) == GP_OK, "%s: both NULL", f.name);
        CHECK(count_nonzero(dx2, f.n_x) == 0 && count_nonzero(dh2, f.n_h) == 0 &&
                  count_nonzero(f.d_k, f.n_k) == 0 && count_nonzero(f.d_r, f.n_r) == 0 &&
                  count_nonzero(f.d_b, f.n_b) == 0,
              "%s: d_outputs and d_last_state NULL must give zero gradients", f.name);
#undef GRU_RESET_GRADS
#undef GRU_SAME_GRADS
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
        gru_fix_free(&f);
    }
}

/* use_bias = 0: bias and d_bias are ignored, NULL or not. */
static void test_gru_no_bias_ignores_bias(void) {
    for (int reset_after = 0; reset_after <= 1; reset_after++) {
        gru_fix f;
        gru_fix_init(&f, GP_ACT_TANH, GP_ACT_SIGMOID, reset_after, 0, 0, 500u, 0.5f);
        float *junk = falloc_fill(f.n_b, NAN), *d_junk = falloc_fill(f.n_b, 5.0f);
        float *out2 = falloc_fill(f.n_out, NAN), *last2 = falloc_fill(f.n_h, NAN);
        float *dx2 = falloc_fill(f.n_x, NAN);
        CHECK(gru_fwd(&f, f.out, f.last, f.cache, f.h0) == GP_OK, "%s: bias NULL", f.name);
        CHECK(gp_gru_forward(out2, last2, NULL, f.fws_infer, f.x, f.h0, f.kernel, f.rec, junk,
                             &f.cfg) == GP_OK,
              "%s: ignored bias", f.name);
        CHECK(count_unequal(f.out, out2, f.n_out) == 0,
              "%s: use_bias=0 but the bias array changed the outputs", f.name);
        CHECK(gru_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last) == GP_OK, "%s: d_bias NULL", f.name);
        CHECK(gp_gru_backward(dx2, NULL, f.d_k, f.d_r, d_junk, f.bws, f.cache, f.x, f.kernel, f.rec,
                              f.d_out, f.d_last, &f.cfg) == GP_OK,
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
        gru_fix_free(&f);
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
    for (size_t i = 0; i < n; i++) bad += !isfinite(a[i]);
    return bad;
}

static void test_extreme_inputs(void) {
    static const gp_activation acts[3] = {GP_ACT_SIGMOID, GP_ACT_TANH, GP_ACT_HARD_SIGMOID};
    for (int a = 0; a < 3; a++) {
        for (int reset_after = 0; reset_after <= 1; reset_after++) {
            gru_fix f;
            gru_fix_init(&f, acts[a], acts[2 - a], reset_after, 1, 0, 700u, 0.5f);
            for (size_t i = 0; i < f.n_x; i++) f.x[i] *= 1e6f;
            CHECK(gru_fwd(&f, f.out, f.last, f.cache, f.h0) == GP_OK, "%s: forward", f.name);
            CHECK(gru_bwd(&f, f.d_x, f.d_h0, f.d_out, f.d_last) == GP_OK, "%s: bwd", f.name);
            CHECK(count_nonfinite(f.out, f.n_out) == 0 && count_nonfinite(f.last, f.n_h) == 0,
                  "%s: inputs of 1e6 give non-finite outputs", f.name);
            CHECK(count_nonfinite(f.d_x, f.n_x) == 0 && count_nonfinite(f.d_h0, f.n_h) == 0 &&
                      count_nonfinite(f.d_k, f.n_k) == 0 && count_nonfinite(f.d_r, f.n_r) == 0 &&
                      count_nonfinite(f.d_b, f.n_b) == 0,
                  "%s: inputs of 1e6 give non-finite gradients", f.name);
            gru_fix_free(&f);
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
/* 6. Status codes                                                                     */
/* ---------------------------------------------------------------------------------- */

/* Checks that `bad` is rejected with `want` by every GRU entry point. The buffers in `f`
 * belong to a small valid config; they are handed to forward/backward only when the config
 * check already rejects `bad`, so a core that wrongly accepted it cannot overrun them. */
static void expect_gru_rejected(gru_fix *f, const gp_gru_config *bad, gp_status want,
                                const char *what) {
    const gp_status got = gp_gru_check_config(bad);
    CHECK(got == want, "gru %s: check_config %d, want %d", what, (int)got, (int)want);
    CHECK(gp_gru_cache_size(bad) == 0, "gru %s: cache_size %zu, want 0", what,
          gp_gru_cache_size(bad));
    CHECK(gp_gru_forward_workspace_size(bad, 1) == 0 && gp_gru_forward_workspace_size(bad, 0) == 0,
          "gru %s: forward_workspace_size not 0", what);
    CHECK(gp_gru_backward_workspace_size(bad) == 0, "gru %s: backward_workspace_size not 0", what);
    if (got != want) return;
    gp_status st = gp_gru_forward(f->out, f->last, f->cache, f->fws_train, f->x, f->h0, f->kernel,
                                  f->rec, f->bias, bad);
    CHECK(st == want, "gru %s: forward %d, want %d", what, (int)st, (int)want);
    st = gp_gru_backward(f->d_x, f->d_h0, f->d_k, f->d_r, f->d_b, f->bws, f->cache, f->x, f->kernel,
                         f->rec, f->d_out, f->d_last, bad);
    CHECK(st == want, "gru %s: backward %d, want %d", what, (int)st, (int)want);
}

static void test_gru_status(void) {
    gru_fix f;
    gru_fix_init(&f, GP_ACT_TANH, GP_ACT_SIGMOID, 1, 1, 0, 600u, 0.3f);
    const gp_gru_config ok = f.cfg;
    CHECK(gp_gru_check_config(&ok) == GP_OK, "gru valid config rejected");

    expect_gru_rejected(&f, NULL, GP_ERR_NULL_POINTER, "NULL config");
    gp_gru_config c;
    c = ok, c.batch = 0, expect_gru_rejected(&f, &c, GP_ERR_BAD_SIZE, "batch 0");
    c = ok, c.steps = 0, expect_gru_rejected(&f, &c, GP_ERR_BAD_SIZE, "steps 0");
    c = ok, c.input_size = 0, expect_gru_rejected(&f, &c, GP_ERR_BAD_SIZE, "input_size 0");
    c = ok, c.units = 0, expect_gru_rejected(&f, &c, GP_ERR_BAD_SIZE, "units 0");
    c = ok, c.batch = SIZE_MAX / 2,
    expect_gru_rejected(&f, &c, GP_ERR_BAD_SIZE, "batch SIZE_MAX/2");
    c = ok, c.units = SIZE_MAX / 3,
    expect_gru_rejected(&f, &c, GP_ERR_BAD_SIZE, "units SIZE_MAX/3");
    c = ok, c.units = SIZE_MAX / 4 + 1,
    expect_gru_rejected(&f, &c, GP_ERR_BAD_SIZE, "units SIZE_MAX/4+1");
    c = ok, c.steps = SIZE_MAX, expect_gru_rejected(&f, &c, GP_ERR_BAD_SIZE, "steps SIZE_MAX");
    c = ok, c.input_size = SIZE_MAX, expect_gru_rejected(&f, &c, GP_ERR_BAD_SIZE, "input SIZE_MAX");
    c = ok, c.batch = (size_t)1 << 32, c.steps = (size_t)1 << 32,
    expect_gru_rejected(&f, &c, GP_ERR_BAD_SIZE, "batch*steps = 2^64");
    /* No overflow, but beyond BLAS's int sizes. */
    c = ok, c.input_size = (size_t)INT_MAX + 1,
    expect_gru_rejected(&f, &c, GP_ERR_BAD_SIZE, "input_size INT_MAX+1");
    c = ok, c.batch = 1, c.steps = (size_t)INT_MAX + 1,
    expect_gru_rejected(&f, &c, GP_ERR_BAD_SIZE, "B*T INT_MAX+1");

    c = ok, c.reset_after = 2, expect_gru_rejected(&f, &c, GP_ERR_BAD_FLAG, "reset_after 2");
    c = ok, c.use_bias = 2, expect_gru_rejected(&f, &c, GP_ERR_BAD_FLAG, "use_bias 2");
    c = ok, c.go_backwards = 2, expect_gru_rejected(&f, &c, GP_ERR_BAD_FLAG, "go_backwards 2");
    c = ok, c.go_backwards = -1, expect_gru_rejected(&f, &c, GP_ERR_BAD_FLAG, "go_backwards -1");

    const gp_activation bad_acts[3] = {GP_ACT_SOFTMAX, GP_ACT_COUNT, (gp_activation)99};
    for (int i = 0; i < 3; i++) {
        char what[64];
        snprintf(what, sizeof what, "activation %d", (int)bad_acts[i]);
        c = ok, c.activation = bad_acts[i];
        expect_gru_rejected(&f, &c, GP_ERR_BAD_ACTIVATION, what);
        snprintf(what, sizeof what, "recurrent_activation %d", (int)bad_acts[i]);
        c = ok, c.recurrent_activation = bad_acts[i];
        expect_gru_rejected(&f, &c, GP_ERR_BAD_ACTIVATION, what);
    }

    /* Required pointers, one at a time. */
    const gp_gru_config *k = &ok;
    float *o = f.out, *l = f.last, *ca = f.cache, *w = f.fws_train, *h = f.h0;
    const float *x = f.x, *kr = f.kernel, *r = f.rec, *b = f.bias;
    CHECK(gp_gru_forward(o, l, ca, w, x, h, kr, r, b, k) == GP_OK, "gru forward valid");
    CHECK(gp_gru_forward(o, NULL, ca, w, x, h, kr, r, b, k) == GP_ERR_NULL_POINTER,
          "forward last_state NULL");
    CHECK(gp_gru_forward(o, l, ca, NULL, x, h, kr, r, b, k) == GP_ERR_NULL_POINTER,
          "forward workspace NULL");
    CHECK(gp_gru_forward(o, l, ca, w, NULL, h, kr, r, b, k) == GP_ERR_NULL_POINTER,
          "forward x NULL");
    CHECK(gp_gru_forward(o, l, ca, w, x, h, NULL, r, b, k) == GP_ERR_NULL_POINTER,
          "forward kernel NULL");
    CHECK(gp_gru_forward(o, l, ca, w, x, h, kr, NULL, b, k) == GP_ERR_NULL_POINTER,
          "forward recurrent_kernel NULL");
    CHECK(gp_gru_forward(o, l, ca, w, x, h, kr, r, NULL, k) == GP_ERR_NULL_POINTER,
          "forward bias NULL with use_bias=1");

    float *dx = f.d_x, *dh = f.d_h0, *dk = f.d_k, *dr = f.d_r, *db = f.d_b, *bw = f.bws;
    const float *dout = f.d_out, *dlast = f.d_last;
    CHECK(gp_gru_backward(dx, dh, dk, dr, db, bw, ca, x, kr, r, dout, dlast, k) == GP_OK,
          "gru backward valid");
    CHECK(gp_gru_backward(NULL, dh, dk, dr, db, bw, ca, x, kr, r, dout, dlast, k) ==
              GP_ERR_NULL_POINTER,
          "backward d_x NULL");
    CHECK(gp_gru_backward(dx, dh, NULL, dr, db, bw, ca, x, kr, r, dout, dlast, k) ==
              GP_ERR_NULL_POINTER,
          "backward d_kernel NULL");
    CHECK(gp_gru_backward(dx, dh, dk, NULL, db, bw, ca, x, kr, r, dout, dlast, k) ==
              GP_ERR_NULL_POINTER,
          "backward d_recurrent_kernel NULL");
    CHECK(gp_gru_backward(dx, dh, dk, dr, NULL, bw, ca, x, kr, r, dout, dlast, k) ==
              GP_ERR_NULL_POINTER,
          "backward d_bias NULL with use_bias=1");
    CHECK(gp_gru_backward(dx, dh, dk, dr, db, NULL, ca, x, kr, r, dout, dlast, k) ==
              GP_ERR_NULL_POINTER,
          "backward workspace NULL");
    CHECK(gp_gru_backward(dx, dh, dk, dr, db, bw, NULL, x, kr, r, dout, dlast, k) ==
              GP_ERR_NULL_POINTER,
          "backward cache NULL");
    CHECK(gp_gru_backward(dx, dh, dk, dr, db, bw, ca, NULL, kr, r, dout, dlast, k) ==
              GP_ERR_NULL_POINTER,
          "backward x NULL");
    CHECK(gp_gru_backward(dx, dh, dk, dr, db, bw, ca, x, NULL, r, dout, dlast, k) ==
              GP_ERR_NULL_POINTER,
          "backward kernel NULL");
    CHECK(gp_gru_backward(dx, dh, dk, dr, db, bw, ca, x, kr, NULL, dout, dlast, k) ==
              GP_ERR_NULL_POINTER,
          "backward recurrent_kernel NULL");

    /* bias / d_bias NULL are fine without a bias. */
    gp_gru_config nb = ok;
    nb.use_bias = 0;
    CHECK(gp_gru_check_config(&nb) == GP_OK, "use_bias=0 config");
    CHECK(gp_gru_forward(o, l, ca, w, x, h, kr, r, NULL, &nb) == GP_OK,
          "forward bias NULL with use_bias=0");
    CHECK(gp_gru_backward(dx, dh, dk, dr, NULL, bw, ca, x, kr, r, dout, dlast, &nb) == GP_OK,
          "backward d_bias NULL with use_bias=0");
    gru_fix_free(&f);
}

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
        GP_OK,           GP_ERR_NULL_POINTER, GP_ERR_BAD_SIZE, GP_ERR_BAD_ACTIVATION,
        GP_ERR_BAD_FLAG, (gp_status)99,       (gp_status)-1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *s = gp_status_str(all[i]);
        CHECK(s != NULL && s[0] != '\0', "gp_status_str(%d) is NULL or empty", (int)all[i]);
    }
    /* The five known statuses have five different descriptions. */
    for (int i = 0; i < 5; i++) {
        for (int j = i + 1; j < 5; j++) {
            const char *a = gp_status_str((gp_status)i), *b = gp_status_str((gp_status)j);
            CHECK(a && b && strcmp(a, b) != 0, "gp_status_str(%d) == gp_status_str(%d)", i, j);
        }
    }
}

/* ---------------------------------------------------------------------------------- */
/* 7. BLAS information                                                                 */
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

/* Runs forward and backward with the given OpenBLAS thread count (which also sets how
 * many jobs the recurrence is split into) from zeroed accumulators. */
static void gru_run_with_threads(gru_fix *f, int threads) {
    gp_blas_set_num_threads(threads);
    memset(f->d_k, 0, f->n_k * sizeof(float));
    memset(f->d_r, 0, f->n_r * sizeof(float));
    if (f->d_b) memset(f->d_b, 0, f->n_b * sizeof(float));
    CHECK(gru_fwd(f, f->out, f->last, f->cache, f->h0) == GP_OK, "%s: forward", f->name);
    CHECK(gru_bwd(f, f->d_x, f->d_h0, f->d_out, f->d_last) == GP_OK, "%s: backward", f->name);
}

/* Splitting the batch between threads changes nothing but rounding: every row's
 * recurrence is the same arithmetic whichever job runs it, but OpenBLAS chooses its GEMM
 * kernel by size, so a smaller per-job product may round differently. */
static void test_gru_threads_agree(void) {
    const int before = gp_blas_get_num_threads();
    const size_t saved[4] = {g_gru_shape[0], g_gru_shape[1], g_gru_shape[2], g_gru_shape[3]};
    const size_t shape[4] = {5, 7, 3, 6};
    memcpy(g_gru_shape, shape, sizeof shape);
    for (int flags = 0; flags < 4; flags++) {
        gru_fix f;
        gru_fix_init(&f, GP_ACT_TANH, GP_ACT_SIGMOID, flags & 1, 1, (flags >> 1) & 1,
                     1300u + (unsigned)flags, 0.5f);
        gru_run_with_threads(&f, 1);
        float *want[] = {fdup(f.out, f.n_out), fdup(f.last, f.n_h), fdup(f.d_x, f.n_x),
                         fdup(f.d_h0, f.n_h), fdup(f.d_k, f.n_k), fdup(f.d_r, f.n_r)};
        const size_t sizes[] = {f.n_out, f.n_h, f.n_x, f.n_h, f.n_k, f.n_r};
        gru_run_with_threads(&f, 2);
        const float *got[] = {f.out, f.last, f.d_x, f.d_h0, f.d_k, f.d_r};
        for (size_t i = 0; i < 6; i++) {
            CHECK(count_far(want[i], got[i], sizes[i], 1e-5) == 0,
                  "%s: result %zu differs between 1 and 2 threads", f.name, i);
            free(want[i]);
        }
        gru_fix_free(&f);
    }
    memcpy(g_gru_shape, saved, sizeof saved);
    gp_blas_set_num_threads(before);
}

int main(void) {
    test_blas_info();
    test_status_str();
    test_gru_status();
    test_dense_status();
    test_gru_keras_golden();
    test_gru_train_vs_infer();
    test_gru_threads_agree();
    test_gru_go_backwards();
    test_gru_optional_arguments();
    test_gru_no_bias_ignores_bias();
    test_dense_optional_arguments();
    test_extreme_inputs();
    test_gru_gradient_contract();
    test_dense_gradient_contract();
    test_gru_gradients();
    test_gru_shapes();
    test_dense_gradients();
    printf("%ld passed, %ld failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
