/* Integration: a short request - a readiness probe, as the operator sends
 * to a member (`GET /readyz`, one attempt, its own timeout) - is answered
 * within that timeout while other requests on the same client hang on a
 * dead link or hold every connection, and its error names the real cause
 * (never curl's "Failed to resolve host" for an IP literal).  Real
 * kube-apiserver behind the fault proxy. */
#include <inttypes.h>
#include <time.h>

#include "kc_proxy.h"
#include "kc_test.h"

#define PROBE_MS 1000
/* request.h: a timed-out attempt completes within timeout_ms + a few ms;
 * the slack here is for a loaded 2-core CI machine. */
#define PROBE_MAX_MS (PROBE_MS + 1500)

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

/* total_conns from the proxy's /status (like kct_proxy_total_conns). */
static int proxy_conns(void)
{
    char url[128], body[8192] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/status", px.control_port);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, kct_collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)body);
    ck_assert_int_eq(curl_easy_perform(e), CURLE_OK);
    curl_easy_cleanup(e);
    cJSON *j = cJSON_Parse(body);
    int n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "total_conns"));
    cJSON_Delete(j);
    return n;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- what hangs: watches and server-side apply PATCHes --- */

typedef struct hogs {
    int opened, done;
} hogs;

static int hog_data(const char *buf, size_t len, void *ud)
{
    (void)buf;
    (void)len;
    (void)ud;
    return 0;
}

static void hog_open(long status, void *ud)
{
    (void)status;
    ((hogs *)ud)->opened++;
}

static void hog_done(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    (void)r;
    (void)err;
    ((hogs *)ud)->done++;
}

static void start_watches(kc_client *c, hogs *h, int n)
{
    static const kc_param params[] = {{"watch", "1"}, {"timeoutSeconds", "600"}};
    for (int i = 0; i < n; i++) {
        kc_request_spec spec = {.method = "GET",
                                .ref = {NULL, "v1", "configmaps", "default", NULL, NULL},
                                .params = params,
                                .nparams = 2,
                                .timeout_ms = -1,
                                .on_data = hog_data,
                                .on_open = hog_open,
                                .stream_ud = h,
                                .no_rate_limit = 1};
        kc_error err = KC_ERROR_INIT;
        KCT_OK(kc_request_send(c, &spec, hog_done, h, NULL, &err), &err);
    }
}

static void start_patches(kc_client *c, hogs *h, int n)
{
    static const kc_param params[] = {{"fieldManager", "probe-test"}, {"force", "true"}};
    for (int i = 0; i < n; i++) {
        char name[32], body[256];
        snprintf(name, sizeof(name), "probe-hog-%d", i);
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\"},"
                 "\"data\":{\"a\":\"b\"}}",
                 name);
        kc_request_spec spec = {.method = "PATCH",
                                .ref = {NULL, "v1", "configmaps", "default", name, NULL},
                                .params = params,
                                .nparams = 2,
                                .content_type = "application/apply-patch+yaml",
                                .body = body,
                                .body_len = strlen(body)};
        kc_error err = KC_ERROR_INIT;
        KCT_OK(kc_request_send(c, &spec, hog_done, h, NULL, &err), &err);
    }
}

static void run_for(kc_client *c, long ms)
{
    uint64_t end = mono_ms() + (uint64_t)ms;
    while (mono_ms() < end)
        kc_client_run_once(c, 20);
}

static void wait_opened(kc_client *c, hogs *h, int n)
{
    uint64_t end = mono_ms() + 20000;
    while (h->opened < n && mono_ms() < end)
        kc_client_run_once(c, 50);
    ck_assert_int_eq(h->opened, n);
}

/* --- the probe, exactly as the operator sends it --- */

typedef struct probe {
    int done;
    kc_error err;
    int attempts;
    long status;
    uint64_t sent_ms, ms;
    char line[1024];
} probe;

static void on_probe(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    probe *p = ud;
    p->done = 1;
    p->ms = mono_ms() - p->sent_ms;
    p->attempts = r->attempts;
    p->status = r->status;
    kc_error_copy(&p->err, err);
    kc_error_format(err, p->line, sizeof(p->line));
}

static void send_probe(kc_client *c, probe *p, int fresh)
{
    kc_request_spec spec = {.method = "GET",
                            .path = "/readyz",
                            .accept = "*/*",
                            .max_attempts = 1,
                            .timeout_ms = PROBE_MS,
                            .no_rate_limit = 1,
                            .fresh_connection = fresh};
    kc_error err = KC_ERROR_INIT;
    kc_error_init(&p->err);
    p->done = 0;
    p->sent_ms = mono_ms();
    KCT_OK(kc_request_send(c, &spec, on_probe, p, NULL, &err), &err);
}

/* Drive the loop until every probe is done (or 20 s: the old behaviour
 * made a probe wait behind the other requests' connect timeout). */
static void wait_probes(kc_client *c, probe *a, probe *b)
{
    uint64_t end = mono_ms() + 20000;
    while ((!a->done || (b && !b->done)) && mono_ms() < end)
        kc_client_run_once(c, 50);
    ck_assert_msg(a->done && (!b || b->done), "probe still pending after 20 s");
}

static void assert_no_resolve(const probe *p)
{
    ck_assert_msg(!strcasestr(p->line, "resolv"), "misleading message: %s", p->line);
}

static void assert_timed_out(const probe *p, const char *phase)
{
    fprintf(stderr, "  %" PRIu64 " ms, %d attempt(s): %s\n", p->ms, p->attempts, p->line);
    ck_assert_msg(p->err.code == KC_ETIMEDOUT, "code %d: %s", p->err.code, p->line);
    ck_assert_msg(p->ms >= PROBE_MS && p->ms <= PROBE_MAX_MS, "took %" PRIu64 " ms: %s", p->ms,
                  p->line);
    ck_assert_int_eq(p->attempts, 1); /* max_attempts 1: never retried, not even silently */
    assert_no_resolve(p);
    ck_assert_msg(strstr(p->line, "within 1000 ms"), "no timeout named: %s", p->line);
    ck_assert_msg(strstr(p->line, phase), "phase \"%s\" not named: %s", phase, p->line);
}

/* HTTP/1.1: every watch holds a connection of its own, so four of them take
 * the whole per-host budget on a healthy link.  A probe that waits for a
 * connection times out on time and says why; one with fresh_connection is
 * answered at once. */
START_TEST(probe_behind_a_full_connection_budget)
{
    kc_client_options opts = {.http1_only = 1, .health_check_ms = -1};
    kc_client *c = kct_client(cfg, &opts);
    hogs h = {0, 0};
    start_watches(c, &h, 4);
    wait_opened(c, &h, 4);

    probe waiting = {0};
    send_probe(c, &waiting, 0);
    wait_probes(c, &waiting, NULL);
    fprintf(stderr, "shared connections, budget full:\n");
    assert_timed_out(&waiting, "waiting for a connection: all 4 connections to the server busy");

    int conns = proxy_conns();
    probe fresh = {0};
    send_probe(c, &fresh, 1);
    wait_probes(c, &fresh, NULL);
    fprintf(stderr, "fresh connection, budget full: %" PRIu64 " ms: %s\n", fresh.ms, fresh.line);
    ck_assert_msg(fresh.err.code == KC_OK, "%s", fresh.line);
    ck_assert_int_eq(fresh.status, 200);
    ck_assert_uint_lt(fresh.ms, 500);
    ck_assert_int_eq(proxy_conns(), conns + 1); /* its own connection */
    ck_assert_int_eq(h.done, 0);                             /* the watches are untouched */
    kc_error_clear(&waiting.err);
    kc_error_clear(&fresh.err);
    kc_client_free(c);
}
END_TEST

/* A healthy link: a fresh-connection probe is as quick as a shared one
 * (a TCP and TLS handshake on top) and leaves no connection behind. */
START_TEST(fresh_probe_fast_on_a_healthy_link)
{
    kc_client_options opts = {.health_check_ms = -1};
    kc_client *c = kct_client(cfg, &opts);
    hogs h = {0, 0};
    start_watches(c, &h, 2);
    wait_opened(c, &h, 2);
    for (int i = 0; i < 5; i++) {
        probe shared = {0}, fresh = {0};
        send_probe(c, &shared, 0);
        wait_probes(c, &shared, NULL);
        send_probe(c, &fresh, 1);
        wait_probes(c, &fresh, NULL);
        fprintf(stderr, "healthy: shared %" PRIu64 " ms, fresh %" PRIu64 " ms\n", shared.ms,
                fresh.ms);
        ck_assert_msg(shared.err.code == KC_OK, "%s", shared.line);
        ck_assert_msg(fresh.err.code == KC_OK, "%s", fresh.line);
        ck_assert_uint_lt(fresh.ms, 300);
        kc_error_clear(&shared.err);
        kc_error_clear(&fresh.err);
    }
    kc_client_free(c);
}
END_TEST

/* The operator's case: watches and server-side apply PATCHes on a member
 * whose link is black-holed.  The health check finds the link dead and the
 * retried requests open new connections that hang in their handshake,
 * holding the budget for connect_timeout_ms (10 s).  Both probes (shared
 * and fresh) time out after their own 1000 ms, say so, and are not retried;
 * when the link is then cut, a fresh probe fails at once, naming the reset,
 * and with nothing listening any more, naming the refusal. */
START_TEST(probe_on_a_dead_link_with_hung_requests)
{
    /* the health check's next reset comes ~4 s after its first: well after
     * the probes below, which it would end early ("found dead") */
    kc_client_options opts = {.health_check_ms = 500, .health_timeout_ms = 4000};
    kc_client *c = kct_client(cfg, &opts);
    hogs h = {0, 0};
    start_watches(c, &h, 3);
    wait_opened(c, &h, 3);
    kct_proxy_ctl(&px, "mode?set=blackhole");
    start_patches(c, &h, 6);
    uint64_t end = mono_ms() + 15000;
    kc_client_stats st = {0};
    while (st.dead_links == 0 && mono_ms() < end) {
        kc_client_run_once(c, 50);
        kc_client_get_stats(c, &st);
    }
    ck_assert_uint_ge(st.dead_links, 1);
    run_for(c, 800); /* the retries hold every connection now */

    probe shared = {0}, fresh = {0};
    send_probe(c, &shared, 0);
    send_probe(c, &fresh, 1);
    wait_probes(c, &shared, &fresh);
    fprintf(stderr, "black hole, shared connections:\n");
    assert_timed_out(&shared, "no answer from https://127.0.0.1:");
    fprintf(stderr, "black hole, fresh connection:\n");
    assert_timed_out(&fresh, "TLS handshake");

    kct_proxy_ctl(&px, "mode?set=cut");
    probe cut = {0};
    send_probe(c, &cut, 1);
    wait_probes(c, &cut, NULL);
    fprintf(stderr, "cut: %" PRIu64 " ms: %s\n", cut.ms, cut.line);
    ck_assert_msg(cut.err.code == KC_ETRANSPORT, "%s", cut.line);
    ck_assert_uint_lt(cut.ms, 500);
    ck_assert_int_eq(cut.attempts, 1);
    ck_assert_msg(strcasestr(cut.line, "reset") || strcasestr(cut.line, "closed"), "%s", cut.line);
    assert_no_resolve(&cut);

    kct_proxy_stop(&px);
    probe refused = {0};
    send_probe(c, &refused, 1);
    wait_probes(c, &refused, NULL);
    fprintf(stderr, "nothing listening: %" PRIu64 " ms: %s\n", refused.ms, refused.line);
    ck_assert_msg(refused.err.code == KC_ETRANSPORT, "%s", refused.line);
    ck_assert_uint_lt(refused.ms, 500);
    ck_assert_msg(strcasestr(refused.line, "refused"), "%s", refused.line);
    kc_error_clear(&shared.err);
    kc_error_clear(&fresh.err);
    kc_error_clear(&cut.err);
    kc_error_clear(&refused.err);
    kc_client_free(c);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("probe");
    TCase *tc = tcase_create("probe");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, probe_behind_a_full_connection_budget);
    tcase_add_test(tc, fresh_probe_fast_on_a_healthy_link);
    tcase_add_test(tc, probe_on_a_dead_link_with_hung_requests);
    suite_add_tcase(s, tc);
    return kct_run_suite(s);
}
