/* Unit tests for kclient/src/workqueue.c on an injected clock:
 * de-duplication, dirty keys re-queued after done, delayed keys in order,
 * per-key backoff and the overall bucket, shut-down, counters. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kclient/ratelimit.h"
#include "kclient/workqueue.h"

#define MS 1000000ull
#define S 1000000000ull

static uint64_t fake_now;

static uint64_t fake_clock(void *ud)
{
    return *(const uint64_t *)ud;
}

/* A queue on the fake clock with client-go's defaults. */
static kc_workqueue *new_queue(void)
{
    fake_now = 1000 * S;
    kc_workqueue_options o = {.clock = fake_clock, .clock_ud = &fake_now};
    kc_workqueue *q = kc_workqueue_new(&o);
    ck_assert_ptr_nonnull(q);
    return q;
}

/* get must hand out want now. */
static void expect_get(kc_workqueue *q, const char *want)
{
    const char *key = NULL;
    ck_assert_int_eq(kc_workqueue_get(q, fake_now, &key, NULL), 1);
    ck_assert_str_eq(key, want);
}

/* Nothing ready now; the next delayed key is due in wait_ns. */
static void expect_none(kc_workqueue *q, uint64_t wait_ns)
{
    const char *key = "x";
    uint64_t wait = 0;
    ck_assert_int_eq(kc_workqueue_get(q, fake_now, &key, &wait), 0);
    ck_assert_ptr_null(key);
    ck_assert_uint_eq(wait, wait_ns);
}

START_TEST(dedup_while_queued)
{
    kc_workqueue *q = new_queue();
    ck_assert_int_eq(kc_workqueue_add(q, "ns/a"), KC_OK);
    ck_assert_int_eq(kc_workqueue_add(q, "ns/b"), KC_OK);
    ck_assert_int_eq(kc_workqueue_add(q, "ns/a"), KC_OK);
    ck_assert_uint_eq(kc_workqueue_len(q), 2);
    expect_get(q, "ns/a");
    expect_get(q, "ns/b");
    expect_none(q, UINT64_MAX);
    ck_assert_int_eq(kc_workqueue_done(q, "ns/a"), KC_OK);
    ck_assert_int_eq(kc_workqueue_done(q, "ns/b"), KC_OK);
    ck_assert(kc_workqueue_drained(q));
    kc_workqueue_stats st;
    kc_workqueue_get_stats(q, &st);
    ck_assert_uint_eq(st.adds_total, 2);
    kc_workqueue_free(q);
}
END_TEST

START_TEST(dirty_while_processing_requeued_once)
{
    kc_workqueue *q = new_queue();
    kc_workqueue_add(q, "a");
    const char *key = NULL;
    ck_assert_int_eq(kc_workqueue_get(q, fake_now, &key, NULL), 1);
    /* added twice while processing: not handed out twice at once */
    kc_workqueue_add(q, "a");
    kc_workqueue_add(q, "a");
    ck_assert_uint_eq(kc_workqueue_len(q), 0);
    expect_none(q, UINT64_MAX);
    ck_assert_int_eq(kc_workqueue_done(q, key), KC_OK);
    ck_assert_uint_eq(kc_workqueue_len(q), 1);
    expect_get(q, "a");
    ck_assert_int_eq(kc_workqueue_done(q, "a"), KC_OK);
    expect_none(q, UINT64_MAX);
    ck_assert(kc_workqueue_drained(q));
    kc_workqueue_stats st;
    kc_workqueue_get_stats(q, &st);
    ck_assert_uint_eq(st.adds_total, 2);
    ck_assert_uint_eq(st.gets_total, 2);
    ck_assert_uint_eq(st.dones_total, 2);
    kc_workqueue_free(q);
}
END_TEST

START_TEST(done_for_unknown_key)
{
    kc_workqueue *q = new_queue();
    ck_assert_int_eq(kc_workqueue_done(q, "nope"), KC_EINVAL);
    kc_workqueue_add(q, "a");
    ck_assert_int_eq(kc_workqueue_done(q, "a"), KC_EINVAL); /* queued, not processing */
    expect_get(q, "a");
    ck_assert_int_eq(kc_workqueue_done(q, "a"), KC_OK);
    ck_assert_int_eq(kc_workqueue_done(q, "a"), KC_EINVAL);
    kc_workqueue_free(q);
}
END_TEST

START_TEST(add_after_ordering)
{
    kc_workqueue *q = new_queue();
    uint64_t t0 = fake_now;
    kc_workqueue_add_after(q, "c", 300 * MS);
    kc_workqueue_add_after(q, "a", 100 * MS);
    kc_workqueue_add_after(q, "b", 100 * MS); /* same time: after a */
    kc_workqueue_add_after(q, "d", 200 * MS);
    kc_workqueue_add_after(q, "now", 0);
    ck_assert_uint_eq(kc_workqueue_len(q), 1);
    expect_get(q, "now");
    expect_none(q, 100 * MS);
    fake_now = t0 + 100 * MS - 1;
    expect_none(q, 1);
    fake_now = t0 + 100 * MS;
    expect_get(q, "a");
    expect_get(q, "b");
    expect_none(q, 100 * MS);
    fake_now = t0 + 250 * MS;
    expect_get(q, "d");
    expect_none(q, 50 * MS);
    fake_now = t0 + 10 * S;
    expect_get(q, "c");
    expect_none(q, UINT64_MAX);
    kc_workqueue_free(q);
}
END_TEST

START_TEST(add_after_keeps_earlier_time)
{
    kc_workqueue *q = new_queue();
    uint64_t t0 = fake_now;
    kc_workqueue_add_after(q, "x", 500 * MS);
    kc_workqueue_add_after(q, "x", 1 * S); /* later: ignored */
    expect_none(q, 500 * MS);
    kc_workqueue_add_after(q, "x", 100 * MS); /* earlier: wins */
    expect_none(q, 100 * MS);
    fake_now = t0 + 100 * MS;
    expect_get(q, "x");
    fake_now = t0 + 2 * S;
    expect_none(q, UINT64_MAX); /* waiting once only */
    kc_workqueue_done(q, "x");
    ck_assert(kc_workqueue_drained(q));
    kc_workqueue_free(q);
}
END_TEST

START_TEST(delayed_key_meets_queued_and_processing)
{
    kc_workqueue *q = new_queue();
    uint64_t t0 = fake_now;
    /* due while still queued: queued once */
    kc_workqueue_add_after(q, "q", 10 * MS);
    kc_workqueue_add(q, "q");
    fake_now = t0 + 10 * MS;
    expect_get(q, "q");
    expect_none(q, UINT64_MAX);
    /* due while processing: dirty, handed out again after done */
    kc_workqueue_add_after(q, "q", 10 * MS);
    fake_now = t0 + 20 * MS;
    expect_none(q, UINT64_MAX);
    kc_workqueue_done(q, "q");
    expect_get(q, "q");
    kc_workqueue_done(q, "q");
    ck_assert(kc_workqueue_drained(q));
    kc_workqueue_free(q);
}
END_TEST

START_TEST(backoff_doubles_to_cap)
{
    kc_workqueue *q = new_queue();
    uint64_t want = 5 * MS, delay = 0;
    for (unsigned i = 0; i < 30; i++) {
        ck_assert_uint_eq(kc_workqueue_num_requeues(q, "k"), i);
        ck_assert_int_eq(kc_workqueue_add_rate_limited(q, "k", &delay), KC_OK);
        ck_assert_msg(delay == want, "failure %u: delay %llu, want %llu", i,
                      (unsigned long long)delay, (unsigned long long)want);
        want = want * 2 > 1000 * S ? 1000 * S : want * 2;
    }
    ck_assert_uint_eq(delay, 1000 * S);
    ck_assert_uint_eq(kc_workqueue_num_requeues(q, "k"), 30);
    /* the key waits its first (earliest) delay */
    expect_none(q, 5 * MS);
    fake_now += 5 * MS;
    expect_get(q, "k");
    kc_workqueue_done(q, "k");
    kc_workqueue_free(q);
}
END_TEST

START_TEST(forget_resets_backoff)
{
    kc_workqueue *q = new_queue();
    uint64_t delay = 0;
    for (int i = 0; i < 3; i++)
        kc_workqueue_add_rate_limited(q, "k", &delay);
    ck_assert_uint_eq(delay, 20 * MS);
    ck_assert_uint_eq(kc_workqueue_num_requeues(q, "k"), 3);
    kc_workqueue_forget(q, "k");
    ck_assert_uint_eq(kc_workqueue_num_requeues(q, "k"), 0);
    kc_workqueue_add_rate_limited(q, "k", &delay);
    ck_assert_uint_eq(delay, 5 * MS);
    /* forget of an unknown key is harmless; other keys keep their counts */
    kc_workqueue_add_rate_limited(q, "other", &delay);
    kc_workqueue_forget(q, "unknown");
    ck_assert_uint_eq(kc_workqueue_num_requeues(q, "other"), 1);
    kc_workqueue_free(q);
}
END_TEST

START_TEST(bucket_and_per_key_take_the_max)
{
    kc_workqueue *q = new_queue();
    char key[32];
    uint64_t delay = 0;
    /* burst 100: the per-key 5 ms wins */
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        kc_workqueue_add_rate_limited(q, key, &delay);
        ck_assert_uint_eq(delay, 5 * MS);
    }
    /* then 10/s: the bucket wins */
    kc_workqueue_add_rate_limited(q, "k100", &delay);
    ck_assert_uint_eq(delay, 100 * MS);
    kc_workqueue_add_rate_limited(q, "k101", &delay);
    ck_assert_uint_eq(delay, 200 * MS);
    /* one second later ten tokens came back, two were owed */
    fake_now += 1 * S;
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof(key), "later%d", i);
        kc_workqueue_add_rate_limited(q, key, &delay);
        ck_assert_uint_eq(delay, 5 * MS);
    }
    kc_workqueue_add_rate_limited(q, "later8", &delay);
    ck_assert_uint_eq(delay, 100 * MS);
    /* a key with many failures: its own backoff is the larger */
    for (int i = 0; i < 11; i++)
        kc_workqueue_add_rate_limited(q, "sick", &delay);
    ck_assert_uint_eq(delay, 5120 * MS);
    kc_workqueue_free(q);
}
END_TEST

START_TEST(options_change_limits)
{
    fake_now = 0;
    kc_workqueue_options o = {.base_delay_ns = 1 * MS, .max_delay_ns = 3 * MS, .qps = 1,
                              .burst = 1, .clock = fake_clock, .clock_ud = &fake_now};
    kc_workqueue *q = kc_workqueue_new(&o);
    uint64_t delay = 0;
    kc_workqueue_add_rate_limited(q, "a", &delay);
    ck_assert_uint_eq(delay, 1 * MS);
    kc_workqueue_add_rate_limited(q, "b", &delay);
    ck_assert_uint_eq(delay, 1 * S); /* burst 1 at 1/s */
    kc_workqueue_free(q);

    o.qps = -1; /* no overall limit */
    q = kc_workqueue_new(&o);
    for (int i = 0; i < 1000; i++)
        kc_workqueue_add_rate_limited(q, "a", &delay);
    ck_assert_uint_eq(delay, 3 * MS);
    kc_workqueue_free(q);
}
END_TEST

START_TEST(shut_down_drains)
{
    kc_workqueue *q = new_queue();
    kc_workqueue_add(q, "a");
    kc_workqueue_add(q, "b");
    kc_workqueue_add_after(q, "later", 1 * S);
    expect_get(q, "a");
    kc_workqueue_add(q, "a"); /* dirty before the shut-down */
    kc_workqueue_shut_down(q);
    kc_workqueue_shut_down(q);
    ck_assert(kc_workqueue_is_shutting_down(q));
    uint64_t delay = 0;
    ck_assert_int_eq(kc_workqueue_add(q, "new"), KC_ESHUTDOWN);
    ck_assert_int_eq(kc_workqueue_add_after(q, "new", 1), KC_ESHUTDOWN);
    ck_assert_int_eq(kc_workqueue_add_rate_limited(q, "new", &delay), KC_ESHUTDOWN);
    ck_assert(!kc_workqueue_drained(q));
    expect_get(q, "b"); /* queued keys are still handed out */
    expect_none(q, UINT64_MAX); /* "a" is in flight and may come back */
    ck_assert_int_eq(kc_workqueue_done(q, "b"), KC_OK);
    ck_assert_int_eq(kc_workqueue_done(q, "a"), KC_OK);
    expect_get(q, "a"); /* the dirty mark from before still counts */
    ck_assert_int_eq(kc_workqueue_done(q, "a"), KC_OK);
    ck_assert(kc_workqueue_drained(q));
    fake_now += 2 * S; /* delayed keys were dropped */
    const char *key = "x";
    ck_assert_int_eq(kc_workqueue_get(q, fake_now, &key, NULL), KC_ESHUTDOWN);
    ck_assert_ptr_null(key);
    kc_workqueue_free(q);
}
END_TEST

START_TEST(len_and_counters)
{
    kc_workqueue *q = new_queue();
    uint64_t t0 = fake_now;
    kc_workqueue_add(q, "a");
    kc_workqueue_add(q, "b");
    kc_workqueue_add(q, "a");
    kc_workqueue_add_after(q, "c", 1 * S);
    kc_workqueue_add_rate_limited(q, "d", NULL);
    kc_workqueue_stats st;
    kc_workqueue_get_stats(q, &st);
    ck_assert_uint_eq(st.adds_total, 2);
    ck_assert_uint_eq(st.retries_total, 2);
    ck_assert_uint_eq(st.depth, 2);
    ck_assert_uint_eq(st.delayed, 2);
    ck_assert_uint_eq(st.processing, 0);
    ck_assert_uint_eq(kc_workqueue_len(q), 2);

    fake_now = t0 + 10 * MS;
    expect_get(q, "a"); /* waited 10 ms */
    fake_now = t0 + 30 * MS;
    expect_get(q, "b"); /* waited 30 ms */
    expect_get(q, "d"); /* due at 5 ms, waited 25 ms */
    fake_now = t0 + 100 * MS;
    kc_workqueue_get_stats(q, &st);
    ck_assert_uint_eq(st.adds_total, 3);
    ck_assert_uint_eq(st.depth, 0);
    ck_assert_uint_eq(st.delayed, 1);
    ck_assert_uint_eq(st.processing, 3);
    ck_assert_uint_eq(st.longest_running_ns, 90 * MS);
    ck_assert_uint_eq(st.unfinished_work_ns, 90 * MS + 70 * MS + 70 * MS);
    ck_assert_uint_eq(st.queue_wait_ns_total, 10 * MS + 30 * MS + 25 * MS);
    ck_assert_uint_eq(st.gets_total, 3);

    kc_workqueue_done(q, "a");
    kc_workqueue_done(q, "b");
    kc_workqueue_get_stats(q, &st);
    ck_assert_uint_eq(st.work_ns_total, 90 * MS + 70 * MS);
    ck_assert_uint_eq(st.longest_running_ns, 70 * MS);
    ck_assert_uint_eq(st.dones_total, 2);
    kc_workqueue_done(q, "d");
    kc_workqueue_get_stats(q, &st);
    ck_assert_uint_eq(st.longest_running_ns, 0);
    ck_assert_uint_eq(st.unfinished_work_ns, 0);
    kc_workqueue_free(q);
}
END_TEST

/* Many keys: the hash map grows, FIFO order holds, the heap sorts. */
START_TEST(many_keys)
{
    kc_workqueue *q = new_queue();
    uint64_t t0 = fake_now;
    enum { N = 20000 };
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "ns-%d/pg-%d", i % 7, i);
        ck_assert_int_eq(kc_workqueue_add(q, key), KC_OK);
    }
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "ns-%d/pg-%d", i % 7, i);
        kc_workqueue_add(q, key);
    }
    ck_assert_uint_eq(kc_workqueue_len(q), N);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "ns-%d/pg-%d", i % 7, i);
        expect_get(q, key);
        ck_assert_int_eq(kc_workqueue_done(q, key), KC_OK);
    }
    /* delays in a scrambled order come out sorted */
    for (int i = 0; i < N; i++) {
        unsigned d = (unsigned)(i * 7919) % N;
        snprintf(key, sizeof(key), "%u", d);
        kc_workqueue_add_after(q, key, (uint64_t)(d + 1) * MS);
    }
    fake_now = t0 + (uint64_t)(N + 1) * MS;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "%d", i);
        expect_get(q, key);
        kc_workqueue_done(q, key);
    }
    ck_assert(kc_workqueue_drained(q));
    kc_workqueue_free(q);
}
END_TEST

START_TEST(defaults_and_null)
{
    kc_workqueue *q = kc_workqueue_new(NULL); /* real clock */
    ck_assert_int_eq(kc_workqueue_add(q, NULL), KC_EINVAL);
    kc_workqueue_add(q, "a");
    const char *key = NULL;
    ck_assert_int_eq(kc_workqueue_get(q, kc_now_ns(), &key, NULL), 1);
    ck_assert_str_eq(key, "a");
    /* keys left in any state are freed with the queue */
    kc_workqueue_add(q, "b");
    kc_workqueue_add_after(q, "c", 1 * S);
    kc_workqueue_add_rate_limited(q, "d", NULL);
    kc_workqueue_free(q);
    kc_workqueue_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("workqueue");
    TCase *tc = tcase_create("workqueue");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dedup_while_queued);
    tcase_add_test(tc, dirty_while_processing_requeued_once);
    tcase_add_test(tc, done_for_unknown_key);
    tcase_add_test(tc, add_after_ordering);
    tcase_add_test(tc, add_after_keeps_earlier_time);
    tcase_add_test(tc, delayed_key_meets_queued_and_processing);
    tcase_add_test(tc, backoff_doubles_to_cap);
    tcase_add_test(tc, forget_resets_backoff);
    tcase_add_test(tc, bucket_and_per_key_take_the_max);
    tcase_add_test(tc, options_change_limits);
    tcase_add_test(tc, shut_down_drains);
    tcase_add_test(tc, len_and_counters);
    tcase_add_test(tc, many_keys);
    tcase_add_test(tc, defaults_and_null);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
