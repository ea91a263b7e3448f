/* test_tls.c - TLS verification is on by default and cannot be turned off
 * but by the kubeconfig, against a REAL kube-apiserver (fixture
 * cluster_security: security-fixture.sh) that serves, besides its normal
 * certificate, an expired one signed by the cluster's own CA for the server
 * name expired.kclient.test (--tls-sni-cert-key).
 *
 *  - wrong CA: test_rest.c wrong_ca_fails_tls (not repeated here);
 *  - an expired certificate, a host name the certificate does not name:
 *    fail at once (one attempt, never retried) with a message that names
 *    the server, says what is wrong, and carries no secret;
 *  - insecure-skip-tls-verify: true is honoured (the expired certificate is
 *    accepted) and logs a warning; no environment variable, flag or other
 *    input turns verification off;
 *  - a kubeconfig's certificate-authority is the ONLY trust anchor: a server
 *    whose certificate chains to the system's CA store but not to it is
 *    refused (libcurl would otherwise also trust its built-in CA path). */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <sys/mount.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kc_badserver.h"

#define EXPIRED_NAME "expired.kclient.test"
#define WRONG_NAME "wrong.kclient.test"

static kct_badserver bs;
static char store[] = "/tmp/kct-store-XXXXXX"; /* the fake system CA store (main makes it) */

static const char *dir(void) { return kct_dir("KC_TEST_CLUSTER_SECURITY"); }

static char *slurp_trim(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "open %s", path);
    char buf[4096] = "";
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return strdup(buf);
}

static char *admin_token(void)
{
    char *p = kct_path(dir(), "admin.token");
    char *t = slurp_trim(p);
    free(p);
    return t;
}

/* A kubeconfig for the security cluster with `cluster_extra` in its cluster
 * mapping (tls-server-name, insecure-skip-tls-verify, certificate-authority). */
static kc_config *config_with(const char *origin, const char *cluster_extra)
{
    char *port_path = kct_path(dir(), "port");
    char *port = slurp_trim(port_path);
    char *token = admin_token();
    char *yaml = NULL;
    if (asprintf(&yaml,
                 "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                 "clusters: [{name: sec, cluster: {server: 'https://127.0.0.1:%s'%s}}]\n"
                 "users: [{name: admin, user: {token: '%s'}}]\n"
                 "contexts: [{name: c, context: {cluster: sec, user: admin}}]\n",
                 port, cluster_extra, token) < 0)
        abort();
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_config_from_buffer(yaml, strlen(yaml), origin, NULL, NULL, &cfg, &err), &err);
    free(yaml);
    free(token);
    free(port);
    free(port_path);
    return cfg;
}

static char *with_ca(const char *more)
{
    char *ca = kct_path(dir(), "ca.crt"), *s = NULL;
    if (asprintf(&s, ", certificate-authority: '%s'%s", ca, more) < 0)
        abort();
    free(ca);
    return s;
}

/* Log lines collected from the client. */
typedef struct logbuf {
    kc_strbuf sb;
} logbuf;

static void collect_log(void *ud, int level, const char *line)
{
    kc_strbuf_appendf(&((logbuf *)ud)->sb, "[%d] %s\n", level, line);
}

/* GET /version must fail at TLS: one attempt, and the returned line. */
static char *tls_fails(kc_config *cfg, logbuf *log)
{
    kc_client_options o = {.log = collect_log, .log_ud = log, .verbosity = 9};
    kc_client *c = kct_client(cfg, &o);
    kc_error err = KC_ERROR_INIT;
    char *body = NULL;
    ck_assert_int_eq(kc_get_raw(c, "/version", &body, NULL, &err), KC_ETRANSPORT);
    ck_assert_ptr_null(body);
    char *line = malloc(2048);
    kc_error_format(&err, line, 2048);
    ck_assert_int_eq(err.http_status, 0);
    ck_assert_msg(err.attempts == 1, "attempts %d: %s", err.attempts, line); /* never retried */
    kc_client_stats st;
    kc_client_get_stats(c, &st);
    ck_assert_uint_eq(st.requests, 1);
    ck_assert_uint_eq(st.retries, 0);
    /* no secret in the message or anywhere in the log */
    char *token = admin_token();
    ck_assert_msg(!strstr(line, token), "token in %s", line);
    ck_assert_msg(!log->sb.data || !strstr(log->sb.data, token), "token in the log");
    free(token);
    kc_error_clear(&err);
    kc_client_free(c);
    return line;
}

#define ASSERT_HAS(line, want) ck_assert_msg(strstr((line), (want)) != NULL, "no \"%s\" in: %s", (want), (line))

START_TEST(expired_certificate_fails)
{
    char *extra = with_ca(", tls-server-name: " EXPIRED_NAME);
    kc_config *cfg = config_with("expired.kubeconfig", extra);
    logbuf log = {0};
    char *line = tls_fails(cfg, &log);
    char *port = kct_path(dir(), "port"), *p = slurp_trim(port), *want = NULL;
    if (asprintf(&want, "TLS verification of https://" EXPIRED_NAME ":%s failed: ", p) < 0)
        abort();
    ASSERT_HAS(line, "GET /version: ");
    ASSERT_HAS(line, want);                      /* the server, as verified */
    ASSERT_HAS(line, "certificate has expired"); /* what is wrong (curl's words) */
    ASSERT_HAS(line, "(curl 60)");
    ASSERT_HAS(line, "expired.kubeconfig");      /* where to look */
    free(want);
    free(p);
    free(port);
    free(line);
    kc_strbuf_free(&log.sb);
    kc_config_free(cfg);
    free(extra);
}
END_TEST

START_TEST(wrong_host_name_fails)
{
    /* the serving certificate names 127.0.0.1, localhost, kubernetes...:
     * not wrong.kclient.test */
    char *extra = with_ca(", tls-server-name: " WRONG_NAME);
    kc_config *cfg = config_with("wrong-name.kubeconfig", extra);
    logbuf log = {0};
    char *line = tls_fails(cfg, &log);
    ASSERT_HAS(line, "TLS verification of https://" WRONG_NAME ":");
    ASSERT_HAS(line, "no alternative certificate subject name matches target host name '" WRONG_NAME "'");
    free(line);
    kc_strbuf_free(&log.sb);
    kc_config_free(cfg);
    free(extra);
}
END_TEST

START_TEST(the_right_name_and_ca_work)
{
    /* the control: same cluster, same CA, a name the certificate carries */
    char *extra = with_ca(", tls-server-name: kubernetes.default");
    kc_config *cfg = config_with("right.kubeconfig", extra);
    kc_client *c = kct_client(cfg, NULL);
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_get_raw(c, "/version", NULL, NULL, &err), &err);
    kc_client_free(c);
    kc_config_free(cfg);
    free(extra);
}
END_TEST

START_TEST(insecure_skip_verify_is_honoured_and_warns)
{
    kc_config *cfg = config_with("insecure.kubeconfig",
                                 ", insecure-skip-tls-verify: true, tls-server-name: " EXPIRED_NAME);
    ck_assert_int_eq(kc_config_insecure(cfg), 1);
    logbuf log = {0};
    kc_client_options o = {.log = collect_log, .log_ud = &log, .verbosity = 1};
    kc_client *c = kct_client(cfg, &o);
    /* at creation, before any request */
    ck_assert_ptr_nonnull(log.sb.data);
    char *port = kct_path(dir(), "port"), *p = slurp_trim(port), *want = NULL;
    if (asprintf(&want,
                 "[1] warning: TLS verification disabled for https://127.0.0.1:%s "
                 "(insecure-skip-tls-verify in insecure.kubeconfig)\n",
                 p) < 0)
        abort();
    ASSERT_HAS(log.sb.data, want);
    /* the expired certificate is accepted */
    kc_error err = KC_ERROR_INIT;
    char *body = NULL;
    KCT_OK(kc_get_raw(c, "/version", &body, NULL, &err), &err);
    ASSERT_HAS(body, "gitVersion");
    free(body);
    kc_client_free(c);
    kc_config_free(cfg);
    /* and so is a name the certificate does not carry */
    cfg = config_with("insecure.kubeconfig",
                      ", insecure-skip-tls-verify: true, tls-server-name: " WRONG_NAME);
    c = kct_client(cfg, NULL);
    KCT_OK(kc_get_raw(c, "/version", NULL, NULL, &err), &err);
    kc_client_free(c);
    kc_config_free(cfg);
    /* insecure together with a CA is refused, as by kubectl */
    char *extra = with_ca(", insecure-skip-tls-verify: true");
    char *yaml = NULL;
    if (asprintf(&yaml,
                 "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                 "clusters: [{name: sec, cluster: {server: 'https://127.0.0.1:%s'%s}}]\n"
                 "contexts: [{name: c, context: {cluster: sec}}]\n",
                 p, extra) < 0)
        abort();
    kc_config *bad = NULL;
    ck_assert_int_eq(kc_config_from_buffer(yaml, strlen(yaml), "both", NULL, NULL, &bad, &err),
                     KC_ECONFIG);
    ASSERT_HAS(err.message, "with the insecure flag is not allowed");
    kc_error_clear(&err);
    free(yaml);
    free(extra);
    free(want);
    free(p);
    free(port);
    kc_strbuf_free(&log.sb);
}
END_TEST

/* Environment variables that turn verification off in other tools (or
 * that a careless implementation might invent) change nothing. */
START_TEST(no_environment_variable_disables_verification)
{
    static const char *const vars[][2] = {
        {"KUBE_INSECURE_SKIP_TLS_VERIFY", "true"}, {"KUBECTL_INSECURE_SKIP_TLS_VERIFY", "true"},
        {"INSECURE_SKIP_TLS_VERIFY", "true"},      {"KCLIENT_INSECURE_SKIP_TLS_VERIFY", "true"},
        {"KCLIENT_INSECURE", "1"},                 {"KCLIENT_OPERATOR_INSECURE_SKIP_TLS_VERIFY", "true"},
        {"CURL_INSECURE", "1"},                    {"CURLOPT_SSL_VERIFYPEER", "0"},
        {"CURL_SSL_NO_VERIFY", "1"},               {"SSL_NO_VERIFY", "1"},
        {"GIT_SSL_NO_VERIFY", "1"},                {"NODE_TLS_REJECT_UNAUTHORIZED", "0"},
        {"PYTHONHTTPSVERIFY", "0"},                {"GODEBUG", "x509ignoreCN=1"},
        {"SSL_CERT_FILE", "/dev/null"},            {"CURL_CA_BUNDLE", "/dev/null"},
    };
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        setenv(vars[i][0], vars[i][1], 1);
    char *extra = with_ca(", tls-server-name: " EXPIRED_NAME);
    kc_config *cfg = config_with("env.kubeconfig", extra);
    ck_assert_int_eq(kc_config_insecure(cfg), 0);
    logbuf log = {0};
    char *line = tls_fails(cfg, &log);
    ASSERT_HAS(line, "certificate has expired");
    free(line);
    kc_strbuf_free(&log.sb);
    kc_config_free(cfg);
    free(extra);
}
END_TEST

/* The source agrees: the one place verification is switched off is the
 * transport's `insecure_skip_tls_verify` branch, which only the kubeconfig
 * field sets; the environment variables read anywhere are a short, known
 * list (the operator's flag variables are its flags, none of which is
 * about TLS: test_secrets.sh checks that neither program takes one). */
static char *read_source(const char *rel)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", getenv("KC_SOURCE_DIR"), rel) < 0)
        abort();
    char *data = NULL;
    size_t len = 0;
    ck_assert_msg(kc_read_file(path, &data, &len) == 0, "read %s", path);
    free(path);
    return data;
}

static int count_of(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static void check_getenv(const char *rel, const char *text)
{
    /* SSLKEYLOGFILE: read only to warn that libcurl writes session keys there */
    static const char *const allowed[] = {"KUBECONFIG", "HOME", "KUBERNETES_SERVICE_HOST",
                                          "KUBERNETES_SERVICE_PORT", "PATH", "POD_NAME",
                                          "SSLKEYLOGFILE"};
    for (const char *p = text; (p = strstr(p, "getenv(")); p += 7) {
        if (p[7] != '"') { /* a computed name: only the operator's flags do that */
            ck_assert_msg(strstr(rel, "operator/flags.c") != NULL, "%s: getenv of a computed name",
                          rel);
            continue;
        }
        size_t n = strcspn(p + 8, "\"");
        int ok = 0;
        for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
            ok |= strlen(allowed[i]) == n && !strncmp(allowed[i], p + 8, n);
        ck_assert_msg(ok, "%s reads $%.*s: is it about TLS? add it here once checked", rel, (int)n,
                      p + 8);
    }
}

START_TEST(no_other_switch_in_the_source)
{
    static const char *const dirs[] = {"kclient/src", "kclient/tools", "operator"};
    int verify_off = 0, insecure_set = 0;
    for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
        char *path = NULL;
        if (asprintf(&path, "%s/%s", getenv("KC_SOURCE_DIR"), dirs[d]) < 0)
            abort();
        DIR *dp = opendir(path);
        ck_assert_ptr_nonnull(dp);
        struct dirent *de;
        while ((de = readdir(dp))) {
            size_t n = strlen(de->d_name);
            if (n < 3 || strcmp(de->d_name + n - 2, ".c"))
                continue;
            char *rel = NULL;
            if (asprintf(&rel, "%s/%s", dirs[d], de->d_name) < 0)
                abort();
            char *text = read_source(rel);
            check_getenv(rel, text);
            int off = count_of(text, "CURLOPT_SSL_VERIFYPEER") + count_of(text, "CURLOPT_SSL_VERIFYHOST") +
                      count_of(text, "CURLOPT_SSL_VERIFYSTATUS") + count_of(text, "CURLOPT_PROXY_SSL_VERIFY");
            ck_assert_msg(off == 0 || !strcmp(rel, "kclient/src/transport.c"), "%s touches verification", rel);
            verify_off += off;
            insecure_set += count_of(text, "insecure_skip_tls_verify = ");
            if (count_of(text, "insecure_skip_tls_verify = "))
                ck_assert_str_eq(rel, "kclient/src/config.c");
            free(text);
            free(rel);
        }
        closedir(dp);
        free(path);
    }
    ck_assert_int_eq(verify_off, 2); /* VERIFYPEER and VERIFYHOST, once each */
    ck_assert_int_eq(insecure_set, 1);
    char *transport = read_source("kclient/src/transport.c");
    const char *branch = strstr(transport, "if (cfg->insecure_skip_tls_verify) {");
    ck_assert_ptr_nonnull(branch);
    ck_assert_ptr_eq(strstr(transport, "CURLOPT_SSL_VERIFYPEER"),
                     strstr(branch, "CURLOPT_SSL_VERIFYPEER")); /* inside that branch */
    ck_assert_int_lt(strstr(branch, "CURLOPT_SSL_VERIFYHOST") - branch, 200);
    free(transport);
    char *config = read_source("kclient/src/config.c");
    ck_assert_ptr_nonnull(strstr(config, "cfg->insecure_skip_tls_verify = f.insecure;"));
    ck_assert_ptr_nonnull(strstr(config, "\"insecure-skip-tls-verify\", NULL, &f->insecure"));
    free(config);
}
END_TEST

/* ---- the kubeconfig's CA is the only trust anchor ---- */

/* Make /etc/ssl/certs, for this process only (a private mount namespace),
 * a system CA store that holds the bad server's CA. */
static int fake_system_store(const char *ca_file)
{
    if (unshare(CLONE_NEWNS) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        return -1;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return -1;
    FILE *in = fopen(ca_file, "r");
    ck_assert_ptr_nonnull(in);
    X509 *ca = PEM_read_X509(in, NULL, NULL, NULL);
    fclose(in);
    ck_assert_ptr_nonnull(ca);
    char path[512];
    /* the hashed name OpenSSL's CA path lookup uses, and the bundle file */
    snprintf(path, sizeof(path), "%s/%08lx.0", store, X509_subject_name_hash(ca));
    FILE *out = fopen(path, "w");
    PEM_write_X509(out, ca);
    fclose(out);
    snprintf(path, sizeof(path), "%s/ca-certificates.crt", store);
    out = fopen(path, "w");
    PEM_write_X509(out, ca);
    fclose(out);
    X509_free(ca);
    return mount(store, "/etc/ssl/certs", NULL, MS_BIND, NULL);
}

START_TEST(kubeconfig_ca_is_the_only_trust_anchor)
{
    ck_assert_msg(fake_system_store(bs.ca_file) == 0, "cannot make a private /etc/ssl/certs: %s",
                  strerror(errno));
    kc_error err = KC_ERROR_INIT;
    /* the control: without certificate-authority the system store is used,
     * and it now trusts the bad server */
    char *yaml = kct_badserver_kubeconfig(&bs, NULL, NULL, NULL);
    kc_config *cfg = NULL;
    KCT_OK(kc_config_from_buffer(yaml, strlen(yaml), "system.kubeconfig", NULL, NULL, &cfg, &err),
           &err);
    kc_client *c = kct_client(cfg, NULL);
    KCT_OK(kc_get_raw(c, "/version", NULL, NULL, &err), &err);
    kc_client_free(c);
    kc_config_free(cfg);
    free(yaml);
    /* with a certificate-authority (a real CA, just not the bad server's),
     * that CA alone is trusted, as by kubectl */
    char *other_ca = kct_path(dir(), "ca.crt");
    yaml = kct_badserver_kubeconfig(&bs, other_ca, NULL, NULL);
    KCT_OK(kc_config_from_buffer(yaml, strlen(yaml), "own-ca.kubeconfig", NULL, NULL, &cfg, &err),
           &err);
    logbuf log = {0};
    kc_client_options o = {.log = collect_log, .log_ud = &log, .verbosity = 9};
    c = kct_client(cfg, &o);
    ck_assert_int_eq(kc_get_raw(c, "/version", NULL, NULL, &err), KC_ETRANSPORT);
    char line[2048];
    kc_error_format(&err, line, sizeof(line));
    ASSERT_HAS(line, "TLS verification of https://127.0.0.1:");
    ASSERT_HAS(line, "unable to get local issuer certificate");
    ck_assert_int_eq(err.attempts, 1);
    kc_error_clear(&err);
    kc_client_free(c);
    kc_config_free(cfg);
    free(yaml);
    free(other_ca);
    kc_strbuf_free(&log.sb);
}
END_TEST

static void remove_store(void)
{
    DIR *d = opendir(store);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", store, de->d_name);
        if (de->d_name[0] != '.')
            unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(store);
}

int main(void)
{
    if (!mkdtemp(store))
        abort();
    kct_badserver_start(&bs);
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, expired_certificate_fails);
    tcase_add_test(tc, wrong_host_name_fails);
    tcase_add_test(tc, the_right_name_and_ca_work);
    tcase_add_test(tc, insecure_skip_verify_is_honoured_and_warns);
    tcase_add_test(tc, no_environment_variable_disables_verification);
    tcase_add_test(tc, no_other_switch_in_the_source);
    tcase_add_test(tc, kubeconfig_ca_is_the_only_trust_anchor);
    suite_add_tcase(s, tc);
    int rc = kct_run_suite(s);
    kct_badserver_stop(&bs);
    remove_store();
    return rc;
}
