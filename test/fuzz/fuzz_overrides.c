/* fuzz_overrides.c - the operator's per-cluster override patches
 * (operator/desired.c, kco_desired_member, compiled in with
 * operator/util.c): the member PodGroup a FederatedPodGroup asks for,
 * with spec.overrides from the input.
 *
 * Input: byte 0 flags (bit 0: the member is Volcano; bit 1: the member is
 * edge-2, else edge-1; bit 2: deletionPolicy Orphan; bit 3: the template's
 * labels and annotations carry federation.kclient.io/ keys of their own),
 * the rest JSON: an array is spec.overrides, an object the one override,
 * anything else is not an input for this target.
 * Properties: kco_desired_member returns an object and no reason, or NULL
 * and a non-empty reason, never both; made without overrides, the
 * object's federation.kclient.io/ labels and annotations are exactly the
 * operator's (managed-by, fpg-namespace, fpg-name, cluster; hub-uid,
 * hub-generation, deletion-policy: each once, with its value, and no other
 * federation.kclient.io/ key, also when the template brings such keys);
 * overrides can never change them (the same entries with and without
 * overrides; empty path segments and the whole /metadata were bypasses
 * this target found, now refused: regress-*); the object stays a PodGroup
 * of the member's flavour with the hub object's name and namespace;
 * with no override for this member it is the object made with no
 * overrides at all.  Nothing leaks (LeakSanitizer). */
#include <cJSON.h>

#include "fuzz.h"
#include "operator.h"

#define PREFIX "federation.kclient.io/"

static const char *fpg_text(int orphan, int template_keys)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf),
             "{\"apiVersion\":\"federation.kclient.io/v1alpha1\",\"kind\":\"FederatedPodGroup\","
             "\"metadata\":{\"namespace\":\"team1\",\"name\":\"train\",\"uid\":\"u-1\","
             "\"generation\":3},"
             "\"spec\":{\"placement\":{\"clusterNames\":[\"edge-1\",\"edge-2\"]},"
             "\"deletionPolicy\":\"%s\","
             "\"template\":{\"metadata\":{\"labels\":{\"app\":\"x\"%s},"
             "\"annotations\":{\"note\":\"n\"%s}},"
             "\"spec\":{\"minMember\":4,\"queue\":\"q\",\"scheduleTimeoutSeconds\":30}}}}",
             orphan ? "Orphan" : "Delete",
             template_keys ? ",\"" KCO_CLUSTER_LABEL "\":\"evil\",\"" PREFIX "extra\":\"x\"" : "",
             template_keys ? ",\"" KCO_ANN_HUB_UID "\":\"evil\"" : "");
    return buf;
}

/* Each federation.kclient.io/ key of map once with its value, and no other. */
static int ours_exactly(const cJSON *map, const char *const *keys, const char *const *vals, int n)
{
    if (!cJSON_IsObject(map))
        return 0;
    int seen[8] = {0};
    const cJSON *kv;
    cJSON_ArrayForEach(kv, map) {
        if (!kv->string || strncmp(kv->string, PREFIX, strlen(PREFIX)))
            continue;
        int i = 0;
        while (i < n && strcmp(kv->string, keys[i]))
            i++;
        if (i == n || seen[i]++ || !cJSON_IsString(kv) || strcmp(kv->valuestring, vals[i]))
            return 0;
    }
    for (int i = 0; i < n; i++)
        if (!seen[i])
            return 0;
    return 1;
}

static const cJSON *meta(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "metadata"), k);
}

static void check_ours(const cJSON *o, const kco_member *m, int orphan, int template_keys,
                       const cJSON *fpg)
{
    const char *lk[] = {KCO_LABEL_MANAGED_BY, KCO_LABEL_FPG_NS, KCO_LABEL_FPG_NAME, KCO_CLUSTER_LABEL};
    const char *lv[] = {"kclient-federation", "team1", "train", m->name};
    const char *ak[] = {KCO_ANN_HUB_UID, KCO_ANN_HUB_GEN, KCO_ANN_POLICY};
    const char *av[] = {"u-1", "3", orphan ? "Orphan" : "Delete"};
    int ok = ours_exactly(meta(o, "labels"), lk, lv, 4) && ours_exactly(meta(o, "annotations"), ak, av, 3);
    if (!ok && (!template_keys || fuzz_strict())) {
        char *s = cJSON_PrintUnformatted(o), *f = cJSON_PrintUnformatted(
                                                   cJSON_GetObjectItemCaseSensitive(
                                                       cJSON_GetObjectItemCaseSensitive(fpg, "spec"),
                                                       "overrides"));
        fprintf(stderr, "member %s, overrides %s\ngave %s\n", m->name, f ? f : "-", s ? s : "?");
        free(s), free(f);
    }
    if (template_keys) {
        /* was a known bug (the template's keys copied next to ours), fixed in desired.c */
        FUZZ_CHECK(ok && "the template's federation.kclient.io/ keys reached the copy");
        return;
    }
    FUZZ_CHECK(ok && "overrides changed the operator's labels or annotations");
}

/* The federation.kclient.io/ entries of the labels and annotations, as a
 * sorted list of lines "L key=value" / "A key=value" ("L -" when there is
 * no label map), to compare with and without overrides. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *fed_entries(const cJSON *o)
{
    char *lines[256];
    size_t n = 0;
    const char *maps[] = {"labels", "annotations"};
    for (int k = 0; k < 2; k++) {
        const cJSON *map = meta(o, maps[k]), *kv;
        if (!cJSON_IsObject(map)) {
            if (n < 256 && asprintf(&lines[n], "%c -", maps[k][0] - 32) > 0)
                n++;
            continue;
        }
        cJSON_ArrayForEach(kv, map) {
            if (!kv->string || strncmp(kv->string, PREFIX, strlen(PREFIX)) || n == 256)
                continue;
            char *v = cJSON_PrintUnformatted(kv);
            if (asprintf(&lines[n], "%c %s=%s", maps[k][0] - 32, kv->string, v ? v : "?") > 0)
                n++;
            free(v);
        }
    }
    qsort(lines, n, sizeof(lines[0]), cmp_str);
    fuzz_buf b = {0};
    fuzz_buf_add(&b, "", 0);
    for (size_t i = 0; i < n; i++) {
        fuzz_buf_add(&b, lines[i], strlen(lines[i]));
        fuzz_buf_add(&b, "\n", 1);
        free(lines[i]);
    }
    return b.p;
}

/* Which known bypass explains overrides reaching our labels: a path with an
 * empty segment ("/metadata//labels/federation.kclient.io~1cluster":
 * strtok_r skips it, the prefix check does not see it), or the whole
 * metadata replaced or removed ("/metadata"). */
static void explain_bypass(const cJSON *ov, const char *cluster)
{
    int empty_segment = 0, whole_metadata = 0;
    const cJSON *e, *p;
    cJSON_ArrayForEach(e, ov) {
        const cJSON *cn = cJSON_GetObjectItemCaseSensitive(e, "clusterName");
        if (!cJSON_IsString(cn) || strcmp(cn->valuestring, cluster))
            continue;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(e, "patches")) {
            const cJSON *path = cJSON_GetObjectItem(p, "path");
            if (!cJSON_IsString(path))
                continue;
            empty_segment = empty_segment || strstr(path->valuestring, "//");
            whole_metadata = whole_metadata || !strcmp(path->valuestring, "/metadata");
        }
    }
    /* empty segments and the whole /metadata were known bugs, fixed in desired.c */
    FUZZ_CHECK(!empty_segment && "an override path with an empty segment changed the operator's keys");
    FUZZ_CHECK(!whole_metadata && "an override of /metadata changed the operator's keys");
    FUZZ_CHECK(!"overrides changed the operator's labels or annotations");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    uint8_t flags = data[0];
    char *text = fuzz_copy(data + 1, size - 1, 0);
    cJSON *ov = cJSON_ParseWithLength(text, size - 1);
    free(text);
    if (!cJSON_IsArray(ov) && !cJSON_IsObject(ov)) {
        cJSON_Delete(ov);
        return 0;
    }
    if (cJSON_IsObject(ov)) {
        cJSON *arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, ov);
        ov = arr;
    }
    int orphan = (flags & 4) != 0, template_keys = (flags & 8) != 0;
    cJSON *fpg = cJSON_Parse(fpg_text(orphan, template_keys));
    FUZZ_CHECK(fpg != NULL);
    kco_member m = {0};
    m.name = (flags & 2) ? "edge-2" : "edge-1";
    m.labels = cJSON_Parse("{\"region\":\"r1\"}");
    m.volcano = flags & 1;

    char *why0 = NULL;
    cJSON *plain = kco_desired_member(fpg, &m, &why0); /* no overrides yet */
    FUZZ_CHECK(plain && !why0);
    check_ours(plain, &m, orphan, template_keys, fpg);

    cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(fpg, "spec"), "overrides", ov);
    char *why = (char *)"unset";
    cJSON *o = kco_desired_member(fpg, &m, &why);
    if (o) {
        FUZZ_CHECK(why == NULL);
        char *before = fed_entries(plain), *after = fed_entries(o);
        if (strcmp(before, after)) {
            if (fuzz_strict()) {
                char *t = cJSON_PrintUnformatted(o);
                fprintf(stderr, "member %s: without overrides\n%swith them\n%s%s\n", m.name,
                        before, after, t ? t : "?");
                free(t);
            }
            explain_bypass(ov, m.name);
        }
        free(before);
        free(after);
        const cJSON *api = cJSON_GetObjectItemCaseSensitive(o, "apiVersion");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
        const cJSON *name = meta(o, "name"), *ns = meta(o, "namespace");
        FUZZ_CHECK(cJSON_IsString(api) &&
                       !strcmp(api->valuestring, m.volcano ? "scheduling.volcano.sh/v1beta1"
                                                           : "scheduling.x-k8s.io/v1alpha1") &&
                       cJSON_IsString(kind) && !strcmp(kind->valuestring, "PodGroup") &&
                       cJSON_IsString(name) && !strcmp(name->valuestring, "train") &&
                       cJSON_IsString(ns) && !strcmp(ns->valuestring, "team1") &&
                       "an override replaced apiVersion, kind, metadata.name or metadata.namespace");
        int for_me = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, ov) {
            const cJSON *cn = cJSON_GetObjectItemCaseSensitive(e, "clusterName");
            for_me = for_me || (cJSON_IsString(cn) && !strcmp(cn->valuestring, m.name));
        }
        if (!for_me)
            FUZZ_CHECK(fuzz_same_json(o, plain));
    } else {
        FUZZ_CHECK(why != NULL && *why);
    }
    free(why);
    cJSON_Delete(o);
    cJSON_Delete(plain);
    cJSON_Delete(m.labels);
    cJSON_Delete(fpg);
    return 0;
}
