/* test_transport_head.c - response heads as kclient/src/transport.c reads
 * them (curl's header callback), from the small local HTTP server of the
 * fuzz targets (test/fuzz/fuzz_http.h): a line curl takes for the end of
 * the head, and a folded line first on a handle that served a transfer
 * before (fuzz_headers' regress-end-of-head, regress-curl-folded-first). */
#include <check.h>

#include "../fuzz/fuzz_http.h"

typedef struct result {
    int done;
    long status;
    kc_error err;
    char *ctype;
} result;

static void on_done(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    result *r = ud;
    r->done = 1;
    r->status = resp->status;
    kc_error_copy(&r->err, err);
    r->ctype = resp->content_type ? strdup(resp->content_type) : NULL;
}

static void get(kc_client *c, result *r)
{
    kc_request_spec spec = {.method = "GET", .path = "/api/v1/namespaces/ns/configmaps/x",
                            .max_attempts = 1};
    kc_error err = KC_ERROR_INIT;
    *r = (result){0, 0, KC_ERROR_INIT, NULL};
    ck_assert_int_eq(kc_request_send(c, &spec, on_done, r, NULL, &err), KC_OK);
    while (!r->done)
        kc_client_run_once(c, 1000);
    kc_error_clear(&err);
}

static void result_clear(result *r)
{
    kc_error_clear(&r->err);
    free(r->ctype);
}

static const char object[] = "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\"}";

/* ---- "\r\r\n" ends the head, as curl says ---- */

static char *cr_cr_lf(unsigned index, const char *target, size_t *len, void *ud)
{
    (void)index, (void)target, (void)ud;
    static const char extra[] = "X-A: 1\r\n\r\r\nContent-Type: text/x\r\n";
    return fuzz_http_response(200, "application/json", extra, sizeof(extra) - 1, object,
                              sizeof(object) - 1, len);
}

START_TEST(cr_cr_lf_ends_the_head)
{
    kc_client *c = fuzz_http_client();
    fuzz_http_begin(cr_cr_lf, NULL);
    result r;
    get(c, &r);
    fuzz_http_end();
    /* once: no status seen (HTTP 0), and a 200 failed */
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(r.err.code == KC_OK, "%s", r.err.message ? r.err.message : "?");
    ck_assert_str_eq(r.ctype, "application/json"); /* the line after it is body to curl */
    result_clear(&r);
}
END_TEST

/* ---- a folded first line on the second transfer ---- */

static char *folded_second(unsigned index, const char *target, size_t *len, void *ud)
{
    (void)target, (void)ud;
    static const char extra[] = "\tX-Folded: 1\r\nRetry-After: 1\r\n";
    if (index == 1) /* SP/HTAB right after the status line: a continuation of nothing */
        return fuzz_http_response(200, NULL, extra, sizeof(extra) - 1, object, sizeof(object) - 1,
                                  len);
    return fuzz_http_json(200, object, sizeof(object) - 1, len);
}

START_TEST(folded_first_line_after_a_transfer)
{
    /* libcurl < 8.1.0 reallocs freed memory here when the easy handle is
     * reused (curl#11101): glibc aborts, AddressSanitizer reports it */
    kc_client *c = fuzz_http_client();
    fuzz_http_begin(folded_second, NULL);
    result r;
    for (int i = 0; i < 3; i++) {
        get(c, &r);
        /* the folded one may fail (curl 7.88 refuses it); the others succeed */
        if (i != 1)
            ck_assert_msg(r.err.code == KC_OK, "%d: %s", i, r.err.message ? r.err.message : "?");
        result_clear(&r);
    }
    ck_assert_uint_eq(fuzz_http_count(), 3);
    fuzz_http_end();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("transport_head");
    TCase *tc = tcase_create("head");
    tcase_add_test(tc, cr_cr_lf_ends_the_head);
    tcase_add_test(tc, folded_first_line_after_a_transfer);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
