/* bench_util.h - small helpers shared by the C benchmarks: clocks, rusage,
 * one-line JSON results.  Header-only, benchmarks only. */
#ifndef KC_BENCH_UTIL_H
#define KC_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static inline double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + sys) of the calling thread: for single-threaded
 * loops measured "on one core". */
static inline double bench_thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct bench_usage {
    double user_s, sys_s, cpu_s; /* whole process, since it started */
    long maxrss_kib;             /* peak resident set size */
} bench_usage;

static inline bench_usage bench_usage_self(void)
{
    struct rusage ru;
    bench_usage u = {0, 0, 0, 0};
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        u.user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        u.sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        u.cpu_s = u.user_s + u.sys_s;
        u.maxrss_kib = ru.ru_maxrss;
    }
    return u;
}

/* Parse a positive integer argument or exit(2). */
static inline long bench_parse_long(const char *what, const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v <= 0) {
        fprintf(stderr, "error: %s: not a positive integer: %s\n", what, s);
        exit(2);
    }
    return v;
}

#endif
