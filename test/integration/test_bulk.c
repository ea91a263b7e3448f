/* Integration: PatchStatusAll (kc_bulk) against the real local control
 * plane: 5,000 PodGroups, a mixed batch with every final outcome, dry run,
 * a 429 storm, and connections cut mid-batch through the fault proxy. */
#include <signal.h>
#include <sys/wait.h>

#include "kc_proxy.h"
#include "kc_test.h"
#include "kclient/bulk.h"

static const char *GROUP = "scheduling.x-k8s.io";

typedef struct results {
    int n;
    int by_outcome[KC_BULK_OUTCOME_COUNT];
    int max_attempts;
    char conflict_detail[512];
    char forbidden_msg[512];
    char notfound_msg[256];
} results;

static void collect(void *ud, const kc_bulk_result *r)
{
    results *x = ud;
    x->n++;
    x->by_outcome[r->outcome]++;
    if (r->attempts > x->max_attempts)
        x->max_attempts = r->attempts;
    if (r->outcome == KC_BULK_CONFLICT && r->error->ncauses)
        snprintf(x->conflict_detail, sizeof(x->conflict_detail), "%s|%s",
                 r->error->causes[0].field, r->error->causes[0].message);
    if (r->outcome == KC_BULK_FORBIDDEN)
        snprintf(x->forbidden_msg, sizeof(x->forbidden_msg), "%s", r->error->message);
    if (r->outcome == KC_BULK_NOT_FOUND)
        snprintf(x->notfound_msg, sizeof(x->notfound_msg), "%s", r->error->message);
}

/* Create n PodGroups pg-0..pg-(n-1) in ns, all in flight on the loop. */
typedef struct created {
    int done, failed;
} created;

static void on_created(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    (void)r;
    created *x = ud;
    x->done++;
    if (err->code != KC_OK)
        x->failed++;
}

static void create_podgroups(kc_client *c, const char *ns, int n, const char *label)
{
    created x = {0, 0};
    kc_error err = KC_ERROR_INIT;
    for (int i = 0; i < n; i++) {
        char *body = NULL;
        if (asprintf(&body,
                     "{\"apiVersion\":\"scheduling.x-k8s.io/v1alpha1\",\"kind\":\"PodGroup\","
                     "\"metadata\":{\"name\":\"pg-%d\",\"labels\":{\"batch\":\"%s\"}},"
                     "\"spec\":{\"minMember\":%d}}",
                     i, label, i % 7 + 1) < 0)
            abort();
        kc_request_spec spec = {.method = "POST",
                                .ref = {GROUP, "v1alpha1", "podgroups", ns, NULL, NULL},
                                .content_type = "application/json",
                                .body = body,
                                .body_len = strlen(body)};
        KCT_OK(kc_request_send(c, &spec, on_created, &x, NULL, &err), &err);
        free(body);
        if (i % 500 == 499)
            kc_client_run(c, 120000); /* keep the request queue modest */
    }
    kc_client_run(c, 300000);
    ck_assert_int_eq(x.done, n);
    ck_assert_int_eq(x.failed, 0);
}

static kc_bulk_options apply_opts(const char *ns, const char *patch, results *x)
{
    kc_bulk_options o = {.target = {GROUP, "v1alpha1", "podgroups", ns, NULL, NULL},
                         .kind = "PodGroup",
                         .type = KC_PATCH_APPLY,
                         .patch = patch,
                         .patch_len = strlen(patch),
                         .field_manager = "kclient-bulk-test",
                         .force = 1,
                         .concurrency = 32,
                         .on_result = collect,
                         .result_ud = x};
    return o;
}

typedef struct check_state {
    int n, wrong, unmanaged;
    const char *want_phase;
    const char *manager;
} check_state;

static int check_item(const cJSON *item, void *ud)
{
    check_state *s = ud;
    s->n++;
    const char *phase = kct_str(item, "status.phase");
    if (!phase || strcmp(phase, s->want_phase) != 0)
        s->wrong++;
    int managed = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(cJSON_GetObjectItem(item, "metadata"), "managedFields")) {
        const char *m = kct_str(e, "manager"), *sub = kct_str(e, "subresource");
        if (m && !strcmp(m, s->manager) && sub && !strcmp(sub, "status"))
            managed = 1;
    }
    s->unmanaged += !managed;
    return 0;
}

START_TEST(five_thousand_podgroups)
{
    enum { N = 5000 };
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client_options co = {.qps = -1};
    kc_client *c = kct_client(cfg, &co);
    char *ns = kct_namespace(c, "bulk5k");
    create_podgroups(c, ns, N, "big");
    results x = {0};
    kc_bulk_options o = apply_opts(ns, "{\"status\":{\"phase\":\"Running\",\"running\":3}}", &x);
    o.label_selector = "batch=big"; /* list pages, then patch */
    kc_bulk_summary sum;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_patch_status_all(c, &o, &sum, &err), &err);
    fprintf(stderr, "5000 podgroups: %.2fs, %.0f items/s, p50 %.1fms p99 %.1fms, %llu requests\n",
            sum.elapsed_s, sum.items_per_s, sum.p50_ms, sum.p99_ms,
            (unsigned long long)sum.requests);
    ck_assert_int_eq(x.n, N);
    ck_assert_int_eq(x.by_outcome[KC_BULK_OK], N);
    ck_assert_uint_eq(sum.counts[KC_BULK_OK], N);

    /* read every object back */
    check_state s = {0, 0, 0, "Running", "kclient-bulk-test"};
    kc_ref coll = {GROUP, "v1alpha1", "podgroups", ns, NULL, NULL};
    kc_list_opts lo = {.limit = 500};
    KCT_OK(kc_list_each(c, &coll, &lo, check_item, &s, NULL, &err), &err);
    ck_assert_int_eq(s.n, N);
    ck_assert_int_eq(s.wrong, 0);
    ck_assert_int_eq(s.unmanaged, 0);
    kc_client_free(c);
    kc_config_free(cfg);
    free(ns);
}
END_TEST

/* A Role letting the limited user patch podgroups/status in ns only. */
static void grant_limited(kc_client *admin, const char *ns)
{
    kc_error err = KC_ERROR_INIT;
    char *role = NULL, *binding = NULL;
    if (asprintf(&role, "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"Role\","
                        "\"metadata\":{\"name\":\"status-writer\",\"namespace\":\"%s\"},"
                        "\"rules\":[{\"apiGroups\":[\"scheduling.x-k8s.io\"],\"resources\":"
                        "[\"podgroups/status\"],\"verbs\":[\"patch\",\"get\"]}]}", ns) < 0 ||
        asprintf(&binding, "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":"
                           "\"RoleBinding\",\"metadata\":{\"name\":\"status-writer\","
                           "\"namespace\":\"%s\"},\"roleRef\":{\"apiGroup\":"
                           "\"rbac.authorization.k8s.io\",\"kind\":\"Role\",\"name\":"
                           "\"status-writer\"},\"subjects\":[{\"kind\":\"User\",\"name\":"
                           "\"limited\",\"apiGroup\":\"rbac.authorization.k8s.io\"}]}", ns) < 0)
        abort();
    cJSON *r = kct_json(role), *b = kct_json(binding);
    kc_ref rr = {"rbac.authorization.k8s.io", "v1", "roles", ns, NULL, NULL};
    kc_ref rb = {"rbac.authorization.k8s.io", "v1", "rolebindings", ns, NULL, NULL};
    KCT_OK(kc_create(admin, &rr, r, NULL, NULL, &err), &err);
    KCT_OK(kc_create(admin, &rb, b, NULL, NULL, &err), &err);
    cJSON_Delete(r);
    cJSON_Delete(b);
    free(role);
    free(binding);
}

typedef struct name_list {
    const char **ns;
    const char **names;
    int n, i;
} name_list;

static int next_from_list(void *ud, kc_bulk_item *item, kc_error *err)
{
    (void)err;
    name_list *l = ud;
    if (l->i >= l->n)
        return 0;
    item->namespace_ = l->ns[l->i];
    item->name = l->names[l->i];
    l->i++;
    return 1;
}

START_TEST(mixed_batch_outcomes)
{
    kc_config *acfg = kct_config(NULL, "kubeconfig");
    kc_client *admin = kct_client(acfg, NULL);
    char *ok_ns = kct_namespace(admin, "mixed-ok");
    char *no_ns = kct_namespace(admin, "mixed-no");
    create_podgroups(admin, ok_ns, 20, "mixed");
    create_podgroups(admin, no_ns, 5, "mixed");
    grant_limited(admin, ok_ns);
    /* pg-3 has its phase owned by another manager: a non-forced apply conflicts */
    const char *other = "{\"apiVersion\":\"scheduling.x-k8s.io/v1alpha1\",\"kind\":\"PodGroup\","
                        "\"metadata\":{\"name\":\"pg-3\"},\"status\":{\"phase\":\"Failed\"}}";
    kc_ref st = {GROUP, "v1alpha1", "podgroups", ok_ns, "pg-3", "status"};
    kc_write_opts wo = {.field_manager = "someone-else"};
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_patch(admin, &st, KC_PATCH_APPLY, other, strlen(other), &wo, NULL, &err), &err);

    const char *ns[32], *names[32];
    char buf[32][16];
    int n = 0;
    for (int i = 0; i < 20; i++) { /* 19 ok + 1 conflict */
        snprintf(buf[n], sizeof(buf[n]), "pg-%d", i);
        ns[n] = ok_ns, names[n] = buf[n], n++;
    }
    for (int i = 0; i < 3; i++) { /* missing */
        snprintf(buf[n], sizeof(buf[n]), "missing-%d", i);
        ns[n] = ok_ns, names[n] = buf[n], n++;
    }
    for (int i = 0; i < 5; i++) { /* forbidden */
        snprintf(buf[n], sizeof(buf[n]), "pg-%d", i);
        ns[n] = no_ns, names[n] = buf[n], n++;
    }
    name_list l = {ns, names, n, 0};
    kc_config *lcfg = kct_config(NULL, "limited.kubeconfig");
    kc_client *lim = kct_client(lcfg, NULL);
    results x = {0};
    kc_bulk_options o = apply_opts(ok_ns, "{\"status\":{\"phase\":\"Running\"}}", &x);
    o.force = 0;
    o.next = next_from_list;
    o.next_ud = &l;
    kc_bulk_summary sum;
    ck_assert_int_eq(kc_patch_status_all(lim, &o, &sum, &err), KC_EHTTP);
    ck_assert_int_eq(x.n, n);
    ck_assert_int_eq(x.by_outcome[KC_BULK_OK], 19);
    ck_assert_int_eq(x.by_outcome[KC_BULK_CONFLICT], 1);
    ck_assert_int_eq(x.by_outcome[KC_BULK_NOT_FOUND], 3);
    ck_assert_int_eq(x.by_outcome[KC_BULK_FORBIDDEN], 5);
    ck_assert_int_eq(x.max_attempts, 1); /* none of these is retried */
    ck_assert_msg(strstr(x.conflict_detail, ".status.phase|") != NULL, "%s", x.conflict_detail);
    ck_assert_msg(strstr(x.conflict_detail, "someone-else") != NULL, "%s", x.conflict_detail);
    ck_assert_msg(strstr(x.forbidden_msg, "User \"limited\" cannot patch resource \"podgroups/status\"") != NULL,
                  "%s", x.forbidden_msg);
    ck_assert_msg(strstr(x.notfound_msg, "not found") != NULL, "%s", x.notfound_msg);
    ck_assert_str_eq(err.message, "9 of 28 items failed");

    /* the conflicting object keeps the other manager's value */
    cJSON *pg3 = NULL;
    kc_ref one = {GROUP, "v1alpha1", "podgroups", ok_ns, "pg-3", NULL};
    KCT_OK(kc_get(admin, &one, &pg3, &err), &err);
    ck_assert_str_eq(kct_str(pg3, "status.phase"), "Failed");
    cJSON_Delete(pg3);
    kc_error_clear(&err);
    kc_client_free(lim);
    kc_config_free(lcfg);
    kc_client_free(admin);
    kc_config_free(acfg);
    free(ok_ns);
    free(no_ns);
}
END_TEST

START_TEST(dry_run_changes_nothing)
{
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client *c = kct_client(cfg, NULL);
    char *ns = kct_namespace(c, "bulkdry");
    create_podgroups(c, ns, 50, "dry");
    results x = {0};
    kc_bulk_options o = apply_opts(ns, "{\"status\":{\"phase\":\"Failed\"}}", &x);
    o.label_selector = "batch=dry";
    o.dry_run = 1;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_patch_status_all(c, &o, NULL, &err), &err);
    ck_assert_int_eq(x.by_outcome[KC_BULK_OK], 50);
    check_state s = {0, 0, 0, "Failed", "kclient-bulk-test"};
    kc_ref coll = {GROUP, "v1alpha1", "podgroups", ns, NULL, NULL};
    KCT_OK(kc_list_each(c, &coll, NULL, check_item, &s, NULL, &err), &err);
    ck_assert_int_eq(s.n, 50);
    ck_assert_int_eq(s.wrong, 50);     /* no phase was written */
    ck_assert_int_eq(s.unmanaged, 50); /* and no managedFields entry */
    kc_client_free(c);
    kc_config_free(cfg);
    free(ns);
}
END_TEST

START_TEST(merge_and_json_types_and_bad_input)
{
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client *c = kct_client(cfg, NULL);
    char *ns = kct_namespace(c, "bulktypes");
    create_podgroups(c, ns, 10, "types");
    results x = {0};
    kc_error err = KC_ERROR_INIT;
    kc_bulk_options o = apply_opts(ns, "{\"status\":{\"phase\":\"Scheduling\"}}", &x);
    o.type = KC_PATCH_MERGE;
    o.force = 0;
    o.label_selector = "batch=types";
    KCT_OK(kc_patch_status_all(c, &o, NULL, &err), &err);
    ck_assert_int_eq(x.by_outcome[KC_BULK_OK], 10);
    const char *jp = "[{\"op\":\"add\",\"path\":\"/status/running\",\"value\":4}]";
    o.type = KC_PATCH_JSON;
    o.patch = jp;
    o.patch_len = strlen(jp);
    KCT_OK(kc_patch_status_all(c, &o, NULL, &err), &err);
    ck_assert_int_eq(x.by_outcome[KC_BULK_OK], 20);
    check_state s = {0, 0, 0, "Scheduling", "kclient-bulk-test"};
    kc_ref coll = {GROUP, "v1alpha1", "podgroups", ns, NULL, NULL};
    KCT_OK(kc_list_each(c, &coll, NULL, check_item, &s, NULL, &err), &err);
    ck_assert_int_eq(s.wrong, 0);

    /* refused before any request */
    o.type = KC_PATCH_APPLY;
    o.field_manager = NULL;
    ck_assert_int_eq(kc_patch_status_all(c, &o, NULL, &err), KC_EINVAL);
    ck_assert_str_eq(err.message, "bulk: server-side apply needs a field manager");
    o.field_manager = "m";
    o.patch = "{not json";
    o.patch_len = strlen(o.patch);
    ck_assert_int_eq(kc_patch_status_all(c, &o, NULL, &err), KC_EINVAL);
    kc_error_clear(&err);
    kc_client_free(c);
    kc_config_free(cfg);
    free(ns);
}
END_TEST

START_TEST(deadline_reports_every_item)
{
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client *c = kct_client(cfg, NULL);
    char *ns = kct_namespace(c, "bulkdeadline");
    create_podgroups(c, ns, 200, "dl");
    const char *names[200], *nss[200];
    char buf[200][16];
    for (int i = 0; i < 200; i++) {
        snprintf(buf[i], sizeof(buf[i]), "pg-%d", i);
        names[i] = buf[i];
        nss[i] = ns;
    }
    name_list l = {nss, names, 200, 0};
    results x = {0};
    kc_bulk_options o = apply_opts(ns, "{\"status\":{\"phase\":\"Running\"}}", &x);
    o.next = next_from_list;
    o.next_ud = &l;
    o.qps = 20; /* 200 items at 20/s cannot finish in 1 s */
    o.burst = 1;
    o.deadline_ms = 1000;
    kc_bulk_summary sum;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_patch_status_all(c, &o, &sum, &err), KC_EHTTP);
    ck_assert_int_eq(x.n, 200); /* every item has a result */
    ck_assert_int_gt(x.by_outcome[KC_BULK_CANCELLED], 100);
    ck_assert_int_gt(x.by_outcome[KC_BULK_OK], 5);
    ck_assert_int_eq(x.by_outcome[KC_BULK_OK] + x.by_outcome[KC_BULK_CANCELLED], 200);
    ck_assert(sum.elapsed_s < 3.0);
    /* what was reported ok is really written */
    check_state s = {0, 0, 0, "Running", "kclient-bulk-test"};
    kc_ref coll = {GROUP, "v1alpha1", "podgroups", ns, NULL, NULL};
    KCT_OK(kc_list_each(c, &coll, NULL, check_item, &s, NULL, &err), &err);
    ck_assert_int_ge(200 - s.wrong, x.by_outcome[KC_BULK_OK]);
    kc_error_clear(&err);
    kc_client_free(c);
    kc_config_free(cfg);
    free(ns);
}
END_TEST

START_TEST(storm_429_all_written)
{
    enum { N = 1200 };
    kc_config *acfg = kct_config("KC_TEST_CLUSTER_THROTTLED", "kubeconfig");
    kc_client *admin = kct_client(acfg, NULL);
    char *ns = kct_namespace(admin, "bulkstorm");
    create_podgroups(admin, ns, N, "storm");
    kc_config *wcfg = kct_config("KC_TEST_CLUSTER_THROTTLED", "writer.kubeconfig");
    kc_client *w = kct_client(wcfg, NULL);
    results x = {0};
    kc_bulk_options o = apply_opts(ns, "{\"status\":{\"phase\":\"Running\",\"running\":9}}", &x);
    o.label_selector = "batch=storm";
    o.concurrency = 400; /* enough to overflow APF's queues, not just fill them */
    o.max_attempts = 60;
    kc_bulk_summary sum;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_patch_status_all(w, &o, &sum, &err), &err);
    fprintf(stderr, "storm: %d items, %llu requests, %llu answered 429, %llu retries, "
                    "concurrency low %d, %.1fs\n",
            N, (unsigned long long)sum.requests, (unsigned long long)sum.throttled,
            (unsigned long long)sum.retries, sum.min_concurrency, sum.elapsed_s);
    ck_assert_int_eq(x.by_outcome[KC_BULK_OK], N);
    ck_assert_msg(sum.throttled > 0, "no 429 provoked: the test proves nothing");
    ck_assert_uint_eq(sum.requests, N + sum.retries);
    ck_assert_int_lt(sum.min_concurrency, 400); /* adaptive: halved */
    check_state s = {0, 0, 0, "Running", "kclient-bulk-test"};
    kc_ref coll = {GROUP, "v1alpha1", "podgroups", ns, NULL, NULL};
    KCT_OK(kc_list_each(admin, &coll, NULL, check_item, &s, NULL, &err), &err);
    ck_assert_int_eq(s.n, N);
    ck_assert_int_eq(s.wrong, 0);
    kc_client_free(w);
    kc_config_free(wcfg);
    kc_client_free(admin);
    kc_config_free(acfg);
    free(ns);
}
END_TEST

typedef struct cutter {
    results x;
    kct_proxy *px;
    int cuts;
} cutter;

static void collect_and_cut(void *ud, const kc_bulk_result *r)
{
    cutter *c = ud;
    collect(&c->x, r);
    if (c->x.n % 150 == 0 && c->cuts < 3) { /* reset every connection, mid-batch */
        kct_proxy_ctl(c->px, "cut-once");
        c->cuts++;
    }
}

START_TEST(connections_cut_mid_batch)
{
    enum { N = 800 };
    kct_proxy px;
    kct_proxy_start(&px, kct_cluster_port(NULL));
    kc_config *acfg = kct_config(NULL, "kubeconfig");
    kc_client *admin = kct_client(acfg, NULL);
    char *ns = kct_namespace(admin, "bulkcut");
    create_podgroups(admin, ns, N, "cut");
    kc_config *pcfg = kct_config_via_proxy(NULL, "kubeconfig", &px);
    kc_client *c = kct_client(pcfg, NULL);
    cutter cut = {{0}, &px, 0};
    kc_bulk_options o = apply_opts(ns, "{\"status\":{\"phase\":\"Running\",\"running\":5}}", NULL);
    o.type = KC_PATCH_MERGE; /* merge: idempotent, so retried after a reset */
    o.force = 0;
    o.label_selector = "batch=cut";
    o.on_result = collect_and_cut;
    o.result_ud = &cut;
    kc_bulk_summary sum;
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_patch_status_all(c, &o, &sum, &err);
    fprintf(stderr, "cut: %d cuts, %llu requests, %llu retries, outcomes ok=%d transport=%d\n",
            cut.cuts, (unsigned long long)sum.requests, (unsigned long long)sum.retries,
            cut.x.by_outcome[KC_BULK_OK], cut.x.by_outcome[KC_BULK_TRANSPORT_ERROR]);
    if (rc != KC_OK)
        kct_fail_err("bulk through cuts", &err);
    ck_assert_int_eq(cut.cuts, 3);
    ck_assert_int_eq(cut.x.by_outcome[KC_BULK_OK], N);
    ck_assert_uint_gt(sum.retries, 0); /* the cuts did hit requests in flight */
    /* the final report matches what the server holds */
    check_state s = {0, 0, 0, "Running", "kclient-bulk-test"};
    kc_ref coll = {GROUP, "v1alpha1", "podgroups", ns, NULL, NULL};
    KCT_OK(kc_list_each(admin, &coll, NULL, check_item, &s, NULL, &err), &err);
    ck_assert_int_eq(s.n, N);
    ck_assert_int_eq(s.wrong, 0);
    kc_client_free(c);
    kc_config_free(pcfg);
    kc_client_free(admin);
    kc_config_free(acfg);
    kct_proxy_stop(&px);
    free(ns);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bulk");
    TCase *tc = tcase_create("bulk");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, five_thousand_podgroups);
    tcase_add_test(tc, mixed_batch_outcomes);
    tcase_add_test(tc, dry_run_changes_nothing);
    tcase_add_test(tc, merge_and_json_types_and_bad_input);
    tcase_add_test(tc, deadline_reports_every_item);
    tcase_add_test(tc, connections_cut_mid_batch);
    suite_add_tcase(s, tc);
    TCase *storm = tcase_create("storm");
    tcase_set_timeout(storm, 900);
    tcase_add_test(storm, storm_429_all_written);
    suite_add_tcase(s, storm);
    return kct_run_suite(s);
}
