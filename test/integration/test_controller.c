/* Integration: informer -> work queue -> reconcile against the real control
 * plane.  Async (PENDING) reconciles run several keys at once but never the
 * same key twice at once; errors come back with backoff; changes made while
 * a key is being reconciled are reconciled again afterwards. */
#include "kc_test.h"
#include "kclient/controller.h"

#define N 40

typedef struct state {
    kc_client *c;
    kc_controller *ctl;
    int active[N];
    int overlaps;
    int max_parallel, parallel;
    int runs[N];
    int failures_left[N];
    int errors;
} state;

typedef struct pending {
    state *s;
    char key[128];
    int i;
} pending;

static int key_index(const char *key)
{
    const char *slash = strrchr(key, '/');
    int i = -1;
    if (slash)
        sscanf(slash + 1, "obj-%d", &i);
    return i >= 0 && i < N ? i : -1;
}

static void finish_later(kc_client *c, void *ud)
{
    (void)c;
    pending *p = ud;
    state *s = p->s;
    s->active[p->i]--;
    s->parallel--;
    kc_reconcile_result r = KC_RECONCILE_OK;
    if (s->failures_left[p->i] > 0) {
        s->failures_left[p->i]--;
        s->errors++;
        r = KC_RECONCILE_ERROR;
    }
    kc_controller_finish(s->ctl, p->key, r, 0);
    free(p);
}

static kc_reconcile_result reconcile(kc_controller *ctl, const char *key, long *after, void *ud)
{
    (void)ctl;
    (void)after;
    state *s = ud;
    int i = key_index(key);
    if (i < 0)
        return KC_RECONCILE_OK;
    if (s->active[i]++)
        s->overlaps++;
    s->runs[i]++;
    if (++s->parallel > s->max_parallel)
        s->max_parallel = s->parallel;
    pending *p = calloc(1, sizeof(*p));
    p->s = s;
    p->i = i;
    snprintf(p->key, sizeof(p->key), "%s", key);
    kc_client_timer(s->c, 30, finish_later, p); /* some I/O would happen here */
    return KC_RECONCILE_PENDING;
}

START_TEST(reconcile_loop)
{
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client_options co = {.qps = -1};
    kc_client *c = kct_client(cfg, &co);
    char *ns = kct_namespace(c, "ctl");
    static state s;
    memset(&s, 0, sizeof(s));
    s.c = c;
    for (int i = 0; i < N; i += 5)
        s.failures_left[i] = 2;
    kc_controller_options o = {.name = "test", .max_concurrent = 4, .reconcile = reconcile, .ud = &s};
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_controller_new(c, &o, &s.ctl, &err), &err);
    /* The objects exist before the informer starts, so its first list queues
     * all N keys at once and max_concurrent is reached however slowly the
     * creates go (under valgrind or ASan, or on a loaded machine, objects
     * created one by one while reconciling arrived too slowly to ever have
     * 4 reconciles pending at once). */
    kc_ref coll = {NULL, "v1", "configmaps", ns, NULL, NULL};
    for (int i = 0; i < N; i++) {
        char body[160];
        snprintf(body, sizeof(body), "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"obj-%d\"}}", i);
        cJSON *o2 = kct_json(body);
        KCT_OK(kc_create(c, &coll, o2, NULL, NULL, &err), &err);
        cJSON_Delete(o2);
    }
    kc_informer_options io = {.ref = {NULL, "v1", "configmaps", ns, NULL, NULL},
                              .handlers = kc_controller_handlers(), .ud = s.ctl};
    kc_informer *inf = NULL;
    KCT_OK(kc_informer_start(c, &io, &inf, &err), &err);
    uint64_t end = kc_now_ns() + 20000000000ull;
    int done = 0;
    while (!done && kc_now_ns() < end) {
        kc_client_run_once(c, 20);
        done = 1;
        for (int i = 0; i < N; i++)
            if (s.runs[i] < (s.failures_left[i] ? 99 : 1) || s.active[i])
                done = 0;
        kc_workqueue_stats qs;
        kc_workqueue_get_stats(kc_controller_queue(s.ctl), &qs);
        if (qs.depth || qs.delayed)
            done = 0;
    }
    kc_controller_stats st;
    kc_controller_get_stats(s.ctl, &st);
    fprintf(stderr, "reconciles %llu (ok %llu, errors %llu), max parallel %d\n",
            (unsigned long long)st.reconciles, (unsigned long long)st.ok,
            (unsigned long long)st.errors, s.max_parallel);
    ck_assert_int_eq(s.overlaps, 0);
    ck_assert_int_eq(s.max_parallel, 4);
    ck_assert_int_eq(s.errors, 16);             /* 8 keys failed twice each */
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(s.failures_left[i], 0);
        ck_assert_int_ge(s.runs[i], i % 5 ? 1 : 3); /* then succeeded */
    }
    ck_assert_uint_eq(st.errors, 16);
    ck_assert_uint_ge(st.ok, N);
    ck_assert_uint_eq(st.time_count, st.reconciles);
    kc_controller_shutdown(s.ctl);
    while (!kc_controller_idle(s.ctl))
        kc_client_run_once(c, 20);
    kc_informer_stop(inf);
    kc_controller_free(s.ctl);
    kc_client_free(c);
    kc_config_free(cfg);
    free(ns);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("controller");
    TCase *tc = tcase_create("controller");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, reconcile_loop);
    suite_add_tcase(s, tc);
    return kct_run_suite(s);
}
