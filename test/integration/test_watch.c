/* Integration: watch streams and informers against the real local control
 * plane: every change seen once and in order, resumption across cut
 * connections, 410 Gone -> relist with deletes reported, dead links found
 * by the health check, and informer store == LIST after churn. */
#include "kc_proxy.h"
#include "kc_test.h"
#include "kclient/informer.h"
#include "kclient/watch.h"

#define MAXOBJ 1000

typedef struct seen {
    int added[MAXOBJ], modified[MAXOBJ], deleted[MAXOBJ];
    long last_rv[MAXOBJ];
    int out_of_order, unknown, events, bookmarks;
    int last_value[MAXOBJ];
} seen;

static int index_of(const cJSON *obj)
{
    const char *name = kct_str(obj, "metadata.name");
    int i;
    if (!name || sscanf(name, "obj-%d", &i) != 1 || i < 0 || i >= MAXOBJ)
        return -1;
    return i;
}

static void on_event(kc_watch *w, kc_watch_event *ev, void *ud)
{
    (void)w;
    seen *s = ud;
    if (ev->type == KC_WATCH_BOOKMARK) {
        s->bookmarks++;
        return;
    }
    int i = index_of(ev->object);
    if (i < 0) {
        s->unknown++;
        return;
    }
    s->events++;
    long rv = atol(ev->resource_version ? ev->resource_version : "0");
    if (rv <= s->last_rv[i])
        s->out_of_order++;
    s->last_rv[i] = rv;
    const char *v = kct_str(ev->object, "data.v");
    s->last_value[i] = v ? atoi(v) : -1;
    if (ev->type == KC_WATCH_ADDED)
        s->added[i]++;
    else if (ev->type == KC_WATCH_MODIFIED)
        s->modified[i]++;
    else if (ev->type == KC_WATCH_DELETED)
        s->deleted[i]++;
}

static void on_watch_err(kc_watch *w, const kc_error *err, void *ud)
{
    (void)w;
    (void)ud;
    char line[512];
    kc_error_format(err, line, sizeof(line));
    fprintf(stderr, "watch dropped: %s\n", line);
}

typedef struct writes {
    int done, failed, ok;
} writes;

/* churn: a write may meet 404 on purpose (a delete of an object already
 * deleted, a patch of one gone); any other failure still fails the test */
static int tolerant;

static void on_write(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    (void)r;
    writes *w = ud;
    w->done++;
    w->ok += err->code == KC_OK;
    if (err->code != KC_OK && !(tolerant && err->http_status == 404)) {
        w->failed++;
        char line[512];
        kc_error_format(err, line, sizeof(line));
        fprintf(stderr, "write failed: %s\n", line);
    }
}

/* Send one write per object (all in flight), then drive both loops until
 * done.  Returns how many succeeded. */
static int write_all(kc_client *c, kc_client *watcher, const char *ns, int n, const char *method,
                     int value)
{
    writes w = {0, 0, 0};
    kc_error err = KC_ERROR_INIT;
    for (int i = 0; i < n; i++) {
        char name[32], *body = NULL;
        snprintf(name, sizeof(name), "obj-%d", i);
        if (asprintf(&body, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                            "\"%s\"},\"data\":{\"v\":\"%d\"}}", name, value) < 0)
            abort();
        int is_delete = !strcmp(method, "DELETE");
        kc_param mgr[] = {{"fieldManager", "churn"}};
        kc_request_spec spec = {.method = method,
                                .ref = {NULL, "v1", "configmaps", ns,
                                        strcmp(method, "POST") ? name : NULL, NULL},
                                .content_type = "application/json",
                                .body = is_delete ? NULL : body,
                                .body_len = is_delete ? 0 : strlen(body)};
        if (!strcmp(method, "APPLY")) {
            spec.method = "PATCH";
            spec.ref.name = name;
            spec.content_type = "application/apply-patch+yaml";
            spec.params = mgr;
            spec.nparams = 1;
        } else if (!strcmp(method, "PATCH")) {
            spec.content_type = "application/merge-patch+json";
            free(body);
            if (asprintf(&body, "{\"data\":{\"v\":\"%d\"}}", value) < 0)
                abort();
            spec.body = body;
            spec.body_len = strlen(body);
        }
        KCT_OK(kc_request_send(c, &spec, on_write, &w, NULL, &err), &err);
        free(body);
    }
    while (w.done < n) {
        kc_client_run_once(c, 10);
        kc_client_run_once(watcher, 10);
    }
    ck_assert_int_eq(w.failed, 0);
    return w.ok;
}

static void drive_until(kc_client *a, kc_client *b, int (*cond)(void *), void *ud, long ms)
{
    uint64_t end = kc_now_ns() + (uint64_t)ms * 1000000ull;
    while (!cond(ud) && kc_now_ns() < end) {
        kc_client_run_once(a, 10);
        if (b)
            kc_client_run_once(b, 10);
    }
}

typedef struct expect {
    seen *s;
    int events;
} expect;

static int enough_events(void *ud)
{
    expect *e = ud;
    return e->s->events >= e->events;
}

static char *list_rv(kc_client *c, const char *ns)
{
    kc_error err = KC_ERROR_INIT;
    cJSON *l = NULL;
    kc_ref ref = {NULL, "v1", "configmaps", ns, NULL, NULL};
    KCT_OK(kc_list(c, &ref, NULL, &l, &err), &err);
    char *rv = strdup(kct_str(l, "metadata.resourceVersion"));
    cJSON_Delete(l);
    return rv;
}

static void check_sequences(const seen *s, int n, int mods, int deleted_below)
{
    ck_assert_int_eq(s->unknown, 0);
    ck_assert_int_eq(s->out_of_order, 0);
    for (int i = 0; i < n; i++) {
        ck_assert_msg(s->added[i] == 1, "obj-%d added %d times", i, s->added[i]);
        ck_assert_msg(s->modified[i] == mods, "obj-%d modified %d times", i, s->modified[i]);
        ck_assert_int_eq(s->deleted[i], i < deleted_below ? 1 : 0);
    }
}

START_TEST(every_change_once_in_order)
{
    enum { N = 1000 };
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client_options wo = {.qps = -1};
    kc_client *writer = kct_client(cfg, &wo);
    kc_client *watcher = kct_client(cfg, NULL);
    char *ns = kct_namespace(writer, "watch");
    char *rv = list_rv(writer, ns);
    static seen s;
    memset(&s, 0, sizeof(s));
    kc_watch_options o = {.ref = {NULL, "v1", "configmaps", ns, NULL, NULL},
                          .resource_version = rv, .on_event = on_event, .ud = &s,
                          .on_error = on_watch_err};
    kc_watch *w = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_watch_start(watcher, &o, &w, &err), &err);
    write_all(writer, watcher, ns, N, "POST", 0);
    write_all(writer, watcher, ns, N, "PATCH", 1);
    write_all(writer, watcher, ns, N, "PATCH", 2);
    write_all(writer, watcher, ns, N / 2, "DELETE", 0);
    expect e = {&s, N * 3 + N / 2};
    drive_until(watcher, NULL, enough_events, &e, 60000);
    ck_assert_int_eq(s.events, N * 3 + N / 2);
    check_sequences(&s, N, 2, N / 2);
    for (int i = N / 2; i < N; i++)
        ck_assert_int_eq(s.last_value[i], 2);
    /* the API server's watch cache may close a watcher that reads slowly
     * (this one shares its thread with 3,500 writes): resuming from the last
     * version must then hide that completely, which the checks above prove */
    fprintf(stderr, "in order: %u streams for %d events\n", kc_watch_streams(w), s.events);
    kc_watch_stop(w);
    kc_client_free(watcher);
    kc_client_free(writer);
    kc_config_free(cfg);
    free(rv);
    free(ns);
}
END_TEST

typedef struct cutting {
    kct_proxy *px;
    seen *s;
    int cuts;
} cutting;

START_TEST(resumes_after_cuts_without_loss)
{
    enum { N = 600 };
    kct_proxy px;
    kct_proxy_start(&px, kct_cluster_port(NULL));
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_config *pcfg = kct_config_via_proxy(NULL, "kubeconfig", &px);
    kc_client_options wo = {.qps = -1};
    kc_client *writer = kct_client(cfg, &wo);
    kc_watch_options fast = {0};
    (void)fast;
    kc_client *watcher = kct_client(pcfg, NULL);
    char *ns = kct_namespace(writer, "watchcut");
    char *rv = list_rv(writer, ns);
    static seen s;
    memset(&s, 0, sizeof(s));
    kc_watch_options o = {.ref = {NULL, "v1", "configmaps", ns, NULL, NULL},
                          .resource_version = rv, .on_event = on_event, .ud = &s,
                          .backoff_initial_ms = 50, .backoff_max_ms = 200};
    kc_watch *w = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_watch_start(watcher, &o, &w, &err), &err);
    write_all(writer, watcher, ns, N, "POST", 0);
    kct_proxy_ctl(&px, "cut-once");
    write_all(writer, watcher, ns, N, "PATCH", 1);
    kct_proxy_ctl(&px, "cut-once");
    write_all(writer, watcher, ns, N / 3, "DELETE", 0);
    kct_proxy_ctl(&px, "cut-once");
    expect e = {&s, N * 2 + N / 3};
    drive_until(watcher, NULL, enough_events, &e, 60000);
    fprintf(stderr, "cuts: %u streams for %d events\n", kc_watch_streams(w), s.events);
    ck_assert_int_eq(s.events, N * 2 + N / 3);
    check_sequences(&s, N, 1, N / 3);
    ck_assert_uint_ge(kc_watch_streams(w), 2); /* it really reconnected */
    kc_watch_stop(w);
    kc_client_free(watcher);
    kc_client_free(writer);
    kc_config_free(pcfg);
    kc_config_free(cfg);
    kct_proxy_stop(&px);
    free(rv);
    free(ns);
}
END_TEST

static int dead_link_seen(void *ud)
{
    kc_client_stats st;
    kc_client_get_stats(ud, &st);
    return st.dead_links > 0;
}

START_TEST(dead_link_found_quiet_link_kept)
{
    kct_proxy px;
    kct_proxy_start(&px, kct_cluster_port(NULL));
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_config *pcfg = kct_config_via_proxy(NULL, "kubeconfig", &px);
    kc_client *writer = kct_client(cfg, NULL);
    kc_client_options hc = {.health_check_ms = 1000, .health_timeout_ms = 1000};
    kc_client *watcher = kct_client(pcfg, &hc);
    char *ns = kct_namespace(writer, "deadlink");
    char *rv = list_rv(writer, ns);
    static seen s;
    memset(&s, 0, sizeof(s));
    kc_watch_options o = {.ref = {NULL, "v1", "configmaps", ns, NULL, NULL},
                          .resource_version = rv, .on_event = on_event, .ud = &s,
                          .backoff_initial_ms = 100, .backoff_max_ms = 500};
    kc_watch *w = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_watch_start(watcher, &o, &w, &err), &err);

    /* a quiet but healthy watch is left alone: probes answer */
    uint64_t t0 = kc_now_ns();
    while (kc_now_ns() - t0 < 5000000000ull)
        kc_client_run_once(watcher, 100);
    kc_client_stats st;
    kc_client_get_stats(watcher, &st);
    ck_assert_uint_eq(st.dead_links, 0);
    ck_assert_uint_eq(kc_watch_streams(w), 1);

    /* black hole: found dead at most health_check_ms + health_timeout_ms
     * after the last byte received (client.h): here 1 s + 1 s.  The last
     * byte came before the hole (a probe's answer, at most ~1 s earlier), so
     * <= 2 s after it; 0.5 s more for the loop on a loaded 2-core machine
     * (or under valgrind), where a due timer may run late */
    kct_proxy_ctl(&px, "mode?set=blackhole");
    t0 = kc_now_ns();
    drive_until(watcher, NULL, dead_link_seen, watcher, 10000);
    double secs = (double)(kc_now_ns() - t0) / 1e9;
    fprintf(stderr, "dead link found after %.3fs (bound 2 s + 0.5 s)\n", secs);
    ck_assert(dead_link_seen(watcher));
    ck_assert_msg(secs <= 2.5, "dead link found after %.3f s: bound 2 s + 0.5 s", secs);
    write_all(writer, watcher, ns, 10, "POST", 0);
    kct_proxy_ctl(&px, "mode?set=pass");
    expect e = {&s, 10};
    drive_until(watcher, NULL, enough_events, &e, 30000);
    ck_assert_int_eq(s.events, 10); /* resumed, nothing lost */
    check_sequences(&s, 10, 0, 0);
    kc_watch_stop(w);
    kc_client_free(watcher);
    kc_client_free(writer);
    kc_config_free(pcfg);
    kc_config_free(cfg);
    kct_proxy_stop(&px);
    free(rv);
    free(ns);
}
END_TEST

/* --- informer --- */

typedef struct inf_counts {
    int adds, updates, deletes, synced;
    int deleted_names[MAXOBJ];
} inf_counts;

static void i_add(kc_informer *i, const cJSON *o, void *ud)
{
    (void)i;
    (void)o;
    ((inf_counts *)ud)->adds++;
}
static void i_update(kc_informer *i, const cJSON *a, const cJSON *b, void *ud)
{
    (void)i;
    (void)a;
    (void)b;
    ((inf_counts *)ud)->updates++;
}
static void i_delete(kc_informer *i, const cJSON *o, void *ud)
{
    (void)i;
    inf_counts *c = ud;
    c->deletes++;
    int k = index_of(o);
    if (k >= 0)
        c->deleted_names[k]++;
}
static void i_synced(kc_informer *i, void *ud)
{
    (void)i;
    ((inf_counts *)ud)->synced++;
}

typedef struct store_check {
    kc_informer *inf;
    int mismatches, n;
} store_check;

static int compare_item(const cJSON *item, void *ud)
{
    store_check *sc = ud;
    sc->n++;
    const char *rv = kc_informer_get_resource_version(sc->inf, kct_str(item, "metadata.namespace"),
                                                      kct_str(item, "metadata.name"));
    if (!rv || strcmp(rv, kct_str(item, "metadata.resourceVersion")) != 0)
        sc->mismatches++;
    return 0;
}

/* The informer's store equals a fresh LIST: same names, same versions. */
static void assert_store_equals_list(kc_client *c, kc_informer *inf, const char *ns)
{
    store_check sc = {inf, 0, 0};
    kc_error err = KC_ERROR_INIT;
    kc_ref ref = {NULL, "v1", "configmaps", ns, NULL, NULL};
    KCT_OK(kc_list_each(c, &ref, NULL, compare_item, &sc, NULL, &err), &err);
    ck_assert_int_eq(sc.mismatches, 0);
    ck_assert_uint_eq(kc_informer_len(inf), (size_t)sc.n);
}

static int store_matches(void *ud)
{
    void **a = ud;
    kc_client *c = a[0];
    kc_informer *inf = a[1];
    store_check sc = {inf, 0, 0};
    kc_error err = KC_ERROR_INIT;
    kc_ref ref = {NULL, "v1", "configmaps", a[2], NULL, NULL};
    if (kc_list_each(c, &ref, NULL, compare_item, &sc, NULL, &err) != KC_OK)
        return 0;
    return sc.mismatches == 0 && kc_informer_len(inf) == (size_t)sc.n;
}

static const char *parity(const cJSON *obj, void *ud)
{
    (void)ud;
    int i = index_of(obj);
    return i < 0 ? NULL : (i % 2 ? "odd" : "even");
}

START_TEST(informer_relists_after_410_and_reports_gap_deletes)
{
    const char *env = "KC_TEST_CLUSTER_NOCACHE";
    kct_proxy px;
    kct_proxy_start(&px, kct_cluster_port(env));
    kc_config *cfg = kct_config(env, "kubeconfig");
    kc_config *pcfg = kct_config_via_proxy(env, "kubeconfig", &px);
    kc_client_options wo = {.qps = -1};
    kc_client *writer = kct_client(cfg, &wo);
    kc_client *watcher = kct_client(pcfg, NULL);
    char *ns = kct_namespace(writer, "relist");
    write_all(writer, writer, ns, 100, "POST", 0);
    static inf_counts ic;
    memset(&ic, 0, sizeof(ic));
    kc_informer_options io = {.ref = {NULL, "v1", "configmaps", ns, NULL, NULL},
                              .page_size = 30,
                              .handlers = {i_add, i_update, i_delete, i_synced},
                              .ud = &ic,
                              .watch = {.backoff_initial_ms = 100, .backoff_max_ms = 300}};
    kc_informer *inf = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_informer_start(watcher, &io, &inf, &err), &err);
    KCT_OK(kc_informer_add_index(inf, "parity", parity, NULL), &err);
    KCT_OK(kc_informer_add_label_index(inf, "app"), &err);
    while (!kc_informer_has_synced(inf))
        kc_client_run_once(watcher, 50);
    ck_assert_int_eq(ic.synced, 1);
    ck_assert_int_eq(ic.adds, 100);
    ck_assert_uint_eq(kc_informer_by_index(inf, "parity", "odd", NULL, NULL), 50);
    kc_client_run(watcher, 500);

    /* cut the link, change things, compact etcd so the old version is gone */
    kct_proxy_ctl(&px, "mode?set=cut");
    write_all(writer, writer, ns, 30, "DELETE", 0); /* obj-0..29 vanish in the gap */
    tolerant = 1; /* obj-0..29 are gone: only obj-30..59 change */
    write_all(writer, writer, ns, 60, "PATCH", 7);
    tolerant = 0;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/test/local-cluster compact %s >/dev/null", getenv("KC_SOURCE_DIR"),
             kct_dir(env));
    ck_assert_int_eq(system(cmd), 0);
    kct_proxy_ctl(&px, "mode?set=pass");
    void *args[3] = {writer, inf, ns};
    drive_until(watcher, NULL, store_matches, args, 30000);
    fprintf(stderr, "relists %u, adds %d updates %d deletes %d\n", kc_informer_relists(inf),
            ic.adds, ic.updates, ic.deletes);
    ck_assert_uint_ge(kc_informer_relists(inf), 1);
    ck_assert_int_eq(ic.deletes, 30);
    for (int i = 0; i < 30; i++)
        ck_assert_int_eq(ic.deleted_names[i], 1);
    ck_assert_int_eq(ic.updates, 30);
    assert_store_equals_list(writer, inf, ns);
    ck_assert_uint_eq(kc_informer_by_index(inf, "parity", "odd", NULL, NULL), 35);
    cJSON *o = kc_informer_get(inf, ns, "obj-40");
    ck_assert_str_eq(kct_str(o, "data.v"), "7");
    ck_assert_ptr_null(kct_str(o, "metadata.managedFields"));
    cJSON_Delete(o);
    ck_assert_ptr_null(kc_informer_get(inf, ns, "obj-3"));
    kc_informer_stop(inf);
    kc_client_free(watcher);
    kc_client_free(writer);
    kc_config_free(pcfg);
    kc_config_free(cfg);
    kct_proxy_stop(&px);
    free(ns);
}
END_TEST

START_TEST(informer_equals_list_after_churn_with_cuts)
{
    kct_proxy px;
    kct_proxy_start(&px, kct_cluster_port(NULL));
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_config *pcfg = kct_config_via_proxy(NULL, "kubeconfig", &px);
    kc_client_options wo = {.qps = -1};
    kc_client *writer = kct_client(cfg, &wo);
    kc_client *watcher = kct_client(pcfg, NULL);
    char *ns = kct_namespace(writer, "churn");
    static inf_counts ic;
    memset(&ic, 0, sizeof(ic));
    kc_informer_options io = {.ref = {NULL, "v1", "configmaps", ns, NULL, NULL},
                              .handlers = {i_add, i_update, i_delete, i_synced},
                              .ud = &ic,
                              .watch = {.backoff_initial_ms = 50, .backoff_max_ms = 200}};
    kc_informer *inf = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_informer_start(watcher, &io, &inf, &err), &err);
    while (!kc_informer_has_synced(inf))
        kc_client_run_once(watcher, 50);
    srand(42);
    tolerant = 1;
    int applied = 0, deleted = 0, cuts = 0;
    unsigned streams0 = kc_watch_streams(kc_informer_watch(inf));
    for (int round = 0; round < 6; round++) {
        int n = 200 + round * 20;
        /* the writer goes straight to the server: every apply must land */
        ck_assert_int_eq(write_all(writer, watcher, ns, n, "APPLY", round), n);
        applied += n;
        if (rand() % 2 || round == 0) { /* at least one cut, whatever the seed */
            kct_proxy_ctl(&px, "cut-once"); /* asserts the proxy took it */
            cuts++;
        }
        deleted += write_all(writer, watcher, ns, 50 + round * 10, "DELETE", 0);
        if (rand() % 2) {
            kct_proxy_ctl(&px, "cut-once");
            cuts++;
        }
    }
    tolerant = 0;
    /* the churn and the cuts happened: the test is not vacuous */
    ck_assert_int_ge(deleted, 50);
    ck_assert_int_ge(cuts, 1);
    void *args[3] = {writer, inf, ns};
    drive_until(watcher, NULL, store_matches, args, 30000);
    assert_store_equals_list(writer, inf, ns);
    fprintf(stderr, "churn: %d applied, %d deleted, %d cuts; %zu cached, adds %d updates %d deletes %d, %u streams\n",
            applied, deleted, cuts, kc_informer_len(inf), ic.adds, ic.updates, ic.deletes,
            kc_watch_streams(kc_informer_watch(inf)));
    ck_assert_int_gt(ic.adds, 0);
    ck_assert_int_gt(ic.updates, 0);
    ck_assert_int_gt(ic.deletes, 0);
    ck_assert_uint_gt(kc_watch_streams(kc_informer_watch(inf)), streams0); /* a cut made it resume */
    kc_informer_stop(inf);
    kc_client_free(watcher);
    kc_client_free(writer);
    kc_config_free(pcfg);
    kc_config_free(cfg);
    kct_proxy_stop(&px);
    free(ns);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("watch");
    TCase *tc = tcase_create("watch");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_change_once_in_order);
    tcase_add_test(tc, resumes_after_cuts_without_loss);
    tcase_add_test(tc, dead_link_found_quiet_link_kept);
    tcase_add_test(tc, informer_relists_after_410_and_reports_gap_deletes);
    tcase_add_test(tc, informer_equals_list_after_churn_with_cuts);
    suite_add_tcase(s, tc);
    return kct_run_suite(s);
}
