/* fuzz_exec.c - the output of a client-go credential plugin (ExecCredential,
 * client.authentication.k8s.io/v1 and v1beta1): kc_exec_parse
 * (kclient/src/exec_credential.c, declared in exec_credential.h) and, for
 * inputs with flag bit 1, the whole path a request takes: a kubeconfig user
 * whose exec plugin is /bin/cat of a file holding the input,
 * kc_config_credentials (spawn, pipes, parse, cache).
 *
 * Input: byte 0 flags (bit 0: the kubeconfig says v1beta1, else v1; bit 1:
 * also run the plugin: the first such input of a process and one in 16
 * after it, as spawning is slow), the rest the plugin's stdout (an
 * exact-size heap copy, not NUL-terminated).
 * Properties, from the ExecCredential format: the answer is accepted
 * exactly when it is a JSON object of kind ExecCredential with the
 * configured apiVersion and a status object whose token,
 * clientCertificateData, clientKeyData and expirationTimestamp are each
 * absent, null or a string ("" = absent), with the certificate and key
 * together, a token or a certificate, an RFC 3339 expiry and a token
 * without control characters (it is sent as an HTTP header: a CR or LF
 * would add header lines; regress-token-control-chars); then the
 * token, certificate and key are exactly the JSON strings and the expiry
 * is kc_rfc3339_parse's (0 without one), and an expiry printed back as
 * RFC 3339 UTC parses to the same time.  A refusal leaves the result empty
 * and its problem quotes nothing of the output.  The plugin path gives the
 * same token (and certificate) or a KC_EAUTH error that names the plugin
 * and quotes no secret. */
#include <cJSON.h>
#include <time.h>

#include "exec_credential.h"
#include "fuzz.h"
#include "kclient/config.h"

typedef struct model {
    int ok;
    const char *token, *cert, *key, *exp;
} model;

/* No byte below 0x20, no DEL: fit for an HTTP header line. */
static int header_safe(const char *t)
{
    for (; t && *t; t++)
        if ((unsigned char)*t < 0x20 || *t == 0x7f)
            return 0;
    return 1;
}

/* A status string field: absent, null and "" are NULL; another type is bad. */
static const char *field(const cJSON *status, const char *key, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(status, key);
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsString(v)) {
        *bad = 1;
        return NULL;
    }
    return *v->valuestring ? v->valuestring : NULL;
}

static model judge(const cJSON *root, const char *api_version)
{
    model m = {0};
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "apiVersion");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    if (!cJSON_IsObject(root) || !cJSON_IsString(kind) || strcmp(kind->valuestring, "ExecCredential") ||
        !cJSON_IsString(ver) || strcmp(ver->valuestring, api_version) || !cJSON_IsObject(status))
        return m;
    int bad = 0;
    m.token = field(status, "token", &bad);
    m.cert = field(status, "clientCertificateData", &bad);
    m.key = field(status, "clientKeyData", &bad);
    m.exp = field(status, "expirationTimestamp", &bad);
    time_t t;
    m.ok = !bad && !m.cert == !m.key && (m.token || m.cert) &&
           (!m.exp || kc_rfc3339_parse(m.exp, &t) == 0) && header_safe(m.token);
    return m;
}

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static void check_expiry(const model *m, time_t expiry)
{
    if (!m->exp) {
        FUZZ_CHECK(expiry == 0);
        return;
    }
    time_t want;
    FUZZ_CHECK(kc_rfc3339_parse(m->exp, &want) == 0 && expiry == want);
    struct tm tm;
    char back[64];
    if (gmtime_r(&expiry, &tm) && tm.tm_year >= -1900 && tm.tm_year <= 9999 - 1900) {
        snprintf(back, sizeof(back), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        time_t again;
        FUZZ_CHECK(kc_rfc3339_parse(back, &again) == 0 && again == expiry);
    }
}

/* A token or key long enough to be unmistakable must not be in msg. */
static void check_quotes_none(const model *m, const char *msg)
{
    const char *secrets[] = {m->token, m->key};
    for (size_t i = 0; i < 2; i++)
        if (secrets[i] && strlen(secrets[i]) >= 8 && strstr(msg, secrets[i])) {
            fprintf(stderr, "message quotes a secret: %s\n", msg);
            FUZZ_CHECK(!"a secret in a message");
        }
}

/* The real path: a user whose plugin is /bin/cat FILE. */
static void run_plugin(const char *api_version, const uint8_t *out, size_t n, const model *m)
{
    const char *dir = fuzz_tmpdir();
    fuzz_write_file(dir, "plugin-output.json", out, n);
    char *kubeconfig = NULL;
    int len = asprintf(&kubeconfig,
                       "clusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\n"
                       "users: [{name: u, user: {exec: {apiVersion: \"%s\", command: /bin/cat,"
                       " args: [\"%s/plugin-output.json\"], interactiveMode: Never}}}]\n"
                       "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                       "current-context: x\n",
                       api_version, dir);
    FUZZ_CHECK(len > 0);
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    FUZZ_CHECK(kc_config_from_buffer(kubeconfig, (size_t)len, "fuzz", dir, NULL, &cfg, &err) == KC_OK);
    kc_credentials cred;
    kc_code rc = kc_config_credentials(cfg, 0, &cred, &err);
    if (m->ok) {
        if (rc != KC_OK)
            fprintf(stderr, "plugin: %s\n", err.message ? err.message : "?");
        FUZZ_CHECK(rc == KC_OK);
        FUZZ_CHECK(same_str(cred.token, m->token));
        FUZZ_CHECK(same_str(cred.cert_pem, m->cert) && same_str(cred.key_pem, m->key));
        /* cached: asked again, the same answer without running the plugin */
        kc_credentials again;
        FUZZ_CHECK(kc_config_credentials(cfg, 0, &again, &err) == KC_OK);
        FUZZ_CHECK(same_str(again.token, m->token));
    } else {
        FUZZ_CHECK(rc == KC_EAUTH && err.code == KC_EAUTH && err.message);
        FUZZ_CHECK(strstr(err.message, "invalid ExecCredential") != NULL);
        FUZZ_CHECK(strstr(err.message, "exec plugin \"/bin/cat\"") != NULL);
        check_quotes_none(m, err.message);
    }
    kc_error_clear(&err);
    kc_config_free(cfg);
    free(kubeconfig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    const char *api_version = (data[0] & 1) ? KC_EXEC_API_V1BETA1 : KC_EXEC_API_V1;
    char *json = fuzz_copy(data + 1, size - 1, 0);
    cJSON *root = cJSON_ParseWithLength(json, size - 1);
    model m = judge(root, api_version);
    kc_exec_result r;
    const char *problem = NULL;
    kc_code rc = kc_exec_parse(api_version, json, size - 1, &r, &problem);
    if (rc != (m.ok ? KC_OK : KC_EAUTH)) {
        fprintf(stderr, "kc_exec_parse: %d (%s), expected %s\n", rc, problem ? problem : "-",
                m.ok ? "accepted" : "refused");
        FUZZ_CHECK(!"kc_exec_parse judged the ExecCredential wrongly");
    }
    if (rc == KC_OK) {
        FUZZ_CHECK(problem == NULL);
        FUZZ_CHECK(same_str(r.token, m.token));
        FUZZ_CHECK(same_str(r.cert_pem, m.cert) && same_str(r.key_pem, m.key));
        FUZZ_CHECK(r.cert_pem_len == (m.cert ? strlen(m.cert) : 0));
        FUZZ_CHECK(r.key_pem_len == (m.key ? strlen(m.key) : 0));
        check_expiry(&m, r.expiry);
        FUZZ_CHECK(header_safe(r.token));
    } else {
        FUZZ_CHECK(problem && *problem);
        FUZZ_CHECK(!r.token && !r.cert_pem && !r.key_pem && !r.cert_pem_len && !r.key_pem_len &&
                   !r.expiry);
        check_quotes_none(&m, problem);
    }
    /* spawning is slow: one input in 16 of those asking for it, and always
     * the first one of a process (so a single input reproduces) */
    static unsigned plugin_runs;
    if ((data[0] & 2) && plugin_runs++ % 16 == 0)
        run_plugin(api_version, data + 1, size - 1, &m);
    kc_exec_result_clear(&r);
    cJSON_Delete(root);
    free(json);
    return 0;
}
