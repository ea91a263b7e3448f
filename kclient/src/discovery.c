/* discovery.c - resource name resolution from the server's discovery
 * documents (aggregated v2 when offered, the per-group documents otherwise),
 * cached in the client. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_internal.h"
#include "kclient/discovery.h"

#define ACCEPT_V2 \
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"

typedef struct dentry {
    char *group, *version, *resource, *kind, *singular;
    char *short_names; /* ",pg,pgs,": each one between commas (none holds a comma) */
    int namespaced, has_status, preferred;
} dentry;

typedef struct dcache {
    dentry *items;
    size_t len, cap;
} dcache;

static void dcache_free(void *p)
{
    dcache *d = p;
    if (!d)
        return;
    for (size_t i = 0; i < d->len; i++) {
        dentry *e = &d->items[i];
        free(e->group);
        free(e->version);
        free(e->resource);
        free(e->kind);
        free(e->singular);
        free(e->short_names);
    }
    free(d->items);
    free(d);
}

void kc_discovery_invalidate(kc_client *c)
{
    dcache_free(c->discovery);
    c->discovery = NULL;
}

void kc_resource_info_clear(kc_resource_info *info)
{
    if (!info)
        return;
    free(info->group);
    free(info->version);
    free(info->resource);
    free(info->kind);
    memset(info, 0, sizeof(*info));
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *join_short_names(const cJSON *arr)
{
    kc_strbuf sb;
    kc_strbuf_init(&sb);
    kc_strbuf_appends(&sb, ",");
    const cJSON *s;
    cJSON_ArrayForEach(s, arr) {
        /* one with a comma (or none at all) would read as other names */
        if (cJSON_IsString(s) && *s->valuestring && !strchr(s->valuestring, ',')) {
            kc_strbuf_appends(&sb, s->valuestring);
            kc_strbuf_appends(&sb, ",");
        }
    }
    return kc_strbuf_take(&sb);
}

static dentry *dcache_add(dcache *d)
{
    if (d->len == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 128;
        dentry *n = realloc(d->items, cap * sizeof(*n));
        if (!n)
            return NULL;
        d->items = n;
        d->cap = cap;
    }
    dentry *e = &d->items[d->len++];
    memset(e, 0, sizeof(*e));
    return e;
}

static void add_resource(dcache *d, const char *group, const char *version, int preferred,
                         const char *resource, const char *kind, const char *singular,
                         const cJSON *short_names, int namespaced)
{
    /* no request path can be built for an entry without a version or a
     * resource name (a "x/y" name is a subresource) */
    if (!version || !*version || !resource || !*resource || strchr(resource, '/'))
        return;
    dentry *e = dcache_add(d);
    if (!e)
        return;
    e->group = strdup(group ? group : "");
    e->version = strdup(version);
    e->resource = strdup(resource);
    e->kind = strdup(kind ? kind : "");
    e->singular = strdup(singular && *singular ? singular : "");
    e->short_names = join_short_names(short_names);
    e->namespaced = namespaced;
    e->preferred = preferred;
}

static void mark_status(dcache *d, const char *group, const char *version, const char *resource)
{
    for (size_t i = 0; i < d->len; i++) {
        dentry *e = &d->items[i];
        if (!strcmp(e->group, group) && !strcmp(e->version, version) &&
            !strcmp(e->resource, resource))
            e->has_status = 1;
    }
}

/* Aggregated discovery (apidiscovery.k8s.io/v2): everything in one document. */
static void parse_v2(dcache *d, const cJSON *doc)
{
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(doc, "items")) {
        const char *group = jstr(cJSON_GetObjectItemCaseSensitive(g, "metadata"), "name");
        const cJSON *v;
        int first = 1;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(g, "versions")) {
            const char *version = jstr(v, "version");
            const cJSON *r;
            cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(v, "resources")) {
                const char *res = jstr(r, "resource");
                const cJSON *rk = cJSON_GetObjectItemCaseSensitive(r, "responseKind");
                const char *scope = jstr(r, "scope");
                if (!version || !res)
                    continue;
                add_resource(d, group, version, first, res, jstr(rk, "kind"),
                             jstr(r, "singularResource"),
                             cJSON_GetObjectItemCaseSensitive(r, "shortNames"),
                             scope && !strcmp(scope, "Namespaced"));
                const cJSON *sub;
                cJSON_ArrayForEach(sub, cJSON_GetObjectItemCaseSensitive(r, "subresources")) {
                    const char *sn = jstr(sub, "subresource");
                    if (sn && !strcmp(sn, "status"))
                        mark_status(d, group ? group : "", version, res);
                }
            }
            first = 0;
        }
    }
}

/* A legacy APIResourceList for one group version. */
static void parse_resource_list(dcache *d, const char *group, const char *version, int preferred,
                                const cJSON *doc)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "resources")) {
        const char *name = jstr(r, "name");
        const cJSON *ns = cJSON_GetObjectItemCaseSensitive(r, "namespaced");
        if (!name)
            continue;
        const char *slash = strchr(name, '/');
        if (slash) {
            if (!strcmp(slash + 1, "status")) {
                char *parent = kc_strndup0(name, (size_t)(slash - name));
                if (parent)
                    mark_status(d, group, version, parent);
                free(parent);
            }
            continue;
        }
        add_resource(d, group, version, preferred, name, jstr(r, "kind"),
                     jstr(r, "singularName"), cJSON_GetObjectItemCaseSensitive(r, "shortNames"),
                     cJSON_IsTrue(ns));
    }
}

static kc_code fetch_json(kc_client *c, const char *path, const char *accept, cJSON **out,
                          kc_error *err)
{
    kc_request_spec spec = {.method = "GET", .path = path, .accept = accept};
    char *body = NULL;
    size_t len = 0;
    kc_code rc = kc_send_sync(c, &spec, &body, &len, err);
    if (rc != KC_OK)
        return rc;
    *out = cJSON_ParseWithLength(body, len);
    free(body);
    if (!*out)
        return kc_error_set(err, KC_EDECODE, "discovery %s: response is not JSON", path);
    return KC_OK;
}

static kc_code load_legacy_group_version(kc_client *c, dcache *d, const char *group,
                                         const char *version, int preferred, kc_error *err)
{
    /* the names come from the server: escaped, so that a space, CR or LF
     * cannot break the request and a '?' or '/' cannot ask for another path */
    char *path = kc_group_version_path(group, version);
    cJSON *doc = NULL;
    kc_code rc = path ? fetch_json(c, path, "application/json", &doc, err) : KC_ENOMEM;
    free(path);
    if (rc == KC_OK)
        parse_resource_list(d, group, version, preferred, doc);
    cJSON_Delete(doc);
    return rc;
}

/* A group or version name the APIGroupList may list: not empty (an empty
 * group would be the core group again), and no "." or ".." that curl would
 * take as a step up the path. */
static int path_name(const char *s)
{
    return s && *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static kc_code load_legacy(kc_client *c, dcache *d, const cJSON *groups, kc_error *err)
{
    kc_code rc = load_legacy_group_version(c, d, "", "v1", 1, err);
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(groups, "groups")) {
        const char *name = jstr(g, "name");
        const char *pref = jstr(cJSON_GetObjectItemCaseSensitive(g, "preferredVersion"), "version");
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(g, "versions")) {
            const char *ver = jstr(v, "version");
            if (rc == KC_OK && path_name(name) && path_name(ver))
                rc = load_legacy_group_version(c, d, name, ver, pref && !strcmp(pref, ver), err);
        }
    }
    return rc;
}

static int is_v2(const cJSON *doc)
{
    const char *kind = jstr(doc, "kind");
    return kind && !strcmp(kind, "APIGroupDiscoveryList");
}

static kc_code load(kc_client *c, kc_error *err)
{
    dcache *d = calloc(1, sizeof(*d));
    if (!d)
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    cJSON *core = NULL, *apis = NULL;
    kc_code rc = fetch_json(c, "/api", ACCEPT_V2, &core, err);
    if (rc == KC_OK)
        rc = fetch_json(c, "/apis", ACCEPT_V2, &apis, err);
    if (rc == KC_OK && is_v2(core) && is_v2(apis)) {
        parse_v2(d, core);
        parse_v2(d, apis);
    } else if (rc == KC_OK) {
        rc = load_legacy(c, d, apis, err);
    }
    cJSON_Delete(core);
    cJSON_Delete(apis);
    if (rc != KC_OK) {
        dcache_free(d);
        return rc;
    }
    kc_discovery_invalidate(c);
    c->discovery = d;
    c->discovery_free = dcache_free;
    return KC_OK;
}

/* One of the short names in list (",pg,pgs,") is exactly name.  A name
 * with a comma is none of them (nor a run of them, "pg,pgs"). */
static int is_short_name(const char *list, const char *name)
{
    size_t n = strlen(name);
    if (!list || !n || strchr(name, ','))
        return 0;
    for (const char *p = list; (p = strstr(p, name)); p++)
        if (p > list && p[-1] == ',' && p[n] == ',')
            return 1;
    return 0;
}

static int names_resource(const dentry *e, const char *name)
{
    return !strcmp(e->resource, name) || !strcmp(e->singular, name) ||
           (*e->kind && !strcasecmp(e->kind, name)) || is_short_name(e->short_names, name);
}

/* Score a candidate: -1 = no match; higher is better. */
static int score(const dentry *e, const char *res, const char *group, const char *version)
{
    if (!names_resource(e, res))
        return -1;
    if (group && strcmp(e->group, group) != 0)
        return -1;
    if (version && strcmp(e->version, version) != 0)
        return -1;
    return (e->preferred ? 4 : 0) + (*e->group ? 0 : 2);
}

static const dentry *find_in(const dcache *d, const char *res, const char *group,
                             const char *version)
{
    const dentry *best = NULL;
    int best_score = -1;
    for (size_t i = 0; d && i < d->len; i++) {
        int s = score(&d->items[i], res, group, version);
        if (s > best_score) {
            best = &d->items[i];
            best_score = s;
        }
    }
    return best;
}

/* "res", "res.group", "res.version.group": try the longest reading first. */
static const dentry *find(const dcache *d, const char *name)
{
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    const dentry *e = NULL;
    char *dot = strchr(copy, '.');
    if (!dot) {
        e = find_in(d, copy, NULL, NULL);
    } else {
        *dot = '\0';
        char *rest = dot + 1;
        char *dot2 = strchr(rest, '.');
        if (dot2) {
            *dot2 = '\0';
            e = find_in(d, copy, dot2 + 1, rest);
            *dot2 = '.';
        }
        if (!e)
            e = find_in(d, copy, rest, NULL);
    }
    free(copy);
    return e;
}

static kc_code fill_info(const dentry *e, kc_resource_info *out, kc_error *err)
{
    out->group = strdup(e->group);
    out->version = strdup(e->version);
    out->resource = strdup(e->resource);
    out->kind = strdup(e->kind);
    out->namespaced = e->namespaced;
    out->has_status = e->has_status;
    if (!out->group || !out->version || !out->resource || !out->kind) {
        kc_resource_info_clear(out);
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    }
    return KC_OK;
}

kc_code kc_discovery_resolve(kc_client *c, const char *name, kc_resource_info *out,
                             kc_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!name || !*name)
        return kc_error_set(err, KC_EINVAL, "no resource name given");
    const dentry *e = c->discovery ? find(c->discovery, name) : NULL;
    if (!e) { /* unknown or not loaded: (re)load once, a CRD may be new */
        kc_code rc = load(c, err);
        if (rc != KC_OK)
            return rc;
        e = find(c->discovery, name);
    }
    if (!e)
        return kc_error_set(err, KC_ENOTFOUND,
                            "the server doesn't have a resource type \"%s\"", name);
    return fill_info(e, out, err);
}
