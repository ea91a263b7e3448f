/* fuzz_kubeconfig.c - the kubeconfig parser (kclient/src/config.c,
 * kc_config_from_buffer, through kc_yaml_parse).
 *
 * Input: byte 0 picks overrides (--server, --context, --cluster, --user,
 * -n), the rest is the kubeconfig (an exact-size heap copy, not
 * NUL-terminated).  Relative paths resolve against test/data/kubeconfig
 * (ca.pem, client.pem, client-key.pem, other-key.pem), so the seeds reach
 * the PEM checks.  Nothing is executed: exec plugins run only when
 * credentials are asked for, which this target never does.
 * Properties: success gives a config with a server URL and a namespace;
 * failure gives an error and no config; an error never quotes a token or
 * password of the input (config.h promises that). */
#include <cJSON.h>

#include "fuzz.h"
#include "kclient/config.h"
#include "kclient/yaml.h"

#ifndef KC_FUZZ_DATA
#define KC_FUZZ_DATA "test/data/kubeconfig"
#endif

/* How often needle occurs in hay[0, n). */
static size_t occurrences(const char *hay, size_t n, const char *needle)
{
    size_t count = 0, k = strlen(needle);
    for (const char *p = hay; k && (p = memmem(p, n - (size_t)(p - hay), needle, k)); p++)
        count++;
    return count;
}

/* Fail when msg quotes a secret field of a user (token, password) whose
 * value is long enough to be unmistakable and occurs once in the input. */
static void check_no_secret(const char *input, size_t n, const char *msg)
{
    cJSON *doc = NULL;
    kc_error err = KC_ERROR_INIT;
    if (kc_yaml_parse(input, n, NULL, &doc, &err) != KC_OK) {
        kc_error_clear(&err);
        return;
    }
    const cJSON *users = cJSON_GetObjectItemCaseSensitive(doc, "users"), *u;
    static const char *const secrets[] = {"token", "password"};
    cJSON_ArrayForEach(u, users) {
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(u, "user");
        for (size_t i = 0; i < 2; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, secrets[i]);
            if (cJSON_IsString(v) && strlen(v->valuestring) >= 8 &&
                occurrences(input, n, v->valuestring) == 1 && strstr(msg, v->valuestring)) {
                fprintf(stderr, "error message quotes a %s: %s\n", secrets[i], msg);
                FUZZ_CHECK(!"a secret in an error message");
            }
        }
    }
    cJSON_Delete(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    kc_config_options o = {0};
    if (flags & 1)
        o.server = "https://override.example:6443";
    if (flags & 2)
        o.context = "dev";
    if (flags & 4)
        o.cluster = "c1";
    if (flags & 8)
        o.user = "certuser";
    if (flags & 16)
        o.namespace_ = "ns-override";
    char *buf = fuzz_copy(data, size, 0);
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_config_from_buffer(buf, size, "fuzz.kubeconfig", KC_FUZZ_DATA,
                                       (flags & 0x80) ? NULL : &o, &cfg, &err);
    if (rc == KC_OK) {
        FUZZ_CHECK(cfg != NULL);
        const char *server = kc_config_server(cfg);
        FUZZ_CHECK(server && (!strncmp(server, "https://", 8) || !strncmp(server, "http://", 7)));
        FUZZ_CHECK(kc_config_namespace(cfg) && *kc_config_namespace(cfg));
        FUZZ_CHECK(kc_config_context(cfg) != NULL);
        if (!(flags & 0x80) && o.namespace_)
            FUZZ_CHECK(strcmp(kc_config_namespace(cfg), o.namespace_) == 0);
        (void)kc_config_insecure(cfg);
        kc_config_free(cfg);
    } else {
        FUZZ_CHECK(cfg == NULL);
        FUZZ_CHECK(rc < 0 && err.code == rc && err.message != NULL);
        check_no_secret(buf, size, err.message);
    }
    kc_error_clear(&err);
    free(buf);
    return 0;
}
