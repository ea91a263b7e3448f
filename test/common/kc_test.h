/* kc_test.h - helpers shared by the integration suites: where the local
 * control plane is, clients for its users, fresh namespaces. */
#ifndef KC_TEST_H
#define KC_TEST_H

#include <cJSON.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kclient/kclient.h"

/* The cluster directory written by test/local-cluster (env KC_TEST_CLUSTER,
 * or KC_TEST_CLUSTER_<NAME> for a second one). */
static inline const char *kct_dir(const char *env)
{
    const char *d = getenv(env ? env : "KC_TEST_CLUSTER");
    if (!d) {
        fprintf(stderr, "%s is not set: run through ctest (it starts the cluster)\n",
                env ? env : "KC_TEST_CLUSTER");
        exit(1);
    }
    return d;
}

static inline char *kct_path(const char *dir, const char *file)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, file) < 0)
        abort();
    return p;
}

static inline kc_config *kct_config_file(const char *path)
{
    kc_config_options o = {.kubeconfig = path};
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    if (kc_config_load(&o, &cfg, &err) != KC_OK) {
        char line[1024];
        kc_error_format(&err, line, sizeof(line));
        ck_abort_msg("load %s: %s", path, line);
    }
    kc_error_clear(&err);
    return cfg;
}

/* Config for one of the cluster's kubeconfigs ("kubeconfig", "limited.kubeconfig", ...). */
static inline kc_config *kct_config(const char *env, const char *file)
{
    char *p = kct_path(kct_dir(env), file);
    kc_config *cfg = kct_config_file(p);
    free(p);
    return cfg;
}

static inline kc_client *kct_client(kc_config *cfg, const kc_client_options *o)
{
    kc_client *c = NULL;
    kc_error err = KC_ERROR_INIT;
    ck_assert_msg(kc_client_new(cfg, o, &c, &err) == KC_OK, "client: %s", err.message);
    kc_error_clear(&err);
    return c;
}

static inline void kct_fail_err(const char *what, const kc_error *err)
{
    char line[2048];
    kc_error_format(err, line, sizeof(line));
    ck_abort_msg("%s: %s", what, line);
}

#define KCT_OK(call, errp)                                                                     \
    do {                                                                                       \
        if ((call) != KC_OK)                                                                   \
            kct_fail_err(#call, (errp));                                                       \
    } while (0)

static inline cJSON *kct_json(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j != NULL, "bad JSON in test: %s", text);
    return j;
}

/* A new namespace named prefix-<pid>-<n>.  (Namespaces are not removed: the
 * local control plane runs no namespace controller to finish a delete.) */
static inline char *kct_namespace(kc_client *c, const char *prefix)
{
    static int n; /* test-local counter */
    char *name = NULL;
    if (asprintf(&name, "%s-%d-%d", prefix, (int)getpid(), ++n) < 0)
        abort();
    cJSON *ns = cJSON_CreateObject();
    cJSON_AddStringToObject(ns, "apiVersion", "v1");
    cJSON_AddStringToObject(ns, "kind", "Namespace");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(ns, "metadata"), "name", name);
    kc_error err = KC_ERROR_INIT;
    kc_ref ref = {NULL, "v1", "namespaces", NULL, NULL, NULL};
    KCT_OK(kc_create(c, &ref, ns, NULL, NULL, &err), &err);
    cJSON_Delete(ns);
    return name;
}

static inline const char *kct_str(const cJSON *obj, const char *path)
{
    /* dotted path lookup: "metadata.resourceVersion" */
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    const cJSON *cur = obj;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
         tok = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

static inline double kct_num(const cJSON *obj, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    const cJSON *cur = obj;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
         tok = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    return cJSON_IsNumber(cur) ? cur->valuedouble : -1e300;
}

/* A case that a reported, not yet fixed library bug still breaks: run only
 * with KC_TEST_KNOWN_BUGS=1, otherwise named on stderr as not run, so the
 * suite stays a true signal for everything else and the case is one
 * variable away.  Fixing the bug means turning this back into
 * tcase_add_test. */
#define kct_add_known_bug(tc, fn, id) kct_add_known_bug_((tc), (fn), #fn, (id))
static inline void kct_add_known_bug_(TCase *tc, const TTest *t, const char *name, const char *id)
{
    const char *on = getenv("KC_TEST_KNOWN_BUGS");
    if (on && *on && strcmp(on, "0") != 0) {
        tcase_add_test(tc, t);
        return;
    }
    fprintf(stderr, "known library bug %s: case %s not run (KC_TEST_KNOWN_BUGS=1 runs it)\n", id, name);
}

static inline int kct_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
