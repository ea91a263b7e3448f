/* fuzz_status.c - the Status/error decoder and renderer
 * (kclient/src/error.c: kc_error_from_status, kc_error_format,
 * kc_error_copy, kc_error_is_field_conflict).
 *
 * Input: bytes 0-1 the HTTP status, byte 2 the size of the caller's line
 * buffer, byte 3 flags (a Retry-After header already seen), the rest the
 * response body (an exact-size heap copy, not NUL-terminated). */
#include "fuzz.h"
#include "kclient/error.h"

static void check_format(const kc_error *err, size_t buflen)
{
    size_t need = kc_error_format(err, NULL, 0);
    char *full = malloc(need + 1);
    FUZZ_CHECK(full != NULL);
    FUZZ_CHECK(kc_error_format(err, full, need + 1) == need);
    FUZZ_CHECK(strlen(full) == need);
    /* Cut to the caller's buffer like snprintf. */
    char *small = malloc(buflen ? buflen : 1);
    FUZZ_CHECK(small != NULL);
    FUZZ_CHECK(kc_error_format(err, small, buflen) == need);
    if (buflen) {
        size_t n = need < buflen - 1 ? need : buflen - 1;
        FUZZ_CHECK(strlen(small) == n && memcmp(small, full, n) == 0);
    }
    free(small);
    free(full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    long http = 100 + (long)((data[0] | (unsigned)data[1] << 8) % 500);
    size_t buflen = data[2];
    int flags = data[3];
    data += 4;
    size -= 4;
    char *body = fuzz_copy(data, size, 0);
    kc_error err = KC_ERROR_INIT;
    if (flags & 1)
        err.retry_after = 7;
    FUZZ_CHECK(kc_error_from_status(&err, http, body, size) == KC_OK);
    free(body);
    FUZZ_CHECK(err.code == KC_EHTTP && err.http_status == http);
    FUZZ_CHECK(err.reason != NULL);
    FUZZ_CHECK(err.ncauses == 0 || err.causes != NULL);
    FUZZ_CHECK((flags & 1) ? err.retry_after == 7 : (err.retry_after < 0 || err.retry_after > 0));
    if (flags & 2) {
        err.attempts = 3;
        err.method = strdup("PATCH");
        err.path = strdup("/apis/x/v1/namespaces/a/pgs/b/status");
    }
    check_format(&err, buflen);
    (void)kc_error_is_field_conflict(&err);

    kc_error copy = KC_ERROR_INIT;
    FUZZ_CHECK(kc_error_copy(&copy, &err) == KC_OK);
    size_t n1 = kc_error_format(&err, NULL, 0), n2 = kc_error_format(&copy, NULL, 0);
    FUZZ_CHECK(n1 == n2);
    FUZZ_CHECK(kc_error_is_field_conflict(&err) == kc_error_is_field_conflict(&copy));
    /* The same body decoded into an error that already holds something. */
    kc_error_clear(&err);
    FUZZ_CHECK(kc_error_from_status(&copy, http, NULL, 0) == KC_OK && copy.message == NULL);
    kc_error_clear(&copy);
    return 0;
}
