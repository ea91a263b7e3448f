/* Unit tests for kclient/src/error.c: Status bodies as a real kube-apiserver
 * sends them (see shared/semantics.md), and the one-line rendering. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kclient/error.h"

static const char *CONFLICT_409 =
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
    "\"message\":\"Apply failed with 2 conflicts: conflicts with \\\"A\\\" with subresource "
    "\\\"status\\\":\\n- .status.phase\\n- .status.running\",\"reason\":\"Conflict\","
    "\"details\":{\"causes\":[{\"reason\":\"FieldManagerConflict\",\"message\":\"conflict with "
    "\\\"A\\\" with subresource \\\"status\\\"\",\"field\":\".status.phase\"},"
    "{\"reason\":\"FieldManagerConflict\",\"message\":\"conflict with \\\"A\\\" with subresource "
    "\\\"status\\\"\",\"field\":\".status.running\"}]},\"code\":409}";

static const char *INVALID_422 =
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
    "\"message\":\"PatchOptions.meta.k8s.io \\\"\\\" is invalid: fieldManager: Required value: is "
    "required for apply patch\",\"reason\":\"Invalid\",\"details\":{\"group\":\"meta.k8s.io\","
    "\"kind\":\"PatchOptions\",\"causes\":[{\"reason\":\"FieldValueRequired\",\"message\":"
    "\"Required value: is required for apply patch\",\"field\":\"fieldManager\"}]},\"code\":422}";

static const char *THROTTLED_JSON_429 =
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
    "\"message\":\"too many requests\",\"reason\":\"TooManyRequests\","
    "\"details\":{\"retryAfterSeconds\":3},\"code\":429}";

static const char *APF_429 = "Too many requests, please try again later.\n";

START_TEST(parses_conflict_causes)
{
    kc_error e = KC_ERROR_INIT;
    ck_assert_int_eq(kc_error_from_status(&e, 409, CONFLICT_409, strlen(CONFLICT_409)), KC_OK);
    ck_assert_int_eq(e.code, KC_EHTTP);
    ck_assert_int_eq(e.http_status, 409);
    ck_assert_str_eq(e.reason, "Conflict");
    ck_assert_uint_eq(e.ncauses, 2);
    ck_assert_str_eq(e.causes[0].reason, "FieldManagerConflict");
    ck_assert_str_eq(e.causes[0].field, ".status.phase");
    ck_assert_str_eq(e.causes[1].field, ".status.running");
    ck_assert(kc_error_is_field_conflict(&e));
    kc_error_clear(&e);
    ck_assert_ptr_null(e.reason);
}
END_TEST

START_TEST(parses_invalid)
{
    kc_error e = KC_ERROR_INIT;
    kc_error_from_status(&e, 422, INVALID_422, strlen(INVALID_422));
    ck_assert_str_eq(e.reason, "Invalid");
    ck_assert_ptr_nonnull(strstr(e.message, "fieldManager: Required value"));
    ck_assert_str_eq(e.causes[0].field, "fieldManager");
    ck_assert(!kc_error_is_field_conflict(&e));
    kc_error_clear(&e);
}
END_TEST

START_TEST(retry_after_from_details)
{
    kc_error e = KC_ERROR_INIT;
    kc_error_from_status(&e, 429, THROTTLED_JSON_429, strlen(THROTTLED_JSON_429));
    ck_assert(e.retry_after == 3.0);
    kc_error_clear(&e);
    /* a Retry-After header seen first wins over details */
    e.retry_after = 1;
    kc_error_from_status(&e, 429, THROTTLED_JSON_429, strlen(THROTTLED_JSON_429));
    ck_assert(e.retry_after == 1.0);
    kc_error_clear(&e);
}
END_TEST

/* Both bodies as kube-apiserver v1.34 sends them (recorded with curl): an
 * object that does not exist, and a resource the server does not serve (a
 * CRD not installed yet). */
#define OBJECT_NOT_FOUND_JSON                                                                      \
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":"   \
    "\"podgroups.scheduling.x-k8s.io \\\"x\\\" not found\",\"reason\":\"NotFound\",\"details\":{\"name\":" \
    "\"x\",\"group\":\"scheduling.x-k8s.io\",\"kind\":\"podgroups\"},\"code\":404}"
#define RESOURCE_NOT_SERVED_TEXT "404 page not found\n"

START_TEST(not_found_names_the_object)
{
    kc_error e = KC_ERROR_INIT;
    kc_error_from_status(&e, 404, OBJECT_NOT_FOUND_JSON, strlen(OBJECT_NOT_FOUND_JSON));
    ck_assert_str_eq(e.name, "x");
    ck_assert_str_eq(e.reason, "NotFound");
    ck_assert(kc_error_is_not_found(&e));
    kc_error copy = KC_ERROR_INIT;
    ck_assert_int_eq(kc_error_copy(&copy, &e), KC_OK);
    ck_assert_str_eq(copy.name, "x");
    kc_error_clear(&copy);
    /* a resource that is not served is not proof that an object is gone */
    kc_error_from_status(&e, 404, RESOURCE_NOT_SERVED_TEXT, strlen(RESOURCE_NOT_SERVED_TEXT));
    ck_assert_ptr_null(e.name);
    ck_assert_str_eq(e.message, "404 page not found");
    ck_assert(!kc_error_is_not_found(&e));
    kc_error_clear(&e);
    ck_assert(!kc_error_is_not_found(&e));
    ck_assert(!kc_error_is_not_found(NULL));
}
END_TEST

/* A Retry-After far in the future (or not a number) cannot overflow the
 * delay computed from it. */
START_TEST(retry_after_is_clamped)
{
    static const char body[] = "{\"kind\":\"Status\",\"code\":429,\"details\":"
                               "{\"retryAfterSeconds\":1e300}}";
    kc_error e = KC_ERROR_INIT;
    kc_error_from_status(&e, 429, body, strlen(body));
    ck_assert(e.retry_after == 86400.0);
    kc_error_clear(&e);
}
END_TEST

START_TEST(plain_text_body)
{
    kc_error e = KC_ERROR_INIT;
    e.retry_after = 1;
    kc_error_from_status(&e, 429, APF_429, strlen(APF_429));
    ck_assert_str_eq(e.reason, "Too Many Requests");
    ck_assert_str_eq(e.message, "Too many requests, please try again later.");
    char line[256];
    kc_error_format(&e, line, sizeof(line));
    ck_assert_str_eq(line, "HTTP 429 Too Many Requests: Too many requests, please try again "
                           "later. (retry after 1s)");
    kc_error_clear(&e);
}
END_TEST

START_TEST(garbage_body_is_cut)
{
    char big[4096];
    memset(big, 'x', sizeof(big));
    big[10] = '\n';
    kc_error e = KC_ERROR_INIT;
    kc_error_from_status(&e, 502, big, sizeof(big));
    ck_assert_uint_le(strlen(e.message), 512);
    ck_assert_ptr_null(strchr(e.message, '\n'));
    ck_assert_str_eq(e.reason, "Bad Gateway");
    kc_error_clear(&e);
}
END_TEST

START_TEST(format_names_request_and_causes)
{
    kc_error e = KC_ERROR_INIT;
    kc_error_from_status(&e, 409, CONFLICT_409, strlen(CONFLICT_409));
    e.method = strdup("PATCH");
    e.path = strdup("/apis/scheduling.x-k8s.io/v1alpha1/namespaces/a/podgroups/b/status");
    char line[1024];
    size_t need = kc_error_format(&e, line, sizeof(line));
    ck_assert_uint_eq(need, strlen(line));
    ck_assert_ptr_nonnull(strstr(line, "PATCH /apis/scheduling.x-k8s.io/v1alpha1/namespaces/a/"
                                       "podgroups/b/status: HTTP 409 Conflict: Apply failed"));
    ck_assert_ptr_nonnull(
        strstr(line, "[FieldManagerConflict .status.phase; FieldManagerConflict .status.running]"));
    /* truncation is safe and reports the full length */
    char small[16];
    ck_assert_uint_eq(kc_error_format(&e, small, sizeof(small)), need);
    ck_assert_uint_eq(strlen(small), 15);
    kc_error_clear(&e);
}
END_TEST

START_TEST(set_and_copy)
{
    kc_error a = KC_ERROR_INIT, b = KC_ERROR_INIT;
    kc_error_set(&a, KC_ECONFIG, "kubeconfig %s: context \"%s\" not found", "/x", "prod");
    ck_assert_int_eq(a.code, KC_ECONFIG);
    ck_assert_str_eq(a.message, "kubeconfig /x: context \"prod\" not found");
    ck_assert_int_eq(kc_error_copy(&b, &a), KC_OK);
    ck_assert_str_eq(b.message, a.message);
    ck_assert_ptr_ne(b.message, a.message);
    char line[128];
    kc_error_format(&b, line, sizeof(line));
    ck_assert_str_eq(line, "configuration error: kubeconfig /x: context \"prod\" not found");
    kc_error_clear(&a);
    kc_error_clear(&b);
    ck_assert_str_eq(kc_strerror(KC_ETRANSPORT), "transport error");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parses_conflict_causes);
    tcase_add_test(tc, parses_invalid);
    tcase_add_test(tc, retry_after_from_details);
    tcase_add_test(tc, not_found_names_the_object);
    tcase_add_test(tc, retry_after_is_clamped);
    tcase_add_test(tc, plain_text_body);
    tcase_add_test(tc, garbage_body_is_cut);
    tcase_add_test(tc, format_names_request_and_causes);
    tcase_add_test(tc, set_and_copy);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
