/*
 * parallel.c: jobs on POSIX threads started per call (a few tens of microseconds, paid
 * once per layer call, never per timestep), the GEMM split on top of them, and the
 * thread count the user chose.
 *
 * OpenBLAS's thread count is process-wide. While any core call runs, it is held at 1 so
 * that every GEMM inside a job stays on that job's thread; the count the user chose is
 * kept here meanwhile and restored when the last running call ends. The vendored OpenBLAS
 * serves only this core, so nothing else sees the change.
 */
#include "parallel.h"

#include <pthread.h>

#include "blas.h"
#include "common.h"

/* Below this many element operations a second thread costs more than it saves. The
 * sanitizer build lowers it so that its tiny cases run split across threads too. */
#ifndef GP_MIN_PARALLEL_WORK
#define GP_MIN_PARALLEL_WORK ((size_t)1 << 16)
#endif

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_running = 0;      /* core calls now holding OpenBLAS at one thread */
static int g_user_threads = 1; /* the user's count while g_running > 0 */

static void region_begin(void) {
    pthread_mutex_lock(&g_lock);
    if (g_running++ == 0) {
        g_user_threads = GP_BLAS_NAME(openblas_get_num_threads)();
        if (g_user_threads > 1) GP_BLAS_NAME(openblas_set_num_threads)(1);
    }
    pthread_mutex_unlock(&g_lock);
}

static void region_end(void) {
    pthread_mutex_lock(&g_lock);
    if (--g_running == 0 && g_user_threads > 1) {
        GP_BLAS_NAME(openblas_set_num_threads)(g_user_threads);
    }
    pthread_mutex_unlock(&g_lock);
}

int gp_blas_get_num_threads(void) {
    pthread_mutex_lock(&g_lock);
    const int threads = g_running ? g_user_threads : GP_BLAS_NAME(openblas_get_num_threads)();
    pthread_mutex_unlock(&g_lock);
    return threads;
}

void gp_blas_set_num_threads(int num_threads) {
    pthread_mutex_lock(&g_lock);
    if (g_running) {
        g_user_threads = num_threads; /* applied when the running calls end */
    } else {
        GP_BLAS_NAME(openblas_set_num_threads)(num_threads);
    }
    pthread_mutex_unlock(&g_lock);
}

typedef struct {
    void (*fn)(void *);
    void *job;
} gp_task;

static void *run_task(void *arg) {
    const gp_task *task = arg;
    task->fn(task->job);
    return NULL;
}

void gp_parallel_run(void (*fn)(void *), void *jobs, size_t job_size, size_t count) {
    GP_ASSERT(count >= 1 && count <= GP_MAX_JOBS);
    pthread_t threads[GP_MAX_JOBS];
    gp_task tasks[GP_MAX_JOBS];
    int started[GP_MAX_JOBS] = {0};
    char *base = jobs;
    region_begin();
    for (size_t i = 1; i < count; i++) {
        tasks[i].fn = fn;
        tasks[i].job = base + i * job_size;
        started[i] = pthread_create(&threads[i], NULL, run_task, &tasks[i]) == 0;
    }
    fn(base);
    for (size_t i = 1; i < count; i++) {
        if (started[i]) {
            pthread_join(threads[i], NULL);
        } else {
            fn(base + i * job_size);
        }
    }
    region_end();
}

size_t gp_parallel_jobs(size_t rows, size_t work) {
    if (rows < 2 || work < GP_MIN_PARALLEL_WORK) return 1;
    const int threads = gp_blas_get_num_threads();
    size_t jobs = threads > 1 ? (size_t)threads : 1;
    if (jobs > rows) jobs = rows;
    return jobs > GP_MAX_JOBS ? GP_MAX_JOBS : jobs;
}

/* One block of a split GEMM. */
typedef struct {
    int trans_a, trans_b;
    size_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    size_t lda, ldb, ldc;
    float *c;
} gemm_job;

static void gemm_block(void *arg) {
    const gemm_job *g = arg;
    if (g->m && g->n) {
        gp_sgemm(g->trans_a, g->trans_b, g->m, g->n, g->k, g->alpha, g->a, g->lda, g->b, g->ldb,
                 g->beta, g->c, g->ldc);
    }
}

void gp_parallel_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                       const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                       size_t ldc) {
    const int by_rows = m >= n;
    const size_t span = by_rows ? m : n;
    const size_t count = gp_parallel_jobs(span, m * n * k / 64 + 1);
    gemm_job jobs[GP_MAX_JOBS];
    for (size_t i = 0; i < count; i++) {
        const size_t lo = span * i / count, hi = span * (i + 1) / count;
        gemm_job g = {.trans_a = trans_a,
                      .trans_b = trans_b,
                      .m = m,
                      .n = n,
                      .k = k,
                      .alpha = alpha,
                      .beta = beta,
                      .a = a,
                      .b = b,
                      .lda = lda,
                      .ldb = ldb,
                      .ldc = ldc,
                      .c = c};
        if (by_rows) {
            /* rows lo..hi of C come from rows lo..hi of op(A) */
            g.m = hi - lo;
            g.a = trans_a == GP_CBLAS_TRANS ? a + lo : a + lo * lda;
            g.c = c + lo * ldc;
        } else {
            /* columns lo..hi of C come from columns lo..hi of op(B) */
            g.n = hi - lo;
            g.b = trans_b == GP_CBLAS_TRANS ? b + lo * ldb : b + lo;
            g.c = c + lo;
        }
        jobs[i] = g;
    }
    gp_parallel_run(gemm_block, jobs, sizeof jobs[0], count);
}
