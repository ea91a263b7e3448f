/* fuzz_watch.c - the watch-stream decoder (kclient/src/watch_decoder.c).
 *
 * Input: byte 0 seeds the chunk sizes, byte 1 picks the event size limit,
 * the rest is the stream.  The stream is decoded twice, once fed whole and
 * once cut into chunks at positions derived from the seed (each chunk an
 * exact-size heap copy), calling next() after every feed and after finish.
 * Property (watch.h): any split of the input gives the same events and the
 * same errors. */
#include <cJSON.h>
#include <inttypes.h>
#include <stdarg.h>

#include "fuzz.h"
#include "kclient/watch.h"

typedef struct log {
    char *text;
    size_t len, cap;
} log_t;

static void log_add(log_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_add(log_t *l, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    size_t add = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    if (l->len + add + 1 > l->cap) {
        l->cap = (l->len + add + 1) * 2;
        char *p = realloc(l->text, l->cap);
        if (!p)
            abort();
        l->text = p;
    }
    memcpy(l->text + l->len, line, add);
    l->len += add;
    l->text[l->len] = '\0';
}

static void drain(kc_watch_decoder *d, kc_watch_event *ev, log_t *l)
{
    for (;;) {
        kc_error err = KC_ERROR_INIT;
        int rc = kc_watch_decoder_next(d, ev, &err);
        if (rc == 0) {
            kc_error_clear(&err);
            return;
        }
        if (rc == 1) {
            FUZZ_CHECK(ev->type != KC_WATCH_NONE && ev->object != NULL);
            FUZZ_CHECK(cJSON_IsObject(ev->object));
            log_add(l, "%s rv=%s end=%d", kc_watch_event_type_name(ev->type),
                    ev->resource_version ? ev->resource_version : "-", ev->initial_events_end);
            if (ev->type == KC_WATCH_ERROR) {
                char line[256];
                FUZZ_CHECK(ev->status.code == KC_EHTTP && ev->status.http_status > 0);
                kc_error_format(&ev->status, line, sizeof(line));
                log_add(l, " status=%s", line);
            } else {
                FUZZ_CHECK(ev->status.code == KC_OK);
            }
            log_add(l, "\n");
        } else {
            FUZZ_CHECK(rc == KC_EDECODE);
            FUZZ_CHECK(err.code == KC_EDECODE && err.message != NULL);
            FUZZ_CHECK(ev->type == KC_WATCH_NONE && ev->object == NULL);
            log_add(l, "error %s\n", err.message);
        }
        kc_error_clear(&err);
    }
}

static void feed(kc_watch_decoder *d, const uint8_t *p, size_t n)
{
    char *copy = fuzz_copy(p, n, 0);
    kc_error err = KC_ERROR_INIT;
    FUZZ_CHECK(kc_watch_decoder_feed(d, copy, n, &err) == KC_OK);
    kc_error_clear(&err);
    free(copy);
}

/* Decode data[0, size) fed in chunks (seed 0: one chunk) into l. */
static void decode(const uint8_t *data, size_t size, size_t max_event, uint32_t seed, log_t *l)
{
    kc_watch_decoder *d = kc_watch_decoder_new(max_event);
    FUZZ_CHECK(d != NULL);
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    size_t off = 0;
    uint32_t x = seed * 2654435761u + 1;
    while (off < size) {
        size_t n = size - off;
        if (seed) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift32 */
            /* mostly small chunks, sometimes large ones */
            size_t lim = (x & 0x300) ? 16 : 512;
            n = 1 + (x >> 11) % lim;
            if (n > size - off)
                n = size - off;
        }
        feed(d, data + off, n);
        off += n;
        FUZZ_CHECK(kc_watch_decoder_buffered(d) <= off);
        drain(d, &ev, l);
    }
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_watch_decoder_finish(d, &err);
    if (rc != KC_OK) {
        FUZZ_CHECK(rc == KC_EDECODE && err.message != NULL);
        log_add(l, "finish %s\n", err.message);
    }
    kc_error_clear(&err);
    drain(d, &ev, l);
    /* After finish, feeding is refused. */
    FUZZ_CHECK(kc_watch_decoder_feed(d, "x", 1, &err) == KC_EINVAL);
    kc_error_clear(&err);
    kc_watch_event_clear(&ev);
    kc_watch_decoder_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t seed = (uint32_t)data[0] + 1;
    /* Small limits exercise the oversized-event paths; 0 is the default. */
    size_t max_event = data[1] >= 0xc0 ? 0 : (size_t)data[1] + 1;
    data += 2;
    size -= 2;
    log_t whole = {0}, split = {0};
    decode(data, size, max_event, 0, &whole);
    decode(data, size, max_event, seed, &split);
    if ((whole.text || split.text) &&
        (!whole.text || !split.text || strcmp(whole.text, split.text) != 0)) {
        fprintf(stderr, "fed whole:\n%s\nfed in chunks (seed %" PRIu32 "):\n%s\n",
                whole.text ? whole.text : "", seed, split.text ? split.text : "");
        FUZZ_CHECK(!"a split of the input changed the events");
    }
    free(whole.text);
    free(split.text);
    return 0;
}
