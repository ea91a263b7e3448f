/* config.c - kubeconfig (kubectl's rules), in-cluster configuration, and
 * the credentials of one request.
 *
 * Loading goes in two steps.  Every file is parsed to JSON and its named
 * clusters, users and contexts are collected into a kc_set (first
 * definition of a name wins, like kubectl's merge).  Then the chosen
 * context, its cluster and its user are validated and copied into a
 * kc_config, reading the files they refer to so that errors show at load
 * time.  Entries that are not used are only checked for shape. */
#include "config_internal.h"

#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "exec_credential.h"
#include "kclient/yaml.h"
#include "util.h"

#define KC_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
/* Kubeconfigs and the files they refer to (CA, cert, key, token) are
 * small; this stops a path such as /var/log/huge from being slurped. */
#define KC_MAX_REF_FILE ((off_t)16 * 1024 * 1024)
/* read_file_checked's code for a device, pipe or socket. */
#define KC_ENOTREG (-1)

/* ---- errors ---- */

static kc_code fail_v(kc_error *err, kc_code code, const char *prefix, const char *fmt, va_list ap)
{
    char *what = kc_vasprintf(fmt, ap);
    if (!prefix || !what)
        code = KC_ENOMEM;
    kc_error_set(err, code, "%s%s", prefix ? prefix : "", what ? what : "out of memory");
    free(what);
    return code;
}

/* "kubeconfig <file>: <problem>" */
static kc_code file_fail(kc_error *err, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static kc_code file_fail(kc_error *err, const char *file, const char *fmt, ...)
{
    char *prefix = kc_asprintf("kubeconfig %s: ", file);
    va_list ap;
    va_start(ap, fmt);
    kc_code rc = fail_v(err, KC_ECONFIG, prefix, fmt, ap);
    va_end(ap);
    free(prefix);
    return rc;
}

static kc_code nomem(kc_error *err) { return kc_error_set(err, KC_ENOMEM, "out of memory"); }

/* ---- files ---- */

/* Read a whole file.  Returns 0, an errno value, or KC_ENOTREG for
 * anything but a regular file unless allow_special (a path inside a
 * kubeconfig, perhaps fuzzed, must not make us read /dev/zero; the
 * kubeconfig itself may well be /dev/null or a pipe from <(...)). */
static int read_file_checked(const char *path, int allow_special, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return errno;
    if (S_ISDIR(st.st_mode))
        return EISDIR;
    if (!S_ISREG(st.st_mode) && !allow_special)
        return KC_ENOTREG;
    if (st.st_size > KC_MAX_REF_FILE)
        return EFBIG;
    return kc_read_file(path, data, len) == 0 ? 0 : errno;
}

/* A file a kubeconfig refers to: CA, certificate, key, token. */
static int read_ref(const char *path, char **data, size_t *len)
{
    return read_file_checked(path, 0, data, len);
}

static const char *ref_strerror(int e)
{
    return e == KC_ENOTREG ? "not a regular file" : strerror(e);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    return slash == path ? strdup("/") : kc_strndup0(path, (size_t)(slash - path));
}

/* Narrow [*s, *s + *len) to its text without surrounding white space. */
static void trim_span(const char **s, size_t *len)
{
    while (*len && strchr(" \t\r\n", **s)) {
        (*s)++;
        (*len)--;
    }
    while (*len && strchr(" \t\r\n", (*s)[*len - 1]))
        (*len)--;
}

/* Copy of s without leading and trailing white space. */
static char *trimmed(const char *s, size_t len)
{
    trim_span(&s, &len);
    return kc_strndup0(s, len);
}

/* A bearer token goes into the Authorization header line as it is. */
#define KC_TOKEN_CONTROL_CHAR                                                                  \
    "holds a control character (CR, LF, ...), which would break the Authorization header"

static void free_str_secret(char *s)
{
    if (s)
        kc_free_secret(s, strlen(s));
}

/* ---- the merged set of entries ---- */

typedef struct kc_src {
    char *file; /* for messages */
    char *dir;  /* relative paths resolve here; NULL = the working directory */
} kc_src;

enum { K_CLUSTER, K_USER, K_CONTEXT, K_NKINDS };

static const struct {
    const char *list, *one;
} kinds[K_NKINDS] = {{"clusters", "cluster"}, {"users", "user"}, {"contexts", "context"}};

typedef struct named {
    const char *name;
    const cJSON *body; /* the "cluster"/"user"/"context" mapping, or NULL */
    const kc_src *from;
} named;

typedef struct kc_set {
    cJSON **docs;
    size_t ndocs;
    kc_src **srcs;
    size_t nsrcs;
    named *items[K_NKINDS];
    size_t count[K_NKINDS];
    const char *current; /* current-context, first file that sets it */
    const kc_src *current_from;
    kc_strbuf origin; /* the files read, joined by ':' */
    kc_strbuf warnings; /* for kc_config_warnings, one per line */
    /* Loaded by a program from memory (kc_config_from_buffer: a Secret, say),
     * not from files by a command line: errors then suggest no flag
     * (--context, --server) the person reading them cannot set. */
    int program;
} kc_set;

static void set_free(kc_set *s)
{
    for (size_t i = 0; i < s->ndocs; i++) {
        kc_json_cleanse(s->docs[i]); /* tokens, passwords, keys */
        cJSON_Delete(s->docs[i]);
    }
    free(s->docs);
    for (size_t i = 0; i < s->nsrcs; i++) {
        free(s->srcs[i]->file);
        free(s->srcs[i]->dir);
        free(s->srcs[i]);
    }
    free(s->srcs);
    for (int k = 0; k < K_NKINDS; k++)
        free(s->items[k]);
    kc_strbuf_free(&s->origin);
    kc_strbuf_free(&s->warnings);
}

static const named *find(const kc_set *s, int kind, const char *name)
{
    for (size_t i = 0; i < s->count[kind]; i++)
        if (strcmp(s->items[kind][i].name, name) == 0)
            return &s->items[kind][i];
    return NULL;
}

static int push(void **arr, size_t *n, size_t size, const void *item)
{
    char *p = realloc(*arr, (*n + 1) * size);
    if (!p)
        return -1;
    memcpy(p + *n * size, item, size);
    *arr = p;
    (*n)++;
    return 0;
}

static kc_code collect_one(kc_set *s, int k, const cJSON *item, int i, const kc_src *from,
                           kc_error *err)
{
    const char *list = kinds[k].list, *one = kinds[k].one;
    if (!cJSON_IsObject(item))
        return file_fail(err, from->file, "%s[%d]: expected a mapping", list, i);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
    if (name && !cJSON_IsNull(name) && !cJSON_IsString(name))
        return file_fail(err, from->file, "%s[%d]: name: expected a string", list, i);
    if (!name || !cJSON_IsString(name) || !name->valuestring[0])
        return file_fail(err, from->file, "%s[%d]: name: missing", list, i);
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(item, one);
    if (body && !cJSON_IsNull(body) && !cJSON_IsObject(body))
        return file_fail(err, from->file, "%s \"%s\": %s: expected a mapping", one,
                         name->valuestring, one);
    const named *prev = find(s, k, name->valuestring);
    if (prev && prev->from == from)
        return file_fail(err, from->file, "%s \"%s\": defined more than once", one,
                         name->valuestring);
    if (prev)
        return KC_OK; /* an earlier file defined it: that one wins */
    named n = {name->valuestring, cJSON_IsObject(body) ? body : NULL, from};
    return push((void **)&s->items[k], &s->count[k], sizeof(n), &n) ? nomem(err) : KC_OK;
}

static kc_code collect(kc_set *s, const cJSON *doc, int k, const kc_src *from, kc_error *err)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, kinds[k].list);
    if (!list || cJSON_IsNull(list))
        return KC_OK;
    if (!cJSON_IsArray(list))
        return file_fail(err, from->file, "%s: expected a list", kinds[k].list);
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        kc_code rc = collect_one(s, k, item, i++, from, err);
        if (rc != KC_OK)
            return rc;
    }
    return KC_OK;
}

static kc_code collect_current(kc_set *s, const cJSON *doc, const kc_src *from, kc_error *err)
{
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(doc, "current-context");
    if (cur && !cJSON_IsNull(cur) && !cJSON_IsString(cur))
        return file_fail(err, from->file, "current-context: expected a string");
    if (!s->current && cur && cJSON_IsString(cur) && cur->valuestring[0]) {
        s->current = cur->valuestring;
        s->current_from = from;
    }
    return KC_OK;
}

static kc_src *new_src(kc_set *s, const char *file, const char *dir)
{
    kc_src *src = calloc(1, sizeof(*src));
    if (!src)
        return NULL;
    src->file = strdup(file);
    src->dir = kc_strdup_or_null(dir);
    if (!src->file || (dir && !src->dir) || push((void **)&s->srcs, &s->nsrcs, sizeof(src), &src)) {
        free(src->file);
        free(src->dir);
        free(src);
        return NULL;
    }
    return src;
}

/* Add one parsed document (taken) to the set. */
static const char *json_kind(const cJSON *j)
{
    return cJSON_IsString(j)   ? "a string"
           : cJSON_IsNumber(j) ? "a number"
           : cJSON_IsBool(j)   ? "a boolean"
           : cJSON_IsArray(j)  ? "a list"
                               : "something else";
}

/* The document as a whole is wrong.  From a program's buffer the text may
 * be anything (a Secret key holding the wrong data): say that it is not a
 * kubeconfig at all. */
static kc_code doc_fail(const kc_set *s, const char *file, const char *problem, const char *found,
                        kc_error *err)
{
    if (!s->program)
        return file_fail(err, file, "%s", problem);
    return file_fail(err, file, "not a kubeconfig: %s%s%s", problem, found ? ", found " : "",
                     found ? found : "");
}

static kc_code set_add_doc(kc_set *s, cJSON *doc, const char *file, const char *dir,
                           int allow_empty, kc_error *err)
{
    if (push((void **)&s->docs, &s->ndocs, sizeof(doc), &doc)) {
        cJSON_Delete(doc);
        return nomem(err);
    }
    if (s->origin.len)
        kc_strbuf_appends(&s->origin, ":");
    kc_strbuf_appends(&s->origin, file);
    if (s->origin.failed)
        return nomem(err);
    if (cJSON_IsNull(doc))
        return allow_empty ? KC_OK : doc_fail(s, file, "empty document", NULL, err);
    if (!cJSON_IsObject(doc))
        return doc_fail(s, file, "expected a mapping at the top level", json_kind(doc), err);
    const kc_src *from = new_src(s, file, dir);
    if (!from)
        return nomem(err);
    for (int k = 0; k < K_NKINDS; k++) {
        kc_code rc = collect(s, doc, k, from, err);
        if (rc != KC_OK)
            return rc;
    }
    return collect_current(s, doc, from, err);
}

static kc_code set_add_buffer(kc_set *s, const char *buf, size_t len, const char *file,
                              const char *dir, int allow_empty, kc_error *err)
{
    cJSON *doc = NULL;
    kc_error yerr = KC_ERROR_INIT;
    kc_code rc = kc_yaml_parse(buf, len, NULL, &doc, &yerr);
    if (rc != KC_OK) {
        rc = rc == KC_ENOMEM ? nomem(err)
                             : doc_fail(s, file, yerr.message ? yerr.message : "bad YAML", NULL, err);
        kc_error_clear(&yerr);
        return rc;
    }
    return set_add_doc(s, doc, file, dir, allow_empty, err);
}

/* A kubeconfig holds credentials (or says which program makes them): warn
 * when group or others may read it, or write it.  Best effort: a warning
 * that cannot be recorded (out of memory) is dropped. */
static void check_mode(kc_set *s, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 077))
        return;
    const char *how = st.st_mode & 044 ? "readable" : st.st_mode & 022 ? "writable" : "accessible";
    char *line = kc_asprintf("kubeconfig %s is %s by group or others (mode %04o); chmod 600 it",
                             path, how, (unsigned)(st.st_mode & 07777));
    if (line && !(s->warnings.data && strstr(s->warnings.data, line))) { /* a:a in $KUBECONFIG */
        if (s->warnings.len)
            kc_strbuf_appends(&s->warnings, "\n");
        kc_strbuf_appends(&s->warnings, line);
    }
    free(line);
}

/* Read and add one kubeconfig file.  A missing file is skipped unless
 * must_exist (an explicit --kubeconfig, or ~/.kube/config), and so is an
 * empty one when allow_empty. */
static kc_code set_add_file(kc_set *s, const char *path, int must_exist, int allow_empty,
                            kc_error *err)
{
    char *buf;
    size_t len;
    int e = read_file_checked(path, 1, &buf, &len);
    if (e == ENOENT && !must_exist)
        return KC_OK;
    if (e != 0)
        return file_fail(err, path, "%s", ref_strerror(e));
    check_mode(s, path);
    char *dir = dir_of(path);
    kc_code rc = dir ? set_add_buffer(s, buf, len, path, dir, allow_empty, err) : nomem(err);
    free(dir);
    kc_free_secret(buf, len);
    return rc;
}

/* ---- reading the fields of one entry ---- */

typedef struct entry {
    const char *kind; /* "cluster", "user", "context" */
    const char *name;
    const cJSON *body; /* may be NULL: no fields */
    const kc_src *from;
    kc_error *err;
} entry;

/* "kubeconfig <file>: <kind> "<name>": <problem>" */
static kc_code entry_fail(const entry *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static kc_code entry_fail(const entry *e, const char *fmt, ...)
{
    char *prefix = kc_asprintf("kubeconfig %s: %s \"%s\": ", e->from->file, e->kind, e->name);
    va_list ap;
    va_start(ap, fmt);
    kc_code rc = fail_v(e->err, KC_ECONFIG, prefix, fmt, ap);
    va_end(ap);
    free(prefix);
    return rc;
}

/* A string field of obj; absent, null and "" all leave *out NULL (as Go's
 * zero value).  label names the field in messages. */
static kc_code get_string(const entry *e, const cJSON *obj, const char *key, const char *label,
                          const char **out)
{
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return KC_OK;
    if (!cJSON_IsString(v))
        return entry_fail(e, "%s: expected a string", label ? label : key);
    *out = v->valuestring[0] ? v->valuestring : NULL;
    return KC_OK;
}

static kc_code get_bool(const entry *e, const cJSON *obj, const char *key, const char *label,
                        int *out)
{
    *out = 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return KC_OK;
    if (!cJSON_IsBool(v))
        return entry_fail(e, "%s: expected true or false", label ? label : key);
    *out = cJSON_IsTrue(v);
    return KC_OK;
}

static char *resolve_path(const kc_src *from, const char *path)
{
    if (path[0] == '/' || !from->dir)
        return strdup(path);
    return kc_asprintf("%s/%s", from->dir, path);
}

/* PEM bytes and how to name where they came from in messages. */
typedef struct pem {
    char *data;
    size_t len;
    char *label; /* "client-key-data" or "client-key /abs/path" */
} pem;

static void pem_free(pem *p)
{
    kc_free_secret(p->data, p->len);
    free(p->label);
    memset(p, 0, sizeof(*p));
}

static kc_code pem_from_file(const entry *e, const char *key, const char *path, pem *out)
{
    char *full = resolve_path(e->from, path);
    if (!full || !(out->label = kc_asprintf("%s %s", key, full))) {
        free(full);
        return nomem(e->err);
    }
    int rc = read_ref(full, &out->data, &out->len);
    free(full);
    return rc ? entry_fail(e, "%s: %s", out->label, ref_strerror(rc)) : KC_OK;
}

/* The PEM of field `key` (a path) or `key`-data (base64), or neither. */
static kc_code load_pem(const entry *e, const char *key, pem *out)
{
    char data_key[64];
    snprintf(data_key, sizeof(data_key), "%s-data", key);
    const char *path, *b64;
    kc_code rc = get_string(e, e->body, key, NULL, &path);
    if (rc == KC_OK)
        rc = get_string(e, e->body, data_key, NULL, &b64);
    if (rc != KC_OK)
        return rc;
    if (path && b64)
        return entry_fail(e, "%s and %s are both set; use one", key, data_key);
    if (path)
        return pem_from_file(e, key, path, out);
    if (!b64)
        return KC_OK;
    if (kc_base64_decode(b64, strlen(b64), &out->data, &out->len) != 0)
        return entry_fail(e, "%s: invalid base64", data_key);
    out->label = strdup(data_key);
    return out->label ? KC_OK : nomem(e->err);
}

/* Encrypted keys would make OpenSSL prompt on the terminal: refuse. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static BIO *pem_bio(const char *data, size_t len)
{
    if (len > INT_MAX || !memmem(data, len, "-----BEGIN", 10))
        return NULL;
    return BIO_new_mem_buf(data, (int)len);
}

static X509 *read_cert(const char *data, size_t len)
{
    BIO *bio = pem_bio(data, len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    return x;
}

static EVP_PKEY *read_key(const pem *p)
{
    BIO *bio = pem_bio(p->data, p->len);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    return k;
}

static int has_cert(const char *data, size_t len)
{
    X509 *x = read_cert(data, len);
    X509_free(x);
    return x != NULL;
}

/* ---- clusters ---- */

static int has_scheme(const char *url, const char *const *schemes)
{
    for (; *schemes; schemes++) {
        size_t n = strlen(*schemes);
        if (strncmp(url, *schemes, n) == 0 && url[n])
            return 1;
    }
    return 0;
}

static const char *const server_schemes[] = {"https://", "http://", NULL};
static const char *const proxy_schemes[] = {"http://", "https://", "socks5://", "socks5h://", NULL};

/* "https://h:6443/" -> "https://h:6443": request paths are appended. */
static char *server_url(const char *server)
{
    char *s = strdup(server);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    const char *sep = strstr(s, "://");
    const char *host = sep ? sep + 3 : s;
    while (n && s + n - 1 > host && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

typedef struct cluster_fields {
    const char *server, *tls_server_name, *proxy_url;
    int insecure;
} cluster_fields;

static kc_code read_cluster_fields(const entry *e, cluster_fields *f)
{
    kc_code rc = get_string(e, e->body, "server", NULL, &f->server);
    if (rc == KC_OK)
        rc = get_string(e, e->body, "tls-server-name", NULL, &f->tls_server_name);
    if (rc == KC_OK)
        rc = get_string(e, e->body, "proxy-url", NULL, &f->proxy_url);
    if (rc == KC_OK)
        rc = get_bool(e, e->body, "insecure-skip-tls-verify", NULL, &f->insecure);
    return rc;
}

static kc_code check_cluster_fields(const entry *e, const cluster_fields *f)
{
    if (!f->server)
        return entry_fail(e, "server: missing");
    if (!has_scheme(f->server, server_schemes))
        return entry_fail(e, "server: must start with https:// or http://");
    if (f->proxy_url && !has_scheme(f->proxy_url, proxy_schemes))
        return entry_fail(e, "proxy-url: must start with http://, https://, socks5:// or "
                             "socks5h://");
    return KC_OK;
}

static kc_code load_ca(const entry *e, int insecure, pem *ca)
{
    kc_code rc = load_pem(e, "certificate-authority", ca);
    if (rc != KC_OK || !ca->data)
        return rc;
    if (insecure) /* kubectl refuses this combination too */
        return entry_fail(e, "specifying a root certificates file with the insecure flag is "
                             "not allowed");
    if (!has_cert(ca->data, ca->len))
        return entry_fail(e, "%s: no PEM certificate found", ca->label);
    return KC_OK;
}

/* Fill the cluster part of cfg from e; server_override is --server. */
static kc_code fill_cluster(kc_config *cfg, const entry *e, const char *server_override)
{
    cluster_fields f = {0};
    kc_code rc = read_cluster_fields(e, &f);
    if (rc != KC_OK)
        return rc;
    if (server_override)
        f.server = server_override;
    if ((rc = check_cluster_fields(e, &f)) != KC_OK)
        return rc;
    pem ca = {0};
    if ((rc = load_ca(e, f.insecure, &ca)) != KC_OK) {
        pem_free(&ca);
        return rc;
    }
    cfg->ca_pem = ca.data;
    cfg->ca_pem_len = ca.len;
    ca.data = NULL;
    pem_free(&ca);
    cfg->insecure_skip_tls_verify = f.insecure;
    cfg->server = server_url(f.server);
    cfg->tls_server_name = kc_strdup_or_null(f.tls_server_name);
    cfg->proxy_url = kc_strdup_or_null(f.proxy_url);
    if (!cfg->server || (f.tls_server_name && !cfg->tls_server_name) ||
        (f.proxy_url && !cfg->proxy_url))
        return nomem(e->err);
    return KC_OK;
}

/* ---- users: client certificate ---- */

static kc_code check_pair(const entry *e, const pem *cert, const pem *key)
{
    if (!cert->data && !key->data)
        return KC_OK;
    if (!key->data)
        return entry_fail(e, "client certificate given without client-key or client-key-data");
    if (!cert->data)
        return entry_fail(e, "client key given without client-certificate or "
                             "client-certificate-data");
    X509 *x = read_cert(cert->data, cert->len);
    EVP_PKEY *k = x ? read_key(key) : NULL;
    kc_code rc = KC_OK;
    if (!x)
        rc = entry_fail(e, "%s: not a PEM certificate", cert->label);
    else if (!k)
        rc = entry_fail(e, "%s: not an unencrypted PEM private key", key->label);
    else if (X509_check_private_key(x, k) != 1)
        rc = entry_fail(e, "client certificate and client key do not match");
    X509_free(x);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return rc;
}

static kc_code fill_client_cert(kc_config *cfg, const entry *e)
{
    pem cert = {0}, key = {0};
    kc_code rc = load_pem(e, "client-certificate", &cert);
    if (rc == KC_OK)
        rc = load_pem(e, "client-key", &key);
    if (rc == KC_OK)
        rc = check_pair(e, &cert, &key);
    if (rc == KC_OK && cert.data) {
        cfg->cert_pem = cert.data;
        cfg->cert_pem_len = cert.len;
        cfg->key_pem = key.data;
        cfg->key_pem_len = key.len;
        cert.data = key.data = NULL;
    }
    pem_free(&cert);
    pem_free(&key);
    return rc;
}

/* ---- users: exec plugin ---- */

static kc_code check_exec_version(const entry *e, const char *ver, const char *mode)
{
    if (!ver)
        return entry_fail(e, "exec.apiVersion: missing");
    int v1 = strcmp(ver, KC_EXEC_API_V1) == 0;
    if (!v1 && strcmp(ver, KC_EXEC_API_V1BETA1) != 0)
        return entry_fail(e, "exec.apiVersion: \"%.100s\" is not supported (use %s or %s)", ver,
                          KC_EXEC_API_V1, KC_EXEC_API_V1BETA1);
    if (!mode) /* v1 made it required; v1beta1 defaults to IfAvailable */
        return v1 ? entry_fail(e, "exec.interactiveMode: missing (required by %s)", KC_EXEC_API_V1)
                  : KC_OK;
    if (strcmp(mode, "Never") == 0 || strcmp(mode, "IfAvailable") == 0)
        return KC_OK;
    if (strcmp(mode, "Always") == 0)
        return entry_fail(e, "exec.interactiveMode: Always needs a terminal, which kclient never "
                             "gives a plugin");
    return entry_fail(e, "exec.interactiveMode: must be Never, IfAvailable or Always");
}

static kc_code exec_args(const entry *e, const cJSON *x, kc_exec_config *ex)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(x, "args");
    if (a && !cJSON_IsNull(a) && !cJSON_IsArray(a))
        return entry_fail(e, "exec.args: expected a list of strings");
    ex->args = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(char *));
    if (!ex->args)
        return nomem(e->err);
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsString(it))
            return entry_fail(e, "exec.args: expected a list of strings");
        if (!(ex->args[i++] = strdup(it->valuestring)))
            return nomem(e->err);
    }
    return KC_OK;
}

static kc_code exec_env_one(const entry *e, const cJSON *it, int i, char **out)
{
    if (!cJSON_IsObject(it))
        return entry_fail(e, "exec.env[%d]: expected a mapping", i);
    const char *name, *value;
    kc_code rc = get_string(e, it, "name", "exec.env[].name", &name);
    if (rc == KC_OK)
        rc = get_string(e, it, "value", "exec.env[].value", &value);
    if (rc != KC_OK)
        return rc;
    if (!name)
        return entry_fail(e, "exec.env[%d].name: missing", i);
    if (strchr(name, '='))
        return entry_fail(e, "exec.env[%d].name: must not contain '='", i);
    *out = kc_asprintf("%s=%s", name, value ? value : "");
    return *out ? KC_OK : nomem(e->err);
}

static kc_code exec_env(const entry *e, const cJSON *x, kc_exec_config *ex)
{
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(x, "env");
    if (env && !cJSON_IsNull(env) && !cJSON_IsArray(env))
        return entry_fail(e, "exec.env: expected a list");
    ex->env = calloc((size_t)cJSON_GetArraySize(env) + 1, sizeof(char *));
    if (!ex->env)
        return nomem(e->err);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, env) {
        kc_code rc = exec_env_one(e, it, i, &ex->env[i]);
        if (rc != KC_OK)
            return rc;
        i++;
    }
    return KC_OK;
}

static kc_code parse_exec(const entry *e, const cJSON *x, kc_exec_config *ex)
{
    const char *cmd, *ver, *hint, *mode;
    kc_code rc = get_string(e, x, "command", "exec.command", &cmd);
    if (rc == KC_OK)
        rc = get_string(e, x, "apiVersion", "exec.apiVersion", &ver);
    if (rc == KC_OK)
        rc = get_string(e, x, "installHint", "exec.installHint", &hint);
    if (rc == KC_OK)
        rc = get_string(e, x, "interactiveMode", "exec.interactiveMode", &mode);
    if (rc == KC_OK)
        rc = get_bool(e, x, "provideClusterInfo", "exec.provideClusterInfo",
                      &ex->provide_cluster_info);
    if (rc == KC_OK && !cmd)
        rc = entry_fail(e, "exec.command: missing");
    if (rc == KC_OK)
        rc = check_exec_version(e, ver, mode);
    if (rc == KC_OK)
        rc = exec_args(e, x, ex);
    if (rc == KC_OK)
        rc = exec_env(e, x, ex);
    if (rc != KC_OK)
        return rc;
    /* A command with a '/' is a path, relative to the kubeconfig's directory;
     * a bare name is looked up in PATH. */
    /* cmd is set: a missing one made rc entry_fail()'s KC_ECONFIG above (the
     * analyzer cannot see that kc_error_set, in error.c, returns its code). */
    ex->command = strchr(cmd, '/') ? resolve_path(e->from, cmd) // NOLINT(clang-analyzer-core.NonNullParamChecker)
                                   : strdup(cmd);
    ex->api_version = kc_strdup_or_null(ver);
    ex->install_hint = kc_strdup_or_null(hint);
    if (!ex->command || !ex->api_version || (hint && !ex->install_hint))
        return nomem(e->err);
    return KC_OK;
}

/* static_auth: the user also has a token, basic auth or a certificate,
 * which client-go prefers, ignoring the plugin. */
static kc_code fill_exec(kc_config *cfg, const entry *e, int static_auth)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(e->body, "exec");
    if (!x || cJSON_IsNull(x))
        return KC_OK;
    if (!cJSON_IsObject(x))
        return entry_fail(e, "exec: expected a mapping");
    kc_exec_config *ex = calloc(1, sizeof(*ex));
    if (!ex)
        return nomem(e->err);
    kc_code rc = parse_exec(e, x, ex);
    if (rc != KC_OK || static_auth) {
        kc_exec_config_free(ex);
        return rc;
    }
    cfg->exec = ex;
    return KC_OK;
}

/* ---- users: tokens ---- */

/* (Re)read cfg->token_file when it changed (or always with force).
 * Returns NULL or what went wrong. */
static const char *reread_token_file(kc_config *cfg, int force)
{
    struct stat st;
    if (stat(cfg->token_file, &st) != 0)
        return strerror(errno);
    if (!force && cfg->file_token && st.st_size == cfg->file_token_size &&
        st.st_mtim.tv_sec == cfg->file_token_mtime.tv_sec &&
        st.st_mtim.tv_nsec == cfg->file_token_mtime.tv_nsec)
        return NULL;
    char *raw;
    size_t len;
    int e = read_ref(cfg->token_file, &raw, &len);
    if (e != 0)
        return ref_strerror(e);
    const char *text = raw;
    size_t n = len;
    trim_span(&text, &n);
    /* the whole text is checked: a NUL inside would cut the token short */
    const char *problem = NULL;
    if (!n)
        problem = "file is empty";
    else if (!kc_header_value_ok(text, n))
        problem = KC_TOKEN_CONTROL_CHAR;
    char *tok = problem ? NULL : kc_strndup0(text, n);
    kc_free_secret(raw, len);
    if (problem)
        return problem;
    if (!tok)
        return "out of memory";
    free_str_secret(cfg->file_token);
    cfg->file_token = tok;
    cfg->file_token_mtime = st.st_mtim;
    cfg->file_token_size = st.st_size;
    return NULL;
}

/* Fields that change who we are and that kclient cannot honour: better an
 * error than silently acting as someone else. */
static int is_set(const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsString(v))
        return v->valuestring[0] != '\0';
    if (cJSON_IsArray(v) || cJSON_IsObject(v))
        return v->child != NULL; /* tools write "as-groups: []" */
    return 1;
}

static kc_code reject_unsupported(const entry *e)
{
    static const char *const keys[] = {"auth-provider", "as", "as-uid", "as-groups",
                                       "as-user-extra"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        int set = is_set(cJSON_GetObjectItemCaseSensitive(e->body, keys[i]));
        if (set && i == 0)
            return entry_fail(e, "auth-provider is not supported; use an exec plugin");
        if (set)
            return entry_fail(e, "%s: impersonation is not supported", keys[i]);
    }
    return KC_OK;
}

typedef struct user_fields {
    const char *token, *token_file, *username, *password;
} user_fields;

static kc_code read_user_fields(const entry *e, user_fields *f)
{
    kc_code rc = reject_unsupported(e);
    if (rc == KC_OK)
        rc = get_string(e, e->body, "token", NULL, &f->token);
    if (rc == KC_OK)
        rc = get_string(e, e->body, "tokenFile", NULL, &f->token_file);
    if (rc == KC_OK)
        rc = get_string(e, e->body, "username", NULL, &f->username);
    if (rc == KC_OK)
        rc = get_string(e, e->body, "password", NULL, &f->password);
    if (rc == KC_OK && (f->token || f->token_file) && (f->username || f->password))
        rc = entry_fail(e, "more than one authentication method (token and basic auth); use one");
    return rc;
}

static kc_code fill_token(kc_config *cfg, const entry *e, const user_fields *f)
{
    if (f->token && !kc_header_value_ok(f->token, strlen(f->token)))
        return entry_fail(e, "token " KC_TOKEN_CONTROL_CHAR);
    if (f->token) /* a token wins over tokenFile, as in client-go */
        return (cfg->token = strdup(f->token)) ? KC_OK : nomem(e->err);
    if (!f->token_file)
        return KC_OK;
    if (!(cfg->token_file = resolve_path(e->from, f->token_file)))
        return nomem(e->err);
    const char *problem = reread_token_file(cfg, 1);
    if (problem)
        return entry_fail(e, "tokenFile %s: %s", cfg->token_file, problem);
    cfg->file_token_checked = time(NULL);
    return KC_OK;
}

static kc_code fill_user(kc_config *cfg, const entry *e)
{
    user_fields f = {0};
    kc_code rc = read_user_fields(e, &f);
    if (rc == KC_OK)
        rc = fill_client_cert(cfg, e);
    if (rc == KC_OK)
        rc = fill_exec(cfg, e,
                       f.token || f.token_file || f.username || f.password || cfg->cert_pem);
    if (rc == KC_OK)
        rc = fill_token(cfg, e, &f);
    if (rc != KC_OK)
        return rc;
    cfg->username = kc_strdup_or_null(f.username);
    cfg->password = kc_strdup_or_null(f.password);
    if ((f.username && !cfg->username) || (f.password && !cfg->password))
        return nomem(e->err);
    return KC_OK;
}

/* ---- choosing context, cluster and user ---- */

static const kc_config_options no_options;

static const char *opt(const char *s) { return s && *s ? s : NULL; }

/* Up to four context names, quoted, for a message. */
static void context_names(const kc_set *s, char *buf, size_t len)
{
    size_t n = s->count[K_CONTEXT], used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && i < 4 && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s\"%.64s\"", i ? ", " : "",
                         s->items[K_CONTEXT][i].name);
        used += w > 0 ? (size_t)w : 0;
    }
    if (n > 4 && used < len)
        snprintf(buf + used, len - used, ", ... (%zu in all)", n);
}

/* Neither current-context nor a context chosen by the program that loaded
 * the buffer: say what is there instead of naming a flag. */
static kc_code no_context_fail(const kc_set *s, kc_error *err)
{
    const char *file = s->origin.data;
    if (s->count[K_CONTEXT]) {
        char names[400];
        context_names(s, names, sizeof(names));
        return file_fail(err, file,
                         "no current-context, and the program loading it names no context "
                         "(contexts: %s): set current-context",
                         names);
    }
    const cJSON *doc = s->ndocs ? s->docs[0] : NULL;
    int looks_like = s->count[K_CLUSTER] || s->count[K_USER] ||
                     cJSON_GetObjectItemCaseSensitive(doc, "kind") ||
                     cJSON_GetObjectItemCaseSensitive(doc, "apiVersion");
    if (!looks_like)
        return file_fail(err, file,
                         "not a kubeconfig: no clusters, users, contexts or current-context");
    return file_fail(err, file, "no current-context and no contexts");
}

/* The context named by --context or current-context; NULL without error
 * when there is none but --server or --cluster make one unnecessary. */
static kc_code pick_context(const kc_set *s, const kc_config_options *o, const named **ctx,
                            kc_error *err)
{
    *ctx = NULL;
    const char *name = opt(o->context) ? o->context : s->current;
    if (!name) {
        if (opt(o->server) || opt(o->cluster))
            return KC_OK;
        if (s->program)
            return no_context_fail(s, err);
        return file_fail(err, s->origin.data, "no current-context set and no --context given");
    }
    if ((*ctx = find(s, K_CONTEXT, name)))
        return KC_OK;
    const char *file = opt(o->context) ? s->origin.data : s->current_from->file;
    return file_fail(err, file, "context \"%s\" not found", name);
}

typedef struct choice {
    const named *ctx;
    const char *cluster, *user, *namespace_;
} choice;

static kc_code read_context(const kc_set *s, const kc_config_options *o, choice *c, kc_error *err)
{
    kc_code rc = pick_context(s, o, &c->ctx, err);
    const char *cl = NULL, *user = NULL;
    if (rc == KC_OK && c->ctx) {
        entry e = {"context", c->ctx->name, c->ctx->body, c->ctx->from, err};
        rc = get_string(&e, e.body, "cluster", NULL, &cl);
        if (rc == KC_OK)
            rc = get_string(&e, e.body, "user", NULL, &user);
        if (rc == KC_OK)
            rc = get_string(&e, e.body, "namespace", NULL, &c->namespace_);
        if (rc == KC_OK && !cl && !opt(o->cluster) && !opt(o->server))
            rc = entry_fail(&e, "cluster: missing");
    }
    c->cluster = opt(o->cluster) ? o->cluster : cl;
    c->user = opt(o->user) ? o->user : user;
    return rc;
}

/* A cluster or user that is not there: blame the context that named it,
 * or the files when it came from --cluster / --user. */
static kc_code not_found(const kc_set *s, const named *ctx, int by_flag, const char *kind,
                         const char *name, kc_error *err)
{
    if (ctx && !by_flag)
        return file_fail(err, ctx->from->file, "context \"%s\": %s \"%s\" not found", ctx->name,
                         kind, name);
    return file_fail(err, s->origin.data, "%s \"%s\" not found", kind, name);
}

static kc_code use_cluster(const kc_set *s, const kc_config_options *o, const choice *c,
                           kc_config *cfg, kc_error *err)
{
    const named *cl = c->cluster ? find(s, K_CLUSTER, c->cluster) : NULL;
    if (c->cluster && !cl)
        return not_found(s, c->ctx, opt(o->cluster) != NULL, "cluster", c->cluster, err);
    kc_src none = {s->origin.data, NULL}; /* only --server: no entry at all */
    entry e = {"cluster", c->cluster ? c->cluster : "", cl ? cl->body : NULL,
               cl ? cl->from : &none, err};
    if (c->cluster && !(cfg->cluster_name = strdup(c->cluster)))
        return nomem(err);
    return fill_cluster(cfg, &e, opt(o->server));
}

static kc_code use_user(const kc_set *s, const kc_config_options *o, const choice *c,
                        kc_config *cfg, kc_error *err)
{
    if (!c->user)
        return KC_OK; /* anonymous */
    const named *u = find(s, K_USER, c->user);
    if (!u)
        return not_found(s, c->ctx, opt(o->user) != NULL, "user", c->user, err);
    if (!(cfg->user_name = strdup(c->user)))
        return nomem(err);
    entry e = {"user", u->name, u->body, u->from, err};
    return fill_user(cfg, &e);
}

static kc_code build(const kc_set *s, const kc_config_options *o, kc_config *cfg, kc_error *err)
{
    if (opt(o->server) && !has_scheme(o->server, server_schemes))
        return file_fail(err, s->origin.data, "%s: must start with https:// or http://",
                         s->program ? "server override" : "--server");
    choice c = {0};
    kc_code rc = read_context(s, o, &c, err);
    if (rc == KC_OK)
        rc = use_cluster(s, o, &c, cfg, err);
    if (rc == KC_OK)
        rc = use_user(s, o, &c, cfg, err);
    if (rc != KC_OK)
        return rc;
    const char *ns = opt(o->namespace_) ? o->namespace_ : c.namespace_ ? c.namespace_ : "default";
    /* origin.data is set: every path that adds no file failed before (the
     * analyzer cannot see that nomem(), through kc_error_set in error.c,
     * returns KC_ENOMEM). */
    cfg->origin = strdup(s->origin.data); // NOLINT(clang-analyzer-core.NonNullParamChecker)
    if (s->warnings.len && !s->warnings.failed)
        cfg->warnings = strdup(s->warnings.data); /* best effort, like check_mode */
    cfg->context_name = strdup(c.ctx ? c.ctx->name : "");
    cfg->namespace_ = strdup(ns);
    if (!cfg->origin || !cfg->context_name || !cfg->namespace_)
        return nomem(err);
    return KC_OK;
}

static kc_code resolve(const kc_set *s, const kc_config_options *o, kc_config **out, kc_error *err)
{
    kc_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return nomem(err);
    kc_code rc = build(s, o, cfg, err);
    if (rc != KC_OK) {
        kc_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return KC_OK;
}

/* ---- loading ---- */

kc_code kc_config_from_buffer(const char *yaml, size_t len, const char *origin,
                              const char *base_dir, const kc_config_options *opts,
                              kc_config **out, kc_error *err)
{
    if (!out)
        return kc_error_set(err, KC_EINVAL, "kc_config_from_buffer: out is NULL");
    *out = NULL;
    kc_set s = {0};
    s.program = 1;
    const kc_config_options *o = opts ? opts : &no_options;
    const char *name = origin ? origin : "<buffer>";
    kc_code rc = set_add_buffer(&s, yaml ? yaml : "", yaml ? len : 0, name, base_dir,
                                opt(o->server) != NULL, err);
    if (rc == KC_OK)
        rc = resolve(&s, o, out, err);
    set_free(&s);
    return rc;
}

/* $KUBECONFIG: every listed file that exists, merged. */
static kc_code load_list(kc_set *s, const char *list, kc_error *err)
{
    char *copy = strdup(list);
    if (!copy)
        return nomem(err);
    kc_code rc = KC_OK;
    char *save = NULL;
    for (char *p = strtok_r(copy, ":", &save); p && rc == KC_OK; p = strtok_r(NULL, ":", &save))
        rc = set_add_file(s, p, 0, 1, err);
    free(copy);
    if (rc == KC_OK && s->ndocs == 0)
        rc = file_fail(err, list, "none of the files in $KUBECONFIG exist");
    return rc;
}

static kc_code load_default(kc_set *s, int allow_empty, kc_error *err)
{
    const char *list = getenv("KUBECONFIG");
    if (list && *list)
        return load_list(s, list, err);
    const char *home = getenv("HOME");
    if (!home || !*home)
        return kc_error_set(err, KC_ECONFIG, "kubeconfig: neither $KUBECONFIG nor $HOME is set");
    char *path = kc_asprintf("%s/.kube/config", home);
    kc_code rc = path ? set_add_file(s, path, 1, allow_empty, err) : nomem(err);
    free(path);
    return rc;
}

kc_code kc_config_load(const kc_config_options *opts, kc_config **out, kc_error *err)
{
    if (!out)
        return kc_error_set(err, KC_EINVAL, "kc_config_load: out is NULL");
    *out = NULL;
    const kc_config_options *o = opts ? opts : &no_options;
    kc_set s = {0};
    int allow_empty = opt(o->server) != NULL; /* kubectl --kubeconfig /dev/null --server x */
    kc_code rc = opt(o->kubeconfig) ? set_add_file(&s, o->kubeconfig, 1, allow_empty, err)
                                    : load_default(&s, allow_empty, err);
    if (rc == KC_OK)
        rc = resolve(&s, o, out, err);
    set_free(&s);
    return rc;
}

/* ---- in-cluster ---- */

static kc_code in_cluster_fail(kc_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static kc_code in_cluster_fail(kc_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kc_code rc = fail_v(err, KC_ECONFIG, "in-cluster config: ", fmt, ap);
    va_end(ap);
    return rc;
}

static kc_code in_cluster_ca(kc_config *cfg, const char *dir, kc_error *err)
{
    char *path = kc_asprintf("%s/ca.crt", dir);
    if (!path)
        return nomem(err);
    int e = read_ref(path, &cfg->ca_pem, &cfg->ca_pem_len);
    kc_code rc = KC_OK;
    if (e != 0)
        rc = in_cluster_fail(err, "ca.crt %s: %s", path, ref_strerror(e));
    else if (!has_cert(cfg->ca_pem, cfg->ca_pem_len))
        rc = in_cluster_fail(err, "ca.crt %s: no PEM certificate found", path);
    free(path);
    return rc;
}

/* The pod's namespace; "default" when the file is missing or empty. */
static char *in_cluster_namespace(const char *dir)
{
    char *path = kc_asprintf("%s/namespace", dir), *data = NULL, *ns = NULL;
    size_t len = 0;
    if (path && read_ref(path, &data, &len) == 0)
        ns = trimmed(data, len);
    free(path);
    free(data);
    if (ns && !*ns) {
        free(ns);
        ns = NULL;
    }
    return ns ? ns : strdup("default");
}

static kc_code in_cluster_fill(kc_config *cfg, const char *dir, const char *host,
                               const char *port, kc_error *err)
{
    int ipv6 = strchr(host, ':') && host[0] != '[';
    cfg->server = kc_asprintf(ipv6 ? "https://[%s]:%s" : "https://%s:%s", host, port);
    cfg->context_name = strdup("in-cluster");
    cfg->origin = strdup(dir);
    cfg->namespace_ = in_cluster_namespace(dir);
    cfg->token_file = kc_asprintf("%s/token", dir);
    if (!cfg->server || !cfg->context_name || !cfg->origin || !cfg->namespace_ || !cfg->token_file)
        return nomem(err);
    const char *problem = reread_token_file(cfg, 1);
    if (problem)
        return in_cluster_fail(err, "token %s: %s", cfg->token_file, problem);
    cfg->file_token_checked = time(NULL);
    return in_cluster_ca(cfg, dir, err);
}

kc_code kc_config_in_cluster(const char *sa_dir, kc_config **out, kc_error *err)
{
    if (!out)
        return kc_error_set(err, KC_EINVAL, "kc_config_in_cluster: out is NULL");
    *out = NULL;
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host)
        return in_cluster_fail(err, "KUBERNETES_SERVICE_HOST is not set (not running in a pod?)");
    if (!port || !*port)
        return in_cluster_fail(err, "KUBERNETES_SERVICE_PORT is not set (not running in a pod?)");
    kc_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return nomem(err);
    kc_code rc = in_cluster_fill(cfg, sa_dir ? sa_dir : KC_SA_DIR, host, port, err);
    if (rc != KC_OK) {
        kc_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return KC_OK;
}

kc_code kc_config_auto(const kc_config_options *opts, kc_config **out, kc_error *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *list = getenv("KUBECONFIG");
    if (!host || !*host || (opts && opt(opts->kubeconfig)) || (list && *list))
        return kc_config_load(opts, out, err);
    kc_code rc = kc_config_in_cluster(NULL, out, err);
    if (rc == KC_OK && opts && opt(opts->namespace_)) {
        char *ns = strdup(opts->namespace_);
        if (!ns) {
            kc_config_free(*out);
            *out = NULL;
            return nomem(err);
        }
        /* *out is set when rc is KC_OK; the analyzer cannot see that the
         * error paths return kc_error_set()'s non-zero code. */
        free((*out)->namespace_); // NOLINT(clang-analyzer-core.NullDereference)
        (*out)->namespace_ = ns;
    }
    return rc;
}

/* ---- accessors ---- */

const char *kc_config_server(const kc_config *cfg) { return cfg ? cfg->server : NULL; }
const char *kc_config_namespace(const kc_config *cfg) { return cfg ? cfg->namespace_ : NULL; }
const char *kc_config_context(const kc_config *cfg) { return cfg ? cfg->context_name : NULL; }
int kc_config_insecure(const kc_config *cfg) { return cfg ? cfg->insecure_skip_tls_verify : 0; }
const char *kc_config_warnings(const kc_config *cfg) { return cfg ? cfg->warnings : NULL; }

int kc_config_can_refresh(const kc_config *cfg) { return cfg && (cfg->exec || cfg->token_file); }

static void drop_exec_cache(kc_config *cfg)
{
    kc_exec_result r = {cfg->exec_token, cfg->exec_cert_pem, cfg->exec_cert_pem_len,
                        cfg->exec_key_pem, cfg->exec_key_pem_len, cfg->exec_expiry};
    kc_exec_result_clear(&r);
    cfg->exec_token = cfg->exec_cert_pem = cfg->exec_key_pem = NULL;
    cfg->exec_cert_pem_len = cfg->exec_key_pem_len = 0;
    cfg->exec_expiry = 0;
    cfg->exec_valid = 0;
}

void kc_config_free(kc_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->origin);
    free(cfg->warnings);
    free(cfg->context_name);
    free(cfg->cluster_name);
    free(cfg->user_name);
    free(cfg->server);
    free(cfg->namespace_);
    free(cfg->tls_server_name);
    free(cfg->proxy_url);
    free(cfg->ca_pem);
    free_str_secret(cfg->token);
    free(cfg->token_file);
    kc_free_secret(cfg->cert_pem, cfg->cert_pem_len);
    kc_free_secret(cfg->key_pem, cfg->key_pem_len);
    free_str_secret(cfg->username);
    free_str_secret(cfg->password);
    free_str_secret(cfg->file_token);
    drop_exec_cache(cfg);
    kc_exec_config_free(cfg->exec);
    free(cfg);
}

/* ---- credentials ---- */

static kc_code current_file_token(kc_config *cfg, int force, kc_error *err)
{
    time_t now = time(NULL);
    /* Asked on every request: stat at most once a second. */
    if (!force && cfg->file_token && now >= cfg->file_token_checked &&
        now - cfg->file_token_checked < 1)
        return KC_OK;
    cfg->file_token_checked = now;
    const char *problem = reread_token_file(cfg, force);
    if (!problem)
        return KC_OK;
    if (cfg->file_token && !force)
        return KC_OK; /* keep the last good token while the file is replaced, as client-go */
    if (cfg->user_name)
        return kc_error_set(err, KC_EAUTH, "user \"%s\": tokenFile %s: %s", cfg->user_name,
                            cfg->token_file, problem);
    return kc_error_set(err, KC_EAUTH, "token file %s: %s", cfg->token_file, problem);
}

static kc_code current_exec(kc_config *cfg, int force, kc_error *err)
{
    time_t now = time(NULL);
    /* Like client-go: reuse until the expiry passes (none = until a 401). */
    if (cfg->exec_valid && !force && (cfg->exec_expiry == 0 || now < cfg->exec_expiry))
        return KC_OK;
    drop_exec_cache(cfg);
    kc_exec_result r;
    kc_code rc = kc_exec_run(cfg, KC_EXEC_TIMEOUT_MS, &r, err);
    if (rc != KC_OK)
        return rc;
    cfg->exec_token = r.token;
    cfg->exec_cert_pem = r.cert_pem;
    cfg->exec_cert_pem_len = r.cert_pem_len;
    cfg->exec_key_pem = r.key_pem;
    cfg->exec_key_pem_len = r.key_pem_len;
    cfg->exec_expiry = r.expiry;
    cfg->exec_valid = 1;
    return KC_OK;
}

static void fill_credentials(const kc_config *cfg, kc_credentials *out)
{
    out->username = cfg->username;
    out->password = cfg->password;
    out->cert_pem = cfg->cert_pem;
    out->cert_pem_len = cfg->cert_pem_len;
    out->key_pem = cfg->key_pem;
    out->key_pem_len = cfg->key_pem_len;
    if (cfg->token)
        out->token = cfg->token;
    else if (cfg->token_file)
        out->token = cfg->file_token;
    else if (cfg->exec) {
        out->token = cfg->exec_token;
        if (cfg->exec_cert_pem) {
            out->cert_pem = cfg->exec_cert_pem;
            out->cert_pem_len = cfg->exec_cert_pem_len;
            out->key_pem = cfg->exec_key_pem;
            out->key_pem_len = cfg->exec_key_pem_len;
        }
    }
}

kc_code kc_config_credentials(kc_config *cfg, int force_refresh, kc_credentials *out,
                              kc_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!cfg)
        return kc_error_set(err, KC_EINVAL, "kc_config_credentials: no config");
    kc_code rc = KC_OK;
    if (!cfg->token && cfg->token_file)
        rc = current_file_token(cfg, force_refresh, err);
    else if (!cfg->token && cfg->exec)
        rc = current_exec(cfg, force_refresh, err);
    if (rc == KC_OK)
        fill_credentials(cfg, out);
    return rc;
}
