/*
 * packed_gemm.c: products of a few rows by a matrix packed into column panels (see
 * packed_gemm.h). Each micro-kernel keeps a tile of C in registers, up to 8 rows by two
 * panels (AVX-512) or 6 rows by one panel (AVX2), while it walks K: per step of K it
 * loads the panels' row once and broadcasts one float of A per row. A panel is reused
 * by every row tile before the next is touched, so it stays in L1 or L2.
 * R rows, P panels, K the depth of the product.
 */
#include "packed_gemm.h"

#include <stdatomic.h>

#include "common.h"
#include "simd_math.h"

size_t gp_packed_floats(size_t k, size_t n) {
    const size_t panels = n / GP_PANEL + (n % GP_PANEL != 0);
    size_t per_panel, total;
    if (gp_mul_overflows(k, GP_PANEL, &per_panel) || gp_mul_overflows(panels, per_panel, &total))
        return 0;
    return total;
}

void gp_packed_pack(float *packed, const float *b, size_t ldb, size_t k, size_t n, int transposed) {
    for (size_t j0 = 0; j0 < n; j0 += GP_PANEL) {
        const size_t width = n - j0 < GP_PANEL ? n - j0 : GP_PANEL;
        for (size_t kk = 0; kk < k; kk++, packed += GP_PANEL) {
            for (size_t j = 0; j < width; j++) {
                packed[j] = transposed ? b[(j0 + j) * ldb + kk] : b[kk * ldb + j0 + j];
            }
            for (size_t j = width; j < GP_PANEL; j++) packed[j] = 0.0f;
        }
    }
}

/* One tile: rows of A and C from a and c, panels from the one at column `col`. Row i's
 * element k of A is a[i * lda + k * a_step], row k of a panel b[k * b_step]: packed,
 * a_step = 1 and b_step = GP_PANEL; for C += A^T B with A and B row-major, a_step and
 * b_step are their row strides and lda = 1; for a row-major B read where it lies, b_step
 * is its row stride and the next panel GP_PANEL floats on. */
typedef struct {
    float *c;
    size_t ldc;
    const float *a; /* element k0 of the tile's first row */
    size_t lda, a_step;
    const float *b;      /* the first panel, at its row k0 */
    size_t b_step;       /* from one row of a panel to the next */
    size_t panel_floats; /* from one panel to the next */
    size_t depth;        /* k1 - k0 */
    size_t col;          /* the first panel's first column */
    size_t panels;       /* panels in the tile */
    size_t c0, c1;       /* the columns to write */
    int accumulate;
} tile;

/* Bit j set when column col + j of a panel is one to write. */
static inline unsigned lane_mask(const tile *t, size_t col) {
    const size_t lo = t->c0 > col ? t->c0 - col : 0;
    const size_t hi = t->c1 - col < GP_PANEL ? t->c1 - col : GP_PANEL;
    return ((1u << hi) - 1u) & ~((1u << lo) - 1u);
}

/* Portable: one column at a time, any number of rows R. */
static void tile_scalar(const tile *t, size_t R) {
    for (size_t p = 0; p < t->panels; p++) {
        const unsigned mask = lane_mask(t, t->col + p * GP_PANEL);
        const float *b = t->b + p * t->panel_floats;
        for (size_t i = 0; i < R; i++) {
            for (size_t j = 0; j < GP_PANEL; j++) {
                if (!(mask >> j & 1u)) continue;
                float sum = 0.0f;
                for (size_t kk = 0; kk < t->depth; kk++) {
                    sum += t->a[i * t->lda + kk * t->a_step] * b[kk * t->b_step + j];
                }
                float *dst = t->c + i * t->ldc + t->col + p * GP_PANEL + j;
                *dst = t->accumulate ? *dst + sum : sum;
            }
        }
    }
}

#ifdef GP_HAVE_X86_SIMD
/* Tile shapes: rows x panels, and for a lone row (a matrix-vector product, which has no
 * rows to keep several accumulators busy) the panels side by side. A lone row's pass
 * over B reads 1 KB of each row with AVX-512: at 512 B it ran 7% below the L2 cache's
 * read rate (a single step's 0.75 MB kernel in 6.9 us instead of 6.4). */
enum { MR_AVX512 = 8, PANELS_AVX512 = 2, ROW_PANELS_AVX512 = 16, MR_AVX2 = 6, ROW_PANELS_AVX2 = 4 };

/* R x 2 panels, R constant after inlining, so that the accumulators live in registers.
 * A tile of one panel computes its first panel twice and stores it once, which keeps to
 * one kernel per row count; only the last panel of an odd count pays for that. */
__attribute__((target("avx512f"), always_inline)) static inline void tile_avx512_r(const tile *t,
                                                                                   const size_t R) {
    __m512 acc[MR_AVX512][PANELS_AVX512];
#pragma GCC unroll 8
    for (size_t i = 0; i < R; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    const float *b0 = t->b, *b1 = t->panels > 1 ? t->b + t->panel_floats : t->b, *a = t->a;
    for (size_t kk = 0; kk < t->depth; kk++, a += t->a_step, b0 += t->b_step, b1 += t->b_step) {
        const __m512 v0 = _mm512_loadu_ps(b0);
        const __m512 v1 = _mm512_loadu_ps(b1);
#pragma GCC unroll 8
        for (size_t i = 0; i < R; i++) {
            const __m512 ai = _mm512_set1_ps(a[i * t->lda]);
            acc[i][0] = _mm512_fmadd_ps(ai, v0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, v1, acc[i][1]);
        }
    }
#pragma GCC unroll 2
    for (size_t p = 0; p < PANELS_AVX512; p++) {
        if (p >= t->panels) break;
        const size_t col = t->col + p * GP_PANEL;
        const __mmask16 m = (__mmask16)lane_mask(t, col);
#pragma GCC unroll 8
        for (size_t i = 0; i < R; i++) {
            float *dst = t->c + i * t->ldc + col;
            __m512 v = acc[i][p];
            if (t->accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, dst));
            _mm512_mask_storeu_ps(dst, m, v);
        }
    }
}

/* Calls kernel(t, n) with n a constant: n itself for n < max, else max. Each of the
 * micro-kernels below is inlined once per constant, so that its accumulators, as many as
 * the tile holds, live in registers. max is 4, 6 or 8. */
#define GP_CALL_WITH_CONSTANT(kernel, t, n, max)                                                   \
    switch ((n) < (max) ? (n) : (max)) {                                                           \
    case 1:                                                                                        \
        kernel(t, 1);                                                                              \
        break;                                                                                     \
    case 2:                                                                                        \
        kernel(t, 2);                                                                              \
        break;                                                                                     \
    case 3:                                                                                        \
        kernel(t, 3);                                                                              \
        break;                                                                                     \
    case 4:                                                                                        \
        kernel(t, (4 <= (max) ? 4 : (max)));                                                       \
        break;                                                                                     \
    case 5:                                                                                        \
        kernel(t, (5 <= (max) ? 5 : (max)));                                                       \
        break;                                                                                     \
    case 6:                                                                                        \
        kernel(t, (6 <= (max) ? 6 : (max)));                                                       \
        break;                                                                                     \
    case 7:                                                                                        \
        kernel(t, (7 <= (max) ? 7 : (max)));                                                       \
        break;                                                                                     \
    default:                                                                                       \
        kernel(t, (max));                                                                          \
    }

/* Defines name(strip, rows): a strip of `rows` rows (any number) by the tile's panels, as
 * whole tiles of MR rows (R constant) and then the rest; the tile `t` (a tile_type) moves
 * down a row of C by ldc and along A by a_row_step. One call per strip, not per tile: with
 * a short depth (the 32 rows of a weight gradient's step) the tile's entry and exit were
 * a third of its time. */
#define GP_DEFINE_STRIP(name, tile_type, kernel, MR, isa, a_row_step)                              \
    __attribute__((target(isa))) static void name(const tile_type *strip, size_t rows) {           \
        tile_type t = *strip;                                                                      \
        for (; rows >= (MR); rows -= (MR)) {                                                       \
            kernel(&t, (MR));                                                                      \
            t.c += (MR) * t.ldc;                                                                   \
            t.a += (MR) * (a_row_step);                                                            \
        }                                                                                          \
        if (rows) GP_CALL_WITH_CONSTANT(kernel, &t, rows, (MR));                                   \
    }

GP_DEFINE_STRIP(tile_avx512, tile, tile_avx512_r, MR_AVX512, "avx512f", t.lda)

/* gp_gemm_at_b's tile: C (rows of c, ldc apart) += A^T B over k rows of A and B, the
 * tile's first column of A^T at a and of B at b. */
typedef struct {
    float *c;
    size_t ldc;
    const float *a;
    size_t lda;
    const float *b;
    size_t ldb, k;
} at_b_tile;

/* R x P panels of C += A^T B, R and P constant after inlining: the tile kernel's loop
 * with C^T's rows read from A directly and every column written. A kernel of its own:
 * at the depth of a step's weight gradients (32 rows), the general tile's strides and
 * lane masks held it to 212 GFLOP/s, against 233 for this one. */
__attribute__((target("avx512f"), always_inline)) static inline void
at_b_avx512_rp(const at_b_tile *t, const size_t R, const size_t P) {
    __m512 acc[MR_AVX512][PANELS_AVX512];
#pragma GCC unroll 8
    for (size_t i = 0; i < R; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    const float *a = t->a, *b = t->b;
    for (size_t kk = 0; kk < t->k; kk++, a += t->lda, b += t->ldb) {
        const __m512 v0 = _mm512_loadu_ps(b);
        const __m512 v1 = P > 1 ? _mm512_loadu_ps(b + GP_PANEL) : v0;
#pragma GCC unroll 8
        for (size_t i = 0; i < R; i++) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, v0, acc[i][0]);
            if (P > 1) acc[i][1] = _mm512_fmadd_ps(ai, v1, acc[i][1]);
        }
    }
#pragma GCC unroll 8
    for (size_t i = 0; i < R; i++) {
#pragma GCC unroll 2
        for (size_t p = 0; p < P; p++) {
            float *dst = t->c + i * t->ldc + p * GP_PANEL;
            _mm512_storeu_ps(dst, _mm512_add_ps(acc[i][p], _mm512_loadu_ps(dst)));
        }
    }
}

#define at_b_pair_avx512(t, R) at_b_avx512_rp(t, R, 2)
#define at_b_panel_avx512(t, R) at_b_avx512_rp(t, R, 1)

/* C's next rows are A's next columns: one float along A. */
GP_DEFINE_STRIP(at_b_pairs_avx512, at_b_tile, at_b_pair_avx512, MR_AVX512, "avx512f", 1)
GP_DEFINE_STRIP(at_b_panels_avx512, at_b_tile, at_b_panel_avx512, MR_AVX512, "avx512f", 1)
#undef at_b_pair_avx512
#undef at_b_panel_avx512

/* All of C += A^T B, C (m, n) with n a multiple of GP_PANEL: strips of panel pairs, then
 * the last panel of an odd count. */
static void at_b_avx512(at_b_tile t, size_t m, size_t n) {
    size_t j = 0;
    for (; j + PANELS_AVX512 * GP_PANEL <= n; j += PANELS_AVX512 * GP_PANEL) {
        at_b_tile strip = t;
        strip.c += j;
        strip.b += j;
        at_b_pairs_avx512(&strip, m);
    }
    if (j < n) {
        t.c += j;
        t.b += j;
        at_b_panels_avx512(&t, m);
    }
}

/* One row by P panels, P constant after inlining. */
__attribute__((target("avx512f"), always_inline)) static inline void row_avx512_p(const tile *t,
                                                                                  const size_t P) {
    __m512 acc[ROW_PANELS_AVX512];
#pragma GCC unroll 16
    for (size_t p = 0; p < P; p++) acc[p] = _mm512_setzero_ps();
    for (size_t kk = 0; kk < t->depth; kk++) {
        const __m512 ak = _mm512_set1_ps(t->a[kk * t->a_step]);
#pragma GCC unroll 16
        for (size_t p = 0; p < P; p++) {
            const __m512 v = _mm512_loadu_ps(t->b + p * t->panel_floats + kk * t->b_step);
            acc[p] = _mm512_fmadd_ps(ak, v, acc[p]);
        }
    }
#pragma GCC unroll 16
    for (size_t p = 0; p < P; p++) {
        const size_t col = t->col + p * GP_PANEL;
        const __mmask16 m = (__mmask16)lane_mask(t, col);
        __m512 v = acc[p];
        if (t->accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, t->c + col));
        _mm512_mask_storeu_ps(t->c + col, m, v);
    }
}

/* Up to ROW_PANELS_AVX512 panels: all at once, or 8 and the rest, each a constant count
 * below GP_CALL_WITH_CONSTANT's largest. */
__attribute__((target("avx512f"))) static void row_avx512(const tile *t) {
    if (t->panels == ROW_PANELS_AVX512) {
        row_avx512_p(t, ROW_PANELS_AVX512);
        return;
    }
    tile rest = *t;
    if (rest.panels > 8) {
        rest.panels = 8;
        row_avx512_p(&rest, 8);
        rest.b += 8 * rest.panel_floats;
        rest.col += 8 * GP_PANEL;
        rest.panels = t->panels - 8;
    }
    GP_CALL_WITH_CONSTANT(row_avx512_p, &rest, rest.panels, 8);
}

/* The AVX2 lanes [8 h, 8 h + 8) of a panel's lane mask, as a maskload/maskstore mask. */
__attribute__((target("avx2,fma"))) static inline __m256i half_mask(unsigned mask, int h) {
    return gp_lanes8(mask >> (8 * h));
}

/* R x 1 tile, R constant after inlining; a panel is two vectors. */
__attribute__((target("avx2,fma"), always_inline)) static inline void tile_avx2_r(const tile *t,
                                                                                  const size_t R) {
    __m256 acc[MR_AVX2][2];
#pragma GCC unroll 6
    for (size_t i = 0; i < R; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    const float *a = t->a, *b = t->b;
    for (size_t kk = 0; kk < t->depth; kk++, a += t->a_step, b += t->b_step) {
        const __m256 v0 = _mm256_loadu_ps(b);
        const __m256 v1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
        for (size_t i = 0; i < R; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i * t->lda);
            acc[i][0] = _mm256_fmadd_ps(ai, v0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, v1, acc[i][1]);
        }
    }
    const unsigned mask = lane_mask(t, t->col);
    const __m256i m[2] = {half_mask(mask, 0), half_mask(mask, 1)};
#pragma GCC unroll 6
    for (size_t i = 0; i < R; i++) {
        for (int h = 0; h < 2; h++) {
            float *dst = t->c + i * t->ldc + t->col + 8 * h;
            __m256 v = acc[i][h];
            if (t->accumulate) v = _mm256_add_ps(v, _mm256_maskload_ps(dst, m[h]));
            _mm256_maskstore_ps(dst, m[h], v);
        }
    }
}

GP_DEFINE_STRIP(tile_avx2, tile, tile_avx2_r, MR_AVX2, "avx2,fma", t.lda)
/* One row by P panels, P constant after inlining; a panel is two vectors. */
__attribute__((target("avx2,fma"), always_inline)) static inline void row_avx2_p(const tile *t,
                                                                                 const size_t P) {
    __m256 acc[ROW_PANELS_AVX2][2];
#pragma GCC unroll 4
    for (size_t p = 0; p < P; p++) acc[p][0] = acc[p][1] = _mm256_setzero_ps();
    for (size_t kk = 0; kk < t->depth; kk++) {
        const __m256 ak = _mm256_broadcast_ss(t->a + kk * t->a_step);
#pragma GCC unroll 4
        for (size_t p = 0; p < P; p++) {
            const float *b = t->b + p * t->panel_floats + kk * t->b_step;
            acc[p][0] = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b), acc[p][0]);
            acc[p][1] = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b + 8), acc[p][1]);
        }
    }
#pragma GCC unroll 4
    for (size_t p = 0; p < P; p++) {
        const size_t col = t->col + p * GP_PANEL;
        const unsigned mask = lane_mask(t, col);
        for (int h = 0; h < 2; h++) {
            const __m256i m = half_mask(mask, h);
            float *dst = t->c + col + 8 * h;
            __m256 v = acc[p][h];
            if (t->accumulate) v = _mm256_add_ps(v, _mm256_maskload_ps(dst, m));
            _mm256_maskstore_ps(dst, m, v);
        }
    }
}

__attribute__((target("avx2,fma"))) static void row_avx2(const tile *t) {
    GP_CALL_WITH_CONSTANT(row_avx2_p, t, t->panels, ROW_PANELS_AVX2);
}
#undef GP_DEFINE_STRIP
#undef GP_CALL_WITH_CONSTANT
#endif /* GP_HAVE_X86_SIMD */

static void row_scalar(const tile *t) {
    tile_scalar(t, 1);
}

/* Each micro-kernel: a strip of any number of rows by `panels` panels, and a lone row by
 * up to `row_panels` panels. */
typedef struct {
    void (*run)(const tile *, size_t rows);
    size_t panels;
    void (*run_row)(const tile *);
    size_t row_panels;
} micro_kernel;

static micro_kernel kernel_for(gp_isa isa) {
#ifdef GP_HAVE_X86_SIMD
    if (isa == GP_ISA_AVX512)
        return (micro_kernel){tile_avx512, PANELS_AVX512, row_avx512, ROW_PANELS_AVX512};
    if (isa == GP_ISA_AVX2) return (micro_kernel){tile_avx2, 1, row_avx2, ROW_PANELS_AVX2};
#endif
    (void)isa;
    return (micro_kernel){tile_scalar, 1, row_scalar, 1};
}

static int isa_supported(gp_isa isa) {
#ifdef GP_HAVE_X86_SIMD
    __builtin_cpu_init();
    if (isa == GP_ISA_AVX512) return __builtin_cpu_supports("avx512f");
    if (isa == GP_ISA_AVX2) return gp_cpu_has_avx2_fma();
#endif
    return isa == GP_ISA_SCALAR;
}

/* -1 until first use; then every caller sees the same choice. */
static atomic_int g_isa = -1;

gp_isa gp_packed_isa(void) {
    int isa = atomic_load_explicit(&g_isa, memory_order_relaxed);
    if (isa < 0) {
        isa = isa_supported(GP_ISA_AVX512) ? GP_ISA_AVX512
                                           : (isa_supported(GP_ISA_AVX2) ? GP_ISA_AVX2 : 0);
        atomic_store_explicit(&g_isa, isa, memory_order_relaxed);
    }
    return (gp_isa)isa;
}

int gp_packed_force_isa(gp_isa isa) {
    if (!isa_supported(isa)) return -1;
    atomic_store_explicit(&g_isa, (int)isa, memory_order_relaxed);
    return 0;
}

/* Runs the strips of `rows` rows and columns [c0, c1) of C, from the template `base`
 * whose a, b and c point at row 0 and panel 0. Every panel is used by all the strip's row
 * tiles before the next is touched, so it stays in L1 or L2. */
static void run_tiles(tile base, size_t rows) {
    const micro_kernel mk = kernel_for(gp_packed_isa());
    const size_t last = (base.c1 - 1) / GP_PANEL;
    const size_t panels = rows == 1 ? mk.row_panels : mk.panels;
    for (size_t p = base.c0 / GP_PANEL; p <= last; p += panels) {
        tile t = base;
        t.b = base.b + p * base.panel_floats;
        t.col = p * GP_PANEL;
        t.panels = last - p + 1 < panels ? last - p + 1 : panels;
        if (rows == 1) {
            mk.run_row(&t);
        } else {
            mk.run(&t, rows);
        }
    }
}

void gp_packed_gemm(float *c, size_t ldc, const float *a, size_t lda, gp_packed b, size_t rows,
                    size_t k0, size_t k1, size_t c0, size_t c1, int accumulate) {
    GP_ASSERT(k0 <= k1 && k1 <= b.k && c0 <= c1 && c1 <= b.n);
    if (c0 == c1 || !rows) return;
    run_tiles((tile){.c = c,
                     .ldc = ldc,
                     .a = a + k0,
                     .lda = lda,
                     .a_step = 1,
                     .b = b.data + k0 * GP_PANEL,
                     .b_step = GP_PANEL,
                     .panel_floats = b.k * GP_PANEL,
                     .depth = k1 - k0,
                     .c0 = c0,
                     .c1 = c1,
                     .accumulate = accumulate},
              rows);
}

/* One row of C, c[c0:c1] = (or +=) the depth floats of a, a_step apart, times a row-major
 * B read where it lies (row stride ldb). */
static void run_row(float *c, const float *a, size_t a_step, const float *b, size_t ldb,
                    size_t depth, size_t c0, size_t c1, int accumulate) {
    run_tiles((tile){.c = c,
                     .a = a,
                     .a_step = a_step,
                     .b = b,
                     .b_step = ldb,
                     .panel_floats = GP_PANEL,
                     .depth = depth,
                     .c0 = c0,
                     .c1 = c1,
                     .accumulate = accumulate},
              1);
}

void gp_row_gemm(float *c, const float *a, const float *b, size_t ldb, size_t k0, size_t k1,
                 size_t c0, size_t c1, int accumulate) {
    GP_ASSERT(k0 <= k1 && c0 <= c1 && gp_row_gemm_fits(c1, ldb));
    if (c0 == c1) return;
    run_row(c, a + k0, 1, b + k0 * ldb, ldb, k1 - k0, c0, c1, accumulate);
}

void gp_add_column_sums(float *sums, const float *b, size_t ldb, size_t k, size_t n) {
    /* Whole panels: the row kernel, with A a row of ones that it steps through with stride
     * 0. 1.0f * b is exact, so each multiply-add is the addition. */
    static const float one = 1.0f;
    const size_t whole = n / GP_PANEL * GP_PANEL;
    if (whole) run_row(sums, &one, 0, b, ldb, k, 0, whole, 1);
    /* the columns of a last, partial panel, which the kernel would read past */
    for (size_t j = whole; j < n; j++) {
        float sum = 0.0f;
        for (size_t kk = 0; kk < k; kk++) sum += b[kk * ldb + j];
        sums[j] += sum;
    }
}

void gp_gemm_at_b(float *c, size_t ldc, const float *a, size_t lda, const float *b, size_t ldb,
                  size_t m, size_t n, size_t k) {
    GP_ASSERT(n % GP_PANEL == 0);
    if (!m || !n) return;
#ifdef GP_HAVE_X86_SIMD
    if (gp_packed_isa() == GP_ISA_AVX512) {
        at_b_avx512((at_b_tile){c, ldc, a, lda, b, ldb, k}, m, n);
        return;
    }
#endif
    /* C's row i is A's column i: its element k is a[k * lda + i] */
    run_tiles((tile){.c = c,
                     .ldc = ldc,
                     .a = a,
                     .lda = 1,
                     .a_step = lda,
                     .b = b,
                     .b_step = ldb,
                     .panel_floats = GP_PANEL,
                     .depth = k,
                     .c0 = 0,
                     .c1 = n,
                     .accumulate = 1},
              m);
}
