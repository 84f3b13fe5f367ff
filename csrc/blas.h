/*
 * blas.h: the few CBLAS/OpenBLAS entry points the core uses, declared here so that the
 * core needs no BLAS headers at build time. The symbol prefix is a macro: the PyPI
 * build of OpenBLAS (scipy-openblas32) prefixes every symbol with "scipy_", a system
 * OpenBLAS does not. Build with -DGP_BLAS_SYSTEM for the latter.
 * Both are LP64 builds with 32-bit integers (blasint = int).
 */
#ifndef GP_BLAS_H
#define GP_BLAS_H

#include <stddef.h>

#ifdef GP_BLAS_SYSTEM
#define GP_BLAS_NAME(name) name
#else
#define GP_BLAS_NAME(name) scipy_##name
#endif

/* CBLAS enum values, fixed by the CBLAS standard. */
enum { GP_CBLAS_ROW_MAJOR = 101 };
enum { GP_CBLAS_NO_TRANS = 111, GP_CBLAS_TRANS = 112 };

/* C = alpha * op(A) * op(B) + beta * C, row-major. */
void GP_BLAS_NAME(cblas_sgemm)(int order, int trans_a, int trans_b, int m, int n, int k,
                               float alpha, const float *a, int lda, const float *b, int ldb,
                               float beta, float *c, int ldc);
/* y = alpha * op(A) * x + beta * y, row-major. */
void GP_BLAS_NAME(cblas_sgemv)(int order, int trans, int m, int n, float alpha, const float *a,
                               int lda, const float *x, int incx, float beta, float *y, int incy);
char *GP_BLAS_NAME(openblas_get_config)(void);
int GP_BLAS_NAME(openblas_get_num_threads)(void);
void GP_BLAS_NAME(openblas_set_num_threads)(int num_threads);

/* Row-major sgemm with size_t dimensions; callers have checked that every size fits an
 * int (gp_fits_blas_int) when they validated their configuration. */
static inline void gp_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                            const float *a, size_t lda, const float *b, size_t ldb, float beta,
                            float *c, size_t ldc) {
    GP_BLAS_NAME(cblas_sgemm)
    (GP_CBLAS_ROW_MAJOR, trans_a, trans_b, (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb,
     beta, c, (int)ldc);
}

/*
 * C (rows, n) = alpha * A (rows, k) * op(B) + beta * C, where op(B) is (k, n): the shape
 * of a recurrence's per-timestep product. For a single row it is a matrix-vector
 * product, and sgemv reads B where it lies, where sgemm would first copy all of B into
 * its packed layout: the whole recurrent kernel, at every timestep.
 */
static inline void gp_sgemm_rows(int trans_b, size_t rows, size_t n, size_t k, float alpha,
                                 const float *a, size_t lda, const float *b, size_t ldb, float beta,
                                 float *c, size_t ldc) {
    if (rows != 1) {
        gp_sgemm(GP_CBLAS_NO_TRANS, trans_b, rows, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    } else if (trans_b == GP_CBLAS_TRANS) {
        /* op(B) = B^T with B (n, k): c = B a */
        GP_BLAS_NAME(cblas_sgemv)
        (GP_CBLAS_ROW_MAJOR, GP_CBLAS_NO_TRANS, (int)n, (int)k, alpha, b, (int)ldb, a, 1, beta, c,
         1);
    } else {
        /* B (k, n): c = B^T a */
        GP_BLAS_NAME(cblas_sgemv)
        (GP_CBLAS_ROW_MAJOR, GP_CBLAS_TRANS, (int)k, (int)n, alpha, b, (int)ldb, a, 1, beta, c, 1);
    }
}

#endif /* GP_BLAS_H */
