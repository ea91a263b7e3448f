/* bench_patch_kclient: N status merge patches through kc_patch_status_all.
 *
 *   bench_patch_kclient --kubeconfig FILE -n NS [--prefix pg-] [--patch JSON]
 *                       [--names M] [--label TEXT] N C
 *
 * Patches PodGroups PREFIX0 .. PREFIX(N-1) (or PREFIX(i % M) with --names M:
 * more requests than objects), concurrency C, no client-side rate limit.
 * Prints one JSON line on stdout: wall seconds of the bulk run, the
 * process's CPU seconds (getrusage, start-up included) and peak RSS. */

#include <getopt.h>
#include <kclient/bulk.h>
#include <kclient/kclient.h>

#include "bench_util.h"

typedef struct source {
    const char *prefix;
    long n, names, i;
    char buf[256];
} source;

static int next_item(void *ud, kc_bulk_item *item, kc_error *err)
{
    (void)err;
    source *s = ud;
    if (s->i >= s->n)
        return 0;
    snprintf(s->buf, sizeof(s->buf), "%s%ld", s->prefix, s->names ? s->i % s->names : s->i);
    s->i++;
    item->name = s->buf; /* borrowed: kc_bulk copies it before calling again */
    return 1;
}

typedef struct tally {
    long ok, failed;
    long by_status[6];
    char first_error[512];
} tally;

static void on_result(void *ud, const kc_bulk_result *r)
{
    tally *t = ud;
    if (r->outcome == KC_BULK_OK)
        t->ok++;
    else {
        t->failed++;
        if (!t->first_error[0]) {
            char line[400];
            kc_error_format(r->error, line, sizeof(line));
            snprintf(t->first_error, sizeof(t->first_error), "%s: %s: %s", r->name,
                     kc_bulk_outcome_name(r->outcome), line);
        }
    }
    /* kc_bulk_result.http_status is 0 for successful items (kclient 0.1.0):
     * count the classes of the failures only. */
    long cls = r->http_status / 100;
    if (r->outcome != KC_BULK_OK)
        t->by_status[cls >= 1 && cls <= 5 ? cls : 0]++;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_patch_kclient --kubeconfig FILE -n NS [--prefix P] [--patch JSON]\n"
                    "                           [--names M] [--label TEXT] N CONCURRENCY\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *kubeconfig = NULL, *ns = NULL, *prefix = "pg-", *label = "kclient";
    const char *patch = "{\"status\":{\"phase\":\"Running\",\"running\":1}}";
    long names = 0;
    static const struct option longopts[] = {
        {"kubeconfig", required_argument, 0, 'k'}, {"namespace", required_argument, 0, 'n'},
        {"prefix", required_argument, 0, 'p'},     {"patch", required_argument, 0, 'P'},
        {"names", required_argument, 0, 'm'},      {"label", required_argument, 0, 'l'},
        {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "n:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'k': kubeconfig = optarg; break;
        case 'n': ns = optarg; break;
        case 'p': prefix = optarg; break;
        case 'P': patch = optarg; break;
        case 'm': names = bench_parse_long("--names", optarg); break;
        case 'l': label = optarg; break;
        default: usage();
        }
    }
    if (argc - optind != 2 || !ns)
        usage();
    long n = bench_parse_long("N", argv[optind]);
    long conc = bench_parse_long("CONCURRENCY", argv[optind + 1]);

    kc_error err = KC_ERROR_INIT;
    kc_config_options copts = {.kubeconfig = kubeconfig};
    kc_config *cfg = NULL;
    kc_client *c = NULL;
    char line[1024];
    if (kc_config_load(&copts, &cfg, &err) != KC_OK) {
        kc_error_format(&err, line, sizeof(line));
        fprintf(stderr, "bench_patch_kclient: %s\n", line);
        return 2;
    }
    kc_client_options o = {.qps = -1}; /* no client-side limit */
    if (kc_client_new(cfg, &o, &c, &err) != KC_OK) {
        kc_error_format(&err, line, sizeof(line));
        fprintf(stderr, "bench_patch_kclient: %s\n", line);
        return 2;
    }
    source src = {prefix, n, names, 0, {0}};
    tally t = {0};
    kc_bulk_options bo = {.target = {"scheduling.x-k8s.io", "v1alpha1", "podgroups", ns, NULL, NULL},
                          .type = KC_PATCH_MERGE,
                          .patch = patch,
                          .patch_len = strlen(patch),
                          .concurrency = (int)conc,
                          .qps = 0, /* no limit */
                          .next = next_item,
                          .next_ud = &src,
                          .on_result = on_result,
                          .result_ud = &t};
    kc_bulk_summary sum;
    memset(&sum, 0, sizeof(sum));
    double t0 = bench_now_s();
    kc_code rc = kc_patch_status_all(c, &bo, &sum, &err);
    double wall = bench_now_s() - t0;
    bench_mem mem = bench_mem_now(); /* with the client still alive */
    bench_smaps_report("bench_patch_kclient");
    if (rc != KC_OK && rc != KC_EHTTP) {
        kc_error_format(&err, line, sizeof(line));
        fprintf(stderr, "bench_patch_kclient: %s\n", line);
        return 1;
    }
    kc_client_stats st;
    kc_client_get_stats(c, &st);
    kc_client_free(c);
    kc_config_free(cfg);
    kc_error_clear(&err);
    bench_usage u = bench_usage_self();
    if (t.first_error[0])
        fprintf(stderr, "bench_patch_kclient: %ld failed, first: %s\n", t.failed, t.first_error);
    printf("{\"client\":\"%s\",\"n\":%ld,\"concurrency\":%ld,\"ok\":%ld,\"failed\":%ld,"
           "\"http_4xx\":%ld,\"http_5xx\":%ld,\"requests\":%llu,"
           "\"wall_s\":%.4f,\"cpu_s\":%.4f,\"user_s\":%.4f,\"sys_s\":%.4f,\"maxrss_kib\":%ld,\"rss_kib\":%ld,\"anon_kib\":%ld,"
           "\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n",
           label, n, conc, t.ok, t.failed, t.by_status[4], t.by_status[5],
           (unsigned long long)st.requests, wall, u.cpu_s, u.user_s, u.sys_s, u.maxrss_kib, mem.rss_kib, mem.anon_kib,
           sum.p50_ms, sum.p99_ms);
    return 0; /* failures are in the JSON: the caller decides */
}
