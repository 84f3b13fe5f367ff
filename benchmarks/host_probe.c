/*
 * host_probe.c: the state of this machine's CPUs, printed as one line of JSON for
 * benchmarks/run.py, which builds it with the C compiler that built gru_py.
 *
 * On a shared virtual machine the host decides where the virtual CPUs run, and that
 * changes over minutes. On this project's machine, for minutes at a time, the two CPUs
 * were far apart: a cache line's round trip between them took 370-1000 ns instead of the
 * usual 75-125, and gru_py's two-thread S2 epoch took 0.36-0.38 s instead of 0.31-0.33,
 * while single-thread runs, and two single-thread runs side by side, kept their speed.
 * A CPU whose core runs another busy thread (another guest's, or here a spinning process
 * of our own) does its multiply-adds at about half the other's rate, and a two-thread run
 * then waits for it. A table row taken in either state measures the host as much as the
 * libraries.
 *
 * For each CPU the process may use (up to 8): the rate of vector multiply-adds on
 * registers of a thread pinned to it; and for each CPU after the first, the median round
 * trip of a cache line between it and the first. {"cpus": [...], "gflops": [...],
 * "round_trip_ns": [...]}; exits 1 if a thread cannot be started or pinned.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_CPUS 8
/* Accumulators enough to keep two fused multiply-add units busy at four cycles each. */
#define CHAINS 12
#define TRIPS_PER_BATCH 4000
#define BATCHES 5

typedef float vec __attribute__((vector_size(64)));

/* Read at run time, so that the compiler cannot shorten the loop; and where the loop's
 * sums go, so that it cannot drop it. */
static volatile long g_rate_iterations = 4000000;
static volatile float g_rate_sink;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

typedef struct {
    int cpu;
    double gflops;
    int failed;
} rate_job;

/* CHAINS independent multiply-add chains; the scale below 1 keeps them finite. */
static void *measure_rate(void *arg) {
    rate_job *job = arg;
    if (pin_to(job->cpu) != 0) {
        job->failed = 1;
        return NULL;
    }
    vec acc[CHAINS];
    const vec scale = (vec){0} + 0.999999f, step = (vec){0} + 1e-6f;
    for (int c = 0; c < CHAINS; c++) acc[c] = (vec){0} + (float)c;
    const double start = now_s();
    for (long i = 0; i < g_rate_iterations; i++) {
#pragma GCC unroll 12 /* CHAINS */
        for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * scale + step;
    }
    const double seconds = now_s() - start;
    for (int c = 0; c < CHAINS; c++) g_rate_sink += acc[c][0];
    const double flops = 2.0 * CHAINS * (sizeof(vec) / sizeof(float)) * (double)g_rate_iterations;
    job->gflops = flops / seconds / 1e9;
    return NULL;
}

static _Alignas(64) atomic_long g_ball;

typedef struct {
    int cpu;
    long trips;
    atomic_int failed; /* the thread could not be pinned, and has returned */
} bounce_job;

/* The other end of the round trips: answers each odd value with the next even one. */
static void *bounce_back(void *arg) {
    bounce_job *job = arg;
    if (pin_to(job->cpu) != 0) {
        atomic_store(&job->failed, 1);
        return NULL;
    }
    for (long i = 0; i < job->trips; i++) {
        while (atomic_load(&g_ball) != 2 * i + 1) continue;
        atomic_store(&g_ball, 2 * i + 2);
    }
    return NULL;
}

static int compare_doubles(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median over BATCHES of the mean round trip between `first` and `other`, in ns; -1 if a
 * thread could not be pinned. */
static double round_trip_ns(int first, int other) {
    bounce_job job = {.cpu = other, .trips = (long)TRIPS_PER_BATCH * BATCHES};
    atomic_init(&job.failed, 0);
    atomic_store(&g_ball, 0);
    pthread_t thread;
    if (pin_to(first) != 0 || pthread_create(&thread, NULL, bounce_back, &job) != 0) return -1;
    double batch_ns[BATCHES];
    long i = 0;
    for (int b = 0; b < BATCHES; b++) {
        const double start = now_s();
        for (long end = i + TRIPS_PER_BATCH; i < end; i++) {
            atomic_store(&g_ball, 2 * i + 1);
            while (atomic_load(&g_ball) != 2 * i + 2) {
                if (atomic_load(&job.failed)) {
                    pthread_join(thread, NULL);
                    return -1;
                }
            }
        }
        batch_ns[b] = (now_s() - start) * 1e9 / TRIPS_PER_BATCH;
    }
    pthread_join(thread, NULL);
    qsort(batch_ns, BATCHES, sizeof batch_ns[0], compare_doubles);
    return batch_ns[BATCHES / 2];
}

int main(void) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return 1;
    int cpus[MAX_CPUS], n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < MAX_CPUS; c++) {
        if (CPU_ISSET(c, &allowed)) cpus[n++] = c;
    }
    /* one CPU at a time, so that each has its core to itself as far as we are concerned */
    rate_job rates[MAX_CPUS];
    for (int i = 0; i < n; i++) {
        rates[i] = (rate_job){cpus[i], 0.0, 0};
        pthread_t thread;
        if (pthread_create(&thread, NULL, measure_rate, &rates[i]) != 0) return 1;
        pthread_join(thread, NULL);
        if (rates[i].failed) return 1;
    }
    double trips[MAX_CPUS];
    for (int i = 1; i < n; i++) {
        trips[i] = round_trip_ns(cpus[0], cpus[i]);
        if (trips[i] < 0) return 1;
    }
    printf("{\"cpus\": [");
    for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", cpus[i]);
    printf("], \"gflops\": [");
    for (int i = 0; i < n; i++) printf("%s%.1f", i ? ", " : "", rates[i].gflops);
    printf("], \"round_trip_ns\": [");
    for (int i = 1; i < n; i++) printf("%s%.0f", i > 1 ? ", " : "", trips[i]);
    printf("]}\n");
    return 0;
}
