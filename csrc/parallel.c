/*
 * parallel.c: gp_parallel_run over POSIX threads started per call. A call that splits
 * work costs two thread starts (tens of microseconds), paid once per sequence, never per
 * timestep.
 */
#include "parallel.h"

#include <pthread.h>

#include "blas.h"
#include "common.h"

/* Below this many element operations (rows x steps x units) a second thread costs more
 * than it saves. The sanitizer build lowers it so that its tiny cases run threaded too. */
#ifndef GP_MIN_PARALLEL_WORK
#define GP_MIN_PARALLEL_WORK ((size_t)1 << 16)
#endif

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
    GP_ASSERT(count <= GP_MAX_JOBS);
    pthread_t threads[GP_MAX_JOBS];
    gp_task tasks[GP_MAX_JOBS];
    int started[GP_MAX_JOBS] = {0};
    char *base = jobs;
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

size_t gp_parallel_jobs(size_t rows, size_t work) {
    if (rows < 2 || work < GP_MIN_PARALLEL_WORK) return 1;
    int threads = gp_blas_get_num_threads();
    size_t jobs = threads > 1 ? (size_t)threads : 1;
    if (jobs > rows) jobs = rows;
    return jobs > GP_MAX_JOBS ? GP_MAX_JOBS : jobs;
}
