/*
 * parallel.h: run a few independent jobs on the machine's cores (internal).
 * The recurrences split by batch rows, which never interact, so a job is a whole time
 * loop over its rows: no barrier, no shared writes, no allocation by the core.
 */
#ifndef GP_PARALLEL_H
#define GP_PARALLEL_H

#include <stddef.h>

/* Most jobs one call runs at once; more threads than this buys nothing on the CPUs a
 * recurrent layer runs on, and it bounds the thread handles kept on the stack. */
#define GP_MAX_JOBS 16

/*
 * Calls fn(jobs + i * job_size) for i in [0, count): job 0 on the calling thread, the
 * others on threads started for this call, and returns when all are done. A job whose
 * thread cannot be started runs on the calling thread instead. count <= GP_MAX_JOBS.
 */
void gp_parallel_run(void (*fn)(void *), void *jobs, size_t job_size, size_t count);

/* How many jobs to split `rows` independent rows into: OpenBLAS's thread count (which
 * OPENBLAS_NUM_THREADS, openblas_set_num_threads and threadpoolctl control), at most one
 * job per row, none when the work is too small to pay for starting a thread. */
size_t gp_parallel_jobs(size_t rows, size_t work);

#endif /* GP_PARALLEL_H */
