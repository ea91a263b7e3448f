/* exec_credential.h - client-go credential plugins (ExecCredential).
 * Not installed.  config.c parses the exec stanza and caches the result;
 * this file runs the plugin and reads its answer. */
#ifndef KCLIENT_EXEC_CREDENTIAL_H
#define KCLIENT_EXEC_CREDENTIAL_H

#include <stddef.h>
#include <time.h>

#include "config_internal.h"

#define KC_EXEC_API_V1 "client.authentication.k8s.io/v1"
#define KC_EXEC_API_V1BETA1 "client.authentication.k8s.io/v1beta1"

/* How long a plugin may run before it is killed. */
#define KC_EXEC_TIMEOUT_MS 30000
/* The most stdout a plugin may write; a credential is a few KiB. */
#define KC_EXEC_MAX_OUTPUT (1024 * 1024)

/* What a plugin returned.  All owned; release with kc_exec_result_clear. */
typedef struct kc_exec_result {
    char *token;
    char *cert_pem;
    size_t cert_pem_len;
    char *key_pem;
    size_t key_pem_len;
    time_t expiry; /* 0 = the plugin gave no expirationTimestamp */
} kc_exec_result;

/* Run cfg->exec: the command with its args, the environment plus its env
 * entries and KUBERNETES_EXEC_INFO, stdin from /dev/null.  Blocks until the
 * plugin exits or timeout_ms passes (then it is killed).  On success fills
 * *out.  Failures are KC_EAUTH with a message naming the user, the command,
 * the exit code and the first line of stderr (never stdout, which may hold a
 * token). */
kc_code kc_exec_run(const kc_config *cfg, int timeout_ms, kc_exec_result *out, kc_error *err);

/* Parse a plugin's stdout (pure).  api_version is the configured one, which
 * the answer must repeat; a token with a control character is refused.  On
 * failure returns KC_EAUTH and sets *problem to a static description free
 * of the output's content. */
kc_code kc_exec_parse(const char *api_version, const char *json, size_t len, kc_exec_result *out,
                      const char **problem);

/* The KUBERNETES_EXEC_INFO value for cfg (malloc'd JSON) or NULL. */
char *kc_exec_info_json(const kc_config *cfg);

/* RFC 3339 ("2024-05-01T12:00:00Z", "...T12:00:00.5+02:00") to a time_t.
 * Returns 0, or -1 when s is not one (a day past its month's end, as
 * 2024-02-30, is none). */
int kc_rfc3339_parse(const char *s, time_t *out);

/* Overwrite every string in a cJSON tree (and its siblings) before it is
 * freed, when it held credentials. */
struct cJSON;
void kc_json_cleanse(struct cJSON *node);

/* Cleanse and free what r holds; r is left empty. */
void kc_exec_result_clear(kc_exec_result *r);

/* Free an exec stanza (env values may be secrets: cleansed).  NULL is fine. */
void kc_exec_config_free(kc_exec_config *e);

#endif
