/* Integration: one TCP connection stalls while the others keep working
 * (fault proxy mode stall?conn=N: that connection stops forwarding both
 * ways, bytes are dropped; every other connection on the listener passes).
 * The real kube-apiserver behind it.
 *
 * client.h: "Dead links: while streams (watches) are open and nothing has
 * arrived for health_check_ms, the client probes the server (GET /healthz
 * on the streams' connections).  Unanswered within health_timeout_ms, the
 * link is dead: this client's connections are dropped (other clients on a
 * shared loop keep theirs), watches resume, idempotent requests retry";
 * health_timeout_ms: "a link that goes dead is declared dead at most
 * health_check_ms + health_timeout_ms after the last byte received from
 * the server".  Here health_check_ms = 1000 and health_timeout_ms = 2000,
 * so stalled requests are answered and stalled watches deliver again
 * within 1000 + 2000 ms of the stall plus SLACK_MS (the retry's new
 * connection and answer, on a loaded 2-core machine); requests that never
 * touch the stalled connection are answered on time throughout.
 *
 *  - two_clients_one_stalls: clients A (client certificate) and B (token)
 *    share a loop; their credentials differ in TLS, so each has its own
 *    connection (the proxy shows two).  A's connection stalls: B's reads and
 *    B's watch carry on on time and are not touched (no reconnect, no dead
 *    link); A's health check finds the dead link, A's reads are retried and
 *    answered, A's watch resumes and misses nothing.
 *  - one_client_two_connections_one_stalls: one client with 150 watches
 *    over HTTP/2 (100 streams a connection, client.c) has two connections
 *    or more; the one carrying the most watches stalls while the others
 *    keep delivering events.
 *    The stalled watches must resume within the bound (health_timeout_ms
 *    5000 here, as 150 watches take seconds to set up on a busy machine
 *    and a probe may wait that long: 1000 + 5000 + SLACK_MS).
 *    LIBRARY BUG (reported; fails on the current code): the health check
 *    is per client, not per connection - the healthy connection keeps
 *    "something received" fresh, so no probe is ever sent, and watches on
 *    the stalled connection (no timeout, no low-speed limit) hang for good.
 *    client-go pings each HTTP/2 connection.
 *  - dead_link_recovery_with_many_streams: see there (LIBRARY BUG too). */
#include <inttypes.h>
#include <time.h>

#include "kc_proxy.h"
#include "kc_test.h"
#include "kclient/watch.h"

#define CHECK_MS 1000
#define TIMEOUT_MS 2000
#define SLACK_MS 1000
#define BOUND_MS (CHECK_MS + TIMEOUT_MS + SLACK_MS)
/* one_client_two_connections_one_stalls: 150 watches take seconds to set
 * up on a busy machine, and a probe then may wait longer than 2 s: the
 * default health_timeout_ms (5000) there */
#define TIMEOUT2_MS 5000
#define BOUND2_MS (CHECK_MS + TIMEOUT2_MS + SLACK_MS)
#define ON_TIME_MS 500 /* a read on a healthy connection to a local apiserver: ~1 ms */
#define MAXOBJ 200

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- watches that note when each object arrived --- */

typedef struct wstate {
    int opened;
    int added[MAXOBJ];
    uint64_t first_after_stall_ms; /* first event of an object made after the stall */
    int max_seen;
    int dup;
} wstate;

static int stall_index = 1 << 30; /* objects from this index on are made after the stall */

static void on_event(kc_watch *w, kc_watch_event *ev, void *ud)
{
    (void)w;
    wstate *s = ud;
    int i;
    const char *name = kct_str(ev->object, "metadata.name");
    if (ev->type != KC_WATCH_ADDED || !name || sscanf(name, "obj-%d", &i) != 1 || i < 0 ||
        i >= MAXOBJ)
        return;
    if (s->added[i]++)
        s->dup++;
    if (i > s->max_seen)
        s->max_seen = i;
    if (i >= stall_index && !s->first_after_stall_ms)
        s->first_after_stall_ms = mono_ms();
}

static void on_open(kc_watch *w, void *ud)
{
    (void)w;
    ((wstate *)ud)->opened++;
}

static int watch_errors;

static void on_werr(kc_watch *w, const kc_error *err, void *ud)
{
    (void)w;
    (void)ud;
    char line[512];
    kc_error_format(err, line, sizeof(line));
    if (watch_errors++ < 3)
        fprintf(stderr, "  watch dropped (resuming): %s\n", line);
}

static kc_watch *watch(kc_client *c, const char *ns, wstate *s)
{
    kc_watch_options o = {.ref = {NULL, "v1", "configmaps", ns, NULL, NULL},
                          .backoff_initial_ms = 100,
                          .backoff_max_ms = 500,
                          .on_event = on_event,
                          .on_open = on_open,
                          .on_error = on_werr,
                          .ud = s};
    kc_watch *w = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_watch_start(c, &o, &w, &err), &err);
    return w;
}

/* --- reads that note their latency --- */

typedef struct reads {
    int sent, done, ok, retried;
    uint64_t max_ms, last_done_ms;
    uint64_t sent_at[64];
    char first_error[1024];
} reads;

typedef struct read_ud {
    reads *r;
    int i;
} read_ud;

static void on_read(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    read_ud *u = ud;
    reads *r = u->r;
    uint64_t ms = mono_ms() - r->sent_at[u->i];
    r->done++;
    r->last_done_ms = mono_ms();
    if (ms > r->max_ms)
        r->max_ms = ms;
    if (resp->attempts > 1)
        r->retried++;
    if (err->code == KC_OK)
        r->ok++;
    else if (!r->first_error[0])
        kc_error_format(err, r->first_error, sizeof(r->first_error));
    free(u);
}

static void send_read(kc_client *c, reads *r, const char *ns)
{
    if (r->sent >= 64)
        return;
    read_ud *u = malloc(sizeof(*u));
    u->r = r;
    u->i = r->sent;
    r->sent_at[r->sent++] = mono_ms();
    /* longer than the detection bound: the health check, not the timeout,
     * must be what rescues a read on the stalled connection */
    kc_request_spec spec = {.method = "GET",
                            .ref = {NULL, "v1", "namespaces", NULL, ns, NULL},
                            .timeout_ms = 15000};
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_request_send(c, &spec, on_read, u, NULL, &err), &err);
}

static void create_obj(kc_client *direct, const char *ns, int i)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"obj-%d\"}}",
             i);
    cJSON *obj = kct_json(body);
    kc_ref ref = {NULL, "v1", "configmaps", ns, NULL, NULL};
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_create(direct, &ref, obj, NULL, NULL, &err), &err);
    cJSON_Delete(obj);
}

static void run_ms(kc_client *c, long ms)
{
    uint64_t end = mono_ms() + (uint64_t)ms;
    while (mono_ms() < end)
        kc_client_run_once(c, 10);
}

/* ids of the proxy's open connections, in accept order */
static int open_conns(const kct_proxy *px, long *ids, int max)
{
    cJSON *l = kct_proxy_json(px, "conns");
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, l) {
        if (n < max)
            ids[n++] = (long)kct_num(it, "id");
    }
    cJSON_Delete(l);
    return n;
}

START_TEST(two_clients_one_stalls)
{
    kct_proxy px;
    kct_proxy_start(&px, kct_cluster_port(NULL));
    kc_config *dcfg = kct_config(NULL, "kubeconfig");
    kc_client *direct = kct_client(dcfg, NULL);
    char *ns = kct_namespace(direct, "stall2");
    kc_config *acfg = kct_config_via_proxy(NULL, "cert.kubeconfig", &px); /* certuser */
    kc_config *bcfg = kct_config_via_proxy(NULL, "kubeconfig", &px);      /* admin, token */
    kc_client_options ao = {.health_check_ms = CHECK_MS, .health_timeout_ms = TIMEOUT_MS};
    kc_client *a = kct_client(acfg, &ao);
    kc_client_options bo = ao;
    bo.share_loop = a;
    kc_client *b = kct_client(bcfg, &bo);

    wstate *as = calloc(1, sizeof(*as)), *bs = calloc(1, sizeof(*bs));
    kc_watch *aw = watch(a, ns, as);
    uint64_t end = mono_ms() + 10000;
    while (!as->opened && mono_ms() < end)
        kc_client_run_once(a, 20);
    long ids[16];
    int n = open_conns(&px, ids, 16);
    ck_assert_msg(as->opened == 1 && n == 1, "A's watch: opened %d, %d connections", as->opened,
                  n);
    long a_conn = ids[0];
    kc_watch *bw = watch(b, ns, bs);
    while (!bs->opened && mono_ms() < end)
        kc_client_run_once(a, 20);
    n = open_conns(&px, ids, 16);
    ck_assert_msg(bs->opened == 1 && n == 2,
                  "B's watch: opened %d, %d connections (A's and B's must be apart)", bs->opened,
                  n);
    int obj = 0;
    create_obj(direct, ns, obj++);
    run_ms(a, 300);
    ck_assert(as->added[0] == 1 && bs->added[0] == 1);

    /* stall A's connection */
    char q[64];
    snprintf(q, sizeof(q), "stall?conn=%ld", a_conn);
    kct_proxy_ctl(&px, q);
    uint64_t t_stall = mono_ms();
    stall_index = obj;
    reads ar = {0}, br = {0};
    for (int i = 0; i < 5; i++)
        send_read(a, &ar, ns);
    uint64_t next_b = 0, next_obj = 0;
    end = t_stall + BOUND_MS + 3000;
    while (mono_ms() < end) {
        if (mono_ms() >= next_b) {
            send_read(b, &br, ns);
            next_b = mono_ms() + 100;
        }
        if (mono_ms() >= next_obj && obj < MAXOBJ) {
            create_obj(direct, ns, obj++);
            next_obj = mono_ms() + 250;
        }
        kc_client_run_once(a, 10);
        if (ar.done == ar.sent && as->first_after_stall_ms && mono_ms() > t_stall + BOUND_MS)
            break;
    }
    run_ms(a, 500); /* last events */
    kc_client_stats ast, bst;
    kc_client_get_stats(a, &ast);
    kc_client_get_stats(b, &bst);
    int a_missing = 0, b_missing = 0;
    for (int i = 0; i < obj; i++) {
        a_missing += as->added[i] == 0;
        b_missing += bs->added[i] == 0;
    }
    long a_recover = as->first_after_stall_ms ? (long)(as->first_after_stall_ms - t_stall) : -1;
    long a_reads = ar.done == ar.sent ? (long)(ar.last_done_ms - t_stall) : -1;
    fprintf(stderr,
            "two clients, A's connection #%ld stalled: A: dead links %llu, %d/%d reads ok (%d "
            "retried) after %ld ms, watch resumed after %ld ms (%u streams), %d of %d objects "
            "missed, %d twice%s%s; B: %d/%d reads ok, slowest %" PRIu64 " ms, dead links %llu, "
            "watch %u stream(s), %d missed%s%s; proxy: %ld connections, %ld stalled; bound "
            "%d ms\n",
            a_conn, (unsigned long long)ast.dead_links, ar.ok, ar.sent, ar.retried, a_reads,
            a_recover, kc_watch_streams(aw), a_missing, obj, as->dup,
            ar.first_error[0] ? "; first error: " : "", ar.first_error, br.ok, br.sent,
            br.max_ms, (unsigned long long)bst.dead_links, kc_watch_streams(bw), b_missing,
            br.first_error[0] ? "; first error: " : "", br.first_error,
            kct_proxy_stat(&px, "total_conns"), kct_proxy_stat(&px, "stalls_total"), BOUND_MS);

    /* precondition: the stall held A up (its reads were not answered at once) */
    ck_assert_int_eq(kct_proxy_stat(&px, "stalls_total"), 1);
    ck_assert_uint_ge(ast.dead_links, 1);
    /* B: on time, untouched */
    ck_assert_msg(br.ok == br.sent && br.sent > 10, "B: %d of %d reads ok: %s", br.ok, br.sent,
                  br.first_error);
    ck_assert_msg(br.max_ms <= ON_TIME_MS, "B's slowest read took %" PRIu64 " ms", br.max_ms);
    ck_assert_uint_eq(bst.dead_links, 0);
    ck_assert_uint_eq(kc_watch_streams(bw), 1);
    ck_assert_int_eq(b_missing, 0);
    ck_assert_int_eq(bs->dup, 0);
    /* A: found, retried, resumed within the bound, nothing lost */
    ck_assert_msg(ar.ok == ar.sent, "A: %d of %d reads ok: %s", ar.ok, ar.sent, ar.first_error);
    ck_assert_int_eq(ar.retried, ar.sent);
    ck_assert_msg(a_reads >= 0 && a_reads <= BOUND_MS,
                  "A's stalled reads answered %ld ms after the stall (bound %d ms)", a_reads,
                  BOUND_MS);
    ck_assert_msg(a_recover >= 0 && a_recover <= BOUND_MS,
                  "A's watch delivered again %ld ms after the stall (bound %d ms)", a_recover,
                  BOUND_MS);
    ck_assert_uint_ge(kc_watch_streams(aw), 2);
    ck_assert_int_eq(a_missing, 0);
    ck_assert_int_eq(as->dup, 0);

    kc_watch_stop(aw);
    kc_watch_stop(bw);
    kc_client_free(b);
    kc_client_free(a);
    kc_config_free(bcfg);
    kc_config_free(acfg);
    kc_client_free(direct);
    kc_config_free(dcfg);
    kct_proxy_stop(&px);
    free(as);
    free(bs);
    free(ns);
}
END_TEST

START_TEST(one_client_two_connections_one_stalls)
{
    enum { NW = 150 };
    kct_proxy px;
    kct_proxy_start(&px, kct_cluster_port(NULL));
    kc_config *dcfg = kct_config(NULL, "kubeconfig");
    kc_client *direct = kct_client(dcfg, NULL);
    char *ns = kct_namespace(direct, "stall1");
    kc_config *cfg = kct_config_via_proxy(NULL, "kubeconfig", &px);
    kc_client_options o = {.health_check_ms = CHECK_MS, .health_timeout_ms = TIMEOUT2_MS};
    kc_client *c = kct_client(cfg, &o);
    wstate *ws = calloc(NW, sizeof(*ws));
    kc_watch *w[NW];
    for (int i = 0; i < NW; i++)
        w[i] = watch(c, ns, &ws[i]);
    uint64_t end = mono_ms() + 15000;
    int opened = 0;
    while (opened < NW && mono_ms() < end) {
        kc_client_run_once(c, 20);
        opened = 0;
        for (int i = 0; i < NW; i++)
            opened += ws[i].opened > 0;
    }
    {
        kc_client_stats st0;
        kc_client_get_stats(c, &st0);
        long ids0[16];
        int n0 = open_conns(&px, ids0, 16);
        fprintf(stderr, "set-up: %d of %d watches open after %" PRIu64 " ms on %d connection(s) "
                        "(%ld made), dead links %llu, %llu requests sent\n",
                opened, NW, mono_ms() - (end - 15000), n0, kct_proxy_stat(&px, "total_conns"),
                (unsigned long long)st0.dead_links, (unsigned long long)st0.requests);
    }
    kc_client_stats st_setup;
    kc_client_get_stats(c, &st_setup);
    ck_assert_msg(opened == NW,
                  "%d of %d watches open after 15 s (dead links found during the set-up: %llu; "
                  "after a reset, see dead_link_recovery_with_many_streams)",
                  opened, NW, (unsigned long long)st_setup.dead_links);
    int obj = 0;
    create_obj(direct, ns, obj++);
    run_ms(c, 500);
    long ids[16];
    int n = open_conns(&px, ids, 16);
    for (int i = 0; i < NW; i++)
        ck_assert_int_eq(ws[i].added[0], 1);
    ck_assert_msg(n >= 2, "%d watches on %d connection(s): nothing to stall one of", NW, n);

    /* stall the connection that carries the most watches (most bytes
     * received: every watch got the same event); the others keep delivering */
    long victim = 0, most = -1;
    cJSON *cl = kct_proxy_json(&px, "conns");
    const cJSON *ci;
    cJSON_ArrayForEach(ci, cl) {
        long down = (long)kct_num(ci, "bytes_down");
        if (down > most) {
            most = down;
            victim = (long)kct_num(ci, "id");
        }
    }
    cJSON_Delete(cl);
    char q[64];
    snprintf(q, sizeof(q), "stall?conn=%ld", victim);
    kct_proxy_ctl(&px, q);
    uint64_t t_stall = mono_ms();
    stall_index = obj;
    reads r = {0};
    uint64_t next_obj = 0, next_read = 0;
    end = t_stall + BOUND2_MS + 4000;
    int behind = 0, held = -1;
    uint64_t first_obj_ms = 0;
    while (mono_ms() < end) {
        if (mono_ms() >= next_obj && obj < MAXOBJ) {
            create_obj(direct, ns, obj++);
            if (!first_obj_ms)
                first_obj_ms = mono_ms();
            next_obj = mono_ms() + 250;
        }
        if (mono_ms() >= next_read) {
            send_read(c, &r, ns);
            next_read = mono_ms() + 500;
        }
        kc_client_run_once(c, 10);
        behind = 0;
        for (int i = 0; i < NW; i++)
            behind += !ws[i].first_after_stall_ms;
        if (held < 0 && mono_ms() >= first_obj_ms + 800)
            held = behind; /* 0.8 s after the first new object: who has it? */
        if (!behind && r.done == r.sent && mono_ms() > t_stall + BOUND2_MS)
            break;
    }
    run_ms(c, 300);
    kc_client_stats st;
    kc_client_get_stats(c, &st);
    long worst = 0;
    int never = 0, missing = 0, dups = 0, resumed = 0;
    for (int i = 0; i < NW; i++) {
        if (!ws[i].first_after_stall_ms)
            never++;
        else if ((long)(ws[i].first_after_stall_ms - t_stall) > worst)
            worst = (long)(ws[i].first_after_stall_ms - t_stall);
        for (int k = 0; k < obj; k++)
            missing += ws[i].added[k] == 0;
        dups += ws[i].dup;
        resumed += kc_watch_streams(w[i]) > 1;
    }
    fprintf(stderr,
            "one client, %d watches on %d connections, #%ld stalled: watches delivering again: "
            "%d of %d (the slowest after %ld ms), %d never within %" PRIu64 " ms, %d resumed on "
            "a new stream; %d held up 0.8 s after the first new object; %d events missed; reads: %d/%d ok, slowest %" PRIu64 " ms%s%s; "
            "dead links %llu; bound %d ms\n",
            NW, n, victim, NW - never, NW, worst, never, mono_ms() - t_stall, resumed,
            held, missing, r.ok, r.sent, r.max_ms, r.first_error[0] ? "; first error: " : "",
            r.first_error, (unsigned long long)st.dead_links, BOUND2_MS);

    /* precondition: the stall held some watches up while the others ran */
    ck_assert_msg(held > 0 && held < NW,
                  "%d of %d watches held up by the stall: not one connection of several", held,
                  NW);
    ck_assert_msg(never == 0,
                  "%d of %d watches (those on the stalled connection) never delivered again: the "
                  "health check (per client) sent no probe while the other connection kept "
                  "receiving (dead links found: %llu)",
                  never, NW, (unsigned long long)st.dead_links);
    ck_assert_msg(worst <= BOUND2_MS, "a stalled watch delivered again after %ld ms (bound %d ms)",
                  worst, BOUND2_MS);
    ck_assert_msg(r.ok == r.sent && r.max_ms <= BOUND2_MS,
                  "reads: %d of %d ok, slowest %" PRIu64 " ms (bound %d ms): %s", r.ok, r.sent,
                  r.max_ms, BOUND2_MS, r.first_error);
    ck_assert_msg(missing == 0, "%d events never delivered", missing);
    ck_assert_int_eq(dups, 0);

    for (int i = 0; i < NW; i++)
        kc_watch_stop(w[i]);
    kc_client_free(c);
    kc_config_free(cfg);
    kc_client_free(direct);
    kc_config_free(dcfg);
    kct_proxy_stop(&px);
    free(ws);
    free(ns);
}
END_TEST

/* The health check's reset with more streams than connections: one client,
 * NW watches (one HTTP/2 connection carries them all), its connection
 * stalls.  After the dead link is found, "every connection is dropped and
 * re-made, watches resume": all NW watches deliver again within the bound,
 * sharing new connections (the stalled one is not used again, and they
 * multiplex as before: at most the budget, 4, open afterwards).  This
 * failed while the reset made every attempt of the next 2 s with
 * CURLOPT_FRESH_CONNECT: each resuming watch wanted a connection of its
 * own, 4 got one and the rest waited in curl's queue until a connection
 * closed (a watch holds its connection for 5 to 10 minutes).  Now the dead
 * connections' sockets are shut down (sockets.c) and curl drops them. */
START_TEST(dead_link_recovery_with_many_streams)
{
    enum { NW = 30 };
    kct_proxy px;
    kct_proxy_start(&px, kct_cluster_port(NULL));
    kc_config *dcfg = kct_config(NULL, "kubeconfig");
    kc_client *direct = kct_client(dcfg, NULL);
    char *ns = kct_namespace(direct, "stallmany");
    kc_config *cfg = kct_config_via_proxy(NULL, "kubeconfig", &px);
    kc_client_options o = {.health_check_ms = CHECK_MS, .health_timeout_ms = TIMEOUT_MS};
    kc_client *c = kct_client(cfg, &o);
    wstate *ws = calloc(NW, sizeof(*ws));
    kc_watch *w[NW];
    for (int i = 0; i < NW; i++)
        w[i] = watch(c, ns, &ws[i]);
    uint64_t end = mono_ms() + 15000;
    int opened = 0;
    while (opened < NW && mono_ms() < end) {
        kc_client_run_once(c, 20);
        opened = 0;
        for (int i = 0; i < NW; i++)
            opened += ws[i].opened > 0;
    }
    ck_assert_int_eq(opened, NW);
    long ids[16];
    int n = open_conns(&px, ids, 16);
    ck_assert_msg(n == 1, "%d watches on %d connections, want one", NW, n);
    kc_client_stats st0;
    kc_client_get_stats(c, &st0);
    ck_assert_uint_eq(st0.dead_links, 0);

    long stalled_id = ids[0];
    kct_proxy_ctl(&px, "stall?conn=newest");
    uint64_t t_stall = mono_ms();
    int obj = 0;
    stall_index = 0;
    uint64_t next_obj = 0;
    end = t_stall + BOUND_MS + 6000;
    int behind = NW;
    while (mono_ms() < end && behind) {
        if (mono_ms() >= next_obj && obj < MAXOBJ) {
            create_obj(direct, ns, obj++);
            next_obj = mono_ms() + 250;
        }
        kc_client_run_once(c, 10);
        behind = 0;
        for (int i = 0; i < NW; i++)
            behind += !ws[i].first_after_stall_ms;
    }
    kc_client_stats st;
    kc_client_get_stats(c, &st);
    long worst = 0;
    for (int i = 0; i < NW; i++)
        if (ws[i].first_after_stall_ms && (long)(ws[i].first_after_stall_ms - t_stall) > worst)
            worst = (long)(ws[i].first_after_stall_ms - t_stall);
    n = open_conns(&px, ids, 16);
    fprintf(stderr,
            "%d watches on one connection, stalled: dead links %llu; %d watches delivering "
            "again (the slowest after %ld ms), %d not within %" PRIu64 " ms; %d connections "
            "open now, %ld made; bound %d ms\n",
            NW, (unsigned long long)st.dead_links, NW - behind, worst, behind,
            mono_ms() - t_stall, n, kct_proxy_stat(&px, "total_conns"), BOUND_MS);
    ck_assert_uint_ge(st.dead_links, 1); /* precondition: the health check found it */
    ck_assert_msg(behind == 0,
                  "%d of %d watches had not resumed %" PRIu64 " ms after the stall (dead link "
                  "found; %d connections open)",
                  behind, NW, mono_ms() - t_stall, n);
    ck_assert_msg(worst <= BOUND_MS + 1000, "the slowest watch resumed after %ld ms", worst);
    ck_assert_msg(n >= 1 && n <= 4, "%d connections open after the recovery (budget 4)", n);
    for (int i = 0; i < n; i++) /* the stalled connection was dropped, not kept */
        ck_assert_msg(ids[i] != stalled_id, "the stalled connection #%ld is still open", ids[i]);

    for (int i = 0; i < NW; i++)
        kc_watch_stop(w[i]);
    kc_client_free(c);
    kc_config_free(cfg);
    kc_client_free(direct);
    kc_config_free(dcfg);
    kct_proxy_stop(&px);
    free(ws);
    free(ns);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("stall");
    TCase *tc = tcase_create("stall");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, two_clients_one_stalls);
    kct_add_known_bug(tc, one_client_two_connections_one_stalls, "health-check-per-client-not-per-connection");
    tcase_add_test(tc, dead_link_recovery_with_many_streams);
    suite_add_tcase(s, tc);
    return kct_run_suite(s);
}
