/* Integration: HTTP/2 GOAWAY from the real kube-apiserver, started with
 * --goaway-chance=0.02 (fixture cluster_goaway): about one request in 50
 * is answered with "Connection: close", on which Go's HTTP/2 server sends
 * GOAWAY and closes the connection once its streams are done; streams the
 * client opened after the GOAWAY's last stream id are refused (never
 * processed).  The client talks through the fault proxy, which counts TCP
 * connections: one client with at most 50 requests in flight needs one
 * HTTP/2 connection, so every further connection, and every connection
 * closed while nobody cut anything, is a GOAWAY the client followed.  A
 * control run of the same load against cluster_main (no GOAWAY) shows one
 * connection and none closed.
 *
 * Checked: GOAWAYs really arrived (connections made and closed); every
 * request completes exactly once; reads and server-side applies (safe or
 * idempotent) all succeed; creates (not idempotent) succeed or report an
 * error, and the server holds exactly the objects reported created (plus
 * any a failed create made, counted); a watch running through it all
 * resumes across its streams and sees every object created, once, including
 * those created after the first GOAWAY. */
#include <inttypes.h>
#include <time.h>

#include "kc_proxy.h"
#include "kc_test.h"
#include "kclient/watch.h"

#define GOAWAY_ENV "KC_TEST_CLUSTER_GOAWAY"
#define INFLIGHT 50
#define NPG 50
#define MAXCREATE 1000

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef enum kind { K_GET, K_APPLY, K_CREATE } kind;

typedef struct load {
    const char *ns;
    int total;           /* requests to send */
    int started, done;
    int by_kind_started[3], by_kind_ok[3], by_kind_failed[3];
    int retried[3];      /* completed with attempts > 1 */
    int create_ok[MAXCREATE], create_failed[MAXCREATE], creates;
    int completions_per[MAXCREATE * 4];
    int dup_completion;
    char first_error[3][1024];
    uint64_t first_new_conn_ms; /* when the proxy first saw a second connection */
    int created_after_goaway;   /* creates started after that */
    kct_proxy *px;
} load;

typedef struct req_ud {
    load *l;
    kind k;
    int idx;  /* create index, or -1 */
    int slot; /* completion slot */
} req_ud;

static void on_load(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    req_ud *u = ud;
    load *l = u->l;
    l->done++;
    if (l->completions_per[u->slot]++)
        l->dup_completion++;
    if (r->attempts > 1)
        l->retried[u->k]++;
    if (err->code == KC_OK) {
        l->by_kind_ok[u->k]++;
        if (u->k == K_CREATE)
            l->create_ok[u->idx] = 1;
    } else {
        l->by_kind_failed[u->k]++;
        if (u->k == K_CREATE)
            l->create_failed[u->idx] = 1;
        if (!l->first_error[u->k][0]) {
            int n = snprintf(l->first_error[u->k], sizeof(l->first_error[0]),
                             "[attempts %d, HTTP %ld] ", r->attempts, r->status);
            kc_error_format(err, l->first_error[u->k] + n, sizeof(l->first_error[0]) - (size_t)n);
        }
    }
    free(u);
}

static void send_one(kc_client *c, load *l)
{
    int n = l->started++;
    req_ud *u = calloc(1, sizeof(*u));
    u->l = l;
    u->slot = n;
    u->idx = -1;
    kc_error err = KC_ERROR_INIT;
    char body[512], name[64];
    int m = n % 10;
    if (m < 5) { /* GET a PodGroup */
        u->k = K_GET;
        snprintf(name, sizeof(name), "pg-%d", n % NPG);
        kc_request_spec spec = {.method = "GET",
                                .ref = {"scheduling.x-k8s.io", "v1alpha1", "podgroups", l->ns, name,
                                        NULL}};
        KCT_OK(kc_request_send(c, &spec, on_load, u, NULL, &err), &err);
    } else if (m < 8) { /* server-side apply of its status */
        u->k = K_APPLY;
        snprintf(name, sizeof(name), "pg-%d", n % NPG);
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"scheduling.x-k8s.io/v1alpha1\",\"kind\":\"PodGroup\","
                 "\"metadata\":{\"name\":\"%s\"},\"status\":{\"phase\":\"Running\",\"running\":%d}}",
                 name, n);
        kc_param p[] = {{"fieldManager", "goaway-test"}, {"force", "true"}};
        kc_request_spec spec = {.method = "PATCH",
                                .ref = {"scheduling.x-k8s.io", "v1alpha1", "podgroups", l->ns, name,
                                        "status"},
                                .params = p,
                                .nparams = 2,
                                .content_type = "application/apply-patch+yaml",
                                .body = body,
                                .body_len = strlen(body)};
        KCT_OK(kc_request_send(c, &spec, on_load, u, NULL, &err), &err);
    } else { /* create a ConfigMap (the watch sees it) */
        u->k = K_CREATE;
        u->idx = l->creates++;
        if (l->first_new_conn_ms)
            l->created_after_goaway++;
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"gw-%d\"},"
                 "\"data\":{\"n\":\"%d\"}}",
                 u->idx, n);
        kc_request_spec spec = {.method = "POST",
                                .ref = {NULL, "v1", "configmaps", l->ns, NULL, NULL},
                                .content_type = "application/json",
                                .body = body,
                                .body_len = strlen(body)};
        KCT_OK(kc_request_send(c, &spec, on_load, u, NULL, &err), &err);
    }
    l->by_kind_started[u->k]++;
}

/* --- the watch --- */

typedef struct seen {
    int added[MAXCREATE];
    int events, unknown, errors;
} seen;

static void on_event(kc_watch *w, kc_watch_event *ev, void *ud)
{
    (void)w;
    seen *s = ud;
    if (ev->type == KC_WATCH_BOOKMARK)
        return;
    int i;
    const char *name = kct_str(ev->object, "metadata.name");
    if (ev->type == KC_WATCH_ADDED && name && sscanf(name, "gw-%d", &i) == 1 && i >= 0 &&
        i < MAXCREATE) {
        s->added[i]++;
        s->events++;
    } else {
        s->unknown++;
    }
}

static void on_watch_error(kc_watch *w, const kc_error *err, void *ud)
{
    (void)w;
    seen *s = ud;
    char line[512];
    kc_error_format(err, line, sizeof(line));
    if (s->errors++ < 5)
        fprintf(stderr, "  watch dropped (resuming): %s\n", line);
}

/* --- set-up --- */

static void create_podgroups(kc_client *c, const char *ns)
{
    for (int i = 0; i < NPG; i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"scheduling.x-k8s.io/v1alpha1\",\"kind\":\"PodGroup\","
                 "\"metadata\":{\"name\":\"pg-%d\"},\"spec\":{\"minMember\":1}}",
                 i);
        cJSON *obj = kct_json(body);
        kc_error err = KC_ERROR_INIT;
        kc_ref ref = {"scheduling.x-k8s.io", "v1alpha1", "podgroups", ns, NULL, NULL};
        KCT_OK(kc_create(c, &ref, obj, NULL, NULL, &err), &err);
        cJSON_Delete(obj);
    }
}

typedef struct result {
    load l;
    seen s;
    long total_conns, closed_conns, upstream_closed, peak;
    long oldest_open; /* id of the oldest connection still open at the end */
    unsigned streams;
    int on_server[MAXCREATE];
    int server_creates;
    uint64_t ms;
} result;

static int count_created(const cJSON *item, void *ud)
{
    result *r = ud;
    int i;
    const char *name = kct_str(item, "metadata.name");
    if (name && sscanf(name, "gw-%d", &i) == 1 && i >= 0 && i < MAXCREATE) {
        r->on_server[i]++;
        r->server_creates++;
    }
    return 0;
}

/* Run the load (n requests, INFLIGHT at a time) and the watch against the
 * cluster of env through a fault proxy. */
static void run_load(const char *env, int n, result *r)
{
    kct_proxy px;
    kct_proxy_start(&px, kct_cluster_port(env));
    kc_config *dcfg = kct_config(env, "kubeconfig");
    kc_client *direct = kct_client(dcfg, NULL); /* set-up and checks: not through the proxy */
    char *ns = kct_namespace(direct, "goaway");
    create_podgroups(direct, ns);

    kc_config *cfg = kct_config_via_proxy(env, "kubeconfig", &px);
    kc_client_options o = {.qps = -1};
    kc_client *c = kct_client(cfg, &o);
    kc_watch_options wo = {.ref = {NULL, "v1", "configmaps", ns, NULL, NULL},
                           .timeout_min_s = 1, /* streams of 1 to 3 s: several in a run */
                           .timeout_max_s = 3,
                           .backoff_initial_ms = 100,
                           .on_event = on_event,
                           .on_error = on_watch_error,
                           .ud = &r->s};
    kc_watch *w = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_watch_start(c, &wo, &w, &err), &err);
    uint64_t settle = mono_ms() + 500;
    while (mono_ms() < settle)
        kc_client_run_once(c, 20);

    load *l = &r->l;
    l->ns = ns;
    l->total = n;
    l->px = &px;
    uint64_t t0 = mono_ms(), end = t0 + 60000, next_check = 0;
    while (l->done < n && mono_ms() < end) {
        while (l->started < n && l->started - l->done < INFLIGHT)
            send_one(c, l);
        kc_client_run_once(c, 5);
        if (!l->first_new_conn_ms && mono_ms() >= next_check) {
            if (kct_proxy_stat(&px, "total_conns") > 1)
                l->first_new_conn_ms = mono_ms();
            next_check = mono_ms() + 50;
        }
    }
    r->ms = mono_ms() - t0;
    /* the watch has resumed at least once (streams of 1 to 3 s), then one
     * more object: seen by the resumed watch */
    uint64_t rend = mono_ms() + 8000;
    while (kc_watch_streams(w) < 2 && mono_ms() < rend)
        kc_client_run_once(c, 20);
    if (l->creates < MAXCREATE) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                 "\"gw-%d\"}}",
                 l->creates);
        cJSON *obj = kct_json(body);
        kc_ref ref = {NULL, "v1", "configmaps", ns, NULL, NULL};
        KCT_OK(kc_create(direct, &ref, obj, NULL, NULL, &err), &err);
        cJSON_Delete(obj);
        l->create_ok[l->creates++] = 1;
    }
    /* the watch catches up with the last creates */
    uint64_t wend = mono_ms() + 10000;
    for (;;) {
        int missing = 0;
        for (int i = 0; i < l->creates; i++)
            missing += l->create_ok[i] && !r->s.added[i];
        if (!missing || mono_ms() > wend)
            break;
        kc_client_run_once(c, 20);
    }
    r->streams = kc_watch_streams(w);
    r->total_conns = kct_proxy_stat(&px, "total_conns");
    r->closed_conns = kct_proxy_stat(&px, "closed_conns");
    r->upstream_closed = kct_proxy_stat(&px, "upstream_closed");
    r->peak = kct_proxy_stat(&px, "peak_active_conns");
    cJSON *conns = kct_proxy_json(&px, "conns");
    const cJSON *first = cJSON_GetArrayItem(conns, 0);
    r->oldest_open = first ? (long)kct_num(first, "id") : 0;
    cJSON_Delete(conns);
    kc_watch_stop(w);

    kc_ref coll = {NULL, "v1", "configmaps", ns, NULL, NULL};
    KCT_OK(kc_list_each(direct, &coll, NULL, count_created, r, NULL, &err), &err);

    kc_client_free(c);
    kc_config_free(cfg);
    kc_client_free(direct);
    kc_config_free(dcfg);
    kct_proxy_stop(&px);
    free(ns);
    l->ns = NULL;
    l->px = NULL;
}

static void report(const char *what, const result *r)
{
    const load *l = &r->l;
    int seen_once = 0, seen_twice = 0, missing = 0, unreported = 0, failed_but_created = 0;
    for (int i = 0; i < l->creates; i++) {
        if (r->s.added[i] == 1)
            seen_once++;
        if (r->s.added[i] > 1)
            seen_twice++;
        if (l->create_ok[i] && !r->s.added[i])
            missing++;
        if (r->on_server[i] && !l->create_ok[i] && !l->create_failed[i])
            unreported++;
        if (r->on_server[i] && l->create_failed[i])
            failed_but_created++;
    }
    fprintf(stderr,
            "%s: %d requests in %" PRIu64 " ms, %d done (%d completed twice); GET %d/%d ok "
            "(%d retried), apply %d/%d ok (%d retried), create %d/%d ok (%d retried, %d failed, "
            "%d of those created anyway); proxy: %ld connections, %ld closed (%ld by the "
            "server first), peak %ld open, oldest open #%ld; watch: %u streams, %d drops, %d objects seen once, "
            "%d more than once, %d created but not seen; %d creates started after the first "
            "new connection; server holds %d%s%s%s%s%s%s\n",
            what, l->total, r->ms, l->done, l->dup_completion, l->by_kind_ok[K_GET],
            l->by_kind_started[K_GET], l->retried[K_GET], l->by_kind_ok[K_APPLY],
            l->by_kind_started[K_APPLY], l->retried[K_APPLY], l->by_kind_ok[K_CREATE],
            l->by_kind_started[K_CREATE], l->retried[K_CREATE], l->by_kind_failed[K_CREATE],
            failed_but_created, r->total_conns, r->closed_conns, r->upstream_closed, r->peak,
            r->oldest_open, r->streams, r->s.errors, seen_once, seen_twice, missing,
            l->created_after_goaway,
            r->server_creates, l->first_error[K_GET][0] ? "; GET error: " : "",
            l->first_error[K_GET], l->first_error[K_APPLY][0] ? "; apply error: " : "",
            l->first_error[K_APPLY], l->first_error[K_CREATE][0] ? "; create error: " : "",
            l->first_error[K_CREATE]);
    (void)unreported;
}

/* Everything but the GOAWAY evidence, for both runs. */
static void check_common(const result *r)
{
    const load *l = &r->l;
    ck_assert_msg(l->done == l->total && l->dup_completion == 0,
                  "%d of %d requests completed (%d twice): requests lost", l->done, l->total,
                  l->dup_completion);
    ck_assert_msg(l->by_kind_failed[K_GET] == 0, "%d GETs failed: %s", l->by_kind_failed[K_GET],
                  l->first_error[K_GET]);
    ck_assert_msg(l->by_kind_failed[K_APPLY] == 0, "%d applies (idempotent) failed: %s",
                  l->by_kind_failed[K_APPLY], l->first_error[K_APPLY]);
    for (int i = 0; i < l->creates; i++) {
        ck_assert_msg(l->create_ok[i] + l->create_failed[i] == 1, "create gw-%d: no single result",
                      i);
        ck_assert_msg(r->on_server[i] <= 1, "gw-%d exists %d times", i, r->on_server[i]);
        ck_assert_msg(!l->create_ok[i] || r->on_server[i] == 1,
                      "gw-%d reported created but the server does not hold it", i);
        ck_assert_msg(!r->on_server[i] || r->s.added[i] == 1,
                      "gw-%d: the watch saw it %d times", i, r->s.added[i]);
    }
    ck_assert_int_eq(r->s.unknown, 0);
}

START_TEST(control_without_goaway)
{
    result *r = calloc(1, sizeof(*r));
    run_load(NULL, 600, r);
    report("no GOAWAY (cluster_main)", r);
    check_common(r);
    ck_assert_msg(r->total_conns == 1 && r->closed_conns == 0,
                  "without GOAWAY the client used %ld connections (%ld closed): the GOAWAY run's "
                  "connection count proves nothing",
                  r->total_conns, r->closed_conns);
    ck_assert_int_eq(r->l.by_kind_failed[K_CREATE], 0);
    free(r);
}
END_TEST

START_TEST(requests_and_watch_through_goaway)
{
    result *r = calloc(1, sizeof(*r));
    run_load(GOAWAY_ENV, 3000, r);
    report("--goaway-chance=0.02", r);
    /* preconditions: GOAWAYs arrived and were followed, with the watch and
     * creates running across them */
    ck_assert_msg(r->total_conns >= 5 && r->closed_conns >= 4,
                  "only %ld connections (%ld closed) for 3000 requests at a GOAWAY chance of "
                  "0.02: no GOAWAY seen",
                  r->total_conns, r->closed_conns);
    ck_assert_int_gt(r->l.created_after_goaway, 50);
    /* the watch resumed: several streams, and the connection it began on
     * (the first; all 50 requests in flight start there too, so GOAWAY
     * reaches it) is gone, so it ends the run on a later one */
    ck_assert_uint_gt(r->streams, 1);
    ck_assert_msg(r->oldest_open > 1, "connection #1 is still open: the watch never left it");
    check_common(r);
    /* a create refused by a GOAWAY was never processed: the client may
     * report it failed (not idempotent), but it must not be lost */
    free(r);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("goaway");
    TCase *tc = tcase_create("goaway");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, control_without_goaway);
    tcase_add_test(tc, requests_and_watch_through_goaway);
    suite_add_tcase(s, tc);
    return kct_run_suite(s);
}
