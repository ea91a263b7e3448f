/* test_config.c - kubeconfig loading, merging, in-cluster, credentials. */
#include <check.h>
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "config_internal.h"
#include "exec_credential.h"
#include "kclient/client.h"
#include "kclient/config.h"
#include "util.h"

#define DATA KC_TEST_DATA "/kubeconfig"
#define PLUGIN KC_TEST_DATA "/exec/credential.sh"
#define STATIC_TOKEN "s3cr3t-static-token"
#define PASSWORD "SECRET-PASSWORD-99"

/* ---- helpers ---- */

static char *slurp(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    ck_assert_msg(kc_read_file(path, &data, &len) == 0, "read %s", path);
    return data;
}

static char *b64(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
    return out;
}

static char *b64_file(const char *path)
{
    char *pem = slurp(path);
    char *out = b64(pem);
    free(pem);
    return out;
}

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/kc-config-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    return strdup(tmpl);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb, (void)flag, (void)f;
    return remove(p);
}

static void rmtree(char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static char *path_in(const char *dir, const char *name) { return kc_asprintf("%s/%s", dir, name); }

/* Write content to dir/name (making dir/name's parent) and return the path. */
static char *write_file(const char *dir, const char *name, const char *content)
{
    char *path = path_in(dir, name);
    char *parent = strdup(path);
    *strrchr(parent, '/') = '\0';
    mkdir(parent, 0755);
    free(parent);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    fclose(f);
    return path;
}

static void put_file(const char *dir, const char *name, const char *content)
{
    free(write_file(dir, name, content));
}

static void copy_file(const char *src, const char *dir, const char *name)
{
    char *data = slurp(src);
    put_file(dir, name, data);
    free(data);
}

static char *replace_all(char *s, const char *key, const char *value)
{
    kc_strbuf sb;
    kc_strbuf_init(&sb);
    const char *p = s, *hit;
    while ((hit = strstr(p, key))) {
        kc_strbuf_append(&sb, p, (size_t)(hit - p));
        kc_strbuf_appends(&sb, value);
        p = hit + strlen(key);
    }
    kc_strbuf_appends(&sb, p);
    free(s);
    return kc_strbuf_take(&sb);
}

/* Fill the placeholders the test kubeconfigs use. */
static char *subst(const char *tmpl, const char *dir)
{
    char *s = strdup(tmpl);
    static const struct {
        const char *key, *file;
    } pems[] = {{"{CA_DATA}", DATA "/ca.pem"},
                {"{CERT_DATA}", DATA "/client.pem"},
                {"{KEY_DATA}", DATA "/client-key.pem"},
                {"{OTHER_KEY_DATA}", DATA "/other-key.pem"}};
    for (size_t i = 0; i < sizeof(pems) / sizeof(pems[0]); i++) {
        if (!strstr(s, pems[i].key))
            continue;
        char *v = b64_file(pems[i].file);
        s = replace_all(s, pems[i].key, v);
        free(v);
    }
    s = replace_all(s, "{DIR}", dir);
    s = replace_all(s, "{DATA}", DATA);
    s = replace_all(s, "{PLUGIN}", PLUGIN);
    return s;
}

/* Write a substituted kubeconfig to dir/name; returns its path. */
static char *write_config(const char *dir, const char *name, const char *tmpl)
{
    char *text = subst(tmpl, dir);
    char *path = write_file(dir, name, text);
    free(text);
    return path;
}

/* Key material and secrets that must never show up in an error. */
static void assert_no_secret(const char *msg)
{
    ck_assert_ptr_nonnull(msg);
    static const char *const fixed[] = {STATIC_TOKEN, PASSWORD, "leaked-stdout-token",
                                        "PRIVATE KEY", "rotated-token", "exec-token"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        ck_assert_msg(!strstr(msg, fixed[i]), "secret \"%s\" in \"%s\"", fixed[i], msg);
    char *key = slurp(DATA "/client-key.pem");
    char *key_b64 = b64(key);
    char line[33];
    snprintf(line, sizeof(line), "%s", key + 28); /* first line of key body */
    char chunk[33];
    snprintf(chunk, sizeof(chunk), "%s", key_b64 + 60);
    ck_assert_msg(!strstr(msg, line), "key bytes in \"%s\"", msg);
    ck_assert_msg(!strstr(msg, chunk), "key base64 in \"%s\"", msg);
    free(key);
    free(key_b64);
}

static int read_counter(const char *path)
{
    char *s = NULL;
    size_t len;
    if (kc_read_file(path, &s, &len) != 0)
        return 0;
    int n = atoi(s);
    free(s);
    return n;
}

static char *saved_home;

static void setup(void)
{
    const char *home = getenv("HOME");
    saved_home = home ? strdup(home) : NULL;
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

static void teardown(void)
{
    if (saved_home)
        setenv("HOME", saved_home, 1);
    free(saved_home);
    saved_home = NULL;
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

static kc_config *load_ok(const kc_config_options *o)
{
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_config_load(o, &cfg, &err);
    ck_assert_msg(rc == KC_OK, "load: %s", err.message ? err.message : "?");
    kc_error_clear(&err);
    return cfg;
}

/* ---- valid configurations ---- */

START_TEST(test_valid_file)
{
    kc_config_options o = {.kubeconfig = DATA "/valid.yaml"};
    kc_config *cfg = load_ok(&o);
    ck_assert_str_eq(kc_config_server(cfg), "https://127.0.0.1:6443");
    ck_assert_str_eq(kc_config_namespace(cfg), "team-a");
    ck_assert_str_eq(kc_config_context(cfg), "dev");
    ck_assert_int_eq(kc_config_insecure(cfg), 0);
    ck_assert_str_eq(cfg->origin, DATA "/valid.yaml");
    ck_assert_str_eq(cfg->tls_server_name, "kubernetes.default");
    ck_assert_str_eq(cfg->proxy_url, "http://proxy.local:3128");
    char *ca = slurp(DATA "/ca.pem"), *cert = slurp(DATA "/client.pem"),
         *key = slurp(DATA "/client-key.pem");
    ck_assert_uint_eq(cfg->ca_pem_len, strlen(ca));
    ck_assert_str_eq(cfg->ca_pem, ca);
    kc_credentials cred;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_config_credentials(cfg, 0, &cred, &err), KC_OK);
    ck_assert_ptr_null(cred.token);
    ck_assert_str_eq(cred.cert_pem, cert);
    ck_assert_str_eq(cred.key_pem, key);
    ck_assert_uint_eq(cred.key_pem_len, strlen(key));
    ck_assert_int_eq(kc_config_can_refresh(cfg), 0);
    free(ca);
    free(cert);
    free(key);
    kc_config_free(cfg);
}
END_TEST

START_TEST(test_valid_other_context)
{
    kc_config_options o = {.kubeconfig = DATA "/valid.yaml", .context = "plain"};
    kc_config *cfg = load_ok(&o);
    ck_assert_str_eq(kc_config_server(cfg), "http://localhost:8080");
    ck_assert_str_eq(kc_config_namespace(cfg), "default");
    ck_assert_int_eq(kc_config_insecure(cfg), 1);
    ck_assert_ptr_null(cfg->ca_pem);
    kc_credentials cred;
    ck_assert_int_eq(kc_config_credentials(cfg, 1, &cred, NULL), KC_OK);
    ck_assert_str_eq(cred.token, STATIC_TOKEN);
    ck_assert_ptr_null(cred.cert_pem);
    kc_config_free(cfg);
}
END_TEST

START_TEST(test_overrides)
{
    kc_config_options o = {.kubeconfig = DATA "/valid.yaml",
                           .context = "dev",
                           .cluster = "c2",
                           .user = "tokenuser",
                           .namespace_ = "override-ns",
                           .server = "https://override.example:7443//"};
    kc_config *cfg = load_ok(&o);
    ck_assert_str_eq(kc_config_server(cfg), "https://override.example:7443");
    ck_assert_str_eq(kc_config_namespace(cfg), "override-ns");
    ck_assert_str_eq(cfg->cluster_name, "c2");
    ck_assert_str_eq(cfg->user_name, "tokenuser");
    ck_assert_int_eq(kc_config_insecure(cfg), 1);
    ck_assert_str_eq(cfg->token, STATIC_TOKEN);
    ck_assert_ptr_null(cfg->cert_pem);
    kc_config_free(cfg);
}
END_TEST

static const char data_config[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: ctx\n"
    "clusters:\n"
    "- name: c\n"
    "  cluster:\n"
    "    server: https://10.1.2.3\n"
    "    certificate-authority-data: {CA_DATA}\n"
    "users:\n"
    "- name: u\n"
    "  user:\n"
    "    client-certificate-data: {CERT_DATA}\n"
    "    client-key-data: {KEY_DATA}\n"
    "    token: " STATIC_TOKEN "\n"
    "contexts:\n"
    "- name: ctx\n"
    "  context: {cluster: c, user: u, namespace: ns1}\n";

START_TEST(test_data_fields)
{
    char *dir = make_tmpdir();
    char *text = subst(data_config, dir);
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_config_from_buffer(text, strlen(text), "mem", NULL, NULL, &cfg, &err),
                     KC_OK);
    char *ca = slurp(DATA "/ca.pem"), *cert = slurp(DATA "/client.pem"),
         *key = slurp(DATA "/client-key.pem");
    ck_assert_str_eq(cfg->ca_pem, ca);
    ck_assert_str_eq(cfg->cert_pem, cert);
    ck_assert_str_eq(cfg->key_pem, key);
    ck_assert_str_eq(kc_config_namespace(cfg), "ns1");
    ck_assert_str_eq(cfg->origin, "mem");
    kc_credentials cred;
    ck_assert_int_eq(kc_config_credentials(cfg, 0, &cred, &err), KC_OK);
    ck_assert_str_eq(cred.token, STATIC_TOKEN); /* token and certificate together */
    ck_assert_ptr_nonnull(cred.cert_pem);
    free(ca);
    free(cert);
    free(key);
    free(text);
    kc_config_free(cfg);
    rmtree(dir);
}
END_TEST

START_TEST(test_basic_auth_and_anonymous)
{
    const char *yaml = "current-context: a\n"
                       "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                       "users: [{name: u, user: {username: admin, password: " PASSWORD "}}]\n"
                       "contexts:\n"
                       "- {name: a, context: {cluster: c, user: u}}\n"
                       "- {name: anon, context: {cluster: c}}\n";
    kc_config *cfg = NULL;
    ck_assert_int_eq(kc_config_from_buffer(yaml, strlen(yaml), "x", NULL, NULL, &cfg, NULL), KC_OK);
    kc_credentials cred;
    ck_assert_int_eq(kc_config_credentials(cfg, 0, &cred, NULL), KC_OK);
    ck_assert_str_eq(cred.username, "admin");
    ck_assert_str_eq(cred.password, PASSWORD);
    ck_assert_ptr_null(cred.token);
    kc_config_free(cfg);
    kc_config_options o = {.context = "anon"};
    ck_assert_int_eq(kc_config_from_buffer(yaml, strlen(yaml), "x", NULL, &o, &cfg, NULL), KC_OK);
    ck_assert_int_eq(kc_config_credentials(cfg, 0, &cred, NULL), KC_OK);
    ck_assert_ptr_null(cred.username);
    ck_assert_ptr_null(cred.token);
    ck_assert_ptr_null(cfg->user_name);
    kc_config_free(cfg);
}
END_TEST

START_TEST(test_unused_entries_not_read)
{
    /* Only the chosen cluster and user are validated deeply, as kubectl. */
    const char *yaml = "current-context: a\n"
                       "clusters:\n"
                       "- {name: c, cluster: {server: 'https://h:1'}}\n"
                       "- {name: bad, cluster: {certificate-authority: /nonexistent/ca}}\n"
                       "users: [{name: bad, user: {client-key-data: '!!!'}}]\n"
                       "contexts: [{name: a, context: {cluster: c}}]\n";
    kc_config *cfg = NULL;
    ck_assert_int_eq(kc_config_from_buffer(yaml, strlen(yaml), "x", NULL, NULL, &cfg, NULL), KC_OK);
    kc_config_free(cfg);
}
END_TEST

START_TEST(test_static_auth_beats_exec)
{
    const char *yaml = "current-context: a\n"
                       "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                       "users:\n"
                       "- name: u\n"
                       "  user:\n"
                       "    token: " STATIC_TOKEN "\n"
                       "    exec: {command: nope, apiVersion: "
                       "client.authentication.k8s.io/v1beta1}\n"
                       "contexts: [{name: a, context: {cluster: c, user: u}}]\n";
    kc_config *cfg = NULL;
    ck_assert_int_eq(kc_config_from_buffer(yaml, strlen(yaml), "x", NULL, NULL, &cfg, NULL), KC_OK);
    ck_assert_ptr_null(cfg->exec);
    ck_assert_int_eq(kc_config_can_refresh(cfg), 0);
    kc_config_free(cfg);
}
END_TEST

/* ---- merging ---- */

START_TEST(test_merge_kubeconfig_list)
{
    char *dir = make_tmpdir();
    put_file(dir, "a/token", "a-token\n");
    copy_file(DATA "/ca.pem", dir, "b/ca.pem");
    char *a = write_config(dir, "a/config",
                           "current-context: ''\n"
                           "clusters: [{name: shared, cluster: {server: 'https://a:1'}}]\n"
                           "users: [{name: ua, user: {tokenFile: token}}]\n"
                           "contexts: [{name: ctx-a, context: {cluster: shared, user: ua}}]\n");
    char *b = write_config(dir, "b/config",
                           "current-context: ctx-b\n"
                           "clusters:\n"
                           "- {name: shared, cluster: {server: 'https://b:1'}}\n"
                           "- {name: cb, cluster: {server: 'https://b:2', "
                           "certificate-authority: ca.pem}}\n"
                           "users: [{name: ua, user: {token: b-token}}, {name: ub, user: {}}]\n"
                           "contexts: [{name: ctx-b, context: {cluster: cb, user: ua, "
                           "namespace: nb}}]\n");
    char *c = write_config(dir, "c/config",
                           "current-context: ctx-a\n"
                           "contexts: [{name: ctx-b, context: {cluster: shared}}]\n");
    char *missing = path_in(dir, "missing/config");
    char *list = kc_asprintf("%s::%s:%s:%s:", missing, a, b, c);
    setenv("KUBECONFIG", list, 1);

    kc_config *cfg = load_ok(NULL);
    ck_assert_str_eq(kc_config_context(cfg), "ctx-b");       /* b's current-context */
    ck_assert_str_eq(kc_config_server(cfg), "https://b:2");  /* cb from b */
    ck_assert_str_eq(kc_config_namespace(cfg), "nb");
    char *ca = slurp(DATA "/ca.pem");
    ck_assert_str_eq(cfg->ca_pem, ca);                       /* b/ca.pem, relative to b */
    char *token_path = path_in(dir, "a/token");
    ck_assert_str_eq(cfg->token_file, token_path);           /* ua from a, relative to a */
    kc_credentials cred;
    ck_assert_int_eq(kc_config_credentials(cfg, 0, &cred, NULL), KC_OK);
    ck_assert_str_eq(cred.token, "a-token");
    char *origin = kc_asprintf("%s:%s:%s", a, b, c);
    ck_assert_str_eq(cfg->origin, origin);
    kc_config_free(cfg);

    kc_config_options o = {.context = "ctx-a"};
    cfg = load_ok(&o);
    ck_assert_str_eq(kc_config_server(cfg), "https://a:1"); /* shared: a wins over b */
    kc_config_free(cfg);

    free(ca);
    free(token_path);
    free(origin);
    free(list);
    free(missing);
    free(a);
    free(b);
    free(c);
    rmtree(dir);
}
END_TEST

START_TEST(test_merge_none_exist)
{
    setenv("KUBECONFIG", "/nonexistent/a:/nonexistent/b", 1);
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_config_load(NULL, &cfg, &err), KC_ECONFIG);
    ck_assert_str_eq(err.message,
                     "kubeconfig /nonexistent/a:/nonexistent/b: none of the files in "
                     "$KUBECONFIG exist");
    kc_error_clear(&err);
}
END_TEST

START_TEST(test_home_fallback)
{
    char *dir = make_tmpdir();
    setenv("HOME", dir, 1);
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_config_load(NULL, &cfg, &err), KC_ECONFIG);
    char *want = kc_asprintf("kubeconfig %s/.kube/config: No such file or directory", dir);
    ck_assert_str_eq(err.message, want);
    free(want);
    copy_file(DATA "/ca.pem", dir, ".kube/ca.pem");
    free(write_config(dir, ".kube/config",
                      "current-context: home\n"
                      "clusters: [{name: c, cluster: {server: 'https://home:6443', "
                      "certificate-authority: ca.pem}}]\n"
                      "contexts: [{name: home, context: {cluster: c}}]\n"));
    cfg = load_ok(NULL);
    ck_assert_str_eq(kc_config_server(cfg), "https://home:6443");
    ck_assert_ptr_nonnull(cfg->ca_pem);
    kc_config_free(cfg);
    kc_error_clear(&err);
    rmtree(dir);
}
END_TEST

/* ---- in-cluster ---- */

START_TEST(test_in_cluster)
{
    char *dir = make_tmpdir();
    put_file(dir, "token", "sa-token-1\n");
    char *ca = slurp(DATA "/ca.pem");
    put_file(dir, "ca.crt", ca);
    put_file(dir, "namespace", "kube-system\n");
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;

    ck_assert_int_eq(kc_config_in_cluster(dir, &cfg, &err), KC_ECONFIG);
    ck_assert_str_eq(err.message, "in-cluster config: KUBERNETES_SERVICE_HOST is not set "
                                  "(not running in a pod?)");
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    ck_assert_int_eq(kc_config_in_cluster(dir, &cfg, &err), KC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err.message, "KUBERNETES_SERVICE_PORT is not set"));
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);

    ck_assert_int_eq(kc_config_in_cluster(dir, &cfg, &err), KC_OK);
    ck_assert_str_eq(kc_config_server(cfg), "https://10.0.0.1:443");
    ck_assert_str_eq(kc_config_namespace(cfg), "kube-system");
    ck_assert_str_eq(kc_config_context(cfg), "in-cluster");
    ck_assert_str_eq(cfg->ca_pem, ca);
    ck_assert_int_eq(kc_config_can_refresh(cfg), 1);
    kc_credentials cred;
    ck_assert_int_eq(kc_config_credentials(cfg, 0, &cred, &err), KC_OK);
    ck_assert_str_eq(cred.token, "sa-token-1");
    kc_config_free(cfg);

    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    char *ns = path_in(dir, "namespace");
    unlink(ns);
    ck_assert_int_eq(kc_config_in_cluster(dir, &cfg, &err), KC_OK);
    ck_assert_str_eq(kc_config_server(cfg), "https://[fd00::1]:443");
    ck_assert_str_eq(kc_config_namespace(cfg), "default");
    kc_config_free(cfg);

    char *tok = path_in(dir, "token");
    unlink(tok);
    ck_assert_int_eq(kc_config_in_cluster(dir, &cfg, &err), KC_ECONFIG);
    char *want = kc_asprintf("in-cluster config: token %s: No such file or directory", tok);
    ck_assert_str_eq(err.message, want);
    put_file(dir, "token", "sa-token-1\n");
    put_file(dir, "ca.crt", "not a cert");
    ck_assert_int_eq(kc_config_in_cluster(dir, &cfg, &err), KC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err.message, "ca.crt"));
    ck_assert_ptr_nonnull(strstr(err.message, "no PEM certificate found"));
    assert_no_secret(err.message);
    ck_assert_ptr_null(strstr(err.message, "sa-token-1"));

    free(want);
    free(tok);
    free(ns);
    free(ca);
    kc_error_clear(&err);
    rmtree(dir);
}
END_TEST

START_TEST(test_auto)
{
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    /* In a pod: the default service-account directory (absent here, unless
     * the tests themselves run in a pod). */
    const char *sa_token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
    if (access(sa_token, F_OK) != 0) {
        ck_assert_int_eq(kc_config_auto(NULL, &cfg, &err), KC_ECONFIG);
        char *want = kc_asprintf("in-cluster config: token %s: ", sa_token);
        ck_assert_ptr_nonnull(strstr(err.message, want));
        free(want);
    }
    /* An explicit kubeconfig, or $KUBECONFIG, wins. */
    kc_config_options o = {.kubeconfig = DATA "/valid.yaml"};
    ck_assert_int_eq(kc_config_auto(&o, &cfg, &err), KC_OK);
    ck_assert_str_eq(kc_config_context(cfg), "dev");
    kc_config_free(cfg);
    setenv("KUBECONFIG", DATA "/valid.yaml", 1);
    ck_assert_int_eq(kc_config_auto(NULL, &cfg, &err), KC_OK);
    ck_assert_str_eq(kc_config_context(cfg), "dev");
    kc_config_free(cfg);
    kc_error_clear(&err);
}
END_TEST

/* ---- token file rotation ---- */

static void write_token(const char *path, const char *token, time_t mtime)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(token, f);
    fclose(f);
    struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static const char *token_now(kc_config *cfg, int force)
{
    kc_credentials cred;
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_config_credentials(cfg, force, &cred, &err);
    ck_assert_msg(rc == KC_OK, "credentials: %s", err.message ? err.message : "?");
    kc_error_clear(&err);
    return cred.token;
}

START_TEST(test_token_file_rotation)
{
    char *dir = make_tmpdir();
    char *tok = path_in(dir, "token");
    time_t t0 = time(NULL) - 1000;
    write_token(tok, "rotated-token-one\n", t0);
    char *cfgpath = write_config(dir, "config",
                                 "current-context: a\n"
                                 "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                                 "users: [{name: u, user: {tokenFile: token}}]\n"
                                 "contexts: [{name: a, context: {cluster: c, user: u}}]\n");
    kc_config_options o = {.kubeconfig = cfgpath};
    kc_config *cfg = load_ok(&o);
    ck_assert_int_eq(kc_config_can_refresh(cfg), 1);
    ck_assert_str_eq(token_now(cfg, 0), "rotated-token-one");

    /* New content and mtime: a forced refresh (after a 401) reads it. */
    write_token(tok, "rotated-token-two", t0 + 10);
    ck_assert_str_eq(token_now(cfg, 1), "rotated-token-two");

    /* Once the throttle second has passed, a changed mtime is noticed. */
    write_token(tok, "rotated-token-three", t0 + 20);
    cfg->file_token_checked = 0;
    ck_assert_str_eq(token_now(cfg, 0), "rotated-token-three");

    /* Same size and mtime: not re-read unless forced. */
    write_token(tok, "rotated-token-thref", t0 + 20);
    cfg->file_token_checked = 0;
    ck_assert_str_eq(token_now(cfg, 0), "rotated-token-three");
    ck_assert_str_eq(token_now(cfg, 1), "rotated-token-thref");

    /* Gone: keep the last good token, but a forced refresh must fail. */
    unlink(tok);
    cfg->file_token_checked = 0;
    ck_assert_str_eq(token_now(cfg, 0), "rotated-token-thref");
    kc_credentials cred;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_config_credentials(cfg, 1, &cred, &err), KC_EAUTH);
    char *want = kc_asprintf("user \"u\": tokenFile %s: No such file or directory", tok);
    ck_assert_str_eq(err.message, want);
    ck_assert_ptr_null(cred.token);
    assert_no_secret(err.message);

    free(want);
    kc_error_clear(&err);
    kc_config_free(cfg);
    free(cfgpath);
    free(tok);
    rmtree(dir);
}
END_TEST

/* ---- exec plugins ---- */

/* A kubeconfig whose user runs the test plugin in mode with extra
 * exec fields (indented for the exec mapping). */
static kc_config *exec_config(const char *dir, const char *mode, const char *extra)
{
    char *tmpl = kc_asprintf("current-context: a\n"
                             "clusters:\n"
                             "- name: c\n"
                             "  cluster:\n"
                             "    server: https://h.example:6443\n"
                             "    certificate-authority: {DATA}/ca.pem\n"
                             "    tls-server-name: api.internal\n"
                             "users:\n"
                             "- name: u\n"
                             "  user:\n"
                             "    exec:\n"
                             "      apiVersion: client.authentication.k8s.io/v1\n"
                             "      interactiveMode: Never\n"
                             "      command: /bin/sh\n"
                             "      args: [{PLUGIN}, {DIR}/count, %s, {DATA}/client.pem, "
                             "{DATA}/client-key.pem]\n"
                             "%s"
                             "contexts: [{name: a, context: {cluster: c, user: u}}]\n",
                             mode, extra ? extra : "");
    char *path = write_config(dir, "config", tmpl);
    kc_config_options o = {.kubeconfig = path};
    kc_config *cfg = load_ok(&o);
    free(path);
    free(tmpl);
    return cfg;
}

static int count_of(const char *dir)
{
    char *p = path_in(dir, "count");
    int n = read_counter(p);
    free(p);
    return n;
}

START_TEST(test_exec_cached_until_expiry)
{
    char *dir = make_tmpdir();
    kc_config *cfg = exec_config(dir, "future",
                                 "      provideClusterInfo: true\n"
                                 "      env: [{name: KC_TEST_INFO_OUT, value: "
                                 "'{DIR}/info.json'}]\n");
    ck_assert_int_eq(kc_config_can_refresh(cfg), 1);
    ck_assert_str_eq(token_now(cfg, 0), "exec-token-1");
    ck_assert_str_eq(token_now(cfg, 0), "exec-token-1");
    ck_assert_int_eq(count_of(dir), 1);
    ck_assert_int_eq(cfg->exec_expiry, 32472144000); /* 2999-01-01T00:00:00Z */
    ck_assert_str_eq(token_now(cfg, 1), "exec-token-2");
    ck_assert_int_eq(count_of(dir), 2);

    /* KUBERNETES_EXEC_INFO as the plugin saw it. */
    char *info_path = path_in(dir, "info.json");
    char *info = slurp(info_path);
    cJSON *j = cJSON_Parse(info);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "kind")->valuestring, "ExecCredential");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "apiVersion")->valuestring,
                     "client.authentication.k8s.io/v1");
    cJSON *spec = cJSON_GetObjectItem(j, "spec");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(spec, "interactive")));
    cJSON *cl = cJSON_GetObjectItem(spec, "cluster");
    ck_assert_str_eq(cJSON_GetObjectItem(cl, "server")->valuestring, "https://h.example:6443");
    ck_assert_str_eq(cJSON_GetObjectItem(cl, "tls-server-name")->valuestring, "api.internal");
    char *ca_b64 = b64_file(DATA "/ca.pem");
    ck_assert_str_eq(cJSON_GetObjectItem(cl, "certificate-authority-data")->valuestring, ca_b64);
    free(ca_b64);
    cJSON_Delete(j);
    free(info);
    free(info_path);
    kc_config_free(cfg);
    rmtree(dir);
}
END_TEST

START_TEST(test_exec_expired_reruns)
{
    char *dir = make_tmpdir();
    kc_config *cfg = exec_config(dir, "expired", NULL);
    ck_assert_str_eq(token_now(cfg, 0), "exec-token-1");
    ck_assert_str_eq(token_now(cfg, 0), "exec-token-2");
    ck_assert_str_eq(token_now(cfg, 0), "exec-token-3");
    ck_assert_int_eq(count_of(dir), 3);
    kc_config_free(cfg);
    rmtree(dir);
}
END_TEST

START_TEST(test_exec_no_expiry_cached_until_forced)
{
    char *dir = make_tmpdir();
    kc_config *cfg = exec_config(dir, "noexpiry", NULL);
    ck_assert_str_eq(token_now(cfg, 0), "exec-token-1");
    ck_assert_str_eq(token_now(cfg, 0), "exec-token-1");
    ck_assert_str_eq(token_now(cfg, 1), "exec-token-2");
    ck_assert_int_eq(count_of(dir), 2);
    kc_config_free(cfg);
    rmtree(dir);
}
END_TEST

START_TEST(test_exec_env_and_v1beta1)
{
    char *dir = make_tmpdir();
    char *tmpl = kc_asprintf("current-context: a\n"
                             "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                             "users:\n"
                             "- name: u\n"
                             "  user:\n"
                             "    exec:\n"
                             "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                             "      command: /bin/sh\n"
                             "      args: [{PLUGIN}, {DIR}/count, env]\n"
                             "      env:\n"
                             "      - {name: KC_TEST_TOKEN, value: from-env}\n"
                             "      - {name: KC_TEST_API, value: "
                             "client.authentication.k8s.io/v1beta1}\n"
                             "contexts: [{name: a, context: {cluster: c, user: u}}]\n");
    char *path = write_config(dir, "config", tmpl);
    kc_config_options o = {.kubeconfig = path};
    kc_config *cfg = load_ok(&o);
    ck_assert_str_eq(token_now(cfg, 0), "from-env");
    kc_config_free(cfg);
    free(path);
    free(tmpl);
    rmtree(dir);
}
END_TEST

START_TEST(test_exec_cert)
{
    char *dir = make_tmpdir();
    kc_config *cfg = exec_config(dir, "cert", NULL);
    kc_credentials cred;
    ck_assert_int_eq(kc_config_credentials(cfg, 0, &cred, NULL), KC_OK);
    char *cert = slurp(DATA "/client.pem"), *key = slurp(DATA "/client-key.pem");
    ck_assert_ptr_null(cred.token);
    ck_assert_str_eq(cred.cert_pem, cert);
    ck_assert_str_eq(cred.key_pem, key);
    ck_assert_uint_eq(cred.key_pem_len, strlen(key));
    free(cert);
    free(key);
    kc_config_free(cfg);
    rmtree(dir);
}
END_TEST

static void expect_exec_error(const char *mode, const char *want)
{
    char *dir = make_tmpdir();
    kc_config *cfg = exec_config(dir, mode, NULL);
    kc_credentials cred;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_config_credentials(cfg, 0, &cred, &err), KC_EAUTH);
    ck_assert_msg(strstr(err.message, want), "\"%s\" lacks \"%s\"", err.message, want);
    ck_assert_ptr_nonnull(strstr(err.message, "user \"u\": exec plugin \"/bin/sh\": "));
    assert_no_secret(err.message);
    ck_assert_ptr_null(cred.token);
    kc_error_clear(&err);
    kc_config_free(cfg);
    rmtree(dir);
}

START_TEST(test_exec_failures)
{
    expect_exec_error("fail", "exit code 3: plugin: could not log in");
    expect_exec_error("garbage", "invalid ExecCredential: output is not a JSON object");
    expect_exec_error("bogus", "exit code 2: unknown mode bogus");
    expect_exec_error("big", "wrote more than 1048576 bytes to stdout");
}
END_TEST

START_TEST(test_exec_stderr_first_line_only)
{
    char *dir = make_tmpdir();
    kc_config *cfg = exec_config(dir, "fail", NULL);
    kc_credentials cred;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_config_credentials(cfg, 0, &cred, &err), KC_EAUTH);
    ck_assert_str_eq(err.message,
                     "user \"u\": exec plugin \"/bin/sh\": exit code 3: plugin: could not log in");
    /* a failed refresh leaves no stale credential behind */
    ck_assert_int_eq(cfg->exec_valid, 0);
    kc_error_clear(&err);
    kc_config_free(cfg);
    rmtree(dir);
}
END_TEST

START_TEST(test_exec_timeout)
{
    char *dir = make_tmpdir();
    kc_config *cfg = exec_config(dir, "sleep", NULL);
    kc_exec_result r;
    kc_error err = KC_ERROR_INIT;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(kc_exec_run(cfg, 300, &r, &err), KC_EAUTH);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_ptr_nonnull(strstr(err.message, "no answer within 300 ms; killed"));
    ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 4);
    kc_error_clear(&err);
    kc_config_free(cfg);
    rmtree(dir);
}
END_TEST

START_TEST(test_exec_not_found_and_relative)
{
    char *dir = make_tmpdir();
    put_file(dir, "bin/plugin", "#!/bin/sh\nexec /bin/sh " PLUGIN " \"$@\"\n");
    char *plugin = path_in(dir, "bin/plugin");
    chmod(plugin, 0755);
    char *path = write_config(dir, "config",
                              "current-context: a\n"
                              "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                              "users:\n"
                              "- name: rel\n"
                              "  user:\n"
                              "    exec: {apiVersion: client.authentication.k8s.io/v1, "
                              "interactiveMode: IfAvailable, command: ./bin/plugin, "
                              "args: ['{DIR}/count', noexpiry]}\n"
                              "- name: missing\n"
                              "  user:\n"
                              "    exec:\n"
                              "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                              "      command: kc-no-such-plugin\n"
                              "      installHint: |\n"
                              "        Install kc-no-such-plugin\n"
                              "        from example.com\n"
                              "contexts: [{name: a, context: {cluster: c, user: rel}}]\n");
    kc_config_options o = {.kubeconfig = path};
    kc_config *cfg = load_ok(&o);
    char *want = kc_asprintf("%s/./bin/plugin", dir);
    ck_assert_str_eq(cfg->exec->command, want);
    ck_assert_str_eq(token_now(cfg, 0), "exec-token-1");
    kc_config_free(cfg);

    o.user = "missing";
    cfg = load_ok(&o);
    kc_credentials cred;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_config_credentials(cfg, 0, &cred, &err), KC_EAUTH);
    ck_assert_str_eq(err.message, "user \"missing\": exec plugin \"kc-no-such-plugin\": executable "
                                  "not found; Install kc-no-such-plugin from example.com ");
    kc_error_clear(&err);
    kc_config_free(cfg);
    free(want);
    free(plugin);
    free(path);
    rmtree(dir);
}
END_TEST

/* ---- tokens with control characters ---- */

/* A token that would add a header line of its own to the request. */
#define INJECTED "X-Injected: yes"

static void assert_refused(kc_code rc, kc_code want, const kc_error *err, const char *names)
{
    ck_assert_int_eq(rc, want);
    ck_assert_msg(strstr(err->message, names), "\"%s\" does not name \"%s\"", err->message,
                  names);
    ck_assert_ptr_nonnull(strstr(err->message, "holds a control character"));
    ck_assert_ptr_null(strstr(err->message, INJECTED)); /* never the token */
}

START_TEST(test_token_control_chars)
{
    char *dir = make_tmpdir();
    kc_config *cfg = NULL;
    kc_credentials cred;
    kc_error err = KC_ERROR_INIT;

    /* the kubeconfig's token */
    char *path = write_config(dir, "static",
                              "current-context: a\n"
                              "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                              "users: [{name: u, user: {token: \"abc\\r\\n" INJECTED "\"}}]\n"
                              "contexts: [{name: a, context: {cluster: c, user: u}}]\n");
    kc_config_options o = {.kubeconfig = path};
    assert_refused(kc_config_load(&o, &cfg, &err), KC_ECONFIG, &err, "user \"u\": token ");
    ck_assert_ptr_nonnull(strstr(err.message, path));
    free(path);

    /* a tokenFile when loading (a NUL inside counts too), then when rotated */
    char *tok = path_in(dir, "token");
    path = write_config(dir, "file",
                        "current-context: a\n"
                        "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                        "users: [{name: u, user: {tokenFile: token}}]\n"
                        "contexts: [{name: a, context: {cluster: c, user: u}}]\n");
    o.kubeconfig = path;
    put_file(dir, "token", "abc\r\n" INJECTED "\n");
    assert_refused(kc_config_load(&o, &cfg, &err), KC_ECONFIG, &err, tok);
    FILE *f = fopen(tok, "w");
    ck_assert_ptr_nonnull(f);
    fwrite("abc\0" INJECTED, 1, 4 + strlen(INJECTED), f);
    fclose(f);
    assert_refused(kc_config_load(&o, &cfg, &err), KC_ECONFIG, &err, tok);
    put_file(dir, "token", "good-token\n");
    ck_assert_int_eq(kc_config_load(&o, &cfg, &err), KC_OK);
    put_file(dir, "token", "abc\n" INJECTED "\n");
    assert_refused(kc_config_credentials(cfg, 1, &cred, &err), KC_EAUTH, &err, tok);
    ck_assert_ptr_null(cred.token);
    kc_config_free(cfg);
    free(path);

    /* in-cluster */
    put_file(dir, "token", "abc\r\n" INJECTED "\n");
    char *ca = slurp(DATA "/ca.pem");
    put_file(dir, "ca.crt", ca);
    free(ca);
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_refused(kc_config_in_cluster(dir, &cfg, &err), KC_ECONFIG, &err, tok);
    ck_assert_ptr_nonnull(strstr(err.message, "in-cluster config: token "));

    /* an exec plugin's answer (the JSON escapes become CR and LF) */
    path = write_config(dir, "exec",
                        "current-context: a\n"
                        "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                        "users:\n"
                        "- name: u\n"
                        "  user:\n"
                        "    exec:\n"
                        "      apiVersion: client.authentication.k8s.io/v1\n"
                        "      interactiveMode: Never\n"
                        "      command: /bin/sh\n"
                        "      args: [{PLUGIN}, {DIR}/count, env]\n"
                        "      env: [{name: KC_TEST_TOKEN, value: 'abc\\r\\n" INJECTED "'}]\n"
                        "contexts: [{name: a, context: {cluster: c, user: u}}]\n");
    o.kubeconfig = path;
    ck_assert_int_eq(kc_config_load(&o, &cfg, &err), KC_OK);
    assert_refused(kc_config_credentials(cfg, 0, &cred, &err), KC_EAUTH, &err,
                   "user \"u\": exec plugin \"/bin/sh\": invalid ExecCredential: token ");
    ck_assert_ptr_null(cred.token);
    kc_config_free(cfg);

    free(path);
    free(tok);
    kc_error_clear(&err);
    rmtree(dir);
}
END_TEST

START_TEST(test_exec_parse)
{
    const char *v1 = KC_EXEC_API_V1;
    const char *problem = NULL;
    kc_exec_result r;
    const char *ok = "{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                     "\"kind\":\"ExecCredential\","
                     "\"status\":{\"token\":\"t\","
                     "\"expirationTimestamp\":\"2024-05-01T12:00:00.123+02:00\"}}";
    ck_assert_int_eq(kc_exec_parse(v1, ok, strlen(ok), &r, &problem), KC_OK);
    ck_assert_str_eq(r.token, "t");
    ck_assert_int_eq(r.expiry, 1714557600);
    kc_exec_result_clear(&r);
    static const struct {
        const char *json, *problem;
    } bad[] = {
        {"[]", "output is not a JSON object"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"Pod\",\"status\":{}}",
         "kind is not ExecCredential"},
        {"{\"apiVersion\":\"v1\",\"kind\":\"ExecCredential\",\"status\":{}}",
         "apiVersion differs from the one configured in exec.apiVersion"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\"}",
         "no status"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
         "\"status\":{}}",
         "status has neither token nor clientCertificateData"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
         "\"status\":{\"clientCertificateData\":\"x\"}}",
         "clientCertificateData and clientKeyData must be set together"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
         "\"status\":{\"token\":5}}",
         "a status field is not a string"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
         "\"status\":{\"token\":\"t\",\"expirationTimestamp\":\"tomorrow\"}}",
         "expirationTimestamp is not an RFC 3339 time"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
         "\"status\":{\"token\":\"t\\r\\nX-Injected: yes\"}}",
         "token holds a control character (CR, LF, ...), which would break the Authorization "
         "header"},
        {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
         "\"status\":{\"token\":\"t\\u007f\"}}",
         "token holds a control character (CR, LF, ...), which would break the Authorization "
         "header"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(kc_exec_parse(v1, bad[i].json, strlen(bad[i].json), &r, &problem),
                         KC_EAUTH);
        ck_assert_str_eq(problem, bad[i].problem);
        ck_assert_ptr_null(r.token);
    }
}
END_TEST

START_TEST(test_rfc3339)
{
    time_t t;
    ck_assert_int_eq(kc_rfc3339_parse("1970-01-01T00:00:00Z", &t), 0);
    ck_assert_int_eq(t, 0);
    ck_assert_int_eq(kc_rfc3339_parse("2000-01-01t00:00:00z", &t), 0);
    ck_assert_int_eq(t, 946684800);
    ck_assert_int_eq(kc_rfc3339_parse("2000-01-01T01:30:00+01:30", &t), 0);
    ck_assert_int_eq(t, 946684800);
    ck_assert_int_eq(kc_rfc3339_parse("1999-12-31T23:00:00.999999999-01:00", &t), 0);
    ck_assert_int_eq(t, 946684800);
    /* leap days: 2024 and 2000 have one, 2023 and 2100 not */
    ck_assert_int_eq(kc_rfc3339_parse("2024-02-29T00:00:00Z", &t), 0);
    ck_assert_int_eq(t, 1709164800);
    ck_assert_int_eq(kc_rfc3339_parse("2000-02-29T00:00:00Z", &t), 0);
    ck_assert_int_eq(kc_rfc3339_parse("2024-12-31T23:59:60Z", &t), 0);
    static const char *const bad[] = {"", "2000-01-01", "2000-01-01T00:00:00",
                                      "2000-13-01T00:00:00Z", "2000-01-01T24:00:00Z", "2000-01-01T00:00:00.Z",
                                      "2000-01-01T00:00:00Zjunk", "2000-01-01 00:00:00Z",
                                      "+2000-01-01T00:00:00Z", "2000-01-01T00:00:00+0100",
                                      /* days past the month's end (once as the next month's) */
                                      "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
                                      "2100-02-29T00:00:00Z", "2024-04-31T00:00:00Z",
                                      "2024-06-31T00:00:00Z", "2024-09-31T00:00:00Z",
                                      "2024-11-31T00:00:00Z", "2024-01-32T00:00:00Z",
                                      "2024-01-00T00:00:00Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(kc_rfc3339_parse(bad[i], &t) == -1, "accepted \"%s\"", bad[i]);
}
END_TEST

/* ---- malformed kubeconfigs, table-driven ---- */

#define HEAD "current-context: ctx\n"
#define CLUSTER "clusters: [{name: c1, cluster: {server: 'https://h:1'}}]\n"
#define CONTEXT "contexts: [{name: ctx, context: {cluster: c1, user: u1}}]\n"
#define USER(body) "users:\n- name: u1\n  user:\n    token: " STATIC_TOKEN "\n" body
#define WITH_USER(body) HEAD CLUSTER CONTEXT "users:\n- name: u1\n  user:\n" body
#define WITH_CLUSTER(body) HEAD CONTEXT USER("") "clusters:\n- name: c1\n  cluster:\n" body
#define EXEC(body) WITH_USER("    exec:\n" body)

typedef struct bad_case {
    const char *yaml;    /* NULL: the file does not exist */
    const char *context; /* --context */
    const char *expect;  /* after "kubeconfig <path>: "; {DIR} is the temp dir */
    kc_code code;
} bad_case;

static const bad_case bad_cases[] = {
    {NULL, NULL, "No such file or directory", KC_ECONFIG},
    {"", NULL, "empty document", KC_ECONFIG},
    {"# only a comment\n", NULL, "empty document", KC_ECONFIG},
    {"clusters:\n  - name: a\n   bad: [\n", NULL,
     "line 3 column 4: did not find expected '-' indicator (while parsing a block collection at "
     "line 2 column 3)",
     KC_ECONFIG},
    {"a: 1\na: 2\n", NULL, "line 2 column 1: duplicate key \"a\"", KC_ECONFIG},
    {"users: [{name: u, user: {token: \"" STATIC_TOKEN "}}]\n", NULL,
     "line 2 column 1: found unexpected end of stream", KC_ECONFIG},
    {"- just\n- a list\n", NULL, "expected a mapping at the top level", KC_ECONFIG},
    {"clusters: 5\n", NULL, "clusters: expected a list", KC_ECONFIG},
    {"users: [1]\n", NULL, "users[0]: expected a mapping", KC_ECONFIG},
    {"contexts: {a: b}\n", NULL, "contexts: expected a list", KC_ECONFIG},
    {"clusters: [{cluster: {server: 'https://x'}}]\n", NULL, "clusters[0]: name: missing",
     KC_ECONFIG},
    {"users: [{name: [x]}]\n", NULL, "users[0]: name: expected a string", KC_ECONFIG},
    {"clusters: [{name: c1, cluster: 5}]\n", NULL, "cluster \"c1\": cluster: expected a mapping",
     KC_ECONFIG},
    {HEAD CONTEXT USER("") "clusters: [{name: c1, cluster: {server: 'https://a'}}, "
                           "{name: c1, cluster: {server: 'https://b'}}]\n",
     NULL, "cluster \"c1\": defined more than once", KC_ECONFIG},
    {"current-context: [x]\n", NULL, "current-context: expected a string", KC_ECONFIG},
    {CLUSTER CONTEXT USER(""), NULL, "no current-context set and no --context given", KC_ECONFIG},
    {"current-context: ghost\n" CLUSTER CONTEXT USER(""), NULL, "context \"ghost\" not found",
     KC_ECONFIG},
    {HEAD CLUSTER CONTEXT USER(""), "prod", "context \"prod\" not found", KC_ECONFIG},
    {HEAD CLUSTER USER("") "contexts: [{name: ctx, context: {cluster: nope, user: u1}}]\n", NULL,
     "context \"ctx\": cluster \"nope\" not found", KC_ECONFIG},
    {HEAD CLUSTER USER("") "contexts: [{name: ctx, context: {cluster: c1, user: nope}}]\n", NULL,
     "context \"ctx\": user \"nope\" not found", KC_ECONFIG},
    {HEAD CLUSTER USER("") "contexts: [{name: ctx, context: {user: u1}}]\n", NULL,
     "context \"ctx\": cluster: missing", KC_ECONFIG},
    {HEAD CLUSTER USER("") "contexts: [{name: ctx, context: {cluster: c1, namespace: 7}}]\n",
     NULL, "context \"ctx\": namespace: expected a string", KC_ECONFIG},
    {WITH_CLUSTER("    insecure-skip-tls-verify: true\n"), NULL, "cluster \"c1\": server: missing",
     KC_ECONFIG},
    {WITH_CLUSTER("    server: 10.0.0.1:6443\n"), NULL,
     "cluster \"c1\": server: must start with https:// or http://", KC_ECONFIG},
    {WITH_CLUSTER("    server: [https://x]\n"), NULL, "cluster \"c1\": server: expected a string",
     KC_ECONFIG},
    {WITH_CLUSTER("    server: https://x\n    insecure-skip-tls-verify: 'yes'\n"), NULL,
     "cluster \"c1\": insecure-skip-tls-verify: expected true or false", KC_ECONFIG},
    {WITH_CLUSTER("    server: https://x\n    proxy-url: ftp://user:" PASSWORD "@p\n"), NULL,
     "cluster \"c1\": proxy-url: must start with http://, https://, socks5:// or socks5h://",
     KC_ECONFIG},
    {WITH_CLUSTER("    server: https://x\n    certificate-authority-data: '%%%'\n"), NULL,
     "cluster \"c1\": certificate-authority-data: invalid base64", KC_ECONFIG},
    {WITH_CLUSTER("    server: https://x\n    certificate-authority-data: aGVsbG8K\n"), NULL,
     "cluster \"c1\": certificate-authority-data: no PEM certificate found", KC_ECONFIG},
    {WITH_CLUSTER("    server: https://x\n    certificate-authority-data: {KEY_DATA}\n"), NULL,
     "cluster \"c1\": certificate-authority-data: no PEM certificate found", KC_ECONFIG},
    {WITH_CLUSTER("    server: https://x\n    certificate-authority: nope.pem\n"), NULL,
     "cluster \"c1\": certificate-authority {DIR}/nope.pem: No such file or directory",
     KC_ECONFIG},
    {WITH_CLUSTER("    server: https://x\n    certificate-authority: {DATA}/client-key.pem\n"),
     NULL, "cluster \"c1\": certificate-authority {DATA}/client-key.pem: no PEM certificate found",
     KC_ECONFIG},
    {WITH_CLUSTER("    server: https://x\n    certificate-authority: /dev/zero\n"), NULL,
     "cluster \"c1\": certificate-authority /dev/zero: not a regular file", KC_ECONFIG},
    {WITH_CLUSTER("    server: https://x\n    certificate-authority: {DATA}\n"), NULL,
     "cluster \"c1\": certificate-authority {DATA}: Is a directory", KC_ECONFIG},
    {WITH_CLUSTER("    server: https://x\n    certificate-authority: {DATA}/ca.pem\n"
                  "    certificate-authority-data: {CA_DATA}\n"),
     NULL, "cluster \"c1\": certificate-authority and certificate-authority-data are both set",
     KC_ECONFIG},
    {WITH_CLUSTER("    server: https://x\n    insecure-skip-tls-verify: true\n"
                  "    certificate-authority-data: {CA_DATA}\n"),
     NULL,
     "cluster \"c1\": specifying a root certificates file with the insecure flag is not allowed",
     KC_ECONFIG},
    {WITH_USER("    client-certificate-data: '" STATIC_TOKEN "!'\n    client-key-data: "
                                                             "{KEY_DATA}\n"),
     NULL, "user \"u1\": client-certificate-data: invalid base64", KC_ECONFIG},
    {WITH_USER("    client-certificate-data: {CERT_DATA}\n    client-key-data: '*{KEY_DATA}'\n"),
     NULL, "user \"u1\": client-key-data: invalid base64", KC_ECONFIG},
    {WITH_USER("    client-certificate-data: {KEY_DATA}\n    client-key-data: {KEY_DATA}\n"),
     NULL, "user \"u1\": client-certificate-data: not a PEM certificate", KC_ECONFIG},
    {WITH_USER("    client-certificate-data: {CERT_DATA}\n    client-key-data: {CERT_DATA}\n"),
     NULL, "user \"u1\": client-key-data: not an unencrypted PEM private key", KC_ECONFIG},
    {WITH_USER("    client-certificate-data: {CERT_DATA}\n    client-key-data: {OTHER_KEY_DATA}\n"),
     NULL, "user \"u1\": client certificate and client key do not match", KC_ECONFIG},
    {WITH_USER("    client-certificate: nope.pem\n    client-key: {DATA}/client-key.pem\n"), NULL,
     "user \"u1\": client-certificate {DIR}/nope.pem: No such file or directory", KC_ECONFIG},
    {WITH_USER("    client-certificate: {DATA}/client.pem\n    client-key: gone/key.pem\n"), NULL,
     "user \"u1\": client-key {DIR}/gone/key.pem: No such file or directory", KC_ECONFIG},
    {WITH_USER("    client-certificate-data: {CERT_DATA}\n"), NULL,
     "user \"u1\": client certificate given without client-key or client-key-data", KC_ECONFIG},
    {WITH_USER("    client-key-data: {KEY_DATA}\n"), NULL,
     "user \"u1\": client key given without client-certificate or client-certificate-data",
     KC_ECONFIG},
    {WITH_USER("    client-key: {DATA}/client-key.pem\n    client-key-data: {KEY_DATA}\n"
               "    client-certificate-data: {CERT_DATA}\n"),
     NULL, "user \"u1\": client-key and client-key-data are both set", KC_ECONFIG},
    {WITH_USER("    token: " STATIC_TOKEN "\n    username: admin\n    password: " PASSWORD "\n"),
     NULL, "user \"u1\": more than one authentication method (token and basic auth)",
     KC_ECONFIG},
    {WITH_USER("    token: 12345\n"), NULL, "user \"u1\": token: expected a string", KC_ECONFIG},
    {WITH_USER("    tokenFile: missing-token\n"), NULL,
     "user \"u1\": tokenFile {DIR}/missing-token: No such file or directory", KC_ECONFIG},
    {WITH_USER("    auth-provider: {name: oidc, config: {id-token: " STATIC_TOKEN "}}\n"), NULL,
     "user \"u1\": auth-provider is not supported; use an exec plugin", KC_ECONFIG},
    {WITH_USER("    token: " STATIC_TOKEN "\n    as: admin\n"), NULL,
     "user \"u1\": as: impersonation is not supported", KC_ECONFIG},
    {WITH_USER("    exec: [" STATIC_TOKEN "]\n"), NULL, "user \"u1\": exec: expected a mapping",
     KC_ECONFIG},
    {EXEC("      apiVersion: client.authentication.k8s.io/v1beta1\n"), NULL,
     "user \"u1\": exec.command: missing", KC_ECONFIG},
    {EXEC("      command: plugin\n"), NULL, "user \"u1\": exec.apiVersion: missing", KC_ECONFIG},
    {EXEC("      command: plugin\n      apiVersion: client.authentication.k8s.io/v1alpha1\n"), NULL,
     "user \"u1\": exec.apiVersion: \"client.authentication.k8s.io/v1alpha1\" is not supported",
     KC_ECONFIG},
    {EXEC("      command: plugin\n      apiVersion: client.authentication.k8s.io/v1\n"), NULL,
     "user \"u1\": exec.interactiveMode: missing (required by client.authentication.k8s.io/v1)",
     KC_ECONFIG},
    {EXEC("      command: plugin\n      apiVersion: client.authentication.k8s.io/v1\n"
          "      interactiveMode: Always\n"),
     NULL, "user \"u1\": exec.interactiveMode: Always needs a terminal", KC_ECONFIG},
    {EXEC("      command: plugin\n      apiVersion: client.authentication.k8s.io/v1\n"
          "      interactiveMode: Sometimes\n"),
     NULL, "user \"u1\": exec.interactiveMode: must be Never, IfAvailable or Always", KC_ECONFIG},
    {EXEC("      command: plugin\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
          "      args: [--token, " STATIC_TOKEN ", 5]\n"),
     NULL, "user \"u1\": exec.args: expected a list of strings", KC_ECONFIG},
    {EXEC("      command: plugin\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
          "      env: [{value: " STATIC_TOKEN "}]\n"),
     NULL, "user \"u1\": exec.env[0].name: missing", KC_ECONFIG},
    {EXEC("      command: plugin\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
          "      provideClusterInfo: 1\n"),
     NULL, "user \"u1\": exec.provideClusterInfo: expected true or false", KC_ECONFIG},
};

START_TEST(test_malformed)
{
    const bad_case *c = &bad_cases[_i];
    char *dir = make_tmpdir();
    char *path = c->yaml ? write_config(dir, "config", c->yaml) : path_in(dir, "config");
    kc_config_options o = {.kubeconfig = path, .context = c->context};
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_config_load(&o, &cfg, &err);
    ck_assert_msg(rc == c->code, "case %d: code %d, want %d (%s)", _i, rc, c->code,
                  err.message ? err.message : "");
    ck_assert_ptr_null(cfg);
    char *want = subst(c->expect, dir);
    char *prefix = kc_asprintf("kubeconfig %s: ", path);
    ck_assert_msg(strncmp(err.message, prefix, strlen(prefix)) == 0, "case %d: \"%s\"", _i,
                  err.message);
    ck_assert_msg(strstr(err.message, want), "case %d: \"%s\" lacks \"%s\"", _i, err.message, want);
    assert_no_secret(err.message);
    if (getenv("KC_TEST_VERBOSE")) /* to review the wording of every message */
        fprintf(stderr, "%s\n", err.message);
    free(prefix);
    free(want);
    free(path);
    kc_error_clear(&err);
    rmtree(dir);
}
END_TEST

/* ---- robustness of the pure parser ---- */

static void parse_any(const char *buf, size_t len)
{
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_config_from_buffer(buf, len, "fuzz", "/nonexistent", NULL, &cfg, &err);
    if (rc == KC_OK)
        ck_assert_ptr_nonnull(kc_config_server(cfg));
    else
        ck_assert_ptr_nonnull(err.message);
    kc_config_free(cfg);
    kc_error_clear(&err);
}

START_TEST(test_wrong_types_do_not_crash)
{
    static const char *const inputs[] = {
        "clusters: 5", "users: [1]", "contexts: [null, 1, [], {}]", "clusters: [{name: 1}]",
        "current-context: 5", "current-context: x\ncontexts: [{name: x, context: [1]}]",
        "current-context: x\ncontexts: [{name: x, context: null}]",
        "current-context: x\ncontexts: [{name: x, context: {cluster: [1], user: {}}}]",
        "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
        "clusters: [{name: c, cluster: {server: 5, certificate-authority-data: [1]}}]",
        "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "clusters: [{name: c, cluster: {server: 'http://h'}}]\n"
        "users: [{name: u, user: {exec: {command: c, apiVersion: "
        "client.authentication.k8s.io/v1beta1, "
        "env: [1, {name: 5}], args: {}}}}]",
        "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "clusters: [{name: c, cluster: {server: 'http://h'}}]\n"
        "users: [{name: u, user: null}]",
        "\xff\xfe", "[[[[[[[[[[[[[[[[[[[[", "{a: *x}", "&a [*a]", "!!binary 1", "? [a]\n: b",
        "---\n---\n", "...", "clusters: &c [ *c ]",
    };
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
        parse_any(inputs[i], strlen(inputs[i]));
    parse_any(NULL, 0);
    parse_any("clusters: [\0]", 13);
}
END_TEST

START_TEST(test_mutations_do_not_crash)
{
    char *dir = make_tmpdir();
    char *base = subst(data_config, dir);
    size_t len = strlen(base);
    unsigned seed = 12345;
    static const char alphabet[] = ":-[]{}&*!|>'\"\n #,?0aZ\t\\%@`~";
    for (int iter = 0; iter < 400; iter++) {
        char *m = strdup(base);
        for (int k = 0; k < 4; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            m[pos] = alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
        }
        seed = seed * 1103515245u + 12345u;
        parse_any(m, (seed >> 8) % 2 ? len : (seed >> 9) % len); /* sometimes truncated */
        free(m);
    }
    free(base);
    rmtree(dir);
}
END_TEST

START_TEST(test_server_only_override)
{
    /* kubectl --server works with no context at all */
    kc_config_options o = {.server = "https://only:1/"};
    kc_config *cfg = NULL;
    ck_assert_int_eq(kc_config_from_buffer("kind: Config", 12, "x", NULL, &o, &cfg, NULL), KC_OK);
    ck_assert_str_eq(kc_config_server(cfg), "https://only:1");
    ck_assert_str_eq(kc_config_context(cfg), "");
    ck_assert_str_eq(kc_config_namespace(cfg), "default");
    kc_config_free(cfg);
    /* an empty kubeconfig is fine then, as with --kubeconfig /dev/null */
    o.kubeconfig = "/dev/null";
    cfg = load_ok(&o);
    ck_assert_str_eq(kc_config_server(cfg), "https://only:1");
    ck_assert_str_eq(cfg->origin, "/dev/null");
    kc_config_free(cfg);
    o.kubeconfig = NULL;
    kc_error err = KC_ERROR_INIT;
    o.server = "only:1";
    ck_assert_int_eq(kc_config_from_buffer("kind: Config", 12, "x", NULL, &o, &cfg, &err),
                     KC_ECONFIG);
    /* a program set the override: no flag to name */
    ck_assert_str_eq(err.message, "kubeconfig x: server override: must start with https:// or http://");
    kc_error_clear(&err);
    o.kubeconfig = "/dev/null"; /* a command line: kubectl's words */
    ck_assert_int_eq(kc_config_load(&o, &cfg, &err), KC_ECONFIG);
    ck_assert_str_eq(err.message,
                     "kubeconfig /dev/null: --server: must start with https:// or http://");
    kc_error_clear(&err);
}
END_TEST

/* ---- a buffer a program loaded (the operator: a member's Secret) ---- */

#define SECRET_ORIGIN "secret kclient-system/member-x key kubeconfig"

typedef struct buffer_case {
    const char *yaml;
    size_t len;         /* 0: strlen */
    const char *expect; /* after "kubeconfig " SECRET_ORIGIN ": "; a prefix when it ends in '*' */
} buffer_case;

static const buffer_case buffer_cases[] = {
    /* garbage: not a kubeconfig at all */
    {"hello world\n", 0, "not a kubeconfig: expected a mapping at the top level, found a string"},
    {"- a\n- b\n", 0, "not a kubeconfig: expected a mapping at the top level, found a list"},
    {"42\n", 0, "not a kubeconfig: expected a mapping at the top level, found a number"},
    {"", 0, "not a kubeconfig: empty document"},
    {"# nothing\n", 0, "not a kubeconfig: empty document"},
    {"\x01\x02\x03", 3, "not a kubeconfig: *"},
    {"{\"a\": [1,\n", 0, "not a kubeconfig: *"},
    {"foo: bar\nbaz: 1\n", 0, "not a kubeconfig: no clusters, users, contexts or current-context"},
    /* a kubeconfig without a context to use */
    {"apiVersion: v1\nkind: Config\n", 0, "no current-context and no contexts"},
    {CLUSTER USER(""), 0, "no current-context and no contexts"},
    {CLUSTER CONTEXT USER(""), 0,
     "no current-context, and the program loading it names no context (contexts: \"ctx\"): set "
     "current-context"},
    {CLUSTER USER("") "contexts: [{name: a, context: {cluster: c1}}, {name: b, context: {cluster: "
                      "c1}}, {name: c, context: {cluster: c1}}, {name: d, context: {cluster: c1}}, "
                      "{name: e, context: {cluster: c1}}]\n",
     0,
     "no current-context, and the program loading it names no context (contexts: \"a\", \"b\", "
     "\"c\", \"d\", ... (5 in all)): set current-context"},
    {"current-context: ghost\n" CLUSTER CONTEXT USER(""), 0, "context \"ghost\" not found"},
};

START_TEST(test_buffer_errors_name_no_flags)
{
    const buffer_case *bc = &buffer_cases[_i];
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    size_t len = bc->len ? bc->len : strlen(bc->yaml);
    ck_assert_int_eq(kc_config_from_buffer(bc->yaml, len, SECRET_ORIGIN, NULL, NULL, &cfg, &err),
                     KC_ECONFIG);
    ck_assert_ptr_null(cfg);
    const char *prefix = "kubeconfig " SECRET_ORIGIN ": ";
    ck_assert_msg(strncmp(err.message, prefix, strlen(prefix)) == 0, "case %d: %s", _i,
                  err.message);
    const char *got = err.message + strlen(prefix);
    size_t n = strlen(bc->expect);
    if (bc->expect[n - 1] == '*')
        ck_assert_msg(strncmp(got, bc->expect, n - 1) == 0 && strlen(got) > n - 1,
                      "case %d: %s", _i, err.message);
    else
        ck_assert_msg(strcmp(got, bc->expect) == 0, "case %d: %s", _i, err.message);
    ck_assert_msg(!strstr(err.message, "--"), "case %d names a flag: %s", _i, err.message);
    ck_assert_msg(!strstr(err.message, STATIC_TOKEN), "case %d: %s", _i, err.message);
    kc_error_clear(&err);
}
END_TEST

/* The same documents from a file, for a command line, keep kubectl's hint
 * (kubectl-patch_status and the operator's hub both have --context). */
START_TEST(test_file_errors_keep_kubectl_hints)
{
    char *dir = make_tmpdir();
    char *path = write_config(dir, "config", CLUSTER CONTEXT USER(""));
    kc_config_options o = {.kubeconfig = path};
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_config_load(&o, &cfg, &err), KC_ECONFIG);
    char *want = kc_asprintf("kubeconfig %s: no current-context set and no --context given", path);
    ck_assert_str_eq(err.message, want);
    kc_error_clear(&err);
    free(want);
    free(path);
    path = write_config(dir, "garbage", "hello world\n");
    o.kubeconfig = path;
    ck_assert_int_eq(kc_config_load(&o, &cfg, &err), KC_ECONFIG);
    want = kc_asprintf("kubeconfig %s: expected a mapping at the top level", path);
    ck_assert_str_eq(err.message, want);
    /* and with a context named, a buffer without current-context loads */
    kc_config_options named = {.context = "ctx"};
    const char *yaml = CLUSTER CONTEXT USER("");
    ck_assert_int_eq(kc_config_from_buffer(yaml, strlen(yaml), SECRET_ORIGIN, NULL, &named, &cfg,
                                           NULL),
                     KC_OK);
    ck_assert_str_eq(kc_config_context(cfg), "ctx");
    kc_config_free(cfg);
    kc_error_clear(&err);
    free(want);
    free(path);
    rmtree(dir);
}
END_TEST

/* ---- permissions: a kubeconfig others can read gets a warning ---- */

static const char minimal_config[] =
    "current-context: c\n"
    "clusters: [{name: x, cluster: {server: 'https://x:1'}}]\n"
    "users: [{name: u, user: {token: " STATIC_TOKEN "}}]\n"
    "contexts: [{name: c, context: {cluster: x, user: u}}]\n";

static char *config_with_mode(const char *dir, const char *name, mode_t mode)
{
    char *path = write_config(dir, name, minimal_config);
    ck_assert_int_eq(chmod(path, mode), 0);
    return path;
}

/* The warnings of loading path (NULL for none), copied. */
static char *warnings_of(const char *path)
{
    kc_config_options o = {.kubeconfig = path};
    kc_config *cfg = load_ok(&o);
    const char *w = kc_config_warnings(cfg);
    char *copy = w ? strdup(w) : NULL;
    kc_config_free(cfg);
    return copy;
}

static void expect_warning(const char *dir, mode_t mode, const char *how)
{
    char *path = config_with_mode(dir, "config", mode);
    char *w = warnings_of(path);
    char *want = kc_asprintf("kubeconfig %s is %s by group or others (mode %04o); chmod 600 it",
                             path, how, (unsigned)mode);
    ck_assert_msg(w && !strcmp(w, want), "mode %04o: got \"%s\", want \"%s\"", (unsigned)mode,
                  w ? w : "(none)", want);
    assert_no_secret(w);
    free(want);
    free(w);
    free(path);
}

START_TEST(test_permission_warning)
{
    char *dir = make_tmpdir();
    expect_warning(dir, 0644, "readable");
    expect_warning(dir, 0640, "readable");
    expect_warning(dir, 0604, "readable");
    expect_warning(dir, 0666, "readable");
    expect_warning(dir, 0620, "writable");
    expect_warning(dir, 0602, "writable");
    expect_warning(dir, 0610, "accessible");
    static const mode_t quiet[] = {0600, 0400, 0700};
    for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
        char *path = config_with_mode(dir, "config", quiet[i]);
        char *w = warnings_of(path);
        ck_assert_msg(w == NULL, "mode %04o: \"%s\"", (unsigned)quiet[i], w);
        free(path);
    }
    /* a symbolic link (always 0777) is judged by its target */
    char *target = config_with_mode(dir, "private", 0600);
    char *link = path_in(dir, "link");
    ck_assert_int_eq(symlink(target, link), 0);
    ck_assert_ptr_null(warnings_of(link));
    chmod(target, 0644);
    char *w = warnings_of(link);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_nonnull(strstr(w, "(mode 0644)"));
    free(w);
    free(link);
    free(target);
    rmtree(dir);
}
END_TEST

START_TEST(test_permission_warning_merged_files)
{
    char *dir = make_tmpdir();
    char *a = config_with_mode(dir, "a/config", 0644);
    char *b = write_config(dir, "b/config", "current-context: c\n");
    chmod(b, 0600);
    char *c = write_config(dir, "c/config", "current-context: c\n");
    chmod(c, 0604);
    /* one line per file that needs it, a file listed twice once */
    char *list = kc_asprintf("%s:%s:%s:%s", a, b, c, a);
    setenv("KUBECONFIG", list, 1);
    kc_config *cfg = load_ok(NULL);
    char *want = kc_asprintf("kubeconfig %s is readable by group or others (mode 0644); chmod 600 it\n"
                             "kubeconfig %s is readable by group or others (mode 0604); chmod 600 it",
                             a, c);
    ck_assert_str_eq(kc_config_warnings(cfg), want);
    kc_config_free(cfg);
    free(want);
    free(list);
    /* files that are not read (missing) or not regular (/dev/null) say nothing */
    chmod(a, 0600);
    list = kc_asprintf("%s/missing:%s", dir, a);
    setenv("KUBECONFIG", list, 1);
    cfg = load_ok(NULL);
    ck_assert_ptr_null(kc_config_warnings(cfg));
    kc_config_free(cfg);
    kc_config_options o = {.kubeconfig = "/dev/null", .server = "https://only:1"};
    cfg = load_ok(&o);
    ck_assert_ptr_null(kc_config_warnings(cfg));
    kc_config_free(cfg);
    free(list);
    free(a);
    free(b);
    free(c);
    rmtree(dir);
}
END_TEST

START_TEST(test_no_warning_from_buffer_or_in_cluster)
{
    kc_config *cfg = NULL;
    ck_assert_int_eq(kc_config_from_buffer(minimal_config, strlen(minimal_config), "secret x/y",
                                           NULL, NULL, &cfg, NULL),
                     KC_OK);
    ck_assert_ptr_null(kc_config_warnings(cfg));
    kc_config_free(cfg);
    ck_assert_ptr_null(kc_config_warnings(NULL));
    char *dir = make_tmpdir();
    put_file(dir, "token", "sa-token\n"); /* kubelet projects it 0644: not ours to judge */
    copy_file(DATA "/ca.pem", dir, "ca.crt");
    char *tok = path_in(dir, "token");
    chmod(tok, 0644);
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_config_in_cluster(dir, &cfg, &err), KC_OK);
    ck_assert_ptr_null(kc_config_warnings(cfg));
    kc_config_free(cfg);
    free(tok);
    rmtree(dir);
}
END_TEST

typedef struct captured {
    char lines[8][512];
    int levels[8];
    int n;
} captured;

static void capture_log(void *ud, int level, const char *line)
{
    captured *c = ud;
    if (c->n < 8) {
        c->levels[c->n] = level;
        snprintf(c->lines[c->n++], sizeof(c->lines[0]), "%s", line);
    }
}

START_TEST(test_client_logs_config_warnings)
{
    char *dir = make_tmpdir();
    char *a = config_with_mode(dir, "a", 0644);
    char *b = config_with_mode(dir, "b", 0640);
    char *list = kc_asprintf("%s:%s", a, b);
    setenv("KUBECONFIG", list, 1);
    kc_config *cfg = load_ok(NULL);
    captured cap = {0};
    kc_client_options o = {.log = capture_log, .log_ud = &cap, .verbosity = 1};
    kc_client *c = NULL;
    ck_assert_int_eq(kc_client_new(cfg, &o, &c, NULL), KC_OK);
    ck_assert_int_eq(cap.n, 2); /* one line each, at level 1 (warning) */
    char *want_a = kc_asprintf("warning: kubeconfig %s is readable by group or others (mode 0644); "
                               "chmod 600 it", a);
    char *want_b = kc_asprintf("warning: kubeconfig %s is readable by group or others (mode 0640); "
                               "chmod 600 it", b);
    ck_assert_str_eq(cap.lines[0], want_a);
    ck_assert_str_eq(cap.lines[1], want_b);
    ck_assert_int_eq(cap.levels[0], 1);
    ck_assert_int_eq(cap.levels[1], 1);
    kc_client_free(c);
    /* verbosity 0 = errors only: not logged (programs show them themselves) */
    captured quiet = {0};
    o.log_ud = &quiet;
    o.verbosity = 0;
    ck_assert_int_eq(kc_client_new(cfg, &o, &c, NULL), KC_OK);
    ck_assert_int_eq(quiet.n, 0);
    kc_client_free(c);
    kc_config_free(cfg);
    free(want_a);
    free(want_b);
    free(list);
    free(a);
    free(b);
    rmtree(dir);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_valid_file);
    tcase_add_test(tc, test_valid_other_context);
    tcase_add_test(tc, test_overrides);
    tcase_add_test(tc, test_data_fields);
    tcase_add_test(tc, test_basic_auth_and_anonymous);
    tcase_add_test(tc, test_unused_entries_not_read);
    tcase_add_test(tc, test_static_auth_beats_exec);
    tcase_add_test(tc, test_server_only_override);
    tcase_add_loop_test(tc, test_buffer_errors_name_no_flags, 0,
                        (int)(sizeof(buffer_cases) / sizeof(buffer_cases[0])));
    tcase_add_test(tc, test_file_errors_keep_kubectl_hints);
    tcase_add_test(tc, test_merge_kubeconfig_list);
    tcase_add_test(tc, test_merge_none_exist);
    tcase_add_test(tc, test_home_fallback);
    tcase_add_test(tc, test_in_cluster);
    tcase_add_test(tc, test_auto);
    tcase_add_test(tc, test_token_file_rotation);
    tcase_add_test(tc, test_exec_cached_until_expiry);
    tcase_add_test(tc, test_exec_expired_reruns);
    tcase_add_test(tc, test_exec_no_expiry_cached_until_forced);
    tcase_add_test(tc, test_exec_env_and_v1beta1);
    tcase_add_test(tc, test_exec_cert);
    tcase_add_test(tc, test_exec_failures);
    tcase_add_test(tc, test_exec_stderr_first_line_only);
    tcase_add_test(tc, test_exec_timeout);
    tcase_add_test(tc, test_exec_not_found_and_relative);
    tcase_add_test(tc, test_exec_parse);
    tcase_add_test(tc, test_token_control_chars);
    tcase_add_test(tc, test_rfc3339);
    tcase_add_loop_test(tc, test_malformed, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(tc, test_wrong_types_do_not_crash);
    tcase_add_test(tc, test_mutations_do_not_crash);
    tcase_add_test(tc, test_permission_warning);
    tcase_add_test(tc, test_permission_warning_merged_files);
    tcase_add_test(tc, test_no_warning_from_buffer_or_in_cluster);
    tcase_add_test(tc, test_client_logs_config_warnings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
