/* Unit tests for kclient/src/watch_decoder.c: a recorded kube-apiserver
 * watch stream fed in every possible split, large and oversized events,
 * malformed lines, bookmarks, ERROR events and the end of the stream. */
#include <cJSON.h>
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kclient/watch.h"
#include "util.h"

#define MAX_EVENTS 64
#define RECORDED_EVENTS 10

typedef struct events {
    kc_watch_event ev[MAX_EVENTS];
    size_t n;
} events;

static char *load_stream(size_t *len)
{
    char *buf = NULL;
    ck_assert_int_eq(kc_read_file(KC_TEST_DATA "/watch/podgroups.jsonl", &buf, len), 0);
    return buf;
}

static void events_clear(events *es)
{
    for (size_t i = 0; i < es->n; i++)
        kc_watch_event_clear(&es->ev[i]);
    es->n = 0;
}

/* Pull every ready event into es; fail the test on a decode error. */
static void drain(kc_watch_decoder *d, events *es)
{
    kc_error err = KC_ERROR_INIT;
    int rc;
    for (;;) {
        ck_assert_uint_lt(es->n, MAX_EVENTS);
        kc_watch_event *ev = &es->ev[es->n];
        *ev = (kc_watch_event)KC_WATCH_EVENT_INIT;
        rc = kc_watch_decoder_next(d, ev, &err);
        if (rc != 1)
            break;
        es->n++;
    }
    ck_assert_msg(rc == 0, "next: %d %s", rc, err.message ? err.message : "");
    kc_error_clear(&err);
}

static void feed_ok(kc_watch_decoder *d, const char *buf, size_t len)
{
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_watch_decoder_feed(d, buf, len, &err), KC_OK);
}

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void assert_same_event(const kc_watch_event *a, const kc_watch_event *b, size_t i)
{
    ck_assert_msg(a->type == b->type, "event %zu: type", i);
    ck_assert_msg(str_eq(a->resource_version, b->resource_version), "event %zu: rv", i);
    ck_assert_int_eq(a->initial_events_end, b->initial_events_end);
    ck_assert_int_eq(a->status.code, b->status.code);
    ck_assert_int_eq(a->status.http_status, b->status.http_status);
    ck_assert(str_eq(a->status.reason, b->status.reason));
    ck_assert(str_eq(a->status.message, b->status.message));
    ck_assert_msg(cJSON_Compare(a->object, b->object, 1), "event %zu: object differs", i);
}

static void assert_same_events(const events *a, const events *b)
{
    ck_assert_uint_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        assert_same_event(&a->ev[i], &b->ev[i], i);
}

/* The whole recorded stream in one feed. */
static void decode_reference(events *ref)
{
    size_t len;
    char *buf = load_stream(&len);
    kc_watch_decoder *d = kc_watch_decoder_new(0);
    feed_ok(d, buf, len);
    drain(d, ref);
    kc_watch_decoder_free(d);
    free(buf);
    ck_assert_uint_eq(ref->n, RECORDED_EVENTS);
}

/* FNV-1a over a cJSON tree: names, types and values in document order.
 * Cheaper than cJSON_Compare (which looks every key up by name), so the
 * split test can run under valgrind in reasonable time. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t tree_hash(uint64_t h, const cJSON *j)
{
    for (; j; j = j->next) {
        h = fnv(h, &j->type, sizeof(j->type));
        if (j->string)
            h = fnv(h, j->string, strlen(j->string) + 1);
        if (j->valuestring)
            h = fnv(h, j->valuestring, strlen(j->valuestring) + 1);
        h = fnv(h, &j->valuedouble, sizeof(j->valuedouble));
        h = tree_hash(h, j->child);
    }
    return h;
}

static uint64_t event_hash(const kc_watch_event *ev)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(h, &ev->type, sizeof(ev->type));
    h = fnv(h, &ev->initial_events_end, sizeof(ev->initial_events_end));
    h = fnv(h, &ev->status.http_status, sizeof(ev->status.http_status));
    if (ev->resource_version)
        h = fnv(h, ev->resource_version, strlen(ev->resource_version) + 1);
    if (ev->status.message)
        h = fnv(h, ev->status.message, strlen(ev->status.message) + 1);
    return tree_hash(h, ev->object);
}

static void assert_same_hashes(const events *ref, const events *got, size_t cut)
{
    ck_assert_msg(ref->n == got->n, "cut %zu: %zu events", cut, got->n);
    for (size_t i = 0; i < ref->n; i++)
        ck_assert_msg(event_hash(&ref->ev[i]) == event_hash(&got->ev[i]),
                      "cut %zu: event %zu differs", cut, i);
}

START_TEST(recorded_stream_contents)
{
    static const kc_watch_event_type types[RECORDED_EVENTS] = {
        KC_WATCH_ADDED,    KC_WATCH_ADDED,    KC_WATCH_BOOKMARK, KC_WATCH_MODIFIED,
        KC_WATCH_MODIFIED, KC_WATCH_DELETED,  KC_WATCH_ADDED,    KC_WATCH_MODIFIED,
        KC_WATCH_BOOKMARK, KC_WATCH_ERROR};
    static const char *rvs[RECORDED_EVENTS] = {"28401", "28402", "28420", "28431", "28437",
                                               "28452", "28460", "28466", "28540", NULL};
    events ref = {0};
    decode_reference(&ref);
    for (size_t i = 0; i < RECORDED_EVENTS; i++) {
        ck_assert_int_eq(ref.ev[i].type, types[i]);
        ck_assert_msg(str_eq(ref.ev[i].resource_version, rvs[i]), "rv of event %zu", i);
        ck_assert_int_eq(ref.ev[i].initial_events_end, i == 2);
        ck_assert_int_eq(ref.ev[i].status.code, i == 9 ? KC_EHTTP : KC_OK);
    }
    const cJSON *name = cJSON_GetObjectItem(cJSON_GetObjectItem(ref.ev[6].object, "metadata"), "name");
    ck_assert_str_eq(name->valuestring, "infer-c");
    ck_assert_str_eq(kc_watch_event_type_name(ref.ev[5].type), "DELETED");
    const kc_error *st = &ref.ev[9].status;
    ck_assert_int_eq(st->http_status, 410);
    ck_assert_str_eq(st->reason, "Expired");
    ck_assert_str_eq(st->message, "too old resource version: 1 (28562)");
    char line[256];
    kc_error_format(st, line, sizeof(line));
    ck_assert_str_eq(line, "HTTP 410 Expired: too old resource version: 1 (28562)");
    events_clear(&ref);
}
END_TEST

START_TEST(split_at_every_byte)
{
    events ref = {0}, got = {0};
    decode_reference(&ref);
    size_t len;
    char *buf = load_stream(&len);
    kc_error err = KC_ERROR_INIT;
    for (size_t cut = 0; cut <= len; cut++) {
        kc_watch_decoder *d = kc_watch_decoder_new(0);
        feed_ok(d, buf, cut);
        drain(d, &got);
        feed_ok(d, buf + cut, len - cut);
        drain(d, &got);
        ck_assert_int_eq(kc_watch_decoder_finish(d, &err), KC_OK);
        drain(d, &got);
        assert_same_hashes(&ref, &got, cut);
        events_clear(&got);
        kc_watch_decoder_free(d);
    }
    free(buf);
    events_clear(&ref);
}
END_TEST

START_TEST(one_byte_at_a_time)
{
    events ref = {0}, got = {0};
    decode_reference(&ref);
    size_t len;
    char *buf = load_stream(&len);
    kc_watch_decoder *d = kc_watch_decoder_new(0);
    for (size_t i = 0; i < len; i++) {
        feed_ok(d, buf + i, 1);
        drain(d, &got);
    }
    ck_assert_uint_eq(kc_watch_decoder_buffered(d), 0);
    assert_same_events(&ref, &got);
    events_clear(&got);
    events_clear(&ref);
    kc_watch_decoder_free(d);
    free(buf);
}
END_TEST

START_TEST(several_events_one_feed)
{
    const char *s = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"1\"}}}\n"
                    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"resourceVersion\":\"2\"}}}\n"
                    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"resourceVersion\":\"3\"}}}\n"
                    "{\"type\":\"ADD";
    kc_watch_decoder *d = kc_watch_decoder_new(0);
    feed_ok(d, s, strlen(s));
    events got = {0};
    drain(d, &got);
    ck_assert_uint_eq(got.n, 3);
    ck_assert_str_eq(got.ev[0].resource_version, "1");
    ck_assert_int_eq(got.ev[1].type, KC_WATCH_MODIFIED);
    ck_assert_str_eq(got.ev[2].resource_version, "3");
    ck_assert_uint_eq(kc_watch_decoder_buffered(d), 12);
    events_clear(&got);
    kc_watch_decoder_free(d);
}
END_TEST

START_TEST(crlf_and_blank_lines)
{
    const char *s = "\r\n\n  \t\r\n{\"type\":\"ADDED\",\"object\":{}}\r\n\n"
                    "  {\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}} \r\n\n";
    kc_watch_decoder *d = kc_watch_decoder_new(0);
    feed_ok(d, s, strlen(s));
    events got = {0};
    drain(d, &got);
    ck_assert_uint_eq(got.n, 2);
    ck_assert_ptr_null(got.ev[0].resource_version);
    ck_assert_int_eq(got.ev[1].type, KC_WATCH_BOOKMARK);
    ck_assert_str_eq(got.ev[1].resource_version, "9");
    ck_assert_int_eq(got.ev[1].initial_events_end, 0);
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_watch_decoder_finish(d, &err), KC_OK);
    events_clear(&got);
    kc_watch_decoder_free(d);
}
END_TEST

/* {"type":"ADDED","object":{"metadata":{"resourceVersion":"77"},"data":{"blob":"xxx..."}}}\n */
static char *big_event(size_t blob, size_t *len)
{
    const char *head = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"77\"},"
                       "\"data\":{\"blob\":\"";
    const char *foot = "\"}}}\n";
    size_t hl = strlen(head), fl = strlen(foot);
    char *s = malloc(hl + blob + fl + 1);
    memcpy(s, head, hl);
    for (size_t i = 0; i < blob; i++)
        s[hl + i] = (char)('a' + i % 26);
    memcpy(s + hl + blob, foot, fl + 1);
    *len = hl + blob + fl;
    return s;
}

START_TEST(large_3mib_event)
{
    size_t blob = 3u << 20, len;
    char *s = big_event(blob, &len);
    kc_watch_decoder *d = kc_watch_decoder_new(0);
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    kc_error err = KC_ERROR_INIT;
    const size_t chunk = 64 << 10;
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        feed_ok(d, s + off, n);
        int rc = kc_watch_decoder_next(d, &ev, &err);
        ck_assert_int_eq(rc, off + n == len ? 1 : 0);
    }
    const cJSON *b = cJSON_GetObjectItem(cJSON_GetObjectItem(ev.object, "data"), "blob");
    ck_assert_uint_eq(strlen(b->valuestring), blob);
    ck_assert_str_eq(ev.resource_version, "77");
    /* the decoder goes on with small events afterwards */
    const char *small = "{\"type\":\"DELETED\",\"object\":{}}\n";
    feed_ok(d, small, strlen(small));
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
    ck_assert_int_eq(ev.type, KC_WATCH_DELETED);
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 0);
    kc_watch_event_clear(&ev);
    kc_watch_decoder_free(d);
    free(s);
}
END_TEST

typedef struct bad_case {
    const char *line;
    const char *problem;
} bad_case;

START_TEST(malformed_lines)
{
    static const bad_case cases[] = {
        {"this is not json", "not JSON (error near byte "},
        {"{\"type\":\"ADDED\",\"object\":{\"a\":", "not JSON (error near byte "},
        {"[1,2,3]", "not a JSON object"},
        {"{\"object\":{}}", "missing \"type\""},
        {"{\"type\":7,\"object\":{}}", "\"type\" is not a string"},
        {"{\"type\":\"FROBNICATED\",\"object\":{}}", "unknown type \"FROBNICATED\""},
        {"{\"type\":\"ADDED\"}", "missing \"object\""},
        {"{\"type\":\"ADDED\",\"object\":\"pod\"}", "\"object\" is not a JSON object"},
        {"{\"type\":\"ADDED\",\"object\":{}} {\"x\":1}", "trailing bytes after the JSON value"},
    };
    const size_t ncases = sizeof(cases) / sizeof(cases[0]);
    const char *good = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"5\"}}}\n";
    kc_watch_decoder *d = kc_watch_decoder_new(0);
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    kc_error err = KC_ERROR_INIT;
    size_t offset = 0;
    char *seen[16] = {0};
    for (size_t i = 0; i < ncases; i++) {
        feed_ok(d, good, strlen(good));
        feed_ok(d, cases[i].line, strlen(cases[i].line));
        feed_ok(d, "\n", 1);
        ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
        offset += strlen(good);
        ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), KC_EDECODE);
        ck_assert_int_eq(err.code, KC_EDECODE);
        ck_assert_int_eq(ev.type, KC_WATCH_NONE);
        ck_assert_ptr_null(ev.object);
        char want[128];
        snprintf(want, sizeof(want), "watch event at byte %zu: %s", offset, cases[i].problem);
        ck_assert_msg(strncmp(err.message, want, strlen(want)) == 0, "%s", err.message);
        seen[i] = strdup(err.message);
        offset += strlen(cases[i].line) + 1;
    }
    /* the bad lines were dropped: the stream goes on */
    feed_ok(d, good, strlen(good));
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
    ck_assert_str_eq(ev.resource_version, "5");
    /* every problem reads differently */
    for (size_t i = 0; i < ncases; i++)
        for (size_t j = i + 1; j < ncases; j++)
            ck_assert_str_ne(seen[i], seen[j]);
    for (size_t i = 0; i < ncases; i++)
        free(seen[i]);
    kc_watch_event_clear(&ev);
    kc_error_clear(&err);
    kc_watch_decoder_free(d);
}
END_TEST

START_TEST(event_too_large_in_one_feed)
{
    size_t len;
    char *s = big_event(2000, &len);
    const char *good = "{\"type\":\"ADDED\",\"object\":{}}\n";
    kc_watch_decoder *d = kc_watch_decoder_new(1024);
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    kc_error err = KC_ERROR_INIT;
    feed_ok(d, good, strlen(good));
    feed_ok(d, s, len);
    feed_ok(d, good, strlen(good));
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), KC_EDECODE);
    char want[128];
    snprintf(want, sizeof(want), "watch event at byte %zu: larger than the limit of 1024 bytes",
             strlen(good));
    ck_assert_str_eq(err.message, want);
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 0);
    kc_watch_event_clear(&ev);
    kc_error_clear(&err);
    kc_watch_decoder_free(d);
    free(s);
}
END_TEST

START_TEST(event_too_large_streamed)
{
    size_t len;
    char *s = big_event(5000, &len);
    const char *good = "{\"type\":\"ADDED\",\"object\":{}}\n";
    kc_watch_decoder *d = kc_watch_decoder_new(1024);
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    kc_error err = KC_ERROR_INIT;
    int errors = 0;
    for (size_t off = 0; off < len; off += 100) {
        feed_ok(d, s + off, len - off < 100 ? len - off : 100);
        int rc = kc_watch_decoder_next(d, &ev, &err);
        ck_assert_int_le(rc, 0);
        if (rc < 0) {
            errors++;
            ck_assert_str_eq(err.message, "watch event at byte 0: larger than the limit of 1024 bytes");
        }
        /* memory stays bounded by the limit plus one chunk */
        ck_assert_uint_le(kc_watch_decoder_buffered(d), 1024 + 100);
    }
    ck_assert_int_eq(errors, 1);
    feed_ok(d, good, strlen(good));
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
    ck_assert_int_eq(ev.type, KC_WATCH_ADDED);
    kc_watch_event_clear(&ev);
    kc_error_clear(&err);
    kc_watch_decoder_free(d);
    free(s);
}
END_TEST

/* An empty feed (buf NULL, len 0) while the rest of an oversized line is
 * being skipped: this passed NULL to memchr (found by clang-analyzer; UBSan's
 * nonnull-attribute check reports it under scripts/sanitize.sh). */
START_TEST(empty_feed_while_skipping)
{
    const char *head = "{\"type\":\"ADDED\",\"object\":{\"x\":\"0123456789abcdefghijklmnopqrstuvwxyz\"";
    const char *rest = "}}\n{\"type\":\"DELETED\",\"object\":{}}\n";
    kc_watch_decoder *d = kc_watch_decoder_new(40);
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    kc_error err = KC_ERROR_INIT;
    feed_ok(d, head, strlen(head));
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), KC_EDECODE); /* now skipping */
    ck_assert_int_eq(kc_watch_decoder_feed(d, NULL, 0, &err), KC_OK);
    feed_ok(d, rest, strlen(rest));
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
    ck_assert_int_eq(ev.type, KC_WATCH_DELETED);
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 0);
    kc_watch_event_clear(&ev);
    kc_error_clear(&err);
    kc_watch_decoder_free(d);
}
END_TEST

START_TEST(resource_version_and_taking_object)
{
    const char *s = "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"PodGroup\",\"metadata\":"
                    "{\"name\":\"a\",\"resourceVersion\":\"123456789\"}}}\n"
                    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"resourceVersion\":42}}}\n";
    kc_watch_decoder *d = kc_watch_decoder_new(0);
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    kc_error err = KC_ERROR_INIT;
    feed_ok(d, s, strlen(s));
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
    ck_assert_str_eq(ev.resource_version, "123456789");
    cJSON *kept = ev.object;
    ev.object = NULL;
    /* a number is not a resourceVersion */
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
    ck_assert_ptr_null(ev.resource_version);
    ck_assert_str_eq(cJSON_GetObjectItem(kept, "kind")->valuestring, "PodGroup");
    cJSON_Delete(kept);
    kc_watch_event_clear(&ev);
    kc_watch_event_clear(&ev);
    kc_watch_decoder_free(d);
}
END_TEST

START_TEST(bookmark_initial_events_end)
{
    const char *s =
        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"PodGroup\",\"apiVersion\":\"scheduling.x-k8s.io/v1alpha1\","
        "\"metadata\":{\"resourceVersion\":\"28562\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}\n"
        "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"28600\","
        "\"annotations\":{\"k8s.io/initial-events-end\":\"false\"}}}}\n"
        "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"28700\"}}}\n"
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}\n";
    kc_watch_decoder *d = kc_watch_decoder_new(0);
    events got = {0};
    feed_ok(d, s, strlen(s));
    drain(d, &got);
    ck_assert_uint_eq(got.n, 4);
    ck_assert_int_eq(got.ev[0].initial_events_end, 1);
    ck_assert_str_eq(got.ev[0].resource_version, "28562");
    ck_assert_int_eq(got.ev[1].initial_events_end, 0);
    ck_assert_int_eq(got.ev[2].initial_events_end, 0);
    ck_assert_str_eq(got.ev[2].resource_version, "28700");
    ck_assert_int_eq(got.ev[3].initial_events_end, 0); /* only bookmarks mark the end */
    events_clear(&got);
    kc_watch_decoder_free(d);
}
END_TEST

START_TEST(error_event_without_code)
{
    const char *s = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                    "\"status\":\"Failure\",\"message\":\"etcd is sad\"}}\n";
    kc_watch_decoder *d = kc_watch_decoder_new(0);
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    kc_error err = KC_ERROR_INIT;
    feed_ok(d, s, strlen(s));
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
    ck_assert_int_eq(ev.type, KC_WATCH_ERROR);
    ck_assert_int_eq(ev.status.code, KC_EHTTP);
    ck_assert_int_eq(ev.status.http_status, 500);
    ck_assert_str_eq(ev.status.message, "etcd is sad");
    kc_watch_event_clear(&ev);
    ck_assert_int_eq(ev.status.code, KC_OK);
    ck_assert_ptr_null(ev.status.message);
    kc_watch_decoder_free(d);
}
END_TEST

/* A "code" no HTTP status can be - huge (once undefined behaviour in the
 * conversion, found by fuzz_watch), fractional below 100, negative - is
 * ignored like a missing one. */
START_TEST(error_event_with_impossible_code)
{
    static const char *codes[] = {"1e300", "-5", "0.5", "99", "1000"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        char s[256];
        snprintf(s, sizeof(s),
                 "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":%s,"
                 "\"message\":\"odd\"}}\n",
                 codes[i]);
        kc_watch_decoder *d = kc_watch_decoder_new(0);
        kc_watch_event ev = KC_WATCH_EVENT_INIT;
        kc_error err = KC_ERROR_INIT;
        feed_ok(d, s, strlen(s));
        ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
        ck_assert_int_eq(ev.type, KC_WATCH_ERROR);
        ck_assert_msg(ev.status.http_status == 500, "code %s gave %ld", codes[i],
                      ev.status.http_status);
        kc_watch_event_clear(&ev);
        kc_watch_decoder_free(d);
    }
}
END_TEST

START_TEST(finish_mid_event)
{
    const char *s = "{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"ADDED\",\"obj";
    kc_watch_decoder *d = kc_watch_decoder_new(0);
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    kc_error err = KC_ERROR_INIT;
    feed_ok(d, s, strlen(s));
    ck_assert_int_eq(kc_watch_decoder_finish(d, &err), KC_EDECODE);
    ck_assert_str_eq(err.message, "watch stream ended mid-event after 20 bytes");
    /* the complete line before it still comes out, the partial one does not */
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 0);
    ck_assert_int_eq(kc_watch_decoder_feed(d, "\n", 1, &err), KC_EINVAL);
    kc_watch_event_clear(&ev);
    kc_error_clear(&err);
    kc_watch_decoder_free(d);
}
END_TEST

START_TEST(finish_accepts_last_line_without_newline)
{
    const char *s = "{\"type\":\"ADDED\",\"object\":{}}\n\n{\"type\":\"DELETED\",\"object\":{}}";
    kc_watch_decoder *d = kc_watch_decoder_new(0);
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    kc_error err = KC_ERROR_INIT;
    feed_ok(d, s, strlen(s));
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 0);
    ck_assert_int_eq(kc_watch_decoder_finish(d, &err), KC_OK);
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 1);
    ck_assert_int_eq(ev.type, KC_WATCH_DELETED);
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 0);
    ck_assert_int_eq(kc_watch_decoder_finish(d, &err), KC_OK);
    kc_watch_event_clear(&ev);
    kc_watch_decoder_free(d);
}
END_TEST

START_TEST(finish_clean_and_empty)
{
    kc_watch_decoder *d = kc_watch_decoder_new(0);
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    kc_error err = KC_ERROR_INIT;
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 0);
    feed_ok(d, "\r\n  ", 4);
    ck_assert_int_eq(kc_watch_decoder_finish(d, &err), KC_OK);
    ck_assert_int_eq(kc_watch_decoder_next(d, &ev, &err), 0);
    kc_watch_decoder_free(d);
    kc_watch_decoder_free(NULL);
    kc_watch_event_clear(NULL);
}
END_TEST

/* Offsets stay right while the buffer moves its live bytes and grows. */
START_TEST(offsets_survive_compaction)
{
    const char *good = "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"resourceVersion\":\"1\"}}}\n";
    size_t gl = strlen(good), n = 5000;
    kc_strbuf sb;
    kc_strbuf_init(&sb);
    for (size_t i = 0; i < n; i++)
        kc_strbuf_append(&sb, good, gl);
    kc_strbuf_appends(&sb, "{oops}\n");
    kc_watch_decoder *d = kc_watch_decoder_new(0);
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    kc_error err = KC_ERROR_INIT;
    size_t count = 0;
    int rc = 0;
    for (size_t off = 0; off < sb.len; off += 997) {
        feed_ok(d, sb.data + off, sb.len - off < 997 ? sb.len - off : 997);
        while ((rc = kc_watch_decoder_next(d, &ev, &err)) == 1)
            count++;
    }
    ck_assert_uint_eq(count, n);
    ck_assert_int_eq(rc, KC_EDECODE);
    char want[96];
    snprintf(want, sizeof(want), "watch event at byte %zu: not JSON (error near byte ", n * gl);
    ck_assert_msg(strncmp(err.message, want, strlen(want)) == 0, "%s", err.message);
    kc_error_clear(&err);
    kc_watch_event_clear(&ev);
    kc_watch_decoder_free(d);
    kc_strbuf_free(&sb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("watch_decoder");
    TCase *tc = tcase_create("decoder");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, recorded_stream_contents);
    tcase_add_test(tc, split_at_every_byte);
    tcase_add_test(tc, one_byte_at_a_time);
    tcase_add_test(tc, several_events_one_feed);
    tcase_add_test(tc, crlf_and_blank_lines);
    tcase_add_test(tc, large_3mib_event);
    tcase_add_test(tc, malformed_lines);
    tcase_add_test(tc, event_too_large_in_one_feed);
    tcase_add_test(tc, event_too_large_streamed);
    tcase_add_test(tc, empty_feed_while_skipping);
    tcase_add_test(tc, resource_version_and_taking_object);
    tcase_add_test(tc, bookmark_initial_events_end);
    tcase_add_test(tc, error_event_without_code);
    tcase_add_test(tc, error_event_with_impossible_code);
    tcase_add_test(tc, finish_mid_event);
    tcase_add_test(tc, finish_accepts_last_line_without_newline);
    tcase_add_test(tc, finish_clean_and_empty);
    tcase_add_test(tc, offsets_survive_compaction);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
