/* Integration: 429s provoked through the API server's in-flight limits
 * (cluster started with --max-requests-inflight=1
 * --max-mutating-requests-inflight=1), sent as "writer", a user outside
 * system:masters (which API Priority and Fairness never throttles).  Every
 * request must succeed in the end, after waiting what Retry-After said. */
#include "kc_test.h"

#define ENV "KC_TEST_CLUSTER_THROTTLED"

typedef struct run {
    int done, failed;
    kc_error first;
    int max_attempts_seen;
} run;

static void done(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    run *x = ud;
    x->done++;
    if (r->attempts > x->max_attempts_seen)
        x->max_attempts_seen = r->attempts;
    if (err->code != KC_OK && x->failed++ == 0)
        kc_error_copy(&x->first, err);
}

typedef struct logbuf {
    int retries_429;
    int short_waits; /* a 429 retried sooner than Retry-After allows */
} logbuf;

static void on_log(void *ud, int level, const char *line)
{
    logbuf *lb = ud;
    double secs;
    (void)level;
    const char *p = strstr(line, " in ");
    if (!strstr(line, "retrying") || !strstr(line, "Too Many Requests") || !p)
        return;
    lb->retries_429++;
    if (sscanf(p, " in %lfs", &secs) == 1 && secs < 0.999)
        lb->short_waits++;
}

START_TEST(storm_of_status_writes_all_succeed)
{
    enum { N = 400 };
    kc_config *admin_cfg = kct_config(ENV, "kubeconfig");
    kc_client *admin = kct_client(admin_cfg, NULL);
    char *ns = kct_namespace(admin, "throttle");
    kc_config *cfg = kct_config(ENV, "writer.kubeconfig");
    logbuf lb = {0, 0};
    /* no client-side limit, many attempts: the server is the only brake */
    kc_client_options o = {.qps = -1, .max_attempts = 40, .log = on_log, .log_ud = &lb,
                           .verbosity = 4};
    kc_client *c = kct_client(cfg, &o);
    kc_error err = KC_ERROR_INIT;
    run x = {0, 0, KC_ERROR_INIT, 0};
    for (int i = 0; i < N; i++) {
        char *body = NULL;
        if (asprintf(&body, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
                            "{\"name\":\"storm-%d\"},\"data\":{\"i\":\"%d\"}}", i, i) < 0)
            abort();
        kc_request_spec spec = {.method = "PATCH",
                                .ref = {NULL, "v1", "configmaps", ns, NULL, NULL},
                                .content_type = "application/apply-patch+yaml",
                                .body = body,
                                .body_len = strlen(body)};
        char name[32];
        snprintf(name, sizeof(name), "storm-%d", i);
        spec.ref.name = name;
        kc_param p[] = {{"fieldManager", "storm"}};
        spec.params = p;
        spec.nparams = 1;
        KCT_OK(kc_request_send(c, &spec, done, &x, NULL, &err), &err);
        free(body);
    }
    kc_client_run(c, 600000);
    ck_assert_int_eq(x.done, N);
    if (x.failed)
        kct_fail_err("storm", &x.first);
    kc_client_stats st;
    kc_client_get_stats(c, &st);
    fprintf(stderr, "storm: %d requests, %llu attempts, %llu answered 429, %llu retries, "
                    "max attempts for one %d\n",
            N, (unsigned long long)st.requests, (unsigned long long)st.responses_429,
            (unsigned long long)st.retries, x.max_attempts_seen);
    ck_assert_msg(st.responses_429 > 0, "no 429 provoked: the test proves nothing");
    ck_assert_uint_eq(st.responses_2xx, N);
    ck_assert_int_gt(lb.retries_429, 0);
    ck_assert_int_eq(lb.short_waits, 0); /* Retry-After: 1 was honoured every time */

    /* every object is there with its own value: nothing lost */
    int n = 0;
    cJSON *list = NULL;
    kc_ref coll = {NULL, "v1", "configmaps", ns, NULL, NULL};
    KCT_OK(kc_list(admin, &coll, NULL, &list, &err), &err);
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(list, "items")) {
        const char *name = kct_str(item, "metadata.name");
        const char *val = kct_str(item, "data.i");
        ck_assert_str_eq(name + strlen("storm-"), val);
        n++;
    }
    ck_assert_int_eq(n, N);
    cJSON_Delete(list);
    kc_client_free(c);
    kc_config_free(cfg);
    kc_client_free(admin);
    kc_config_free(admin_cfg);
    free(ns);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("throttle");
    TCase *tc = tcase_create("throttle");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, storm_of_status_writes_all_succeed);
    suite_add_tcase(s, tc);
    return kct_run_suite(s);
}
