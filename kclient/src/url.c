/* url.c - API paths and query strings, escaped. Pure. */
#include <string.h>

#include "kclient/request.h"
#include "util.h"

const char *kc_patch_content_type(kc_patch_type t)
{
    switch (t) {
    case KC_PATCH_APPLY: return "application/apply-patch+yaml";
    case KC_PATCH_MERGE: return "application/merge-patch+json";
    case KC_PATCH_JSON: return "application/json-patch+json";
    case KC_PATCH_STRATEGIC: return "application/strategic-merge-patch+json";
    }
    return "application/json";
}

static int nonempty(const char *s) { return s && *s; }

static void segment(kc_strbuf *sb, const char *s)
{
    kc_strbuf_appends(sb, "/");
    kc_url_escape(sb, s);
}

/* /apis/group/version, or /api/version for the core group. */
static void group_version(kc_strbuf *sb, const char *group, const char *version)
{
    if (nonempty(group)) {
        kc_strbuf_appends(sb, "/apis");
        segment(sb, group);
    } else {
        kc_strbuf_appends(sb, "/api");
    }
    segment(sb, version);
}

char *kc_group_version_path(const char *group, const char *version)
{
    if (!nonempty(version))
        return NULL;
    kc_strbuf sb;
    kc_strbuf_init(&sb);
    group_version(&sb, group, version);
    return kc_strbuf_take(&sb);
}

char *kc_ref_path(const kc_ref *ref)
{
    if (!ref || !nonempty(ref->version) || !nonempty(ref->resource))
        return NULL;
    if (nonempty(ref->subresource) && !nonempty(ref->name))
        return NULL;
    kc_strbuf sb;
    kc_strbuf_init(&sb);
    group_version(&sb, ref->group, ref->version);
    if (nonempty(ref->namespace_)) {
        segment(&sb, "namespaces");
        segment(&sb, ref->namespace_);
    }
    segment(&sb, ref->resource);
    if (nonempty(ref->name))
        segment(&sb, ref->name);
    if (nonempty(ref->subresource))
        segment(&sb, ref->subresource);
    return kc_strbuf_take(&sb);
}

char *kc_url_build(const char *server, const char *path, const kc_param *params, size_t nparams)
{
    kc_strbuf sb;
    kc_strbuf_init(&sb);
    kc_strbuf_appends(&sb, server ? server : "");
    kc_strbuf_appends(&sb, path ? path : "");
    char sep = strchr(path ? path : "", '?') ? '&' : '?';
    for (size_t i = 0; i < nparams; i++) {
        if (!params[i].name || !params[i].value)
            continue;
        kc_strbuf_append(&sb, &sep, 1);
        kc_url_escape(&sb, params[i].name);
        kc_strbuf_appends(&sb, "=");
        kc_url_escape(&sb, params[i].value);
        sep = '&';
    }
    return kc_strbuf_take(&sb);
}
