/* fuzz_incluster.c - the in-cluster configuration (kc_config_in_cluster,
 * kclient/src/config.c): the service-account files token, ca.crt and
 * namespace, written from the input into a directory of this process, and
 * KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT; then the token as
 * requests get it (kc_config_credentials) and after kubelet rotates it.
 *
 * Input: byte 0 flags (bit 0: no token file, bit 1: no ca.crt, bit 2: no
 * namespace file, bit 3: rotate the token), then NUL-separated parts: host,
 * port, token, ca.crt, namespace, the rotated token.
 * Properties: the config loads exactly when host and port are set, the
 * token file holds something besides white space and, within that, no
 * control character (no byte below 0x20, NUL included, and no DEL: the
 * token goes into an HTTP header line, where a CR or LF would add lines of
 * its own; regress-token-control-chars), and ca.crt holds a PEM
 * certificate (as OpenSSL reads one); then the server is
 * https://host:port (an IPv6 host in brackets), the context "in-cluster",
 * the namespace the file's trimmed text or "default", the bearer token the
 * token file's trimmed text; after a rotation a forced refresh gives the
 * new token (or KC_EAUTH, naming the file, when the new file is blank or
 * holds a control character); no error quotes a token. */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "config_internal.h"
#include "fuzz.h"
#include "kclient/config.h"

static int header_safe(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
            return 0;
    return 1;
}

/* The part trimmed; *ok set when it is a token that can be sent (not
 * empty, no control character in it: a NUL inside counts too). */
static char *trim(const fuzz_part *p, int *ok)
{
    const char *s = (const char *)p->p;
    size_t n = p->n;
    /* as config.c trims: strchr finds the terminator too, so a NUL counts as
     * white space at either end */
    while (n && strchr(" \t\r\n", *s))
        s++, n--;
    while (n && strchr(" \t\r\n", s[n - 1]))
        n--;
    if (ok)
        *ok = n && header_safe(s, n);
    return fuzz_copy((const uint8_t *)s, n, 1);
}

static int has_pem_cert(const fuzz_part *p)
{
    BIO *bio = BIO_new_mem_buf(p->p, (int)p->n);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    int ok = x != NULL;
    X509_free(x);
    BIO_free(bio);
    ERR_clear_error();
    return ok;
}

static void check_no_secret(const char *msg, const char *a, const char *b)
{
    const char *s[] = {a, b};
    for (int i = 0; i < 2; i++)
        if (s[i] && strlen(s[i]) >= 8 && strstr(msg, s[i])) {
            fprintf(stderr, "message quotes a token: %s\n", msg);
            FUZZ_CHECK(!"a token in an error message");
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    uint8_t flags = data[0];
    fuzz_part p[6] = {{0}};
    size_t n = fuzz_split(data + 1, size - 1, p, 6);
    for (size_t i = n; i < 6; i++)
        p[i] = (fuzz_part){(const uint8_t *)"", 0};
    char *host = fuzz_part_str(&p[0]), *port = fuzz_part_str(&p[1]);
    int token_sendable, token2_sendable;
    char *token = trim(&p[2], &token_sendable), *token2 = trim(&p[5], &token2_sendable);
    char *ns = trim(&p[4], NULL);
    char dir[512];
    if (snprintf(dir, sizeof(dir), "%s/sa", fuzz_tmpdir()) >= (int)sizeof(dir))
        abort();
    mkdir(dir, 0700);
    const char *files[] = {"token", "ca.crt", "namespace"};
    const fuzz_part *content[] = {&p[2], &p[3], &p[4]};
    for (int i = 0; i < 3; i++) {
        if (flags & (1 << i))
            fuzz_remove_file(dir, files[i]);
        else
            fuzz_write_file(dir, files[i], content[i]->p, content[i]->n);
    }
    setenv("KUBERNETES_SERVICE_HOST", host, 1);
    setenv("KUBERNETES_SERVICE_PORT", port, 1);
    /* the model */
    int token_ok = !(flags & 1) && token_sendable;
    int ok = *host && *port && token_ok && !(flags & 2) && has_pem_cert(&p[3]);
    const char *want_ns = !(flags & 4) && *ns ? ns : "default";

    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_config_in_cluster(dir, &cfg, &err);
    if ((rc == KC_OK) != ok) {
        fprintf(stderr, "kc_config_in_cluster: %d (%s), expected %s\n", rc,
                err.message ? err.message : "-", ok ? "success" : "failure");
        FUZZ_CHECK(!"in-cluster config judged wrongly");
    }
    if (rc != KC_OK) {
        FUZZ_CHECK(cfg == NULL && rc == KC_ECONFIG && err.code == rc && err.message);
        if (*host && *port && !token_ok) /* the token file is the first to be read */
            FUZZ_CHECK(strstr(err.message, dir) != NULL);
        check_no_secret(err.message, token, token2);
    } else {
        char *want_server = NULL;
        int v6 = strchr(host, ':') && host[0] != '[';
        FUZZ_CHECK(asprintf(&want_server, v6 ? "https://[%s]:%s" : "https://%s:%s", host, port) > 0);
        FUZZ_CHECK(!strcmp(kc_config_server(cfg), want_server));
        FUZZ_CHECK(!strcmp(kc_config_context(cfg), "in-cluster"));
        if (strcmp(kc_config_namespace(cfg), want_ns)) {
            fprintf(stderr, "namespace \"%s\", expected \"%s\"\n", kc_config_namespace(cfg), want_ns);
            FUZZ_CHECK(!"the namespace file misread");
        }
        free(want_server);
        kc_credentials cred;
        FUZZ_CHECK(kc_config_credentials(cfg, 0, &cred, &err) == KC_OK);
        FUZZ_CHECK(cred.token && !strcmp(cred.token, token));
        FUZZ_CHECK(header_safe(cred.token, strlen(cred.token)));
        if (flags & 8) { /* kubelet rotates the token */
            fuzz_write_file(dir, "token", p[5].p, p[5].n);
            rc = kc_config_credentials(cfg, 1, &cred, &err);
            if (token2_sendable) {
                FUZZ_CHECK(rc == KC_OK && cred.token && !strcmp(cred.token, token2));
            } else {
                FUZZ_CHECK(rc == KC_EAUTH && err.message && strstr(err.message, dir));
                check_no_secret(err.message, token, token2);
            }
        }
        kc_config_free(cfg);
    }
    kc_error_clear(&err);
    free(host), free(port), free(token), free(token2), free(ns);
    return 0;
}
