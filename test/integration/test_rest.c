/* Integration: generic REST, discovery, auth and TLS against the real local
 * control plane (test/local-cluster), as the admin and the limited user. */
#include "kc_test.h"

static kc_config *cfg;
static kc_client *cl;
static char *ns;

static const char *PG_GROUP = "scheduling.x-k8s.io";

static void setup(void)
{
    cfg = kct_config(NULL, "kubeconfig");
    cl = kct_client(cfg, NULL);
    ns = kct_namespace(cl, "rest");
}

static void teardown(void)
{
    kc_client_free(cl);
    kc_config_free(cfg);
    free(ns);
}

static cJSON *configmap(const char *name, const char *value)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddStringToObject(o, "kind", "ConfigMap");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "metadata"), "name", name);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "data"), "k", value);
    return o;
}

static cJSON *podgroup(const char *name, int min_member)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "scheduling.x-k8s.io/v1alpha1");
    cJSON_AddStringToObject(o, "kind", "PodGroup");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "metadata"), "name", name);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(o, "spec"), "minMember", min_member);
    return o;
}

static kc_ref cm_ref(const char *name)
{
    return (kc_ref){NULL, "v1", "configmaps", ns, name, NULL};
}

static kc_ref pg_ref(const char *name, const char *sub)
{
    return (kc_ref){PG_GROUP, "v1alpha1", "podgroups", ns, name, sub};
}

static void create_pg(const char *name)
{
    kc_error err = KC_ERROR_INIT;
    cJSON *pg = podgroup(name, 3);
    kc_ref ref = pg_ref(NULL, NULL);
    KCT_OK(kc_create(cl, &ref, pg, NULL, NULL, &err), &err);
    cJSON_Delete(pg);
}

START_TEST(configmap_crud)
{
    kc_error err = KC_ERROR_INIT;
    kc_ref coll = cm_ref(NULL), one = cm_ref("cm1");
    cJSON *obj = configmap("cm1", "v1"), *created = NULL, *got = NULL, *updated = NULL;
    KCT_OK(kc_create(cl, &coll, obj, NULL, &created, &err), &err);
    ck_assert_str_eq(kct_str(created, "data.k"), "v1");
    KCT_OK(kc_get(cl, &one, &got, &err), &err);
    ck_assert_str_eq(kct_str(got, "metadata.uid"), kct_str(created, "metadata.uid"));

    /* update with the current resourceVersion, then with the stale one */
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(got, "data"), "k", cJSON_CreateString("v2"));
    KCT_OK(kc_update(cl, &one, got, NULL, &updated, &err), &err);
    ck_assert_str_eq(kct_str(updated, "data.k"), "v2");
    ck_assert_int_eq(kc_update(cl, &one, got, NULL, NULL, &err), KC_EHTTP);
    ck_assert_int_eq(err.http_status, 409);
    ck_assert_str_eq(err.reason, "Conflict");
    ck_assert_ptr_nonnull(strstr(err.message, "the object has been modified"));
    ck_assert_int_eq(err.attempts, 1); /* 409 is never retried */

    kc_delete_opts dopts = KC_DELETE_OPTS_INIT;
    dopts.precondition_uid = kct_str(created, "metadata.uid");
    KCT_OK(kc_delete(cl, &one, &dopts, NULL, &err), &err);
    cJSON *gone = NULL;
    ck_assert_int_eq(kc_get(cl, &one, &gone, &err), KC_EHTTP);
    ck_assert_ptr_null(gone);
    ck_assert_int_eq(err.http_status, 404);
    ck_assert_str_eq(err.reason, "NotFound");
    ck_assert_str_eq(err.message, "configmaps \"cm1\" not found");
    kc_error_clear(&err);
    cJSON_Delete(obj);
    cJSON_Delete(created);
    cJSON_Delete(got);
    cJSON_Delete(updated);
}
END_TEST

START_TEST(crd_object_crud)
{
    kc_error err = KC_ERROR_INIT;
    create_pg("pg-crud");
    kc_ref one = pg_ref("pg-crud", NULL);
    cJSON *got = NULL;
    KCT_OK(kc_get(cl, &one, &got, &err), &err);
    ck_assert_int_eq((int)kct_num(got, "spec.minMember"), 3);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(got, "spec"), "minMember", cJSON_CreateNumber(5));
    cJSON *upd = NULL;
    KCT_OK(kc_update(cl, &one, got, NULL, &upd, &err), &err);
    ck_assert_int_eq((int)kct_num(upd, "spec.minMember"), 5);
    KCT_OK(kc_delete(cl, &one, NULL, NULL, &err), &err);
    ck_assert_int_eq(kc_get(cl, &one, NULL, &err), KC_EHTTP);
    ck_assert_int_eq(err.http_status, 404);
    kc_error_clear(&err);
    cJSON_Delete(got);
    cJSON_Delete(upd);
}
END_TEST

typedef struct batch {
    int done, failed;
    kc_error first;
} batch;

static void batch_done(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    (void)r;
    batch *b = ud;
    b->done++;
    if (err->code != KC_OK && b->failed++ == 0)
        kc_error_copy(&b->first, err);
}

START_TEST(list_paging_1200)
{
    enum { N = 1200 };
    kc_error err = KC_ERROR_INIT;
    batch b = {0, 0, KC_ERROR_INIT};
    for (int i = 0; i < N; i++) { /* all in flight at once on the one loop */
        char name[32], *body;
        snprintf(name, sizeof(name), "page-%04d", i);
        cJSON *o = configmap(name, name);
        body = cJSON_PrintUnformatted(o);
        kc_request_spec spec = {.method = "POST",
                                .ref = cm_ref(NULL),
                                .content_type = "application/json",
                                .body = body,
                                .body_len = strlen(body)};
        KCT_OK(kc_request_send(cl, &spec, batch_done, &b, NULL, &err), &err);
        free(body);
        cJSON_Delete(o);
    }
    kc_client_run(cl, 120000);
    ck_assert_int_eq(b.done, N);
    if (b.failed)
        kct_fail_err("create", &b.first);

    /* walk the pages by hand: 12 pages of 100 */
    int pages = 0, items = 0;
    char *cont = NULL;
    do {
        kc_list_opts lo = {.limit = 100, .continue_token = cont, .label_selector = NULL};
        cJSON *page = NULL;
        kc_ref coll = cm_ref(NULL);
        KCT_OK(kc_list(cl, &coll, &lo, &page, &err), &err);
        pages++;
        items += cJSON_GetArraySize(cJSON_GetObjectItem(page, "items"));
        free(cont);
        const char *next = kct_str(page, "metadata.continue");
        cont = next && *next ? strdup(next) : NULL;
        cJSON_Delete(page);
    } while (cont);
    ck_assert_int_eq(items, N); /* no controller-manager: no kube-root-ca.crt here */
    ck_assert_int_eq(pages, N / 100);
}
END_TEST

static int count_item(const cJSON *item, void *ud)
{
    (void)item;
    (*(int *)ud)++;
    return 0;
}

START_TEST(list_each_and_selectors)
{
    kc_error err = KC_ERROR_INIT;
    kc_ref coll = cm_ref(NULL);
    for (int i = 0; i < 30; i++) {
        char name[32];
        snprintf(name, sizeof(name), "sel-%02d", i);
        cJSON *o = configmap(name, "x");
        cJSON *labels = cJSON_AddObjectToObject(cJSON_GetObjectItem(o, "metadata"), "labels");
        cJSON_AddStringToObject(labels, "parity", i % 2 ? "odd" : "even");
        KCT_OK(kc_create(cl, &coll, o, NULL, NULL, &err), &err);
        cJSON_Delete(o);
    }
    int n = 0;
    char *rv = NULL;
    kc_list_opts lo = {.limit = 4, .label_selector = "parity=odd"};
    KCT_OK(kc_list_each(cl, &coll, &lo, count_item, &n, &rv, &err), &err);
    ck_assert_int_eq(n, 15);
    ck_assert_ptr_nonnull(rv);
    ck_assert_int_gt(atol(rv), 0);
    free(rv);
    n = 0;
    kc_list_opts fo = {.field_selector = "metadata.name=sel-07"};
    KCT_OK(kc_list_each(cl, &coll, &fo, count_item, &n, NULL, &err), &err);
    ck_assert_int_eq(n, 1);
    kc_error_clear(&err);
}
END_TEST

static cJSON *get_pg(const char *name)
{
    kc_error err = KC_ERROR_INIT;
    cJSON *o = NULL;
    kc_ref r = pg_ref(name, NULL);
    KCT_OK(kc_get(cl, &r, &o, &err), &err);
    return o;
}

/* The managedFields entry of manager, or NULL. */
static const cJSON *managed_entry(const cJSON *obj, const char *manager)
{
    const cJSON *mf = cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "managedFields");
    const cJSON *e;
    cJSON_ArrayForEach(e, mf) {
        const char *m = kct_str(e, "manager");
        if (m && !strcmp(m, manager))
            return e;
    }
    return NULL;
}

START_TEST(status_patches_all_types)
{
    kc_error err = KC_ERROR_INIT;
    create_pg("pg-status");
    kc_ref st = pg_ref("pg-status", "status");
    const char *merge = "{\"status\":{\"phase\":\"Scheduling\",\"running\":1}}";
    KCT_OK(kc_patch(cl, &st, KC_PATCH_MERGE, merge, strlen(merge), NULL, NULL, &err), &err);
    cJSON *o = get_pg("pg-status");
    ck_assert_str_eq(kct_str(o, "status.phase"), "Scheduling");
    cJSON_Delete(o);

    const char *jp = "[{\"op\":\"replace\",\"path\":\"/status/running\",\"value\":2},"
                     "{\"op\":\"add\",\"path\":\"/status/succeeded\",\"value\":7}]";
    KCT_OK(kc_patch(cl, &st, KC_PATCH_JSON, jp, strlen(jp), NULL, NULL, &err), &err);
    o = get_pg("pg-status");
    ck_assert_int_eq((int)kct_num(o, "status.running"), 2);
    ck_assert_int_eq((int)kct_num(o, "status.succeeded"), 7);
    cJSON_Delete(o);

    cJSON *ap = kct_json("{\"apiVersion\":\"scheduling.x-k8s.io/v1alpha1\",\"kind\":\"PodGroup\","
                         "\"metadata\":{\"name\":\"pg-status\"},"
                         "\"status\":{\"phase\":\"Running\",\"failed\":1}}");
    kc_write_opts wo = {.field_manager = "kclient-test", .force = 1};
    cJSON *out = NULL;
    KCT_OK(kc_apply(cl, &st, ap, &wo, &out, &err), &err);
    ck_assert_str_eq(kct_str(out, "status.phase"), "Running");
    ck_assert_int_eq((int)kct_num(out, "spec.minMember"), 3); /* status only */
    cJSON_Delete(out);
    o = get_pg("pg-status");
    const cJSON *mine = managed_entry(o, "kclient-test");
    ck_assert_ptr_nonnull(mine);
    ck_assert_str_eq(kct_str(mine, "operation"), "Apply");
    ck_assert_str_eq(kct_str(mine, "subresource"), "status");
    cJSON_Delete(o);
    cJSON_Delete(ap);

    /* strategic merge: refused on a CRD, clearly */
    const char *smp = "{\"status\":{\"phase\":\"Failed\"}}";
    ck_assert_int_eq(kc_patch(cl, &st, KC_PATCH_STRATEGIC, smp, strlen(smp), NULL, NULL, &err),
                     KC_EHTTP);
    ck_assert_int_eq(err.http_status, 415);
    ck_assert_str_eq(err.reason, "UnsupportedMediaType");
    ck_assert_ptr_nonnull(strstr(err.message, "application/merge-patch+json"));
    kc_error_clear(&err);
}
END_TEST

START_TEST(strategic_merge_on_builtin)
{
    kc_error err = KC_ERROR_INIT;
    kc_ref coll = cm_ref(NULL), one = cm_ref("smp");
    cJSON *o = configmap("smp", "a");
    KCT_OK(kc_create(cl, &coll, o, NULL, NULL, &err), &err);
    const char *p = "{\"data\":{\"k2\":\"b\"}}";
    cJSON *out = NULL;
    KCT_OK(kc_patch(cl, &one, KC_PATCH_STRATEGIC, p, strlen(p), NULL, &out, &err), &err);
    ck_assert_str_eq(kct_str(out, "data.k"), "a");
    ck_assert_str_eq(kct_str(out, "data.k2"), "b");
    cJSON_Delete(o);
    cJSON_Delete(out);
}
END_TEST

START_TEST(apply_conflict_then_force)
{
    kc_error err = KC_ERROR_INIT;
    create_pg("pg-conflict");
    kc_ref st = pg_ref("pg-conflict", "status");
    cJSON *a = kct_json("{\"apiVersion\":\"scheduling.x-k8s.io/v1alpha1\",\"kind\":\"PodGroup\","
                        "\"metadata\":{\"name\":\"pg-conflict\"},\"status\":{\"phase\":\"Running\"}}");
    cJSON *b = kct_json("{\"apiVersion\":\"scheduling.x-k8s.io/v1alpha1\",\"kind\":\"PodGroup\","
                        "\"metadata\":{\"name\":\"pg-conflict\"},\"status\":{\"phase\":\"Pending\"}}");
    kc_write_opts wa = {.field_manager = "manager-a"}, wb = {.field_manager = "manager-b"};
    KCT_OK(kc_apply(cl, &st, a, &wa, NULL, &err), &err);
    ck_assert_int_eq(kc_apply(cl, &st, b, &wb, NULL, &err), KC_EHTTP);
    ck_assert_int_eq(err.http_status, 409);
    ck_assert(kc_error_is_field_conflict(&err));
    ck_assert_str_eq(err.causes[0].field, ".status.phase");
    ck_assert_ptr_nonnull(strstr(err.causes[0].message, "manager-a"));
    ck_assert_int_eq(err.attempts, 1);
    char line[1024];
    kc_error_format(&err, line, sizeof(line));
    ck_assert_ptr_nonnull(strstr(line, "FieldManagerConflict .status.phase"));

    /* apply without a field manager is refused by kclient before sending */
    kc_write_opts none = {0};
    ck_assert_int_eq(kc_apply(cl, &st, b, &none, NULL, &err), KC_EINVAL);

    wb.force = 1;
    cJSON *out = NULL;
    KCT_OK(kc_apply(cl, &st, b, &wb, &out, &err), &err);
    ck_assert_str_eq(kct_str(out, "status.phase"), "Pending");
    ck_assert_ptr_nonnull(managed_entry(out, "manager-b"));
    cJSON_Delete(out);
    cJSON_Delete(a);
    cJSON_Delete(b);
    kc_error_clear(&err);
}
END_TEST

START_TEST(server_refuses_apply_without_manager)
{
    /* bypass kclient's own check to see the server's 422, parsed */
    kc_error err = KC_ERROR_INIT;
    create_pg("pg-nomgr");
    const char *body = "{\"apiVersion\":\"scheduling.x-k8s.io/v1alpha1\",\"kind\":\"PodGroup\","
                       "\"metadata\":{\"name\":\"pg-nomgr\"}}";
    kc_request_spec spec = {.method = "PATCH",
                            .ref = pg_ref("pg-nomgr", NULL),
                            .content_type = "application/apply-patch+yaml",
                            .body = body,
                            .body_len = strlen(body)};
    batch b = {0, 0, KC_ERROR_INIT};
    KCT_OK(kc_request_send(cl, &spec, batch_done, &b, NULL, &err), &err);
    kc_client_run(cl, 30000);
    ck_assert_int_eq(b.failed, 1);
    ck_assert_int_eq(b.first.http_status, 422);
    ck_assert_str_eq(b.first.reason, "Invalid");
    ck_assert_str_eq(b.first.causes[0].reason, "FieldValueRequired");
    ck_assert_str_eq(b.first.causes[0].field, "fieldManager");
    kc_error_clear(&b.first);
}
END_TEST

START_TEST(dry_run_writes_nothing)
{
    kc_error err = KC_ERROR_INIT;
    kc_ref coll = cm_ref(NULL), one = cm_ref("dry");
    cJSON *o = configmap("dry", "a"), *out = NULL;
    kc_write_opts dry = {.dry_run = 1};
    KCT_OK(kc_create(cl, &coll, o, &dry, &out, &err), &err);
    ck_assert_str_eq(kct_str(out, "metadata.name"), "dry");
    cJSON_Delete(out);
    ck_assert_int_eq(kc_get(cl, &one, NULL, &err), KC_EHTTP);
    ck_assert_int_eq(err.http_status, 404);

    create_pg("pg-dry");
    kc_ref st = pg_ref("pg-dry", "status");
    const char *merge = "{\"status\":{\"phase\":\"Failed\"}}";
    KCT_OK(kc_patch(cl, &st, KC_PATCH_MERGE, merge, strlen(merge), &dry, &out, &err), &err);
    ck_assert_str_eq(kct_str(out, "status.phase"), "Failed"); /* what it would be */
    cJSON_Delete(out);
    cJSON *now = get_pg("pg-dry");
    ck_assert_ptr_null(kct_str(now, "status.phase"));
    cJSON_Delete(now);

    kc_delete_opts dd = KC_DELETE_OPTS_INIT;
    dd.dry_run = 1;
    kc_ref pg = pg_ref("pg-dry", NULL);
    KCT_OK(kc_delete(cl, &pg, &dd, NULL, &err), &err);
    now = get_pg("pg-dry");
    cJSON_Delete(now);
    cJSON_Delete(o);
    kc_error_clear(&err);
}
END_TEST

static void expect_resolves(const char *name, const char *group, const char *resource,
                            int namespaced, int has_status)
{
    kc_error err = KC_ERROR_INIT;
    kc_resource_info info;
    KCT_OK(kc_discovery_resolve(cl, name, &info, &err), &err);
    ck_assert_str_eq(info.group, group);
    ck_assert_str_eq(info.resource, resource);
    ck_assert_int_eq(info.namespaced, namespaced);
    ck_assert_int_eq(info.has_status, has_status);
    kc_resource_info_clear(&info);
}

START_TEST(discovery_names)
{
    /* crds/ installs scheduler-plugins' and Volcano's PodGroups, copies of
     * upstream's: both serve "podgroups" with the short name "pg". A bare
     * "podgroups" or "pg" is ambiguous and, as with kubectl, the server's
     * discovery order decides (Volcano's group sorts first); the short names
     * of one flavour only and the qualified names are exact */
    const char *ambiguous[] = {"pg", "podgroups", "podgroup", "PodGroup"};
    for (size_t i = 0; i < sizeof(ambiguous) / sizeof(ambiguous[0]); i++) {
        kc_resource_info amb;
        kc_error e2 = KC_ERROR_INIT;
        KCT_OK(kc_discovery_resolve(cl, ambiguous[i], &amb, &e2), &e2);
        ck_assert_msg(!strcmp(amb.group, PG_GROUP) || !strcmp(amb.group, "scheduling.volcano.sh"),
                      "%s resolved to group %s", ambiguous[i], amb.group);
        ck_assert_str_eq(amb.resource, "podgroups");
        kc_resource_info_clear(&amb);
    }
    expect_resolves("pgs", PG_GROUP, "podgroups", 1, 1);
    expect_resolves("podgroup-v1beta1", "scheduling.volcano.sh", "podgroups", 1, 0);
    expect_resolves("podgroups.scheduling.volcano.sh", "scheduling.volcano.sh", "podgroups", 1, 0);
    expect_resolves("podgroups.scheduling.x-k8s.io", PG_GROUP, "podgroups", 1, 1);
    expect_resolves("podgroups.v1alpha1.scheduling.x-k8s.io", PG_GROUP, "podgroups", 1, 1);
    expect_resolves("cm", "", "configmaps", 1, 0);
    expect_resolves("deploy", "apps", "deployments", 1, 1);
    expect_resolves("ns", "", "namespaces", 0, 1);
    kc_error err = KC_ERROR_INIT;
    kc_resource_info info;
    ck_assert_int_eq(kc_discovery_resolve(cl, "nosuchthings", &info, &err), KC_ENOTFOUND);
    ck_assert_str_eq(err.message, "the server doesn't have a resource type \"nosuchthings\"");
    kc_error_clear(&err);
}
END_TEST

START_TEST(limited_user_forbidden)
{
    kc_config *lc = kct_config(NULL, "limited.kubeconfig");
    kc_client *lim = kct_client(lc, NULL);
    kc_error err = KC_ERROR_INIT;
    kc_ref coll = cm_ref(NULL);
    cJSON *o = configmap("nope", "x");
    ck_assert_int_eq(kc_create(lim, &coll, o, NULL, NULL, &err), KC_EHTTP);
    ck_assert_int_eq(err.http_status, 403);
    ck_assert_str_eq(err.reason, "Forbidden");
    ck_assert_ptr_nonnull(strstr(err.message, "User \"limited\" cannot create resource "
                                              "\"configmaps\""));
    ck_assert_int_eq(err.attempts, 1);
    /* reading is allowed (view) */
    KCT_OK(kc_list(lim, &coll, NULL, NULL, &err), &err);
    cJSON_Delete(o);
    kc_error_clear(&err);
    kc_client_free(lim);
    kc_config_free(lc);
}
END_TEST

/* Who the server thinks we are (SelfSubjectReview). */
static char *whoami(kc_client *c)
{
    kc_error err = KC_ERROR_INIT;
    cJSON *ssr = kct_json("{\"apiVersion\":\"authentication.k8s.io/v1\","
                          "\"kind\":\"SelfSubjectReview\"}");
    cJSON *out = NULL;
    kc_ref ref = {"authentication.k8s.io", "v1", "selfsubjectreviews", NULL, NULL, NULL};
    KCT_OK(kc_create(c, &ref, ssr, NULL, &out, &err), &err);
    char *user = strdup(kct_str(out, "status.userInfo.username"));
    cJSON_Delete(ssr);
    cJSON_Delete(out);
    return user;
}

static void expect_user(const char *kubeconfig, const char *user)
{
    kc_config *c2 = kct_config(NULL, kubeconfig);
    kc_client *k = kct_client(c2, NULL);
    char *who = whoami(k);
    ck_assert_str_eq(who, user);
    free(who);
    kc_client_free(k);
    kc_config_free(c2);
}

START_TEST(auth_methods)
{
    expect_user("kubeconfig", "admin");
    expect_user("tokenfile.kubeconfig", "admin");
    expect_user("cert.kubeconfig", "certuser");
    expect_user("cert-data.kubeconfig", "certuser");
    expect_user("limited.kubeconfig", "limited");
}
END_TEST

START_TEST(wrong_ca_fails_tls)
{
    /* the client CA is a real CA, just not the one that signed the server */
    const char *dir = kct_dir(NULL);
    char *yaml = NULL;
    char *wrong_ca = kct_path(dir, "client-ca.crt");
    if (asprintf(&yaml,
                 "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                 "clusters: [{name: x, cluster: {server: '%s', certificate-authority: '%s'}}]\n"
                 "users: [{name: u, user: {token: secret-token-not-to-leak}}]\n"
                 "contexts: [{name: c, context: {cluster: x, user: u}}]\n",
                 kc_config_server(cfg), wrong_ca) < 0)
        abort();
    kc_config *bad = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_config_from_buffer(yaml, strlen(yaml), "wrong-ca", NULL, NULL, &bad, &err), &err);
    kc_client *k = kct_client(bad, NULL);
    ck_assert_int_eq(kc_get_raw(k, "/version", NULL, NULL, &err), KC_ETRANSPORT);
    char line[1024];
    kc_error_format(&err, line, sizeof(line));
    ck_assert_msg(strstr(line, "TLS verification of https://127.0.0.1:") != NULL, "%s", line);
    ck_assert_msg(strstr(line, "certificate") != NULL, "%s", line);
    ck_assert_msg(strstr(line, "secret-token-not-to-leak") == NULL, "%s", line);
    ck_assert_int_eq(err.attempts, 1); /* not retried: no retry can cure it */
    kc_error_clear(&err);
    kc_client_free(k);
    kc_config_free(bad);
    free(yaml);
    free(wrong_ca);
}
END_TEST

START_TEST(raw_get_and_http2)
{
    kc_error err = KC_ERROR_INIT;
    char *body = NULL;
    size_t len = 0;
    KCT_OK(kc_get_raw(cl, "/version", &body, &len, &err), &err);
    cJSON *v = cJSON_ParseWithLength(body, len);
    ck_assert_ptr_nonnull(kct_str(v, "gitVersion"));
    cJSON_Delete(v);
    free(body);
    kc_client_stats st;
    kc_client_get_stats(cl, &st);
    ck_assert_uint_ge(st.responses_2xx, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rest");
    TCase *tc = tcase_create("rest");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, configmap_crud);
    tcase_add_test(tc, crd_object_crud);
    tcase_add_test(tc, list_paging_1200);
    tcase_add_test(tc, list_each_and_selectors);
    tcase_add_test(tc, status_patches_all_types);
    tcase_add_test(tc, strategic_merge_on_builtin);
    tcase_add_test(tc, apply_conflict_then_force);
    tcase_add_test(tc, server_refuses_apply_without_manager);
    tcase_add_test(tc, dry_run_writes_nothing);
    tcase_add_test(tc, discovery_names);
    tcase_add_test(tc, limited_user_forbidden);
    tcase_add_test(tc, auth_methods);
    tcase_add_test(tc, wrong_ca_fails_tls);
    tcase_add_test(tc, raw_get_and_http2);
    suite_add_tcase(s, tc);
    return kct_run_suite(s);
}
