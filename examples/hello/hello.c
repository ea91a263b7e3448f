/* kclient-hello: a small program that uses only kclient's public header.
 * Resolves scheduler-plugins' PodGroup by discovery, makes a namespace,
 * server-side applies three PodGroups and their status, and lists them back.
 * The name is the full one, podgroups.scheduling.x-k8s.io: the short name
 * "pg" is Volcano's PodGroup's too and, where both are installed, resolves
 * to Volcano's (discovery order, as kubectl does).
 *   kclient-hello [--kubeconfig FILE] [--context NAME] */
#include <cJSON.h>
#include <kclient/kclient.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const kc_error *err)
{
    char line[2048];
    kc_error_format(err, line, sizeof(line));
    fprintf(stderr, "kclient-hello: %s: %s\n", what, line);
    return 1;
}

static int ensure_namespace(kc_client *c, const char *name)
{
    kc_error err = KC_ERROR_INIT;
    char body[256];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", name);
    kc_ref ref = {NULL, "v1", "namespaces", NULL, name, NULL};
    kc_write_opts wo = {.field_manager = "kclient-hello"};
    int rc = kc_patch(c, &ref, KC_PATCH_APPLY, body, strlen(body), &wo, NULL, &err) == KC_OK
                 ? 0
                 : fail("namespace", &err);
    kc_error_clear(&err);
    return rc;
}

static int apply_podgroup(kc_client *c, const kc_resource_info *pg, const char *ns, int i)
{
    kc_error err = KC_ERROR_INIT;
    char name[32], spec[512], status[512];
    snprintf(name, sizeof(name), "demo-%d", i);
    snprintf(spec, sizeof(spec),
             "{\"apiVersion\":\"%s/%s\",\"kind\":\"%s\",\"metadata\":{\"name\":\"%s\"},"
             "\"spec\":{\"minMember\":%d}}",
             pg->group, pg->version, pg->kind, name, i + 1);
    snprintf(status, sizeof(status),
             "{\"apiVersion\":\"%s/%s\",\"kind\":\"%s\",\"metadata\":{\"name\":\"%s\"},"
             "\"status\":{\"phase\":\"Running\",\"running\":%d}}",
             pg->group, pg->version, pg->kind, name, i + 1);
    kc_ref obj = {pg->group, pg->version, pg->resource, ns, name, NULL};
    kc_ref st = obj;
    st.subresource = "status";
    kc_write_opts wo = {.field_manager = "kclient-hello", .force = 1};
    int rc = 0;
    if (kc_patch(c, &obj, KC_PATCH_APPLY, spec, strlen(spec), &wo, NULL, &err) != KC_OK)
        rc = fail("apply spec", &err);
    else if (kc_patch(c, &st, KC_PATCH_APPLY, status, strlen(status), &wo, NULL, &err) != KC_OK)
        rc = fail("apply status", &err);
    kc_error_clear(&err);
    return rc;
}

static int print_item(const cJSON *item, void *ud)
{
    (void)ud;
    const cJSON *md = cJSON_GetObjectItem(item, "metadata");
    const cJSON *st = cJSON_GetObjectItem(item, "status");
    printf("  %-10s phase=%s running=%d\n", cJSON_GetObjectItem(md, "name")->valuestring,
           cJSON_GetStringValue(cJSON_GetObjectItem(st, "phase")),
           (int)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "running")));
    return 0;
}

int main(int argc, char **argv)
{
    kc_config_options co = {0};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--kubeconfig"))
            co.kubeconfig = argv[i + 1];
        else if (!strcmp(argv[i], "--context"))
            co.context = argv[i + 1];
    }
    kc_error err = KC_ERROR_INIT;
    kc_config *cfg = NULL;
    kc_client *c = NULL;
    if (kc_config_auto(&co, &cfg, &err) != KC_OK)
        return fail("config", &err);
    if (kc_client_new(cfg, NULL, &c, &err) != KC_OK)
        return fail("client", &err);
    char *version = NULL;
    if (kc_get_raw(c, "/version", &version, NULL, &err) != KC_OK)
        return fail("version", &err);
    cJSON *v = cJSON_Parse(version);
    printf("server %s (%s), context %s\n", kc_config_server(cfg),
           cJSON_GetStringValue(cJSON_GetObjectItem(v, "gitVersion")), kc_config_context(cfg));
    cJSON_Delete(v);
    free(version);

    static const char pg_name[] = "podgroups.scheduling.x-k8s.io";
    kc_resource_info pg;
    if (kc_discovery_resolve(c, pg_name, &pg, &err) != KC_OK)
        return fail("discovery", &err);
    printf("\"%s\" is %s.%s/%s (kind %s, status subresource: %s)\n", pg_name, pg.resource,
           pg.group, pg.version, pg.kind, pg.has_status ? "yes" : "no");
    int rc = ensure_namespace(c, "kclient-demo");
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = apply_podgroup(c, &pg, "kclient-demo", i);
    kc_ref coll = {pg.group, pg.version, pg.resource, "kclient-demo", NULL, NULL};
    if (rc == 0) {
        printf("podgroups in kclient-demo:\n");
        if (kc_list_each(c, &coll, NULL, print_item, NULL, NULL, &err) != KC_OK)
            rc = fail("list", &err);
    }
    kc_resource_info_clear(&pg);
    kc_error_clear(&err);
    kc_client_free(c);
    kc_config_free(cfg);
    return rc;
}
