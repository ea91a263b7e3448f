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

/* Current memory from /proc/self/smaps_rollup: resident total and its
 * anonymous part (heap, stacks: this process's own); the rest is
 * file-backed (program and shared libraries, mostly shared with other
 * processes).  Zeros when unavailable. */
typedef struct bench_mem {
    long rss_kib, anon_kib;
} bench_mem;

static inline bench_mem bench_mem_now(void)
{
    bench_mem m = {0, 0};
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f)
        return m;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        long v;
        if (sscanf(line, "Rss: %ld kB", &v) == 1)
            m.rss_kib = v;
        else if (sscanf(line, "Anonymous: %ld kB", &v) == 1)
            m.anon_kib = v;
    }
    fclose(f);
    return m;
}

/* With KC_BENCH_SMAPS=1 in the environment: the biggest resident mappings
 * on stderr (where the RSS goes). */
static inline void bench_smaps_report(const char *who)
{
    const char *env = getenv("KC_BENCH_SMAPS");
    if (!env || strcmp(env, "1") != 0)
        return;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return;
    enum { MAXN = 256 };
    static char names[MAXN][160];
    static long rss[MAXN];
    int n = 0, cur = -1;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        unsigned long a, b;
        long v;
        if (sscanf(line, "%lx-%lx", &a, &b) == 2 && strchr(line, ' ')) {
            char *path = strchr(line, '/');
            const char *name = path ? path : (strstr(line, "[") ? strstr(line, "[") : "[anon]");
            char clean[160];
            snprintf(clean, sizeof(clean), "%s", name);
            clean[strcspn(clean, "\n")] = '\0';
            cur = -1;
            for (int i = 0; i < n; i++)
                if (!strcmp(names[i], clean))
                    cur = i;
            if (cur < 0 && n < MAXN) {
                cur = n++;
                snprintf(names[cur], sizeof(names[cur]), "%s", clean);
                rss[cur] = 0;
            }
        } else if (cur >= 0 && sscanf(line, "Rss: %ld kB", &v) == 1) {
            rss[cur] += v;
        }
    }
    fclose(f);
    fprintf(stderr, "%s: resident memory by mapping (KiB):\n", who);
    for (int k = 0; k < 12; k++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (rss[i] > 0 && (best < 0 || rss[i] > rss[best]))
                best = i;
        if (best < 0)
            break;
        fprintf(stderr, "  %7ld  %s\n", rss[best], names[best]);
        rss[best] = -1;
    }
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
