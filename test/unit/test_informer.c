/* test_informer.c - kclient/src/informer.c's list against pages served by
 * the small local HTTP server of the fuzz targets (test/fuzz/fuzz_http.h):
 * a 2xx page that is not a JSON object (a proxy's error page) fails the
 * list, which starts over after its backoff, and never counts as the last
 * page (fuzz_list's regress-informer-garbage-page: it once synced the
 * informer, deleted every object not yet seen and watched from "now"). */
#include <check.h>
#include <time.h>

#include "../fuzz/fuzz_http.h"

#define OBJ(name, rv)                                                                          \
    "{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ns\",\"resourceVersion\":\"" rv "\"}}"

static const char *const lists[] = {
    /* the first list: a page, then an error page instead of the next one */
    "{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"10\",\"continue\":\"c1\"},"
    "\"items\":[" OBJ("a", "1") "]}",
    "<html><body>502 Bad Gateway</body></html>",
    /* its retry, from the start */
    "{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"20\"},"
    "\"items\":[" OBJ("a", "1") "," OBJ("b", "2") "]}",
    /* a relist (the watch's resourceVersion expired) fails the same way */
    "{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"25\",\"continue\":\"c2\"},"
    "\"items\":[" OBJ("a", "1") "]}",
    "<html><body>502 Bad Gateway</body></html>",
    "{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"30\"},"
    "\"items\":[" OBJ("a", "1") "," OBJ("b", "2") "]}",
};
#define NLISTS (sizeof(lists) / sizeof(lists[0]))

static const char gone[] =
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
    "\"status\":\"Failure\","
    "\"reason\":\"Expired\",\"code\":410}}\n";

typedef struct server {
    unsigned lists, watches; /* requests of each kind answered */
    char *list_targets[NLISTS + 4], *watch_rv[8];
} server;

static char *respond(unsigned index, const char *target, size_t *len, void *ud)
{
    (void)index;
    server *s = ud;
    if (strstr(target, "watch=")) {
        unsigned k = s->watches++;
        if (k < 8)
            s->watch_rv[k] = fuzz_http_query(target, "resourceVersion");
        /* the first watch hears its resourceVersion expired; later ones end at once */
        if (k == 0)
            return fuzz_http_json(200, gone, sizeof(gone) - 1, len);
        return fuzz_http_json(200, "", 0, len);
    }
    unsigned k = s->lists++;
    if (k < NLISTS + 4)
        s->list_targets[k] = strdup(target);
    const char *body = k < NLISTS ? lists[k] : lists[NLISTS - 1];
    return fuzz_http_json(200, body, strlen(body), len);
}

static unsigned lists_answered(server *s)
{
    pthread_mutex_lock(&fuzz_http.mu);
    unsigned n = s->lists;
    pthread_mutex_unlock(&fuzz_http.mu);
    return n;
}

typedef struct counts {
    int adds, deletes, synced;
} counts;

static void on_add(kc_informer *inf, const cJSON *obj, void *ud)
{
    (void)inf, (void)obj;
    ((counts *)ud)->adds++;
}

static void on_delete(kc_informer *inf, const cJSON *obj, void *ud)
{
    (void)inf, (void)obj;
    ((counts *)ud)->deletes++;
}

static void on_synced(kc_informer *inf, void *ud)
{
    (void)inf;
    ((counts *)ud)->synced++;
}

/* Run the loop until n list requests are answered and nothing is in
 * flight; a wait for a backoff timer is skipped by moving the clock. */
static void run_until_lists(kc_client *c, server *s, unsigned n)
{
    time_t until = time(NULL) + 20;
    for (;;) {
        int pending = kc_client_run_once(c, 50);
        if (lists_answered(s) >= n && kc_client_pending(c) == 0)
            return;
        ck_assert_msg(time(NULL) < until, "%u list requests, waited for %u", lists_answered(s), n);
        if (pending == 0)
            fuzz_http_skip_ns(61000000000ull); /* past the longest list backoff */
    }
}

START_TEST(garbage_page_fails_the_list)
{
    kc_client *c = fuzz_http_client();
    server s = {0};
    fuzz_http_begin(respond, &s);
    counts n = {0};
    kc_informer_options o = {.ref = {"", "v1", "configmaps", "ns", NULL, NULL},
                             .handlers = {.on_add = on_add, .on_delete = on_delete,
                                          .on_synced = on_synced},
                             .ud = &n};
    kc_informer *inf = NULL;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_informer_start(c, &o, &inf, &err), KC_OK);

    /* the page after the first one is an error page: not synced */
    time_t until = time(NULL) + 10;
    while ((lists_answered(&s) < 2 || kc_client_pending(c)) && time(NULL) < until)
        kc_client_run_once(c, 50);
    ck_assert_uint_eq(lists_answered(&s), 2);
    ck_assert_int_eq(kc_informer_has_synced(inf), 0);
    ck_assert_int_eq(n.synced, 0);
    ck_assert_uint_eq(kc_informer_len(inf), 1);

    /* the retry starts over (no continue token) and syncs; the watch starts
     * where that list ended */
    run_until_lists(c, &s, 3);
    ck_assert_int_eq(kc_informer_has_synced(inf), 1);
    ck_assert_int_eq(n.synced, 1);
    ck_assert_uint_eq(kc_informer_len(inf), 2);
    ck_assert_ptr_null(strstr(s.list_targets[2], "continue="));
    ck_assert_ptr_nonnull(strstr(s.list_targets[1], "continue=c1"));

    /* the watch expires: the relist meets an error page after its first
     * page; b, not seen yet, stays, and nothing is deleted */
    run_until_lists(c, &s, 5);
    ck_assert_uint_eq(kc_informer_len(inf), 2);
    ck_assert_int_eq(n.deletes, 0);
    run_until_lists(c, &s, 6);
    ck_assert_uint_eq(kc_informer_len(inf), 2);
    ck_assert_int_eq(n.deletes, 0);
    ck_assert_int_eq(n.adds, 2);
    cJSON *b = kc_informer_get(inf, "ns", "b");
    ck_assert_ptr_nonnull(b);
    cJSON_Delete(b);

    kc_informer_stop(inf);
    kc_client_run(c, 5000);
    fuzz_http_end();
    ck_assert_ptr_nonnull(s.watch_rv[0]);
    ck_assert_str_eq(s.watch_rv[0], "20");
    for (unsigned i = 0; i < NLISTS + 4; i++)
        free(s.list_targets[i]);
    for (unsigned i = 0; i < 8; i++)
        free(s.watch_rv[i]);
    kc_error_clear(&err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("informer");
    TCase *tc = tcase_create("list");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, garbage_page_fails_the_list);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
