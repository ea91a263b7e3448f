/* items.c - decoding one --items line of kubectl-patch_status.  Pure. */
#include "items.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

void kps_item_clear(kps_item *it)
{
    if (!it)
        return;
    free(it->name);
    free(it->namespace_);
    free(it->patch);
    free(it->problem);
    it->name = it->namespace_ = it->patch = it->problem = NULL;
}

int kps_items_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n')
            return 0;
    return 1;
}

static const char *json_string_field(const cJSON *o, const char *k, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (v && !cJSON_IsString(v))
        *bad = 1;
    return v && cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The problem of a line, as a static string, or NULL when it is valid. */
static const char *check(const char *name, int bad, const cJSON *patch, int want_array)
{
    if (bad)
        return "\"name\" and \"namespace\" must be strings";
    if (!name || !*name)
        return "no \"name\"";
    if (patch && !(want_array ? cJSON_IsArray(patch) : cJSON_IsObject(patch)))
        return "\"patch\" has the wrong JSON type for --type";
    return NULL;
}

static int fail(kps_item *out, const char *problem)
{
    free(out->patch);
    out->patch = NULL;
    out->problem = strdup(problem);
    /* Without memory for the message the line is still refused. */
    return -1;
}

int kps_items_decode(const char *line, size_t len, int want_array, kps_item *out)
{
    kps_item_clear(out);
    cJSON *o = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return fail(out, "not a JSON object");
    }
    int bad = 0;
    const char *name = json_string_field(o, "name", &bad);
    const char *ns = json_string_field(o, "namespace", &bad);
    const cJSON *patch = cJSON_GetObjectItemCaseSensitive(o, "patch");
    const char *problem = check(name, bad, patch, want_array);
    int rc = 0;
    /* The name and namespace also go with an invalid line, for its report. */
    if (name) {
        out->name = strdup(name);
        out->namespace_ = ns ? strdup(ns) : NULL;
        if (!out->name || (ns && !out->namespace_))
            problem = problem ? problem : "out of memory";
    }
    if (!problem && patch && !(out->patch = cJSON_PrintUnformatted(patch)))
        problem = "out of memory";
    if (problem)
        rc = fail(out, problem);
    cJSON_Delete(o);
    return rc;
}
