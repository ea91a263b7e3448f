/* Integration: the transport's retry policy on a flaky link (the fault
 * proxy in front of the real control plane): safe requests are retried
 * after resets and stalls, unsafe ones are not; HTTP/2 multiplexing keeps
 * many requests on few connections. */
#include "kc_proxy.h"
#include "kc_test.h"

static kct_proxy px;
static kc_config *cfg;

static void setup(void)
{
    kct_proxy_start(&px, kct_cluster_port(NULL));
    cfg = kct_config_via_proxy(NULL, "kubeconfig", &px);
}

static void teardown(void)
{
    kc_config_free(cfg);
    kct_proxy_stop(&px);
}

typedef struct outcome {
    int done;
    kc_error err;
    int attempts;
} outcome;

static void on_done(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    outcome *o = ud;
    o->done = 1;
    o->attempts = r->attempts;
    kc_error_copy(&o->err, err);
}

static void send_and_wait(kc_client *c, kc_request_spec *spec, outcome *o)
{
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_request_send(c, spec, on_done, o, NULL, &err), &err);
    while (!o->done)
        kc_client_run_once(c, 100);
}

START_TEST(get_retried_through_blackhole_post_not)
{
    kc_client_options opts = {.max_attempts = 3, .backoff_initial_ms = 50, .backoff_max_ms = 100,
                              .request_timeout_ms = 700};
    kc_client *c = kct_client(cfg, &opts);
    kct_proxy_ctl(&px, "mode?set=blackhole");
    kc_request_spec get = {.method = "GET", .path = "/version"};
    outcome g = {0, KC_ERROR_INIT, 0};
    send_and_wait(c, &get, &g);
    ck_assert_int_eq(g.err.code, KC_ETIMEDOUT);
    ck_assert_int_eq(g.attempts, 3); /* safe: tried until the cap */

    const char *body = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                       "\"post-once\"}}";
    kc_request_spec post = {.method = "POST",
                            .ref = {NULL, "v1", "configmaps", "default", NULL, NULL},
                            .content_type = "application/json",
                            .body = body,
                            .body_len = strlen(body)};
    outcome p = {0, KC_ERROR_INIT, 0};
    send_and_wait(c, &post, &p);
    ck_assert_int_eq(p.err.code, KC_ETIMEDOUT);
    ck_assert_int_eq(p.attempts, 1); /* a create may have happened: never repeated */

    kct_proxy_ctl(&px, "mode?set=pass");
    outcome ok = {0, KC_ERROR_INIT, 0};
    send_and_wait(c, &get, &ok);
    ck_assert_int_eq(ok.err.code, KC_OK);
    kc_error_clear(&g.err);
    kc_error_clear(&p.err);
    kc_error_clear(&ok.err);
    kc_client_free(c);
}
END_TEST

typedef struct many {
    int done, failed;
    kct_proxy *px;
    int cut;
} many;

static void on_many(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    (void)r;
    many *m = ud;
    m->done++;
    if (err->code != KC_OK)
        m->failed++;
    if (m->done == 50 && !m->cut) {
        kct_proxy_ctl(m->px, "cut-once");
        m->cut = 1;
    }
}

START_TEST(reads_survive_a_reset_and_multiplex)
{
    enum { N = 400 };
    kc_client_options opts = {.qps = -1, .backoff_initial_ms = 20};
    kc_client *c = kct_client(cfg, &opts);
    many m = {0, 0, &px, 0};
    kc_error err = KC_ERROR_INIT;
    for (int i = 0; i < N; i++) {
        kc_request_spec spec = {.method = "GET", .ref = {NULL, "v1", "namespaces", NULL, "default", NULL}};
        KCT_OK(kc_request_send(c, &spec, on_many, &m, NULL, &err), &err);
    }
    kc_client_run(c, 120000);
    ck_assert_int_eq(m.done, N);
    ck_assert_int_eq(m.failed, 0);
    kc_client_stats st;
    kc_client_get_stats(c, &st);
    ck_assert_uint_eq(st.responses_2xx, N);
    ck_assert_uint_gt(st.retries, 0);
    kc_client_free(c);
    /* HTTP/2: 400 concurrent requests ride on a handful of connections,
     * never more than max_connections (default 4) open at once, also while
     * the reset ones are replaced; opened in all: those plus the
     * replacements of the reset ones (one cut-once, so at most 4 more) */
    int conns = kct_proxy_total_conns(&px);
    long peak = kct_proxy_stat(&px, "peak_active_conns");
    fprintf(stderr, "400 requests used %d connections, at most %ld at once\n", conns, peak);
    ck_assert_msg(peak >= 1 && peak <= 4, "%ld connections open at once (max_connections 4)", peak);
    ck_assert_int_le(conns, 8);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("transport");
    TCase *tc = tcase_create("transport");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, get_retried_through_blackhole_post_not);
    tcase_add_test(tc, reads_survive_a_reset_and_multiplex);
    suite_add_tcase(s, tc);
    return kct_run_suite(s);
}
