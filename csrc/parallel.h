/*
 * parallel.h: the core's own use of the machine's cores (internal).
 *
 * Every BLAS call of the core runs single-threaded inside a job; the core splits the work
 * between jobs itself. OpenBLAS's own threads busy-wait between calls, and on a machine
 * whose cores are shared that slows small recurrent workloads by orders of magnitude;
 * the core's workers watch for the next call for a fraction of a millisecond, then sleep
 * (parallel.c). Recurrences split by batch rows, which never interact,
 * so a job is a whole time loop: no barrier per step. A lone sequence, which has no rows
 * to split, shares each step between jobs through a queue that a job can drain alone
 * (rnn.c), so no job ever waits for one that is not running.
 */
#ifndef GP_PARALLEL_H
#define GP_PARALLEL_H

#include <stddef.h>

/* Most jobs one call runs at once; it bounds the thread handles kept on the stack. */
#define GP_MAX_JOBS 16

/*
 * Calls fn(jobs + i * job_size) for i in [0, count): job 0 on the calling thread, the
 * others on worker threads kept between calls (threads started for this call while
 * another call has the workers), with every BLAS call single-threaded; returns when all
 * are done. A job that no thread has started when the caller finishes its own runs on the
 * calling thread. count <= GP_MAX_JOBS. Every BLAS call of the core goes through here.
 */
void gp_parallel_run(void (*fn)(void *), void *jobs, size_t job_size, size_t count);

/* How many jobs to split `rows` independent rows into, for `work` element operations:
 * the BLAS thread count (OPENBLAS_NUM_THREADS, openblas_set_num_threads, threadpoolctl),
 * at most one per row, and one when the work cannot pay for handing a job to a thread. */
size_t gp_parallel_jobs(size_t rows, size_t work);

/* Row-major C = alpha op(A) op(B) + beta C, split across jobs by rows of C or by columns
 * of C (whichever is larger), each block one single-threaded BLAS call. */
void gp_parallel_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                       const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                       size_t ldc);

#endif /* GP_PARALLEL_H */
