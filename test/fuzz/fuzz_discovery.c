/* fuzz_discovery.c - discovery documents (kclient/src/discovery.c):
 * aggregated discovery (apidiscovery.k8s.io/v2 APIGroupDiscoveryList for
 * /api and /apis) and the legacy documents (APIGroupList, then an
 * APIResourceList per group version), through kc_discovery_resolve and
 * real requests to the local server of fuzz_http.h.
 *
 * Input: NUL-separated parts: names to resolve (one a line, at most 4),
 * the /api answer, the /apis answer, then the legacy APIResourceLists in
 * the order they are asked for (/api/v1 first, then each group version of
 * the APIGroupList; an empty list when they run out).
 * Properties: loading fails (KC_EDECODE) exactly when an answer it needs is
 * not JSON; the legacy documents are asked for at exactly /api/v1 and
 * /apis/GROUP/VERSION with both names percent-escaped (RFC 3986 unreserved
 * kept), one request per listed group version whose names are neither
 * empty, "." nor ".."; an entry with an empty version or resource is
 * skipped; a resolved resource has a non-empty version and resource
 * without '/', and is one the documents list (group, version, resource,
 * kind, scope; a status subresource when has_status) that the name names
 * (plural, singular, kind, exactly one short name; with ".group" or
 * ".version.group" the group and version too); a plain name that some
 * listed resource answers to always resolves; so does every resource of
 * the documents by its plural, plural.group and plural.version.group; and
 * asking again gives the same answer without a request (the cache).  Names
 * starting with ',' are tried too (they once read a byte before a heap
 * buffer: regress-shortname-underflow); regress-empty-names and
 * regress-unescaped-path hold the other two bugs this target found. */
#include <cJSON.h>
#include <ctype.h>
#include <strings.h>

#include "fuzz_http.h"

#define MAX_PARTS 12
#define MAX_NAMES 4

/* An escaped target longer than this is not checked: fuzz_http.h reads a
 * request head of at most 16 KiB and keeps 8 KiB of its target. */
#define MAX_TARGET 4096

typedef struct input {
    fuzz_part parts[MAX_PARTS];
    size_t nparts;
    unsigned legacy; /* legacy documents served */
    /* the model's legacy targets in order ("/api/v1" first) */
    char **want;
    size_t nwant, capwant;
    int long_path; /* one of them is over MAX_TARGET: not checked */
} input;

static const char empty_list[] = "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":[]}";

static char *respond(unsigned index, const char *target, size_t *len, void *ud)
{
    (void)index;
    input *in = ud;
    const fuzz_part *p = NULL;
    if (!strcmp(target, "/api")) { /* a (re)load starts: the same documents again */
        in->legacy = 0;
        p = in->nparts > 1 ? &in->parts[1] : NULL;
    }
    else if (!strcmp(target, "/apis"))
        p = in->nparts > 2 ? &in->parts[2] : NULL;
    else {
        unsigned k = in->legacy++;
        if (!in->long_path) {
            if (k >= in->nwant || strcmp(target, in->want[k]) != 0)
                fprintf(stderr, "legacy request %u: %s, expected %s\n", k, target,
                        k < in->nwant ? in->want[k] : "none");
            FUZZ_CHECK(k < in->nwant && !strcmp(target, in->want[k]));
        }
        if (3 + k < in->nparts)
            p = &in->parts[3 + k];
    }
    if (!p)
        return fuzz_http_json(200, empty_list, sizeof(empty_list) - 1, len);
    return fuzz_http_json(200, p->p, p->n, len);
}

/* ---- the model: what the documents list ---- */

typedef struct res {
    char *group, *version, *resource, *kind, *singular;
    cJSON *short_names; /* borrowed from the document */
    int namespaced, status;
} res;

typedef struct model {
    cJSON **docs;
    size_t ndocs, capdocs;
    res *items;
    size_t n, cap;
    int load_ok;
} model;

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *doc(model *m, const fuzz_part *p)
{
    cJSON *d = p && p->n ? cJSON_ParseWithLength((const char *)p->p, p->n) : NULL;
    if (!p)
        d = cJSON_Parse(empty_list);
    if (d && m->ndocs == m->capdocs) {
        m->capdocs = m->capdocs ? m->capdocs * 2 : 16;
        m->docs = realloc(m->docs, m->capdocs * sizeof(*m->docs));
        FUZZ_CHECK(m->docs != NULL);
    }
    if (d)
        m->docs[m->ndocs++] = d;
    return d;
}

static void add(model *m, const char *g, const char *v, const char *r, const char *kind,
                const char *singular, const cJSON *shorts, int namespaced)
{
    if (!v || !*v || !r || !*r || strchr(r, '/'))
        return;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->items = realloc(m->items, m->cap * sizeof(*m->items));
        FUZZ_CHECK(m->items != NULL);
    }
    res *e = &m->items[m->n++];
    e->group = (char *)(g ? g : "");
    e->version = (char *)v;
    e->resource = (char *)r;
    e->kind = (char *)(kind ? kind : "");
    e->singular = (char *)(singular ? singular : "");
    e->short_names = (cJSON *)shorts;
    e->namespaced = namespaced;
    e->status = 0;
}

static void status_of(model *m, const char *g, const char *v, const char *r)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->items[i].group, g) && !strcmp(m->items[i].version, v) &&
            !strcmp(m->items[i].resource, r))
            m->items[i].status = 1;
}

static void model_v2(model *m, const cJSON *d)
{
    const cJSON *g, *v, *r, *sub;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(d, "items")) {
        const char *group = jstr(cJSON_GetObjectItemCaseSensitive(g, "metadata"), "name");
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(g, "versions")) {
            const char *version = jstr(v, "version");
            cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(v, "resources")) {
                const char *name = jstr(r, "resource"), *scope = jstr(r, "scope");
                if (!version || !name)
                    continue;
                add(m, group, version, name,
                    jstr(cJSON_GetObjectItemCaseSensitive(r, "responseKind"), "kind"),
                    jstr(r, "singularResource"), cJSON_GetObjectItemCaseSensitive(r, "shortNames"),
                    scope && !strcmp(scope, "Namespaced"));
                cJSON_ArrayForEach(sub, cJSON_GetObjectItemCaseSensitive(r, "subresources")) {
                    const char *sn = jstr(sub, "subresource");
                    if (sn && !strcmp(sn, "status"))
                        status_of(m, group ? group : "", version, name);
                }
            }
        }
    }
}

static void model_list(model *m, const char *group, const char *version, const cJSON *d)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(d, "resources")) {
        const char *name = jstr(r, "name");
        if (!name)
            continue;
        const char *slash = strchr(name, '/');
        if (slash) {
            if (!strcmp(slash + 1, "status")) {
                char *parent = strndup(name, (size_t)(slash - name));
                status_of(m, group, version, parent);
                free(parent);
            }
            continue;
        }
        add(m, group, version, name, jstr(r, "kind"), jstr(r, "singularName"),
            cJSON_GetObjectItemCaseSensitive(r, "shortNames"),
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "namespaced")));
    }
}

/* A group or version the library asks for: not "", "." or "..". */
static int path_name(const char *s)
{
    return s && *s && strcmp(s, ".") && strcmp(s, "..");
}

/* s percent-escaped (RFC 3986 unreserved kept, upper-case hex). */
static void escape(fuzz_buf *b, const char *s)
{
    for (; *s; s++) {
        if (isalnum((unsigned char)*s) || strchr("-._~", *s))
            fuzz_buf_add(b, s, 1);
        else
            fuzz_buf_addf(b, "%%%02X", (unsigned char)*s);
    }
}

static void want_target(input *in, const char *group, const char *version)
{
    fuzz_buf b = {0};
    if (*group) {
        fuzz_buf_add(&b, "/apis/", 6);
        escape(&b, group);
        fuzz_buf_add(&b, "/", 1);
    } else {
        fuzz_buf_add(&b, "/api/", 5);
    }
    escape(&b, version);
    in->long_path |= b.n > MAX_TARGET;
    if (in->nwant == in->capwant) {
        in->capwant = in->capwant ? in->capwant * 2 : 16;
        in->want = realloc(in->want, in->capwant * sizeof(*in->want));
        FUZZ_CHECK(in->want != NULL);
    }
    in->want[in->nwant++] = b.p;
}

static void build_model(model *m, input *in)
{
    cJSON *core = doc(m, in->nparts > 1 ? &in->parts[1] : NULL);
    cJSON *apis = core ? doc(m, in->nparts > 2 ? &in->parts[2] : NULL) : NULL;
    m->load_ok = core && apis;
    if (!m->load_ok)
        return;
    const char *ck = jstr(core, "kind"), *ak = jstr(apis, "kind");
    if (ck && ak && !strcmp(ck, "APIGroupDiscoveryList") && !strcmp(ak, "APIGroupDiscoveryList")) {
        model_v2(m, core);
        model_v2(m, apis);
        return;
    }
    size_t next = 3;
    const fuzz_part *p = next < in->nparts ? &in->parts[next++] : NULL;
    want_target(in, "", "v1"); /* asked for, whatever the answer */
    cJSON *d = doc(m, p);
    if (!d) {
        m->load_ok = 0;
        return;
    }
    model_list(m, "", "v1", d);
    const cJSON *g, *v;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(apis, "groups")) {
        const char *name = jstr(g, "name");
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(g, "versions")) {
            const char *ver = jstr(v, "version");
            if (!path_name(name) || !path_name(ver))
                continue;
            want_target(in, name, ver);
            p = next < in->nparts ? &in->parts[next++] : NULL;
            if (!(d = doc(m, p))) {
                m->load_ok = 0;
                return;
            }
            model_list(m, name, ver, d);
        }
    }
}

static void free_model(model *m)
{
    for (size_t i = 0; i < m->ndocs; i++)
        cJSON_Delete(m->docs[i]);
    free(m->docs);
    free(m->items);
}

/* Does the name (already split: res, optional version and group) name e? */
static int names(const res *e, const char *r, const char *version, const char *group)
{
    if (group && strcmp(e->group, group))
        return 0;
    if (version && strcmp(e->version, version))
        return 0;
    if (!strcmp(e->resource, r) || !strcmp(e->singular, r) || (*e->kind && !strcasecmp(e->kind, r)))
        return 1;
    /* exactly one short name; one with a comma stands for none (discovery.c
     * keeps them joined by commas) */
    const cJSON *s;
    cJSON_ArrayForEach(s, e->short_names) {
        if (cJSON_IsString(s) && !strchr(s->valuestring, ',') && !strcmp(s->valuestring, r))
            return 1;
    }
    return 0;
}

/* Some reading of name ("res", "res.group", "res.version.group") names e. */
static int any_reading(const res *e, const char *name)
{
    char *copy = strdup(name), *dot = strchr(copy, '.');
    int yes = 0;
    if (!dot) {
        yes = names(e, copy, NULL, NULL);
    } else {
        *dot = '\0';
        char *rest = dot + 1, *dot2 = strchr(rest, '.');
        if (dot2) {
            *dot2 = '\0';
            yes = names(e, copy, rest, dot2 + 1);
            *dot2 = '.';
        }
        yes = yes || names(e, copy, NULL, rest);
    }
    free(copy);
    return yes;
}

static void check_resolve(kc_client *c, const model *m, const input *in, const char *name,
                          int must)
{
    kc_resource_info info;
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_discovery_resolve(c, name, &info, &err);
    if (!*name) {
        FUZZ_CHECK(rc == KC_EINVAL);
        kc_error_clear(&err);
        return;
    }
    if (rc == KC_ETRANSPORT && in->long_path) { /* the harness's limit, not the library's */
        kc_error_clear(&err);
        return;
    }
    if (!m->load_ok) {
        if (rc != KC_EDECODE)
            fprintf(stderr, "\"%s\": %d %s, expected a failed load\n", name, rc,
                    err.message ? err.message : "");
        FUZZ_CHECK(rc == KC_EDECODE && err.message);
        kc_error_clear(&err);
        return;
    }
    if (rc != KC_OK) {
        if (must || rc != KC_ENOTFOUND)
            fprintf(stderr, "\"%s\": %d %s\n", name, rc, err.message ? err.message : "");
        FUZZ_CHECK(rc == KC_ENOTFOUND && err.message && !must);
        kc_error_clear(&err);
        return;
    }
    FUZZ_CHECK(info.group && info.version && info.resource && info.kind);
    FUZZ_CHECK(*info.version && *info.resource); /* such entries are skipped */
    FUZZ_CHECK(!strchr(info.resource, '/'));
    int found = 0;
    for (size_t i = 0; i < m->n && !found; i++) {
        const res *e = &m->items[i];
        found = !strcmp(e->group, info.group) && !strcmp(e->version, info.version) &&
                !strcmp(e->resource, info.resource) && !strcmp(e->kind, info.kind) &&
                e->namespaced == info.namespaced && (!info.has_status || e->status) &&
                any_reading(e, name);
    }
    if (!found) {
        fprintf(stderr, "\"%s\" resolved to %s/%s %s (%s, namespaced %d, status %d): not listed\n",
                name, info.group, info.version, info.resource, info.kind, info.namespaced,
                info.has_status);
        FUZZ_CHECK(!"a name resolved to a resource the documents do not list");
    }
    /* again: from the cache, the same answer */
    unsigned before = fuzz_http_count();
    kc_resource_info again;
    FUZZ_CHECK(kc_discovery_resolve(c, name, &again, &err) == KC_OK);
    FUZZ_CHECK(fuzz_http_count() == before);
    FUZZ_CHECK(!strcmp(again.group, info.group) && !strcmp(again.version, info.version) &&
               !strcmp(again.resource, info.resource) && again.has_status == info.has_status);
    kc_resource_info_clear(&again);
    kc_resource_info_clear(&info);
    kc_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    kc_client *c = fuzz_http_client();
    input in = {0};
    in.nparts = fuzz_split(data, size, in.parts, MAX_PARTS);
    model *m = calloc(1, sizeof(*m));
    FUZZ_CHECK(m != NULL);
    build_model(m, &in);
    kc_discovery_invalidate(c);
    fuzz_http_begin(respond, &in);
    /* the names of the input */
    char *text = fuzz_part_str(&in.parts[0]), *save = NULL;
    int k = 0;
    for (char *line = strtok_r(text, "\n", &save); line && k < MAX_NAMES;
         line = strtok_r(NULL, "\n", &save), k++) {
        int must = 0;
        for (size_t i = 0; i < m->n; i++)
            must = must || any_reading(&m->items[i], line);
        check_resolve(c, m, &in, line, must && m->load_ok);
    }
    /* every listed resource by its own names (the first few) */
    for (size_t i = 0; m->load_ok && i < m->n && i < 6; i++) {
        const res *e = &m->items[i];
        if (!*e->resource || strchr(e->resource, '.'))
            continue;
        char *full = NULL;
        check_resolve(c, m, &in, e->resource, 1);
        if (*e->group && asprintf(&full, "%s.%s", e->resource, e->group) > 0) {
            check_resolve(c, m, &in, full, 1);
            free(full);
        }
        if (*e->group && !strchr(e->version, '.') &&
            asprintf(&full, "%s.%s.%s", e->resource, e->version, e->group) > 0) {
            check_resolve(c, m, &in, full, 1);
            free(full);
        }
    }
    fuzz_http_end();
    free(text);
    free_model(m);
    free(m);
    for (size_t i = 0; i < in.nwant; i++)
        free(in.want[i]);
    free(in.want);
    return 0;
}
