/* test_bad_input.c - hostile and broken server input against a fake
 * server (test/bad-server: TLS, HTTP/2 and HTTP/1.1) that misbehaves on
 * demand, because a real apiserver cannot be made to:
 *  - oversized bodies (max_response_bytes), truncated bodies, non-JSON,
 *    non-object and empty 200s, a redirect elsewhere;
 *  - watch streams whose event line never ends (max_event_bytes), and
 *    garbage, binary noise or unknown event types inside a stream.
 * Each must fail the one request (or drop the one stream, which resumes)
 * with an error that names the request and the problem, and leave the
 * client healthy: the next request on the same client succeeds, other
 * streams stay open, no file descriptors leak. */
#include <dirent.h>
#include <inttypes.h>

#include "kc_badserver.h"

static kct_badserver bs;

static kc_client *client_with(kc_config *cfg, kc_client_options o)
{
    o.qps = -1;
    return kct_client(cfg, &o);
}

static kc_ref cm_ref(const char *mode, const char *name)
{
    return (kc_ref){NULL, "v1", "configmaps", mode, name, NULL};
}

static char *formatted(const kc_error *err)
{
    char *line = malloc(4096);
    kc_error_format(err, line, 4096);
    return line;
}

#define ASSERT_HAS(line, want) ck_assert_msg(strstr((line), (want)) != NULL, "no \"%s\" in: %s", (want), (line))

/* The same client answers a good request afterwards, with nothing left
 * over but the `streams` watches the test keeps open. */
static void assert_healthy_with(kc_client *c, int streams)
{
    kc_error err = KC_ERROR_INIT;
    cJSON *obj = NULL;
    kc_ref ref = cm_ref("good", "after");
    KCT_OK(kc_get(c, &ref, &obj, &err), &err);
    ck_assert_str_eq(kct_str(obj, "metadata.name"), "after");
    cJSON_Delete(obj);
    cJSON *list = NULL;
    kc_ref all = cm_ref("good", NULL);
    KCT_OK(kc_list(c, &all, NULL, &list, &err), &err);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), 2);
    cJSON_Delete(list);
    ck_assert_int_eq(kc_client_pending(c), streams);
    kc_error_clear(&err);
}

static void assert_healthy(kc_client *c) { assert_healthy_with(c, 0); }

/* kc_get of mode/name must fail with code; returns the formatted error. */
static char *get_fails(kc_client *c, const char *mode, const char *name, kc_code code)
{
    kc_error err = KC_ERROR_INIT;
    cJSON *obj = (cJSON *)1;
    kc_ref ref = cm_ref(mode, name);
    kc_code rc = kc_get(c, &ref, &obj, &err);
    char *line = formatted(&err);
    ck_assert_msg(rc == code, "GET %s/%s: got %d, want %d: %s", mode, name, rc, code, line);
    ck_assert_ptr_null(obj);
    kc_error_clear(&err);
    return line;
}

/* ---- one-shot requests ---- */

START_TEST(non_json_200)
{
    kc_config *cfg = kct_badserver_config(&bs);
    kc_client *c = client_with(cfg, (kc_client_options){0});
    int before = kct_badserver_hits(&bs, "nonjson");
    char *line = get_fails(c, "nonjson", "x", KC_EDECODE);
    /* names the request, says what is wrong, shows what came instead */
    ASSERT_HAS(line, "GET /api/v1/namespaces/nonjson/configmaps/x: ");
    ASSERT_HAS(line, "response is not valid JSON (");
    ASSERT_HAS(line, "<html><head><title>Sign in");
    ck_assert_int_eq(kct_badserver_hits(&bs, "nonjson") - before, 1); /* not retried */
    free(line);
    /* a list gets the same treatment */
    kc_error err = KC_ERROR_INIT;
    cJSON *list = NULL;
    kc_ref all = cm_ref("nonjson", NULL);
    ck_assert_int_eq(kc_list(c, &all, NULL, &list, &err), KC_EDECODE);
    line = formatted(&err);
    ASSERT_HAS(line, "GET /api/v1/namespaces/nonjson/configmaps: ");
    free(line);
    kc_error_clear(&err);
    assert_healthy(c);
    kc_client_free(c);
    kc_config_free(cfg);
}
END_TEST

START_TEST(json_not_object_and_empty_200)
{
    kc_config *cfg = kct_badserver_config(&bs);
    kc_client *c = client_with(cfg, (kc_client_options){0});
    char *line = get_fails(c, "notobject", "x", KC_EDECODE);
    ASSERT_HAS(line, "GET /api/v1/namespaces/notobject/configmaps/x: ");
    ASSERT_HAS(line, "response is JSON but not an object");
    free(line);
    line = get_fails(c, "empty", "x", KC_EDECODE);
    ASSERT_HAS(line, "GET /api/v1/namespaces/empty/configmaps/x: ");
    ASSERT_HAS(line, "empty response body");
    free(line);
    assert_healthy(c);
    kc_client_free(c);
    kc_config_free(cfg);
}
END_TEST

/* Over HTTP/2 (as with the real apiserver) and HTTP/1.1. */
START_TEST(oversized_response)
{
    int http1 = _i;
    kc_config *cfg = kct_badserver_config(&bs);
    kc_client *c = client_with(cfg, (kc_client_options){.max_response_bytes = 1 << 20,
                                                        .http1_only = http1});
    int before = kct_badserver_hits(&bs, "big");
    char *line = get_fails(c, "big", "8388608", KC_EDECODE);
    ASSERT_HAS(line, "GET /api/v1/namespaces/big/configmaps/8388608: ");
    ASSERT_HAS(line, "response larger than 1048576 bytes (max_response_bytes)");
    ck_assert_int_eq(kct_badserver_hits(&bs, "big") - before, 1); /* not retried */
    free(line);
    /* below the cap all is well */
    kc_error err = KC_ERROR_INIT;
    cJSON *obj = NULL;
    kc_ref ref = cm_ref("big", "524288");
    KCT_OK(kc_get(c, &ref, &obj, &err), &err);
    ck_assert_uint_ge(strlen(kct_str(obj, "data.blob")), 524000);
    cJSON_Delete(obj);
    assert_healthy(c);
    kc_client_free(c);
    kc_config_free(cfg);
}
END_TEST

START_TEST(truncated_body)
{
    int http1 = _i;
    kc_config *cfg = kct_badserver_config(&bs);
    kc_client *c = client_with(cfg, (kc_client_options){.max_attempts = 3,
                                                        .backoff_initial_ms = 10,
                                                        .backoff_max_ms = 20,
                                                        .http1_only = http1});
    int before = kct_badserver_hits(&bs, "truncated");
    char *line = get_fails(c, "truncated", "t", KC_ETRANSPORT);
    ASSERT_HAS(line, "GET /api/v1/namespaces/truncated/configmaps/t: ");
    /* curl's own words: "transfer closed with 3900 bytes remaining to read"
     * (HTTP/1.1) or "HTTP/2 stream 1 was not closed cleanly" */
    ASSERT_HAS(line, http1 ? "bytes remaining to read (curl 18)" : "was not closed cleanly");
    /* a GET is idempotent: retried as a connection failure, then given up */
    ASSERT_HAS(line, "(after 3 attempts)");
    ck_assert_int_eq(kct_badserver_hits(&bs, "truncated") - before, 3);
    free(line);
    assert_healthy(c);
    kc_client_free(c);
    kc_config_free(cfg);
}
END_TEST

START_TEST(redirect_not_followed)
{
    kc_config *cfg = kct_badserver_config(&bs);
    kc_client *c = client_with(cfg, (kc_client_options){0});
    char *line = get_fails(c, "redirect", "x", KC_EHTTP);
    ASSERT_HAS(line, "GET /api/v1/namespaces/redirect/configmaps/x: HTTP 302");
    free(line);
    cJSON *st = kct_badserver_stats(&bs);
    ck_assert_int_eq(cJSON_GetObjectItem(st, "leaks")->valueint, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(st, "leakedAuth")->valueint, 0);
    cJSON_Delete(st);
    assert_healthy(c);
    kc_client_free(c);
    kc_config_free(cfg);
}
END_TEST

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

START_TEST(many_failures_leak_nothing)
{
    kc_config *cfg = kct_badserver_config(&bs);
    kc_client *c = client_with(cfg, (kc_client_options){.max_attempts = 1,
                                                        .max_response_bytes = 1 << 20});
    assert_healthy(c); /* the connection exists before counting */
    int fds = count_fds();
    static const char *const modes[] = {"nonjson", "notobject", "empty", "truncated", "redirect"};
    for (int round = 0; round < 10; round++) {
        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
            kc_error err = KC_ERROR_INIT;
            cJSON *obj = NULL;
            kc_ref ref = cm_ref(modes[i], "x");
            ck_assert_int_ne(kc_get(c, &ref, &obj, &err), KC_OK);
            kc_error_clear(&err);
        }
        free(get_fails(c, "big", "4194304", KC_EDECODE));
    }
    assert_healthy(c);
    /* connections are re-made after resets, never accumulated */
    ck_assert_msg(count_fds() <= fds + 4, "fds %d -> %d", fds, count_fds());
    kc_client_free(c);
    kc_config_free(cfg);
}
END_TEST

/* ---- watch streams ---- */

typedef struct seen {
    int events, errors, opens;
    char names[16][96];
    int nnames;
    kc_error first_error;
} seen;

static void on_event(kc_watch *w, kc_watch_event *ev, void *ud)
{
    (void)w;
    seen *s = ud;
    s->events++;
    const char *name = kct_str(ev->object, "metadata.name");
    if (name && s->nnames < 16)
        snprintf(s->names[s->nnames++], sizeof(s->names[0]), "%s", name);
}

static void on_error(kc_watch *w, const kc_error *err, void *ud)
{
    (void)w;
    seen *s = ud;
    if (s->errors++ == 0)
        kc_error_copy(&s->first_error, err);
}

static void on_open(kc_watch *w, void *ud)
{
    (void)w;
    ((seen *)ud)->opens++;
}

static kc_watch *watch_mode(kc_client *c, const char *mode, size_t max_event, seen *s)
{
    kc_watch_options o = {.ref = cm_ref(mode, NULL),
                          .backoff_initial_ms = 50,
                          .backoff_max_ms = 100,
                          .on_event = on_event,
                          .on_error = on_error,
                          .on_open = on_open,
                          .ud = s,
                          .max_event_bytes = max_event};
    kc_watch *w = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_watch_start(c, &o, &w, &err), &err);
    return w;
}

static void run_until(kc_client *c, const int *counter, int want, int secs)
{
    uint64_t end = kc_client_now(c) + (uint64_t)secs * 1000000000ull;
    while (*counter < want && kc_client_now(c) < end)
        kc_client_run_once(c, 100);
    ck_assert_msg(*counter >= want, "waited %d s: %d of %d", secs, *counter, want);
}

/* Bytes the i-th noline stream sent before the client hung up (-1 while it
 * has not ended); i < 0: how many have ended. */
static int64_t noline_bytes(int i)
{
    cJSON *st = kct_badserver_stats(&bs);
    const cJSON *arr = cJSON_GetObjectItem(st, "nolineBytes");
    int n = cJSON_GetArraySize(arr);
    int64_t v = i < 0 ? n : i < n ? (int64_t)cJSON_GetArrayItem(arr, i)->valuedouble : -1;
    cJSON_Delete(st);
    return v;
}

static int64_t wait_noline_bytes(int i)
{
    int64_t v = -1;
    for (int tries = 0; tries < 100 && (v = noline_bytes(i)) < 0; tries++)
        usleep(100000);
    return v;
}

START_TEST(watch_line_never_ends)
{
    kc_config *cfg = kct_badserver_config(&bs);
    kc_client *c = client_with(cfg, (kc_client_options){0});
    seen good = {0}, bad = {0};
    kc_watch *gw = watch_mode(c, "good", 0, &good);
    run_until(c, &good.events, 1, 10);
    int first = (int)noline_bytes(-1);
    kc_watch *bw = watch_mode(c, "noline", 1 << 20, &bad);
    run_until(c, &bad.errors, 2, 20); /* dropped, resumed, dropped again */
    char *line = formatted(&bad.first_error);
    ck_assert_int_eq(bad.first_error.code, KC_EDECODE);
    ASSERT_HAS(line, "GET /api/v1/namespaces/noline/configmaps: ");
    ASSERT_HAS(line, "watch event at byte 0: larger than the limit of 1048576 bytes");
    free(line);
    ck_assert_int_eq(bad.events, 0);
    ck_assert_uint_ge(kc_watch_streams(bw), 2); /* it keeps trying, with backoff */
    /* the other stream on the same client never noticed */
    ck_assert_int_eq(good.errors, 0);
    ck_assert_uint_eq(kc_watch_streams(gw), 1);
    kc_watch_stop(bw);
    kc_client_run_once(c, 0); /* the stop completes on the loop */
    assert_healthy_with(c, 1);
    ck_assert_uint_eq(kc_watch_streams(gw), 1);
    /* the client hung up soon after the limit: far from the server's 96 MiB
     * (what it sent beyond 1 MiB was in flight, within HTTP/2 flow control) */
    int64_t sent = wait_noline_bytes(first);
    ck_assert_msg(sent > 0 && sent < 32 << 20, "server sent %" PRId64 " bytes", sent);
    kc_watch_stop(gw);
    kc_client_run(c, 1000);
    kc_error_clear(&bad.first_error);
    kc_client_free(c);
    kc_config_free(cfg);
}
END_TEST

START_TEST(watch_default_event_limit)
{
    kc_config *cfg = kct_badserver_config(&bs);
    kc_client *c = client_with(cfg, (kc_client_options){0});
    seen bad = {0};
    int first = (int)noline_bytes(-1);
    kc_watch *bw = watch_mode(c, "noline", 0, &bad); /* 0 = 64 MiB */
    run_until(c, &bad.errors, 1, 60);
    char *line = formatted(&bad.first_error);
    ASSERT_HAS(line, "larger than the limit of 67108864 bytes");
    free(line);
    kc_watch_stop(bw);
    kc_client_run(c, 1000);
    /* curl tells the server that the stream is gone (RST_STREAM) when the
     * connection is next used: after this request */
    assert_healthy(c);
    int64_t sent = wait_noline_bytes(first);
    ck_assert_msg(sent >= 64 << 20 && sent < 96 << 20, "server sent %" PRId64 " bytes", sent);
    kc_error_clear(&bad.first_error);
    kc_client_free(c);
    kc_config_free(cfg);
}
END_TEST

/* garbage, binary noise and an unknown event type: the stream is dropped at
 * the bad line (the event after it is never delivered) and resumes from the
 * last good resourceVersion. */
static const char *const garbage_modes[] = {"garbage", "binary", "badtype"};
static const char *const garbage_words[] = {"not JSON (error near byte", "not JSON (error near byte",
                                            "unknown type \"EXPLODED\""};

START_TEST(watch_garbage_resumes)
{
    const char *mode = garbage_modes[_i];
    kc_config *cfg = kct_badserver_config(&bs);
    kc_client *c = client_with(cfg, (kc_client_options){0});
    seen s = {0};
    kc_watch *w = watch_mode(c, mode, 0, &s);
    run_until(c, &s.events, 2, 20);
    ck_assert_int_eq(s.errors, 1);
    char *line = formatted(&s.first_error);
    ck_assert_int_eq(s.first_error.code, KC_EDECODE);
    ASSERT_HAS(line, "GET /api/v1/namespaces/");
    ASSERT_HAS(line, "watch event at byte ");
    ASSERT_HAS(line, garbage_words[_i]);
    free(line);
    char before[64], resumed[64];
    snprintf(before, sizeof(before), "before-%s", mode);
    snprintf(resumed, sizeof(resumed), "resumed-from-5");
    ck_assert_str_eq(s.names[0], before);
    ck_assert_str_eq(s.names[1], resumed); /* "after-..." never delivered */
    ck_assert_str_eq(kc_watch_resource_version(w), "6");
    cJSON *st = kct_badserver_stats(&bs);
    const cJSON *rvs = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "watchRVs"), mode);
    ck_assert_int_eq(cJSON_GetArraySize(rvs), 2);
    ck_assert_str_eq(cJSON_GetArrayItem(rvs, 0)->valuestring, "");
    ck_assert_str_eq(cJSON_GetArrayItem(rvs, 1)->valuestring, "5");
    cJSON_Delete(st);
    kc_watch_stop(w);
    kc_client_run(c, 1000);
    assert_healthy(c);
    kc_error_clear(&s.first_error);
    kc_client_free(c);
    kc_config_free(cfg);
}
END_TEST

int main(void)
{
    kct_badserver_start(&bs);
    Suite *s = suite_create("bad_input");
    TCase *tc = tcase_create("bad_input");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, non_json_200);
    tcase_add_test(tc, json_not_object_and_empty_200);
    tcase_add_loop_test(tc, oversized_response, 0, 2);
    tcase_add_loop_test(tc, truncated_body, 0, 2);
    tcase_add_test(tc, redirect_not_followed);
    tcase_add_test(tc, many_failures_leak_nothing);
    tcase_add_test(tc, watch_line_never_ends);
    tcase_add_test(tc, watch_default_event_limit);
    tcase_add_loop_test(tc, watch_garbage_resumes, 0, 3);
    suite_add_tcase(s, tc);
    int rc = kct_run_suite(s);
    kct_badserver_stop(&bs);
    return rc;
}
