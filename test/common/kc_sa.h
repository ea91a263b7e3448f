/* kc_sa.h - ServiceAccounts for the integration suites: users outside
 * system:masters made on the fly (their own API Priority and Fairness
 * flows, tokens that can be revoked), and kubeconfigs for them.  The
 * local control plane signs TokenRequest tokens (test/README-harness.md). */
#ifndef KC_SA_H
#define KC_SA_H

#include <curl/curl.h>

#include "kc_test.h"

/* Send a request as c and wait; fails the test unless it succeeds.
 * Returns the response body parsed (caller frees) or NULL when empty. */
typedef struct kct_sync {
    int done;
    kc_error err;
    cJSON *body;
    char *pf_priority_level;
} kct_sync;

static void kct_sync_done(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    kct_sync *s = ud;
    s->done = 1;
    kc_error_copy(&s->err, err);
    s->body = r->body_len ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
    s->pf_priority_level = r->pf_priority_level ? strdup(r->pf_priority_level) : NULL;
}

static inline cJSON *kct_send(kc_client *c, const char *method, const char *path,
                              const char *json_body)
{
    kc_request_spec spec = {.method = method,
                            .path = path,
                            .content_type = json_body ? "application/json" : NULL,
                            .body = json_body,
                            .body_len = json_body ? strlen(json_body) : 0};
    kct_sync s = {0, KC_ERROR_INIT, NULL, NULL};
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_request_send(c, &spec, kct_sync_done, &s, NULL, &err), &err);
    while (!s.done)
        kc_client_run_once(c, 100);
    if (s.err.code != KC_OK)
        kct_fail_err(path, &s.err);
    free(s.pf_priority_level);
    return s.body;
}

/* ServiceAccount ns/name, bound in ns to the ClusterRole role. */
static inline void kct_sa_create(kc_client *admin, const char *ns, const char *name,
                                 const char *role)
{
    char path[512], body[1024];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts", ns);
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":{\"name\":\"%s\"}}",
             name);
    cJSON_Delete(kct_send(admin, "POST", path, body));
    snprintf(path, sizeof(path), "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings",
             ns);
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"RoleBinding\","
             "\"metadata\":{\"name\":\"%s-%s\"},\"roleRef\":{\"apiGroup\":"
             "\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":\"%s\"},"
             "\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"%s\",\"namespace\":\"%s\"}]}",
             name, role, role, name, ns);
    cJSON_Delete(kct_send(admin, "POST", path, body));
}

/* A Secret ns/name (to bind tokens to); returns its uid (caller frees). */
static inline char *kct_secret_create(kc_client *admin, const char *ns, const char *name)
{
    char path[512], body[512];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets", ns);
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"%s\"},"
             "\"type\":\"Opaque\"}",
             name);
    cJSON *s = kct_send(admin, "POST", path, body);
    char *uid = strdup(kct_str(s, "metadata.uid"));
    cJSON_Delete(s);
    return uid;
}

/* A TokenRequest token for ns/sa (an hour), bound to the Secret
 * bound_secret (uid bound_uid) when given: deleting that Secret revokes it.
 * Caller frees. */
static inline char *kct_sa_token(kc_client *admin, const char *ns, const char *sa,
                                 const char *bound_secret, const char *bound_uid)
{
    char path[512], body[1024];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts/%s/token", ns, sa);
    if (bound_secret)
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\","
                 "\"spec\":{\"expirationSeconds\":3600,\"boundObjectRef\":{\"kind\":\"Secret\","
                 "\"apiVersion\":\"v1\",\"name\":\"%s\",\"uid\":\"%s\"}}}",
                 bound_secret, bound_uid);
    else
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\","
                 "\"spec\":{\"expirationSeconds\":3600}}");
    cJSON *tr = kct_send(admin, "POST", path, body);
    const char *tok = kct_str(tr, "status.token");
    ck_assert_msg(tok && *tok, "TokenRequest for %s/%s gave no token", ns, sa);
    char *out = strdup(tok);
    cJSON_Delete(tr);
    return out;
}

/* Kubeconfig text for the cluster of env (its CA file and port) with a
 * user given by `user_yaml` (e.g. "{token: 'abc'}" or "{tokenFile: '/x'}").
 * Caller frees. */
static inline char *kct_kubeconfig_for(const char *env, const char *user_yaml)
{
    char *ca = kct_path(kct_dir(env), "ca.crt");
    char *yaml = NULL;
    char port[32];
    char *pf = kct_path(kct_dir(env), "port");
    FILE *f = fopen(pf, "r");
    ck_assert_msg(f && fscanf(f, "%31s", port) == 1, "cannot read %s", pf);
    fclose(f);
    free(pf);
    if (asprintf(&yaml,
                 "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                 "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:%s', "
                 "certificate-authority: '%s'}}]\n"
                 "users: [{name: u, user: %s}]\n"
                 "contexts: [{name: c, context: {cluster: k, user: u, namespace: default}}]\n",
                 port, ca, user_yaml) < 0)
        abort();
    free(ca);
    return yaml;
}

static inline kc_config *kct_config_text(const char *yaml, const char *origin)
{
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_config_from_buffer(yaml, strlen(yaml), origin, NULL, NULL, &cfg, &err), &err);
    return cfg;
}

/* A config for env's cluster authenticating with a bearer token. */
static inline kc_config *kct_config_token(const char *env, const char *token)
{
    char user[4096];
    snprintf(user, sizeof(user), "{token: '%s'}", token);
    char *yaml = kct_kubeconfig_for(env, user);
    kc_config *cfg = kct_config_text(yaml, "test kubeconfig");
    free(yaml);
    return cfg;
}

/* The HTTP status of GET path with a bare libcurl handle and this bearer
 * token (the thing under test must not grade itself): 200, 401, ... */
static size_t kct_sa_discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static inline long kct_raw_status(const char *env, const char *token, const char *path)
{
    char url[1024], auth[4096];
    char *ca = kct_path(kct_dir(env), "ca.crt");
    char *pf = kct_path(kct_dir(env), "port");
    FILE *f = fopen(pf, "r");
    int port = 0;
    ck_assert_msg(f && fscanf(f, "%d", &port) == 1, "cannot read %s", pf);
    fclose(f);
    free(pf);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", port, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, kct_sa_discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    free(ca);
    return rc == CURLE_OK ? status : -1;
}

#endif
