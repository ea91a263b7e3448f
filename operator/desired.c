/* desired.c - the member PodGroup a FederatedPodGroup asks for on one
 * member: placement, the flavour's spec fields, our labels and
 * annotations, and the per-cluster overrides (which either apply whole or
 * not at all: a copy half-overridden is worse than an unchanged one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operator.h"

/* metadata.<map>.<key> where key may contain dots (label and annotation keys). */
const char *kco_meta_map(const cJSON *obj, const char *map, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), map);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* matchLabels and matchExpressions of a metav1.LabelSelector. */
/* A label by its whole key: keys carry dots (topology.kubernetes.io/region)
 * that a dotted-path lookup would split. */
static const char *label_of(const kco_member *m, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m->labels, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int expression_matches(const kco_member *m, const cJSON *e)
{
    const char *key = kco_jstr(e, "key"), *op = kco_jstr(e, "operator");
    const char *val = key ? label_of(m, key) : NULL;
    if (!key || !op)
        return 0;
    if (!strcmp(op, "Exists"))
        return val != NULL;
    if (!strcmp(op, "DoesNotExist"))
        return val == NULL;
    int in = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(e, "values"))
        if (val && cJSON_IsString(v) && !strcmp(v->valuestring, val))
            in = 1;
    return !strcmp(op, "In") ? in : !in;
}

int kco_member_matches(const kco_member *m, const cJSON *selector)
{
    if (!selector)
        return 0; /* absent selects nothing; {} selects all */
    const cJSON *kv;
    cJSON_ArrayForEach(kv, cJSON_GetObjectItem(selector, "matchLabels")) {
        const char *have = label_of(m, kv->string);
        if (!cJSON_IsString(kv) || !have || strcmp(have, kv->valuestring))
            return 0;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(selector, "matchExpressions"))
        if (!expression_matches(m, e))
            return 0;
    return 1;
}

/* Placed by name or by selector; a leaving member is placed nowhere. */
int kco_placed_on(const cJSON *fpg, const kco_member *m)
{
    if (m->leaving)
        return 0;
    const cJSON *placement = kco_jget(fpg, "spec.placement");
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItem(placement, "clusterNames"))
        if (cJSON_IsString(n) && !strcmp(n->valuestring, m->name))
            return 1;
    return kco_member_matches(m, cJSON_GetObjectItem(placement, "clusterSelector"));
}

static void copy_field(cJSON *dst, const cJSON *src, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
    if (v)
        cJSON_AddItemToObject(dst, key, cJSON_Duplicate(v, 1));
}

static cJSON *desired_spec(const cJSON *tspec, int volcano)
{
    cJSON *spec = cJSON_CreateObject();
    copy_field(spec, tspec, "minMember");
    copy_field(spec, tspec, "minResources");
    if (volcano) {
        copy_field(spec, tspec, "minTaskMember");
        copy_field(spec, tspec, "queue");
        copy_field(spec, tspec, "priorityClassName");
    } else {
        copy_field(spec, tspec, "scheduleTimeoutSeconds");
    }
    return spec;
}

static cJSON *string_map(const cJSON *src)
{
    return src ? cJSON_Duplicate(src, 1) : cJSON_CreateObject();
}

/* "~1" is "/" and "~0" is "~" in a JSON pointer segment. */
static void unescape_segment(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (r[0] == '~' && (r[1] == '1' || r[1] == '0')) {
            *w++ = r[1] == '1' ? '/' : '~';
            r++;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* The object that holds path's last segment (created on the way for add
 * and replace); NULL with *why when the path runs through a value that is
 * not an object. */
static cJSON *parent_of(cJSON *root, const char *path, char *last, size_t lastlen, int create,
                        const char **why)
{
    char buf[512];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
        *why = "the path is too long";
        return NULL;
    }
    char *slash = strrchr(buf, '/');
    if (!slash || slash[1] == '\0') {
        *why = "the path names no field";
        return NULL;
    }
    snprintf(last, lastlen, "%s", slash + 1);
    unescape_segment(last);
    *slash = '\0';
    cJSON *cur = root;
    for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        unescape_segment(tok);
        cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, tok);
        if (!next && create)
            next = cJSON_AddObjectToObject(cur, tok);
        if (!next) {
            *why = "a field on the way does not exist";
            return NULL;
        }
        if (!cJSON_IsObject(next)) {
            *why = "a field on the way is not an object";
            return NULL;
        }
        cur = next;
    }
    return cur;
}

/* Overrides may change fields below spec, labels and annotations only (the
 * CRD says so too; the operator trusts no input): never the identity of the
 * copy, never the whole metadata, never our own keys. */
static const char *path_problem(const char *path)
{
    static const char *roots[] = {"/spec/", "/metadata/labels/", "/metadata/annotations/"};
    int under = 0;
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
        under |= !strncmp(path, roots[i], strlen(roots[i]));
    if (!under)
        return !strcmp(path, "/spec") || !strcmp(path, "/metadata/labels") || !strcmp(path, "/metadata/annotations")
                   ? "a whole map cannot be replaced; name a field below it"
                   : "only fields below /spec, /metadata/labels and /metadata/annotations may be changed";
    if (strstr(path, "//") || path[strlen(path) - 1] == '/')
        return "the path names no field (an empty segment)";
    if (!strncmp(path, "/metadata/labels/federation.kclient.io~1", 40) ||
        !strncmp(path, "/metadata/annotations/federation.kclient.io~1", 45))
        return "federation.kclient.io/ labels and annotations are the operator's";
    return NULL;
}

/* Applies the overrides for cluster; 0, or -1 with *why (owned). */
static int apply_overrides(cJSON *obj, const cJSON *fpg, const char *cluster, char **why)
{
    const cJSON *ov;
    cJSON_ArrayForEach(ov, kco_jget(fpg, "spec.overrides")) {
        const char *cn = kco_jstr(ov, "clusterName");
        if (!cn || strcmp(cn, cluster))
            continue;
        const cJSON *p;
        int i = 0;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(ov, "patches")) {
            i++;
            const char *op = kco_jstr(p, "op"), *path = kco_jstr(p, "path");
            const char *problem = NULL;
            char last[256];
            const cJSON *v = cJSON_GetObjectItem(p, "value");
            cJSON *parent = NULL;
            if (!op || !path)
                problem = "op and path are required";
            else if (strcmp(op, "remove") && !v)
                problem = "add and replace need a value";
            else if ((problem = path_problem(path)))
                ;
            else
                parent = parent_of(obj, path, last, sizeof(last), strcmp(op, "remove") != 0, &problem);
            if (!parent) {
                if (asprintf(why, "override %d (%s %s) cannot apply: %s", i, op ? op : "?",
                             path ? path : "?", problem ? problem : "?") < 0)
                    *why = NULL;
                return -1;
            }
            cJSON_DeleteItemFromObjectCaseSensitive(parent, last);
            if (strcmp(op, "remove"))
                cJSON_AddItemToObject(parent, last, cJSON_Duplicate(v, 1));
        }
    }
    return 0;
}

/* The template may not set our own keys: they say whose copy this is. */
static void drop_ours(cJSON *map)
{
    for (cJSON *kv = map ? map->child : NULL, *next; kv; kv = next) {
        next = kv->next;
        if (kv->string && !strncmp(kv->string, "federation.kclient.io/", 22))
            cJSON_Delete(cJSON_DetachItemViaPointer(map, kv));
    }
}

static void add_metadata(cJSON *o, const cJSON *fpg, const kco_member *m)
{
    const cJSON *tmpl = kco_jget(fpg, "spec.template");
    cJSON *md = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(md, "name", kco_jstr(fpg, "metadata.name"));
    cJSON_AddStringToObject(md, "namespace", kco_jstr(fpg, "metadata.namespace"));
    cJSON *labels = string_map(kco_jget(tmpl, "metadata.labels"));
    drop_ours(labels);
    cJSON_AddStringToObject(labels, KCO_LABEL_MANAGED_BY, "kclient-federation");
    cJSON_AddStringToObject(labels, KCO_LABEL_FPG_NS, kco_jstr(fpg, "metadata.namespace"));
    cJSON_AddStringToObject(labels, KCO_LABEL_FPG_NAME, kco_jstr(fpg, "metadata.name"));
    cJSON_AddStringToObject(labels, KCO_CLUSTER_LABEL, m->name);
    cJSON_AddItemToObject(md, "labels", labels);
    cJSON *ann = string_map(kco_jget(tmpl, "metadata.annotations"));
    drop_ours(ann);
    const char *uid = kco_jstr(fpg, "metadata.uid");
    cJSON_AddStringToObject(ann, KCO_ANN_HUB_UID, uid ? uid : "");
    char gen[32];
    snprintf(gen, sizeof(gen), "%.0f", kco_jnum(fpg, "metadata.generation", 0));
    cJSON_AddStringToObject(ann, KCO_ANN_HUB_GEN, gen);
    /* the copy remembers the policy: if its hub object goes while the
     * member is away, only this says whether it may be deleted */
    const char *policy = kco_jstr(fpg, "spec.deletionPolicy");
    cJSON_AddStringToObject(ann, KCO_ANN_POLICY, policy && !strcmp(policy, "Orphan") ? "Orphan" : "Delete");
    cJSON_AddItemToObject(md, "annotations", ann);
}

cJSON *kco_desired_member(const cJSON *fpg, const kco_member *m, char **why)
{
    *why = NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", m->volcano ? "scheduling.volcano.sh/v1beta1"
                                                        : "scheduling.x-k8s.io/v1alpha1");
    cJSON_AddStringToObject(o, "kind", "PodGroup");
    add_metadata(o, fpg, m);
    cJSON_AddItemToObject(o, "spec", desired_spec(kco_jget(fpg, "spec.template.spec"), m->volcano));
    if (apply_overrides(o, fpg, m->name, why) != 0) {
        cJSON_Delete(o);
        if (!*why)
            *why = strdup("an override cannot apply");
        return NULL;
    }
    return o;
}

/* Every field we own is already on the member object: no write needed. */
int kco_subset(const cJSON *want, const cJSON *have)
{
    if (cJSON_IsObject(want)) {
        const cJSON *w;
        cJSON_ArrayForEach(w, want) {
            if (!kco_subset(w, cJSON_GetObjectItemCaseSensitive(have, w->string)))
                return 0;
        }
        return cJSON_IsObject(have);
    }
    return have && cJSON_Compare(want, have, 1);
}
