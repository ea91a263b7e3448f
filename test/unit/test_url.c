/* Unit tests for kclient/src/url.c: API paths and query escaping. */
#include <check.h>
#include <stdlib.h>

#include "kclient/request.h"

static void expect_path(kc_ref ref, const char *want)
{
    char *p = kc_ref_path(&ref);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, want);
    free(p);
}

START_TEST(core_and_group_paths)
{
    expect_path((kc_ref){NULL, "v1", "configmaps", "default", "cm1", NULL},
                "/api/v1/namespaces/default/configmaps/cm1");
    expect_path((kc_ref){"", "v1", "namespaces", NULL, "kube-system", NULL},
                "/api/v1/namespaces/kube-system");
    expect_path((kc_ref){"scheduling.x-k8s.io", "v1alpha1", "podgroups", "ns", "pg", "status"},
                "/apis/scheduling.x-k8s.io/v1alpha1/namespaces/ns/podgroups/pg/status");
    expect_path((kc_ref){"apps", "v1", "deployments", NULL, NULL, NULL}, "/apis/apps/v1/deployments");
    expect_path((kc_ref){"federation.kclient.io", "v1alpha1", "memberclusters", NULL, "edge-1", NULL},
                "/apis/federation.kclient.io/v1alpha1/memberclusters/edge-1");
}
END_TEST

START_TEST(path_segments_escaped)
{
    expect_path((kc_ref){NULL, "v1", "configmaps", "a b", "x/y?z#", NULL},
                "/api/v1/namespaces/a%20b/configmaps/x%2Fy%3Fz%23");
}
END_TEST

START_TEST(bad_refs_rejected)
{
    ck_assert_ptr_null(kc_ref_path(&(kc_ref){NULL, NULL, "configmaps", NULL, NULL, NULL}));
    ck_assert_ptr_null(kc_ref_path(&(kc_ref){NULL, "v1", "", NULL, NULL, NULL}));
    ck_assert_ptr_null(kc_ref_path(&(kc_ref){NULL, "v1", "pods", "ns", NULL, "status"}));
    ck_assert_ptr_null(kc_ref_path(NULL));
}
END_TEST

START_TEST(query_escaping)
{
    kc_param ps[] = {{"labelSelector", "app in (a,b),tier!=web"},
                     {"fieldSelector", "metadata.name=x"},
                     {"skipped", NULL},
                     {"continue", "eyJ2Ijoi+/="}};
    char *u = kc_url_build("https://127.0.0.1:6443", "/api/v1/pods", ps, 4);
    ck_assert_str_eq(u, "https://127.0.0.1:6443/api/v1/pods"
                        "?labelSelector=app%20in%20%28a%2Cb%29%2Ctier%21%3Dweb"
                        "&fieldSelector=metadata.name%3Dx&continue=eyJ2Ijoi%2B%2F%3D");
    free(u);
    u = kc_url_build("https://h", "/x", NULL, 0);
    ck_assert_str_eq(u, "https://h/x");
    free(u);
}
END_TEST

START_TEST(patch_content_types)
{
    ck_assert_str_eq(kc_patch_content_type(KC_PATCH_APPLY), "application/apply-patch+yaml");
    ck_assert_str_eq(kc_patch_content_type(KC_PATCH_MERGE), "application/merge-patch+json");
    ck_assert_str_eq(kc_patch_content_type(KC_PATCH_JSON), "application/json-patch+json");
    ck_assert_str_eq(kc_patch_content_type(KC_PATCH_STRATEGIC),
                     "application/strategic-merge-patch+json");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("url");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, core_and_group_paths);
    tcase_add_test(tc, path_segments_escaped);
    tcase_add_test(tc, bad_refs_rejected);
    tcase_add_test(tc, query_escaping);
    tcase_add_test(tc, patch_content_types);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
