/* Unit tests for kclient/src/ratelimit.c: token bucket timing on an
 * injected clock, and backoff growth, cap and jitter. */
#include <check.h>
#include <stdlib.h>

#include "kclient/ratelimit.h"

#define MS 1000000ull
#define S 1000000000ull

START_TEST(bucket_burst_then_rate)
{
    kc_token_bucket tb;
    uint64_t now = 5 * S;
    kc_token_bucket_init(&tb, 10, 5, now);
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(kc_token_bucket_reserve(&tb, now), 0);
    /* the 6th waits one token's time (100 ms), the 7th two */
    ck_assert_uint_eq(kc_token_bucket_reserve(&tb, now), 100 * MS);
    ck_assert_uint_eq(kc_token_bucket_reserve(&tb, now), 200 * MS);
}
END_TEST

START_TEST(bucket_refills_over_time)
{
    kc_token_bucket tb;
    kc_token_bucket_init(&tb, 2, 1, 0);
    ck_assert(kc_token_bucket_try(&tb, 0));
    ck_assert(!kc_token_bucket_try(&tb, 0));
    ck_assert(!kc_token_bucket_try(&tb, 499 * MS));
    ck_assert(kc_token_bucket_try(&tb, 500 * MS));
    /* never more than burst accumulates */
    ck_assert(kc_token_bucket_try(&tb, 100 * S));
    ck_assert(!kc_token_bucket_try(&tb, 100 * S));
}
END_TEST

START_TEST(bucket_sustained_rate_is_exact)
{
    /* 1000 reservations at 50 qps, burst 10, all made at t=0: the last one
     * must wait (1000 - 10) / 50 s. */
    kc_token_bucket tb;
    kc_token_bucket_init(&tb, 50, 10, 0);
    uint64_t last = 0;
    for (int i = 0; i < 1000; i++)
        last = kc_token_bucket_reserve(&tb, 0);
    ck_assert_uint_eq(last, (uint64_t)(990.0 / 50 * S));
}
END_TEST

START_TEST(bucket_disabled)
{
    kc_token_bucket tb;
    kc_token_bucket_init(&tb, -1, 1, 0);
    for (int i = 0; i < 10000; i++)
        ck_assert_uint_eq(kc_token_bucket_reserve(&tb, 0), 0);
}
END_TEST

START_TEST(bucket_set_rate_keeps_tokens)
{
    kc_token_bucket tb;
    kc_token_bucket_init(&tb, 1, 10, 0);
    for (int i = 0; i < 10; i++)
        kc_token_bucket_reserve(&tb, 0);
    kc_token_bucket_set_rate(&tb, 100, 10, 0);
    ck_assert_uint_eq(kc_token_bucket_reserve(&tb, 0), 10 * MS);
}
END_TEST

START_TEST(backoff_grows_and_caps)
{
    kc_backoff b = {5 * MS, 1000 * S, 2, 0};
    ck_assert_uint_eq(kc_backoff_delay(&b, 0, NULL), 5 * MS);
    ck_assert_uint_eq(kc_backoff_delay(&b, 1, NULL), 10 * MS);
    ck_assert_uint_eq(kc_backoff_delay(&b, 10, NULL), 5120 * MS);
    ck_assert_uint_eq(kc_backoff_delay(&b, 40, NULL), 1000 * S);
    ck_assert_uint_eq(kc_backoff_delay(&b, 5000, NULL), 1000 * S);
}
END_TEST

START_TEST(backoff_jitter_within_bounds)
{
    kc_backoff b = {800 * MS, 30 * S, 2, 1.0};
    uint64_t rng = 42;
    int above = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t d = kc_backoff_delay(&b, 2, &rng);
        ck_assert_uint_ge(d, 3200 * MS);
        ck_assert_uint_lt(d, 6400 * MS);
        above += d > 4800 * MS;
    }
    /* roughly half above the midpoint: the jitter is really random */
    ck_assert_int_gt(above, 400);
    ck_assert_int_lt(above, 600);
}
END_TEST

START_TEST(rand_unit_range)
{
    uint64_t s = 1;
    for (int i = 0; i < 10000; i++) {
        double u = kc_rand_unit(&s);
        ck_assert(u >= 0 && u < 1);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, bucket_burst_then_rate);
    tcase_add_test(tc, bucket_refills_over_time);
    tcase_add_test(tc, bucket_sustained_rate_is_exact);
    tcase_add_test(tc, bucket_disabled);
    tcase_add_test(tc, bucket_set_rate_keeps_tokens);
    tcase_add_test(tc, backoff_grows_and_caps);
    tcase_add_test(tc, backoff_jitter_within_bounds);
    tcase_add_test(tc, rand_unit_range);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
