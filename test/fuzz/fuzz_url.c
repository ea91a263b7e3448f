/* fuzz_url.c - API paths and URLs (kclient/src/url.c, kc_url_escape in
 * util.c): kc_ref_path, kc_url_build, and label/field selectors as query
 * parameters.
 *
 * Input: NUL-separated fields: group, version, resource, namespace, name,
 * subresource, server, path, label selector, field selector, then
 * name/value pairs of extra parameters.  Properties: a path exists exactly
 * when the ref is complete; every path segment and query component is
 * percent-escaped (only unreserved characters stay) and decodes back to
 * the input. */
#include "fuzz.h"
#include "kclient/request.h"

#define MAX_FIELDS 24

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* Check that s[0, n) is a well-formed escape of want and return 1. */
static int escapes(const char *s, size_t n, const char *want)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c;
        if (s[i] == '%') {
            if (i + 2 >= n)
                return 0;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return 0;
            c = (unsigned char)(hi << 4 | lo);
            if (unreserved(c)) /* unreserved characters are never escaped */
                return 0;
            i += 2;
        } else {
            c = (unsigned char)s[i];
            if (!unreserved(c))
                return 0;
        }
        if ((unsigned char)want[j++] != c)
            return 0;
    }
    return want[j] == '\0';
}

static int set(const char *s) { return s && *s; }

static void check_path(const kc_ref *ref)
{
    char *p = kc_ref_path(ref);
    int complete = set(ref->version) && set(ref->resource) && (!set(ref->subresource) || set(ref->name));
    FUZZ_CHECK((p != NULL) == complete);
    if (!p)
        return;
    const char *want[8];
    size_t n = 0;
    want[n++] = set(ref->group) ? "apis" : "api";
    if (set(ref->group))
        want[n++] = ref->group;
    want[n++] = ref->version;
    if (set(ref->namespace_)) {
        want[n++] = "namespaces";
        want[n++] = ref->namespace_;
    }
    want[n++] = ref->resource;
    if (set(ref->name))
        want[n++] = ref->name;
    if (set(ref->subresource))
        want[n++] = ref->subresource;
    const char *s = p;
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(*s == '/');
        s++;
        const char *end = strchr(s, '/');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        FUZZ_CHECK(escapes(s, len, want[i]));
        s += len;
    }
    FUZZ_CHECK(*s == '\0');
    free(p);
}

static void check_url(const char *server, const char *path, const kc_param *params, size_t np)
{
    char *u = kc_url_build(server, path, params, np);
    FUZZ_CHECK(u != NULL);
    size_t ls = strlen(server ? server : ""), lp = strlen(path ? path : "");
    FUZZ_CHECK(strncmp(u, server ? server : "", ls) == 0);
    FUZZ_CHECK(strncmp(u + ls, path ? path : "", lp) == 0);
    const char *q = u + ls + lp;
    char sep = strchr(path ? path : "", '?') ? '&' : '?';
    for (size_t i = 0; i < np; i++) {
        if (!params[i].name || !params[i].value)
            continue;
        FUZZ_CHECK(*q == sep);
        q++;
        const char *eq = strchr(q, '=');
        FUZZ_CHECK(eq != NULL);
        FUZZ_CHECK(escapes(q, (size_t)(eq - q), params[i].name));
        q = eq + 1;
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        FUZZ_CHECK(escapes(q, len, params[i].value));
        q += len;
        sep = '&';
    }
    FUZZ_CHECK(*q == '\0');
    free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size, 1);
    const char *f[MAX_FIELDS] = {0};
    size_t nf = 0;
    for (size_t off = 0; off <= size && nf < MAX_FIELDS;) {
        f[nf++] = buf + off;
        off += strlen(buf + off) + 1;
    }
    /* An absent field is NULL, as callers leave optional ones. */
    kc_ref ref = {f[0], f[1], f[2], f[3], f[4], f[5]};
    check_path(&ref);

    kc_param sel[] = {{"labelSelector", f[8]}, {"fieldSelector", f[9]}, {"limit", "500"}};
    check_url(f[6], f[7], sel, 3);
    kc_param extra[(MAX_FIELDS - 10) / 2];
    size_t ne = 0;
    for (size_t i = 10; i + 1 < MAX_FIELDS; i += 2)
        extra[ne++] = (kc_param){f[i], f[i + 1]};
    check_url(f[6], f[7], extra, ne);
    check_url(NULL, NULL, NULL, 0);
    free(buf);
    return 0;
}
