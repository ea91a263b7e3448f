/* bench_informer_kclient: the kclient informer caching every PodGroup of a
 * namespace, measured while the objects are created and modified — the
 * same contract as clientgo/informer:
 *
 *   bench_informer_kclient --kubeconfig FILE -n NS --expect E --ready-file F [--timeout 300s]
 *
 * Creates F once the cache is synced, counts handler events until E have
 * arrived, and prints one JSON line: events per CPU-second over that phase
 * and the memory with the objects cached. */
#include <kclient/kclient.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

typedef struct counts {
    long adds, updates, deletes;
} counts;

static void on_add(kc_informer *i, const struct cJSON *o, void *ud)
{
    (void)i;
    (void)o;
    ((counts *)ud)->adds++;
}

static void on_update(kc_informer *i, const struct cJSON *a, const struct cJSON *b, void *ud)
{
    (void)i;
    (void)a;
    (void)b;
    ((counts *)ud)->updates++;
}

static void on_delete(kc_informer *i, const struct cJSON *o, void *ud)
{
    (void)i;
    (void)o;
    ((counts *)ud)->deletes++;
}

static long total(const counts *c) { return c->adds + c->updates + c->deletes; }

int main(int argc, char **argv)
{
    const char *kubeconfig = NULL, *ns = "default", *ready = NULL;
    long expect = 0;
    double timeout_s = 300;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--kubeconfig")) kubeconfig = argv[i + 1];
        else if (!strcmp(argv[i], "-n")) ns = argv[i + 1];
        else if (!strcmp(argv[i], "--expect")) expect = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--ready-file")) ready = argv[i + 1];
        else if (!strcmp(argv[i], "--timeout")) timeout_s = atof(argv[i + 1]);
    }
    if (expect <= 0) {
        fprintf(stderr, "usage: bench_informer_kclient --kubeconfig FILE -n NS --expect E "
                        "[--ready-file F] [--timeout SECONDS]\n");
        return 2;
    }
    kc_config_options co = {.kubeconfig = kubeconfig};
    kc_config *cfg = NULL;
    kc_client *c = NULL;
    kc_error err = KC_ERROR_INIT;
    kc_client_options opts = {.qps = -1, .user_agent = "kclient-bench/informer"};
    if (kc_config_load(&co, &cfg, &err) != KC_OK || kc_client_new(cfg, &opts, &c, &err) != KC_OK) {
        fprintf(stderr, "bench_informer_kclient: %s\n", err.message);
        return 2;
    }
    counts n = {0, 0, 0};
    kc_informer_options io = {.ref = {"scheduling.x-k8s.io", "v1alpha1", "podgroups", ns, NULL, NULL},
                              .handlers = {on_add, on_update, on_delete, NULL},
                              .ud = &n};
    kc_informer *inf = NULL;
    if (kc_informer_start(c, &io, &inf, &err) != KC_OK) {
        fprintf(stderr, "bench_informer_kclient: %s\n", err.message);
        return 2;
    }
    double start = bench_now_s();
    while (!kc_informer_has_synced(inf) && bench_now_s() - start < timeout_s)
        kc_client_run_once(c, 100);
    long initial = total(&n);
    bench_usage u0 = bench_usage_self();
    double t0 = bench_now_s();
    if (ready) {
        FILE *f = fopen(ready, "w");
        if (f) {
            fputs("synced\n", f);
            fclose(f);
        }
    }
    while (total(&n) - initial < expect && bench_now_s() - t0 < timeout_s)
        kc_client_run_once(c, 20);
    bench_usage u1 = bench_usage_self();
    double t1 = bench_now_s();
    double settle = bench_now_s(); /* let stragglers land before measuring memory */
    while (bench_now_s() - settle < 0.5)
        kc_client_run_once(c, 50);
    bench_mem mem = bench_mem_now();
    long events = total(&n) - initial;
    double cpu = u1.cpu_s - u0.cpu_s;
    printf("{\"client\":\"kclient-informer\",\"expected\":%ld,\"events\":%ld,\"adds\":%ld,"
           "\"updates\":%ld,\"deletes\":%ld,\"phase_wall_s\":%.3f,\"phase_cpu_s\":%.3f,"
           "\"events_per_cpu_s\":%.1f,\"cached\":%zu,\"rss_kib\":%ld,\"anon_kib\":%ld,"
           "\"maxrss_kib\":%ld,\"complete\":%s}\n",
           expect, events, n.adds, n.updates, n.deletes, t1 - t0, cpu,
           cpu > 0 ? (double)events / cpu : 0.0, kc_informer_len(inf), mem.rss_kib, mem.anon_kib,
           u1.maxrss_kib, events >= expect ? "true" : "false");
    kc_informer_stop(inf);
    kc_client_free(c);
    kc_config_free(cfg);
    return events >= expect ? 0 : 1;
}
