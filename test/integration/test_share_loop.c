/* Integration: clients sharing one loop (kc_client_options.share_loop) and
 * the per-client connection budget, on the real kube-apiserver behind the
 * fault proxy (which counts the TCP connections).
 *
 * What the library promises:
 *  - client.h, max_connections: "connections per host; 0 = 4.  A request
 *    that finds them all busy (or still being set up) waits for one";
 *  - README: "HTTP/2 multiplexed over <= 4 connections per server";
 *  - client.c (grow_host_budget): "clients with different credentials (a
 *    hub and members on one server, several members behind one address)
 *    cannot share connections: each client brings its own budget, or
 *    long-lived watches of some would starve the others".
 *
 * So two clients with different credentials on one loop and one server:
 * client A holds far more long-lived requests (watches) than its 4
 * connections carry.  A must not open more than 4 connections, its
 * excess requests wait, and client B's requests (reads and a write) still
 * complete promptly on connections of B's own budget; A's open watches keep
 * working (they see B's write).  Once as HTTP/1.1 (one request per
 * connection: 200 watches want 200 connections) and once as HTTP/2 (100
 * streams per connection, curl's CURLMOPT_MAX_CONCURRENT_STREAMS in
 * client.c: 450 watches want 5 connections).
 *
 * Every measurement is printed before the first assertion, so one run
 * shows the whole picture. */
#include <inttypes.h>
#include <time.h>

#include "kc_proxy.h"
#include "kc_test.h"

#define BUDGET 4          /* the documented default max_connections */
#define B_REQUESTS 40     /* B's reads */
#define B_PROMPT_MS 3000  /* "promptly": a GET to a local apiserver takes ~1 ms */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- client A's watches --- */

typedef struct watch_slot {
    int opened, done;
    size_t bytes_after_mark; /* data received after B's write was sent */
    int got_marker;          /* saw the name of B's configmap in its stream */
} watch_slot;

typedef struct watches {
    watch_slot *slot;
    int n;
    int marking; /* B's write is out: look for the marker */
} watches;

typedef struct slot_ref {
    watches *w;
    int i;
} slot_ref;

static slot_ref *refs;

static int w_data(const char *buf, size_t len, void *ud)
{
    slot_ref *r = ud;
    watch_slot *s = &r->w->slot[r->i];
    if (r->w->marking) {
        s->bytes_after_mark += len;
        if (memmem(buf, len, "marker-from-b", 13))
            s->got_marker = 1;
    }
    return 0;
}

static void w_open(long status, void *ud)
{
    (void)status;
    slot_ref *r = ud;
    r->w->slot[r->i].opened = 1;
}

static void w_done(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    (void)resp;
    (void)err;
    slot_ref *r = ud;
    r->w->slot[r->i].done = 1;
}

static void start_watches(kc_client *c, watches *w, const char *ns, int n)
{
    static const kc_param params[] = {{"watch", "1"}, {"timeoutSeconds", "600"}};
    w->slot = calloc((size_t)n, sizeof(*w->slot));
    w->n = n;
    refs = calloc((size_t)n, sizeof(*refs));
    for (int i = 0; i < n; i++) {
        refs[i] = (slot_ref){w, i};
        kc_request_spec spec = {.method = "GET",
                                .ref = {NULL, "v1", "configmaps", ns, NULL, NULL},
                                .params = params,
                                .nparams = 2,
                                .timeout_ms = -1,
                                .on_data = w_data,
                                .on_open = w_open,
                                .stream_ud = &refs[i],
                                .no_rate_limit = 1};
        kc_error err = KC_ERROR_INIT;
        KCT_OK(kc_request_send(c, &spec, w_done, &refs[i], NULL, &err), &err);
    }
}

static int count_opened(const watches *w)
{
    int n = 0;
    for (int i = 0; i < w->n; i++)
        n += w->slot[i].opened;
    return n;
}

static int count_done(const watches *w)
{
    int n = 0;
    for (int i = 0; i < w->n; i++)
        n += w->slot[i].done;
    return n;
}

/* Drive the loop until the number of open watches has not changed for
 * quiet_ms (and at least one is open), at most max_ms. */
static int settle(kc_client *c, const watches *w, long quiet_ms, long max_ms)
{
    uint64_t end = mono_ms() + (uint64_t)max_ms, last_change = mono_ms();
    int last = -1;
    while (mono_ms() < end) {
        kc_client_run_once(c, 20);
        int now = count_opened(w);
        if (now != last) {
            last = now;
            last_change = mono_ms();
        } else if (now > 0 && mono_ms() - last_change >= (uint64_t)quiet_ms) {
            break;
        }
    }
    return last;
}

/* --- client B's requests --- */

typedef struct breqs {
    int done, ok;
    uint64_t sent_ms, max_ms;
    char first_error[1024];
} breqs;

static void b_done(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    (void)resp;
    breqs *b = ud;
    uint64_t ms = mono_ms() - b->sent_ms;
    b->done++;
    if (ms > b->max_ms)
        b->max_ms = ms;
    if (err->code == KC_OK)
        b->ok++;
    else if (!b->first_error[0])
        kc_error_format(err, b->first_error, sizeof(b->first_error));
}

static void send_b(kc_client *b, breqs *x, const char *ns)
{
    x->sent_ms = mono_ms();
    kc_error err = KC_ERROR_INIT;
    for (int i = 0; i < B_REQUESTS; i++) {
        kc_request_spec spec = {.method = "GET",
                                .ref = {NULL, "v1", "namespaces", NULL, ns, NULL},
                                .timeout_ms = 5000,
                                .max_attempts = 1};
        KCT_OK(kc_request_send(b, &spec, b_done, x, NULL, &err), &err);
    }
    char body[256];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
             "\"marker-from-b\"},\"data\":{\"k\":\"v\"}}");
    kc_request_spec post = {.method = "POST",
                            .ref = {NULL, "v1", "configmaps", ns, NULL, NULL},
                            .content_type = "application/json",
                            .body = body,
                            .body_len = strlen(body),
                            .timeout_ms = 5000,
                            .max_attempts = 1};
    KCT_OK(kc_request_send(b, &post, b_done, x, NULL, &err), &err);
}

/* --- the scenario --- */

/* Streams one connection carries: 1 for HTTP/1.1; for HTTP/2 curl's
 * CURLMOPT_MAX_CONCURRENT_STREAMS (100, client.c; the apiserver allows
 * 1000). */
static int per_conn(int http1) { return http1 ? 1 : 100; }

/* shared: B joins A's loop (else A runs alone: the control case). */
static void scenario(int http1, int nwatches, int shared)
{
    kct_proxy px;
    kct_proxy_start(&px, kct_cluster_port(NULL));
    /* set-up goes straight to the server: the proxy sees only A and B */
    kc_config *dcfg = kct_config(NULL, "kubeconfig");
    kc_client *direct = kct_client(dcfg, NULL);
    char *ns = kct_namespace(direct, http1 ? "share-h1" : "share-h2");

    kc_config *acfg = kct_config_via_proxy(NULL, "kubeconfig", &px);        /* admin, token */
    kc_config *bcfg = kct_config_via_proxy(NULL, "writer.kubeconfig", &px); /* writer, token */
    kc_client_options ao = {.http1_only = http1, .health_check_ms = -1};
    kc_client *a = kct_client(acfg, &ao);
    kc_client_options bo = {.share_loop = a, .health_check_ms = -1};
    kc_client *b = shared ? kct_client(bcfg, &bo) : NULL;
    /* both clients exist before A starts: whatever budget B brings to the
     * loop is there while A fills its own */

    watches w = {0};
    uint64_t t0 = mono_ms();
    start_watches(a, &w, ns, nwatches);
    int opened = settle(a, &w, 1500, 20000);
    long a_peak = kct_proxy_stat(&px, "peak_active_conns");
    long a_total = kct_proxy_stat(&px, "total_conns");
    fprintf(stderr, "%s%s: client A started %d watches; after %" PRIu64 " ms %d are open on %ld "
                    "connection(s) (peak %ld at once), %d wait\n",
            http1 ? "HTTP/1.1" : "HTTP/2", shared ? ", B on A's loop" : ", A alone", nwatches,
            mono_ms() - t0, opened, a_total, a_peak, nwatches - opened);
    /* precondition: A asks for more than its budget carries */
    ck_assert_int_gt(nwatches, BUDGET * per_conn(http1));
    ck_assert_msg(opened > 0, "no watch of A opened: the test proves nothing");
    if (!b) {
        /* the control: alone on its loop, A stays within its budget */
        ck_assert_msg(a_peak <= BUDGET && a_total <= BUDGET,
                      "client A alone on its loop holds %ld connections (%ld opened)", a_peak,
                      a_total);
        ck_assert_int_le(opened, BUDGET * per_conn(http1));
        kc_client_free(a);
        kc_config_free(bcfg);
        kc_config_free(acfg);
        kc_client_free(direct);
        kc_config_free(dcfg);
        kct_proxy_stop(&px);
        free(w.slot);
        free(refs);
        free(ns);
        return;
    }

    breqs x = {0};
    w.marking = 1;
    send_b(b, &x, ns);
    uint64_t end = mono_ms() + 10000;
    while (x.done < B_REQUESTS + 1 && mono_ms() < end)
        kc_client_run_once(a, 20); /* A's loop drives B's transfers too */
    /* A's open watches see B's write (an ADDED event) */
    end = mono_ms() + 3000;
    int marked = 0;
    while (mono_ms() < end) {
        kc_client_run_once(a, 20);
        marked = 0;
        for (int i = 0; i < w.n; i++)
            marked += w.slot[i].opened && w.slot[i].got_marker;
        if (marked == count_opened(&w))
            break;
    }
    long total = kct_proxy_stat(&px, "total_conns");
    long peak = kct_proxy_stat(&px, "peak_active_conns");
    int opened_end = count_opened(&w), ended = count_done(&w);
    fprintf(stderr, "%s: client B: %d of %d requests done, %d ok, slowest %" PRIu64 " ms%s%s; "
                    "B opened %ld connection(s); peak %ld open at once; A: %d watches open, "
                    "%d of them saw B's write, %d ended\n",
            http1 ? "HTTP/1.1" : "HTTP/2", x.done, B_REQUESTS + 1, x.ok, x.max_ms,
            x.first_error[0] ? "; first error: " : "", x.first_error, total - a_total, peak,
            opened_end, marked, ended);

    ck_assert_int_eq(ended, 0); /* nothing of A's failed meanwhile */
    /* the budget: at most 4 connections for A, whatever it asks for */
    ck_assert_msg(a_peak <= BUDGET && a_total <= BUDGET,
                  "client A by itself (B idle) holds %ld connections to one server at once "
                  "(%ld opened): client.h documents max_connections = %d per client (per "
                  "host); the budget B brought to the shared loop went to A",
                  a_peak, a_total, BUDGET);
    ck_assert_msg(opened <= BUDGET * per_conn(http1),
                  "%d of A's watches open at once: %d connections carry at most %d", opened,
                  BUDGET, BUDGET * per_conn(http1));
    /* B makes progress, promptly, within its own budget */
    ck_assert_msg(x.done == B_REQUESTS + 1 && x.ok == B_REQUESTS + 1,
                  "client B: %d of %d requests done, %d ok (first error: %s): B is starved by "
                  "A's requests on the shared loop",
                  x.done, B_REQUESTS + 1, x.ok, x.first_error);
    ck_assert_msg(x.max_ms <= B_PROMPT_MS, "client B's slowest request took %" PRIu64 " ms",
                  x.max_ms);
    ck_assert_msg(total - a_total <= BUDGET, "client B opened %ld connections", total - a_total);
    /* A keeps working: every open watch saw B's write */
    ck_assert_msg(marked == opened_end, "only %d of A's %d open watches saw B's write", marked,
                  opened_end);

    kc_client_free(b);
    kc_client_free(a);
    kc_config_free(bcfg);
    kc_config_free(acfg);
    kc_client_free(direct);
    kc_config_free(dcfg);
    kct_proxy_stop(&px);
    free(w.slot);
    free(refs);
    free(ns);
}

START_TEST(http1_budget_alone)
{
    scenario(1, 200, 0);
}
END_TEST

START_TEST(http1_budget_per_client)
{
    scenario(1, 200, 1);
}
END_TEST

START_TEST(http2_budget_alone)
{
    scenario(0, 450, 0);
}
END_TEST

START_TEST(http2_budget_per_client)
{
    scenario(0, 450, 1);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("share_loop");
    TCase *tc = tcase_create("share_loop");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, http1_budget_alone);
    kct_add_known_bug(tc, http1_budget_per_client, "connection-budget-shared-per-host");
    tcase_add_test(tc, http2_budget_alone);
    kct_add_known_bug(tc, http2_budget_per_client, "connection-budget-shared-per-host");
    suite_add_tcase(s, tc);
    return kct_run_suite(s);
}
