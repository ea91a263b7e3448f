/* bench_create: make the objects the benchmarks work on.
 *
 *   bench_create --kubeconfig FILE -n NS [--prefix pg-] [--pad BYTES] [--start I] N C
 *
 * Creates namespace NS (already existing is fine) and PodGroups
 * PREFIX<start> .. PREFIX<start+N-1>, C requests in flight, through kclient.
 * --pad adds an annotation of that many bytes (to make ~1 KiB objects for
 * the watch benchmark).  Prints one JSON line: created, failed, wall_s. */

#include <cJSON.h>
#include <getopt.h>
#include <kclient/kclient.h>

#include "bench_util.h"

typedef struct state {
    long done, failed, exists, inflight;
    char first_error[512];
} state;

static void on_created(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    (void)r;
    state *s = ud;
    s->done++;
    s->inflight--;
    if (err->code == KC_OK)
        return;
    if (err->http_status == 409) {
        s->exists++;
        return;
    }
    s->failed++;
    if (!s->first_error[0])
        kc_error_format(err, s->first_error, sizeof(s->first_error));
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_create --kubeconfig FILE -n NS [--prefix P] [--pad BYTES] [--start I] N C\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *kubeconfig = NULL, *ns = NULL, *prefix = "pg-";
    long pad = 0, start = 0;
    static const struct option longopts[] = {
        {"kubeconfig", required_argument, 0, 'k'}, {"namespace", required_argument, 0, 'n'},
        {"prefix", required_argument, 0, 'p'},     {"pad", required_argument, 0, 'd'},
        {"start", required_argument, 0, 's'},      {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "n:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'k': kubeconfig = optarg; break;
        case 'n': ns = optarg; break;
        case 'p': prefix = optarg; break;
        case 'd': pad = atol(optarg); break;
        case 's': start = atol(optarg); break;
        default: usage();
        }
    }
    if (argc - optind != 2 || !ns || pad < 0 || start < 0)
        usage();
    long n = bench_parse_long("N", argv[optind]);
    long conc = bench_parse_long("C", argv[optind + 1]);

    kc_error err = KC_ERROR_INIT;
    kc_config_options copts = {.kubeconfig = kubeconfig};
    kc_config *cfg = NULL;
    kc_client *c = NULL;
    char line[1024];
    kc_client_options o = {.qps = -1};
    if (kc_config_load(&copts, &cfg, &err) != KC_OK || kc_client_new(cfg, &o, &c, &err) != KC_OK) {
        kc_error_format(&err, line, sizeof(line));
        fprintf(stderr, "bench_create: %s\n", line);
        return 2;
    }
    /* the namespace */
    char *nsbody = NULL;
    if (asprintf(&nsbody, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", ns) < 0)
        abort();
    cJSON *nsobj = cJSON_Parse(nsbody);
    kc_ref nsref = {NULL, "v1", "namespaces", NULL, NULL, NULL};
    if (kc_create(c, &nsref, nsobj, NULL, NULL, &err) != KC_OK && err.http_status != 409) {
        kc_error_format(&err, line, sizeof(line));
        fprintf(stderr, "bench_create: namespace %s: %s\n", ns, line);
        return 1;
    }
    cJSON_Delete(nsobj);
    free(nsbody);

    char *padding = malloc((size_t)pad + 1);
    memset(padding, 'x', (size_t)pad);
    padding[pad] = '\0';
    state s = {0};
    double t0 = bench_now_s();
    for (long i = start; i < start + n; i++) {
        while (s.inflight >= conc)
            kc_client_run_once(c, 1000);
        char *body = NULL;
        if (asprintf(&body,
                     "{\"apiVersion\":\"scheduling.x-k8s.io/v1alpha1\",\"kind\":\"PodGroup\","
                     "\"metadata\":{\"name\":\"%s%ld\",\"labels\":{\"app\":\"kclient-bench\","
                     "\"batch\":\"b%ld\"}%s%s%s},"
                     "\"spec\":{\"minMember\":%ld,\"minResources\":{\"cpu\":\"4\",\"memory\":\"8Gi\"},"
                     "\"scheduleTimeoutSeconds\":60}}",
                     prefix, i, i % 10, pad ? ",\"annotations\":{\"bench.kclient.io/pad\":\"" : "",
                     padding, pad ? "\"}" : "", i % 7 + 1) < 0)
            abort();
        kc_request_spec spec = {.method = "POST",
                                .ref = {"scheduling.x-k8s.io", "v1alpha1", "podgroups", ns, NULL, NULL},
                                .content_type = "application/json",
                                .body = body,
                                .body_len = strlen(body)};
        if (kc_request_send(c, &spec, on_created, &s, NULL, &err) != KC_OK) {
            kc_error_format(&err, line, sizeof(line));
            fprintf(stderr, "bench_create: %s\n", line);
            return 1;
        }
        s.inflight++;
        free(body);
    }
    kc_client_run(c, 600000);
    double wall = bench_now_s() - t0;
    if (s.first_error[0])
        fprintf(stderr, "bench_create: %ld failed, first: %s\n", s.failed, s.first_error);
    printf("{\"created\":%ld,\"existed\":%ld,\"failed\":%ld,\"wall_s\":%.3f}\n",
           s.done - s.failed - s.exists, s.exists, s.failed, wall);
    free(padding);
    kc_client_free(c);
    kc_config_free(cfg);
    kc_error_clear(&err);
    return s.failed ? 1 : 0;
}
