/*
 * parallel.c: jobs on worker threads kept between calls, the GEMM split on top of them,
 * and the thread count the user chose.
 *
 * A worker started for one call stays for the next. Between calls it watches for new
 * work for a short while (GP_WORKER_SPIN_NS), then sleeps on a condition variable. On a
 * virtual machine a sleeping core is a halted virtual CPU, and waking it (or starting a
 * thread on it) took up to half a millisecond when the host was busy: a lone sequence's
 * latency often ran on one core. Calls in a row (a layer's calls in a training step, a
 * sequence of predictions) find the worker awake; a worker with no work soon sleeps and
 * costs nothing. A job that no worker has taken when the caller is done with its own is
 * run by the caller, so no call waits for a worker that has no core. One call at a time
 * uses the workers; another call meanwhile (another Python thread, a job's own nested
 * call) starts threads of its own.
 *
 * OpenBLAS's thread count is process-wide. While any core call runs, it is held at 1 so
 * that every GEMM inside a job stays on that job's thread; the count the user chose is
 * kept here meanwhile and restored when the last running call ends. The vendored OpenBLAS
 * serves only this core, so nothing else sees the change.
 */
/* clock_gettime(CLOCK_MONOTONIC), a POSIX rather than C11 function */
#define _POSIX_C_SOURCE 200809L

#include "parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

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

/* Runs jobs 1..count-1 on threads started for this call, job 0 on the caller. */
static void run_on_new_threads(void (*fn)(void *), char *base, size_t job_size, size_t count) {
    pthread_t threads[GP_MAX_JOBS];
    gp_task tasks[GP_MAX_JOBS];
    int started[GP_MAX_JOBS] = {0};
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
}

/* How long an idle worker watches for the next call before it sleeps: longer than the
 * Python code between a training step's layer calls, short against any pause. */
#define GP_WORKER_SPIN_NS 200000L

/* How long a caller done with its own jobs watches for the workers to finish theirs
 * before it sleeps: a worker's signal takes microseconds to wake it, as long as a whole
 * single step. Short, so that a caller does not keep a core that a worker needs. */
#define GP_CALLER_SPIN_NS 50000L

/* Bytes in a cache line. A counter that one thread writes and another spins on gets a
 * line of its own: beside the lock and the call's fields, every write to those stalled
 * on the line moving between the cores. */
#define GP_CACHE_LINE 64

/* The kept workers and the one call they serve; the fields are under `lock`, except
 * that idle workers watch `posted`, and a caller `running`, without it. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t work;                          /* a call has jobs to take */
    pthread_cond_t idle;                          /* a worker finished a job */
    _Alignas(GP_CACHE_LINE) atomic_size_t posted; /* calls posted so far */
    _Alignas(GP_CACHE_LINE) size_t workers;       /* started so far */
    int serving;                                  /* a call owns the workers */
    void (*fn)(void *);
    char *base;
    size_t job_size, count;
    size_t next;                                   /* the next job nobody has taken */
    _Alignas(GP_CACHE_LINE) atomic_size_t running; /* jobs taken by workers, not finished */
    _Alignas(GP_CACHE_LINE) char end;              /* keeps `running` alone in its line */
} g_pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
            .work = PTHREAD_COND_INITIALIZER,
            .idle = PTHREAD_COND_INITIALIZER};

/* Takes the next job of the served call, or returns 0; called with the lock held. */
static int take_job(char **job) {
    if (!g_pool.serving || g_pool.next >= g_pool.count) return 0;
    *job = g_pool.base + g_pool.next++ * g_pool.job_size;
    return 1;
}

static long elapsed_ns(const struct timespec *since) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

/* A spin-wait that gives up after a while. */
typedef struct {
    struct timespec start;
    unsigned spins;
    long limit_ns;
} spinner;

static spinner spinner_start(long limit_ns) {
    spinner s = {.limit_ns = limit_ns};
    clock_gettime(CLOCK_MONOTONIC, &s.start);
    return s;
}

/* After this long a spin yields its core every few microseconds: a scheduler may wake a
 * thread on its waker's core, and the waker, put aside, then waited out the whole spin
 * of the thread it woke (a single step took 140 us instead of 10). Not from the start:
 * a worker that yields while calls come every 15 us hands its core to any other thread
 * spinning there (OpenBLAS's idle threads do, for a while after the library loads), and
 * then misses calls, a third of them in one measurement. */
#define GP_SPIN_YIELD_AFTER_NS 20000L

/* One round of a spin: 0 once limit_ns have passed. */
static int spinner_go_on(spinner *s) {
    if (++s->spins % 64 != 0) return 1;
    const long waited = elapsed_ns(&s->start);
    if (waited > GP_SPIN_YIELD_AFTER_NS && s->spins % 4096 == 0) sched_yield();
    return waited <= s->limit_ns;
}

/* Returns 1 when a call has been posted since `seen`, or 0 after GP_WORKER_SPIN_NS. */
static int watch_for_work(size_t seen) {
    spinner s = spinner_start(GP_WORKER_SPIN_NS);
    while (atomic_load_explicit(&g_pool.posted, memory_order_acquire) == seen) {
        if (!spinner_go_on(&s)) return 0;
    }
    return 1;
}

/* Returns when no worker runs a job of the served call, or after GP_CALLER_SPIN_NS. */
static void watch_for_finish(void) {
    spinner s = spinner_start(GP_CALLER_SPIN_NS);
    while (atomic_load_explicit(&g_pool.running, memory_order_acquire)) {
        if (!spinner_go_on(&s)) return;
    }
}

/* Takes jobs while the served call has some; between calls, watches for the next one,
 * and sleeps only when none has come for GP_WORKER_SPIN_NS. Any call wakes it to
 * watching again, even one whose jobs its caller took before this worker saw it: calls
 * come in rows, and waking a sleeping worker cost the next call several microseconds. */
static void *worker_main(void *unused) {
    (void)unused;
    pthread_mutex_lock(&g_pool.lock);
    for (;;) {
        char *job;
        while (!take_job(&job)) {
            const size_t seen = atomic_load_explicit(&g_pool.posted, memory_order_relaxed);
            pthread_mutex_unlock(&g_pool.lock);
            const int posted = watch_for_work(seen);
            pthread_mutex_lock(&g_pool.lock);
            /* calls are posted under the lock, so none is missed between check and wait */
            if (!posted && atomic_load(&g_pool.posted) == seen) {
                pthread_cond_wait(&g_pool.work, &g_pool.lock);
            }
        }
        void (*fn)(void *) = g_pool.fn;
        atomic_fetch_add(&g_pool.running, 1);
        pthread_mutex_unlock(&g_pool.lock);
        fn(job);
        pthread_mutex_lock(&g_pool.lock);
        atomic_fetch_sub(&g_pool.running, 1);
        pthread_cond_signal(&g_pool.idle);
    }
    return NULL;
}

/* A fork's child has none of the parent's workers, nor the call they may have been
 * serving, and the lock may have been held by a thread that the child does not have. */
static void forget_workers_in_child(void) {
    pthread_mutex_init(&g_pool.lock, NULL);
    pthread_cond_init(&g_pool.work, NULL);
    pthread_cond_init(&g_pool.idle, NULL);
    g_pool.workers = 0;
    g_pool.serving = 0;
    atomic_store(&g_pool.running, 0);
}

static pthread_once_t g_fork_handler_once = PTHREAD_ONCE_INIT;

static void register_fork_handler(void) {
    pthread_atfork(NULL, NULL, forget_workers_in_child);
}

/* Starts workers until `wanted` exist (fewer if the system refuses); lock held. */
static void start_workers(size_t wanted) {
    while (g_pool.workers < wanted) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, worker_main, NULL) != 0) return;
        pthread_detach(thread);
        g_pool.workers++;
    }
}

/* Runs the jobs on the kept workers and the caller; 0 if another call owns them. */
static int run_on_workers(void (*fn)(void *), char *base, size_t job_size, size_t count) {
    pthread_once(&g_fork_handler_once, register_fork_handler);
    pthread_mutex_lock(&g_pool.lock);
    if (g_pool.serving) {
        pthread_mutex_unlock(&g_pool.lock);
        return 0;
    }
    start_workers(count - 1);
    g_pool.serving = 1;
    g_pool.fn = fn;
    g_pool.base = base;
    g_pool.job_size = job_size;
    g_pool.count = count;
    g_pool.next = 1; /* job 0 is the caller's */
    atomic_fetch_add_explicit(&g_pool.posted, 1, memory_order_release);
    pthread_cond_broadcast(&g_pool.work);
    pthread_mutex_unlock(&g_pool.lock);

    fn(base);
    pthread_mutex_lock(&g_pool.lock);
    char *job;
    while (take_job(&job)) { /* jobs that no worker has taken yet */
        pthread_mutex_unlock(&g_pool.lock);
        fn(job);
        pthread_mutex_lock(&g_pool.lock);
    }
    pthread_mutex_unlock(&g_pool.lock);
    watch_for_finish();
    pthread_mutex_lock(&g_pool.lock);
    while (atomic_load(&g_pool.running)) pthread_cond_wait(&g_pool.idle, &g_pool.lock);
    g_pool.serving = 0;
    pthread_mutex_unlock(&g_pool.lock);
    return 1;
}

void gp_parallel_run(void (*fn)(void *), void *jobs, size_t job_size, size_t count) {
    GP_ASSERT(count >= 1 && count <= GP_MAX_JOBS);
    region_begin();
    if (count == 1) {
        fn(jobs);
    } else if (!run_on_workers(fn, jobs, job_size, count)) {
        run_on_new_threads(fn, jobs, job_size, count);
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
