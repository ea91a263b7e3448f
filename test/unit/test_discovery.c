/* test_discovery.c - kclient/src/discovery.c against discovery documents
 * served by the small local HTTP server of the fuzz targets
 * (test/fuzz/fuzz_http.h): names from the server go into request paths
 * escaped, entries that name no path are skipped, short names match whole
 * (the bugs fuzz_discovery found: regress-unescaped-path,
 * regress-empty-names, regress-shortname-underflow). */
#include <check.h>

#include "../fuzz/fuzz_http.h"

/* ---- legacy discovery: APIGroupList, then an APIResourceList each ---- */

static const char legacy_groups[] =
    "{\"kind\":\"APIGroupList\",\"groups\":["
    "{\"name\":\"ex ample.io\",\"versions\":[{\"version\":\"v1\"}]},"
    "{\"name\":\"evil?x=/y\",\"versions\":[{\"version\":\"v1\"},{\"version\":\"..\"},"
    "{\"version\":\"\"}]},"
    "{\"name\":\"\",\"versions\":[{\"version\":\"v1\"}]},"
    "{\"name\":\"..\",\"versions\":[{\"version\":\"v1\"}]},"
    "{\"name\":\"ok.io\",\"versions\":[{\"version\":\"v1\\r\\nX: y\"}]}]}";

static const char core_resources[] =
    "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
    "{\"name\":\"configmaps\",\"kind\":\"ConfigMap\",\"namespaced\":true,\"shortNames\":[\"cm\"]},"
    "{\"name\":\"\",\"kind\":\"Nameless\",\"namespaced\":true},"
    "{\"name\":\"pods\",\"singularName\":\"pod\",\"kind\":\"Pod\",\"namespaced\":true,"
    "\"shortNames\":[\"po\",\"a,b\"]}]}";

static const char widgets[] =
    "{\"kind\":\"APIResourceList\",\"resources\":[{\"name\":\"widgets\",\"kind\":\"Widget\","
    "\"namespaced\":false,\"shortNames\":[\"wd\"]}]}";

static const char empty_resources[] = "{\"kind\":\"APIResourceList\",\"resources\":[]}";

static char *legacy(unsigned index, const char *target, size_t *len, void *ud)
{
    (void)index, (void)ud;
    const char *body = empty_resources;
    if (!strcmp(target, "/api"))
        body = "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"]}";
    else if (!strcmp(target, "/apis"))
        body = legacy_groups;
    else if (!strcmp(target, "/api/v1"))
        body = core_resources;
    else if (!strncmp(target, "/apis/ok.io/", 12))
        body = widgets;
    return fuzz_http_json(200, body, strlen(body), len);
}

static void expect_not_found(kc_client *c, const char *name)
{
    kc_resource_info info;
    kc_error err = KC_ERROR_INIT;
    ck_assert_msg(kc_discovery_resolve(c, name, &info, &err) == KC_ENOTFOUND,
                  "\"%s\" resolved", name);
    kc_error_clear(&err);
}

START_TEST(legacy_paths_escaped_and_odd_entries_skipped)
{
    kc_client *c = fuzz_http_client();
    fuzz_http_begin(legacy, NULL);
    kc_resource_info info;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_discovery_resolve(c, "cm", &info, &err), KC_OK);
    ck_assert_str_eq(info.resource, "configmaps");
    kc_resource_info_clear(&info);

    /* exactly these paths: the names escaped, "", "." and ".." not asked for */
    static const char *const want[] = {"/api", "/apis", "/api/v1", "/apis/ex%20ample.io/v1",
                                       "/apis/evil%3Fx%3D%2Fy/v1", "/apis/ok.io/v1%0D%0AX%3A%20y"};
    ck_assert_uint_eq(fuzz_http_count(), sizeof(want) / sizeof(want[0]));
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char *t = fuzz_http_target(i);
        ck_assert_str_eq(t, want[i]);
        free(t);
    }

    /* the group version with CR LF in its name was read, and its name kept */
    ck_assert_int_eq(kc_discovery_resolve(c, "wd", &info, &err), KC_OK);
    ck_assert_str_eq(info.group, "ok.io");
    ck_assert_str_eq(info.version, "v1\r\nX: y");
    kc_resource_info_clear(&info);

    expect_not_found(c, "Nameless"); /* an entry without a resource name */
    /* short names match whole: a leading comma once read before the buffer */
    expect_not_found(c, ",cm");
    expect_not_found(c, "cm,po");
    expect_not_found(c, "a");
    expect_not_found(c, "a,b");
    ck_assert_int_eq(kc_discovery_resolve(c, "po", &info, &err), KC_OK);
    ck_assert_str_eq(info.resource, "pods");
    kc_resource_info_clear(&info);
    fuzz_http_end();
    kc_error_clear(&err);
}
END_TEST

/* ---- aggregated discovery (v2) ---- */

static const char v2_core[] =
    "{\"kind\":\"APIGroupDiscoveryList\",\"items\":[{\"metadata\":{\"name\":\"\"},\"versions\":["
    "{\"version\":\"\",\"resources\":[{\"resource\":\"ghosts\","
    "\"responseKind\":{\"kind\":\"Ghost\"},"
    "\"scope\":\"Namespaced\"}]},"
    "{\"version\":\"v1\",\"resources\":["
    "{\"resource\":\"\",\"responseKind\":{\"kind\":\"Nameless\"},\"scope\":\"Namespaced\"},"
    "{\"resource\":\"configmaps\",\"responseKind\":{\"kind\":\"ConfigMap\"},"
    "\"scope\":\"Namespaced\",\"shortNames\":[\"cm\"]}]}]}]}";

static char *v2(unsigned index, const char *target, size_t *len, void *ud)
{
    (void)index, (void)ud;
    static const char none[] = "{\"kind\":\"APIGroupDiscoveryList\",\"items\":[]}";
    const char *body = !strcmp(target, "/api") ? v2_core : none;
    return fuzz_http_json(200, body, strlen(body), len);
}

START_TEST(v2_entries_without_version_or_resource_skipped)
{
    kc_client *c = fuzz_http_client();
    fuzz_http_begin(v2, NULL);
    kc_resource_info info;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_discovery_resolve(c, "cm", &info, &err), KC_OK);
    ck_assert_str_eq(info.version, "v1");
    ck_assert_str_eq(info.resource, "configmaps");
    kc_resource_info_clear(&info);
    expect_not_found(c, "ghosts");   /* empty version */
    expect_not_found(c, "Nameless"); /* empty resource */
    fuzz_http_end();
    kc_error_clear(&err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("discovery");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, legacy_paths_escaped_and_odd_entries_skipped);
    tcase_add_test(tc, v2_entries_without_version_or_resource_skipped);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
