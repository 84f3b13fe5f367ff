/*
 * packed_gemm.h: the recurrences' per-step products with the recurrent kernel packed once
 * per call (internal).
 *
 * OpenBLAS copies both operands of every sgemm call into its own panel layout. A
 * recurrence multiplies by the same recurrent kernel at every timestep, so at B=32,
 * H=512 that copy (3 MB per step) took a fifth of a training step. Here the kernel is
 * packed once per call into column panels, and a register-blocked micro-kernel (AVX-512,
 * AVX2+FMA, or portable C, chosen at run time) multiplies a few rows of states by them.
 *
 * Layout: op(B) (K, N) is stored as ceil(N / GP_PANEL) panels; panel p holds columns
 * [p * GP_PANEL, (p + 1) * GP_PANEL) of every row, row after row, zero-padded past N.
 */
#ifndef GP_PACKED_GEMM_H
#define GP_PACKED_GEMM_H

#include <stddef.h>

/* Columns per panel: one AVX-512 vector, two AVX2 vectors. */
#define GP_PANEL 16

/* A packed op(B): `data` holds gp_packed_floats(k, n) floats. */
typedef struct {
    const float *data;
    size_t k, n;
} gp_packed;

/* The micro-kernels, in order of preference. */
typedef enum { GP_ISA_SCALAR = 0, GP_ISA_AVX2 = 1, GP_ISA_AVX512 = 2 } gp_isa;

/* Floats of a packed (k, n) matrix; 0 if that overflows a size_t. */
size_t gp_packed_floats(size_t k, size_t n);

/* Packs op(B) (k, n) into `packed`: B itself (k, n), row stride ldb; or, transposed, B^T
 * of a row-major B (n, k), row stride ldb. */
void gp_packed_pack(float *packed, const float *b, size_t ldb, size_t k, size_t n, int transposed);

/*
 * C[:, c0:c1] = A[:, k0:k1] op(B)[k0:k1, c0:c1] for `rows` rows, or += with `accumulate`.
 * Indices are absolute: row i's column j of C is c[i * ldc + j], its column k of A is
 * a[i * lda + k]. Requires k0 <= k1 <= b.k and c0 <= c1 <= b.n.
 */
void gp_packed_gemm(float *c, size_t ldc, const float *a, size_t lda, gp_packed b, size_t rows,
                    size_t k0, size_t k1, size_t c0, size_t c1, int accumulate);

/*
 * c[c0:c1] = a[k0:k1] B[k0:k1, c0:c1] for one row a, or += with `accumulate`: the
 * matrix-vector product of a batch of one, with B (k, n) row-major, row stride ldb, read
 * where it lies. The panels' kernels load whole panels, so c1 rounded up to a multiple
 * of GP_PANEL must not exceed ldb. Each column's sum runs over k in the order
 * gp_packed_gemm's does, so B packed or not gives the same bits.
 */
void gp_row_gemm(float *c, const float *a, const float *b, size_t ldb, size_t k0, size_t k1,
                 size_t c0, size_t c1, int accumulate);

/* Whether gp_row_gemm can take columns up to c1 of rows ldb floats apart. */
static inline int gp_row_gemm_fits(size_t c1, size_t ldb) {
    return (c1 + GP_PANEL - 1) / GP_PANEL * GP_PANEL <= ldb;
}

/*
 * C (m, n) += A^T B for row-major A (k, m) and B (k, n), row strides lda and ldb: the
 * weight gradients of k rows, accumulated while the rows are in cache. B is read where it
 * lies, so n must be a multiple of GP_PANEL.
 */
void gp_gemm_at_b(float *c, size_t ldc, const float *a, size_t lda, const float *b, size_t ldb,
                  size_t m, size_t n, size_t k);

/*
 * sums[0:n] += the column sums of B's k rows (row-major, row stride ldb): 1^T B, a bias's
 * gradient. Each column's rows are summed in order from zero, in a register, and the
 * total then added to sums, so every ISA gives the same bits.
 */
void gp_add_column_sums(float *sums, const float *b, size_t ldb, size_t k, size_t n);

/* The micro-kernel in use: the best this CPU supports, unless a test forced another. */
gp_isa gp_packed_isa(void);

/* For tests: use `isa` from now on. Returns 0, or -1 (and changes nothing) if this CPU or
 * build cannot run it. */
int gp_packed_force_isa(gp_isa isa);

#endif /* GP_PACKED_GEMM_H */
