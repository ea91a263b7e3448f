/* fuzz_merge.c - kubeconfig merging as kubectl does it for
 * KUBECONFIG=a:b:c (kc_config_load, kclient/src/config.c): up to three
 * kubeconfigs from the input, written to files of this process (next to
 * links to test/data/kubeconfig's ca.pem, client.pem, client-key.pem and
 * other-key.pem, so relative paths resolve), with the overrides kubectl's
 * flags give.
 *
 * Input: byte 0 flags (bits 0-1: how many files, 1 to 3; bit 2: the first
 * file listed twice; bit 3: an empty entry and a missing file in the
 * list; bit 4: --context dev, bit 5: -n ns-override, bit 6: --cluster c1,
 * bit 7: --server https://override.example:6443), then the files separated
 * by NUL bytes.
 * Properties (config.h's merging rules, checked against the files parsed
 * here with kc_yaml_parse): on success the context is --context or the
 * first current-context set; the namespace is -n, else that context's
 * (as the first file defining the context says), else "default"; the
 * server is --server, else that of the first file defining the context's
 * cluster (or --cluster), trailing slashes dropped; a file listed twice,
 * an empty entry and a missing file change nothing; one file loads as
 * kc_config_from_buffer loads its text; no error quotes a token or
 * password. */
#include <cJSON.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "kclient/config.h"
#include "kclient/yaml.h"

#ifndef KC_FUZZ_DATA
#define KC_FUZZ_DATA "test/data/kubeconfig"
#endif

typedef struct outcome {
    kc_code rc;
    char *server, *ns, *context, *message;
} outcome;

static void outcome_free(outcome *o)
{
    free(o->server), free(o->ns), free(o->context), free(o->message);
}

static outcome load(const char *list, const kc_config_options *opts, const char *buf, size_t len,
                    const char *dir)
{
    outcome o = {0};
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    if (list) {
        setenv("KUBECONFIG", list, 1);
        o.rc = kc_config_load(opts, &cfg, &err);
    } else {
        o.rc = kc_config_from_buffer(buf, len, "fuzz", dir, opts, &cfg, &err);
    }
    if (o.rc == KC_OK) {
        FUZZ_CHECK(cfg && kc_config_server(cfg) && kc_config_namespace(cfg) && kc_config_context(cfg));
        o.server = strdup(kc_config_server(cfg));
        o.ns = strdup(kc_config_namespace(cfg));
        o.context = strdup(kc_config_context(cfg));
        kc_config_free(cfg);
    } else {
        FUZZ_CHECK(!cfg && o.rc < 0 && err.code == o.rc && err.message);
        o.message = strdup(err.message);
    }
    kc_error_clear(&err);
    return o;
}

static int same(const outcome *a, const outcome *b)
{
    if (a->rc != b->rc)
        return 0;
    return a->rc != KC_OK ||
           (!strcmp(a->server, b->server) && !strcmp(a->ns, b->ns) && !strcmp(a->context, b->context));
}

static void report(const char *what, const outcome *a, const outcome *b)
{
    fprintf(stderr, "%s: rc %d %s %s %s | rc %d %s %s %s\n", what, a->rc,
            a->server ? a->server : "-", a->ns ? a->ns : "-", a->message ? a->message : "", b->rc,
            b->server ? b->server : "-", b->ns ? b->ns : "-", b->message ? b->message : "");
}

/* ---- the model ---- */

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

/* The "one" mapping of the first entry named name in any doc's list. */
static const cJSON *first_entry(cJSON *const *docs, size_t n, const char *list, const char *one,
                                const char *name, int *found)
{
    *found = 0;
    for (size_t i = 0; i < n; i++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(docs[i], list)) {
            const char *nm = jstr(e, "name");
            if (nm && !strcmp(nm, name)) {
                *found = 1;
                return cJSON_GetObjectItemCaseSensitive(e, one);
            }
        }
    }
    return NULL;
}

static char *strip_slashes(const char *server)
{
    char *s = strdup(server);
    size_t n = strlen(s);
    const char *sep = strstr(s, "://");
    const char *host = sep ? sep + 3 : s;
    while (n && s + n - 1 > host && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

static void check_model(cJSON *const *docs, size_t n, const kc_config_options *o, const outcome *got)
{
    const char *current = NULL;
    for (size_t i = 0; i < n && !current; i++)
        current = jstr(docs[i], "current-context");
    const char *ctx_name = o->context ? o->context : current;
    int found = 0;
    const cJSON *ctx = ctx_name ? first_entry(docs, n, "contexts", "context", ctx_name, &found) : NULL;
    FUZZ_CHECK(!ctx_name || found); /* a context named and not there is an error */
    const char *want_ctx = ctx_name ? ctx_name : "";
    const char *cluster = o->cluster ? o->cluster : jstr(ctx, "cluster");
    const char *ns = o->namespace_ ? o->namespace_ : jstr(ctx, "namespace");
    char *server = NULL;
    if (o->server) {
        server = strip_slashes(o->server);
    } else {
        FUZZ_CHECK(cluster != NULL);
        const cJSON *cl = first_entry(docs, n, "clusters", "cluster", cluster, &found);
        FUZZ_CHECK(found && jstr(cl, "server"));
        server = strip_slashes(jstr(cl, "server"));
    }
    if (strcmp(got->context, want_ctx) || strcmp(got->ns, ns ? ns : "default") ||
        strcmp(got->server, server)) {
        fprintf(stderr, "merged: context \"%s\" namespace \"%s\" server \"%s\"\n"
                        "expected: context \"%s\" namespace \"%s\" server \"%s\"\n",
                got->context, got->ns, got->server, want_ctx, ns ? ns : "default", server);
        FUZZ_CHECK(!"the merged kubeconfig does not follow the merging rules");
    }
    free(server);
}

/* How often needle occurs in the input. */
static size_t occurrences(const uint8_t *hay, size_t n, const char *needle)
{
    size_t count = 0, k = strlen(needle);
    for (const uint8_t *p = hay; k && (p = memmem(p, n - (size_t)(p - hay), needle, k)); p++)
        count++;
    return count;
}

static void check_no_secret(cJSON *const *docs, size_t n, const uint8_t *in, size_t len,
                            const char *msg)
{
    for (size_t i = 0; msg && i < n; i++) {
        const cJSON *u;
        cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(docs[i], "users")) {
            const cJSON *body = cJSON_GetObjectItemCaseSensitive(u, "user");
            const char *secrets[] = {jstr(body, "token"), jstr(body, "password")};
            for (int k = 0; k < 2; k++)
                if (secrets[k] && strlen(secrets[k]) >= 8 && occurrences(in, len, secrets[k]) == 1 &&
                    strstr(msg, secrets[k])) {
                    fprintf(stderr, "error message quotes a secret: %s\n", msg);
                    FUZZ_CHECK(!"a secret in an error message");
                }
        }
    }
}

static const char *setup_dir(void)
{
    static char dir[512];
    if (dir[0])
        return dir;
    if (snprintf(dir, sizeof(dir), "%s/merge", fuzz_tmpdir()) >= (int)sizeof(dir))
        abort();
    FUZZ_CHECK(mkdir(dir, 0700) == 0);
    const char *data[] = {"ca.pem", "client.pem", "client-key.pem", "other-key.pem"};
    for (int i = 0; i < 4; i++) {
        char from[1024], to[1024];
        if (snprintf(from, sizeof(from), "%s/%s", KC_FUZZ_DATA, data[i]) >= (int)sizeof(from) ||
            snprintf(to, sizeof(to), "%s/%s", dir, data[i]) >= (int)sizeof(to))
            abort();
        FUZZ_CHECK(symlink(from, to) == 0);
    }
    return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    uint8_t flags = data[0];
    const char *dir = setup_dir();
    fuzz_part parts[3];
    size_t nfiles = 1 + (flags & 3) % 3;
    size_t n = fuzz_split(data + 1, size - 1, parts, nfiles);
    kc_config_options o = {0};
    if (flags & 16)
        o.context = "dev";
    if (flags & 32)
        o.namespace_ = "ns-override";
    if (flags & 64)
        o.cluster = "c1";
    if (flags & 128)
        o.server = "https://override.example:6443";
    /* the files, and the docs as config.c parses them */
    cJSON *docs[3];
    size_t ndocs = 0;
    int parsed = 1;
    fuzz_buf plain = {0}, extra = {0};
    for (size_t i = 0; i < n; i++) {
        char name[32]; /* room for any size_t: gcc -Wformat-truncation */
        snprintf(name, sizeof(name), "k%zu", i);
        fuzz_write_file(dir, name, parts[i].p, parts[i].n);
        char *buf = fuzz_copy(parts[i].p, parts[i].n, 0);
        cJSON *doc = NULL;
        kc_error err = KC_ERROR_INIT;
        if (kc_yaml_parse(buf, parts[i].n, NULL, &doc, &err) != KC_OK)
            parsed = 0;
        else if (cJSON_IsObject(doc))
            docs[ndocs++] = doc;
        else
            cJSON_Delete(doc);
        kc_error_clear(&err);
        free(buf);
        fuzz_buf_addf(&plain, "%s%s/%s", i ? ":" : "", dir, name);
    }
    /* the same list with an empty entry and a missing file, or the first twice */
    fuzz_buf_addf(&extra, "%s%s", (flags & 8) ? ":" : "", plain.p);
    if (flags & 8)
        fuzz_buf_addf(&extra, "::%s/missing", dir);
    if (flags & 4)
        fuzz_buf_addf(&extra, ":%s/k0", dir);
    outcome merged = load(plain.p, &o, NULL, 0, NULL);
    if (merged.rc == KC_OK) {
        FUZZ_CHECK(parsed);
        check_model(docs, ndocs, &o, &merged);
    } else {
        check_no_secret(docs, ndocs, data + 1, size - 1, merged.message);
    }
    if (flags & 12) {
        outcome other = load(extra.p, &o, NULL, 0, NULL);
        if (!same(&merged, &other)) {
            report(extra.p, &other, &merged);
            FUZZ_CHECK(!"a repeated, empty or missing entry of $KUBECONFIG changed the result");
        }
        outcome_free(&other);
    }
    if (n == 1) {
        char *buf = fuzz_copy(parts[0].p, parts[0].n, 0);
        outcome one = load(NULL, &o, buf, parts[0].n, dir);
        free(buf);
        /* $KUBECONFIG skips an empty file; a buffer has to be a kubeconfig */
        if ((one.rc == KC_OK || (merged.rc == KC_OK && ndocs == 1)) && !same(&one, &merged)) {
            report("from_buffer | $KUBECONFIG", &one, &merged);
            FUZZ_CHECK(!"one file in $KUBECONFIG loads unlike its text");
        }
        outcome_free(&one);
    }
    outcome_free(&merged);
    free(plain.p);
    free(extra.p);
    for (size_t i = 0; i < ndocs; i++)
        cJSON_Delete(docs[i]);
    return 0;
}
