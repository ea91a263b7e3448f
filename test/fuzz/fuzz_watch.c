/* fuzz_watch.c - the watch-stream decoder (kclient/src/watch_decoder.c).
 *
 * Input: byte 0 seeds the chunk sizes, byte 1 picks the event size limit,
 * the rest is the stream.  The stream is decoded three times: fed whole,
 * cut into chunks at positions derived from the seed, and (up to 16 KiB)
 * one byte at a time (each chunk an exact-size heap copy), calling next()
 * after every feed and after finish.
 * Properties (watch.h): any split of the input gives the same events (type,
 * resourceVersion, the initial-events-end mark, and the object itself,
 * printed with cJSON_PrintUnformatted) and the same errors; and the events
 * are exactly those of the stream's lines as cJSON parses each line by
 * itself: a line (or a last line without newline) of at most the limit,
 * not blank, holding one JSON object whose "type" is ADDED, MODIFIED,
 * DELETED, BOOKMARK or ERROR and whose "object" is an object gives that
 * event with that object, in stream order; any other line none. */
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
    char *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    size_t add = (size_t)n;
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
    free(line);
}

/* Decode what is buffered into l (and, when events is not NULL, append
 * {"type", "object"} of each event to it). */
static void drain(kc_watch_decoder *d, kc_watch_event *ev, log_t *l, cJSON *events)
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
            char *obj = cJSON_PrintUnformatted(ev->object);
            FUZZ_CHECK(obj != NULL);
            log_add(l, "%s rv=%s end=%d %s", kc_watch_event_type_name(ev->type),
                    ev->resource_version ? ev->resource_version : "-", ev->initial_events_end, obj);
            free(obj);
            if (events) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "type", kc_watch_event_type_name(ev->type));
                cJSON_AddItemToObject(e, "object", cJSON_Duplicate(ev->object, 1));
                cJSON_AddItemToArray(events, e);
            }
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

#define BYTE_AT_A_TIME UINT32_MAX

/* Decode data[0, size) fed in chunks (seed 0: one chunk; BYTE_AT_A_TIME:
 * one byte each) into l, and the events into events (may be NULL). */
static void decode(const uint8_t *data, size_t size, size_t max_event, uint32_t seed, log_t *l,
                   cJSON *events)
{
    kc_watch_decoder *d = kc_watch_decoder_new(max_event);
    FUZZ_CHECK(d != NULL);
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    size_t off = 0;
    uint32_t x = seed * 2654435761u + 1;
    while (off < size) {
        size_t n = size - off;
        if (seed == BYTE_AT_A_TIME) {
            n = 1;
        } else if (seed) {
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
        drain(d, &ev, l, events);
    }
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_watch_decoder_finish(d, &err);
    if (rc != KC_OK) {
        FUZZ_CHECK(rc == KC_EDECODE && err.message != NULL);
        log_add(l, "finish %s\n", err.message);
    }
    kc_error_clear(&err);
    drain(d, &ev, l, events);
    /* After finish, feeding is refused. */
    FUZZ_CHECK(kc_watch_decoder_feed(d, "x", 1, &err) == KC_EINVAL);
    kc_error_clear(&err);
    kc_watch_event_clear(&ev);
    kc_watch_decoder_free(d);
}

/* ---- the model: each line as cJSON parses it ---- */

static int blank(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

/* The event of one line (or of the last one, tail), or NULL.  A last line
 * is parsed as it stands, leading white space included, as finish() does
 * (cJSON skips that white space too; only a BOM after it differs). */
static cJSON *line_event(const uint8_t *p, size_t n, size_t max_event, int tail)
{
    if (n > max_event || blank(p, n))
        return NULL;
    size_t lead = 0;
    while (!tail && (p[lead] == ' ' || p[lead] == '\t' || p[lead] == '\r'))
        lead++;
    const char *text = (const char *)p + lead, *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n - lead, &end, 0);
    if (!root || !blank((const uint8_t *)end, n - lead - (size_t)(end - text))) {
        cJSON_Delete(root);
        return NULL;
    }
    static const char *const types[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "type");
    cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "object");
    int known = 0;
    for (size_t i = 0; cJSON_IsString(t) && i < 5; i++)
        known = known || !strcmp(t->valuestring, types[i]);
    cJSON *e = NULL;
    if (cJSON_IsObject(root) && known && cJSON_IsObject(obj)) {
        e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "type", t->valuestring);
        cJSON_AddItemToObject(e, "object", cJSON_DetachItemViaPointer(root, obj));
    }
    cJSON_Delete(root);
    return e;
}

static cJSON *model(const uint8_t *data, size_t size, size_t max_event)
{
    cJSON *events = cJSON_CreateArray();
    size_t start = 0;
    while (start < size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) : size;
        cJSON *e = line_event(data + start, end - start, max_event, !nl);
        if (e)
            cJSON_AddItemToArray(events, e);
        start = end + 1;
    }
    return events;
}

static int same_log(const log_t *a, const log_t *b)
{
    return (!a->text && !b->text) || (a->text && b->text && strcmp(a->text, b->text) == 0);
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
    log_t whole = {0}, split = {0}, bytes = {0};
    cJSON *events = cJSON_CreateArray();
    decode(data, size, max_event, 0, &whole, events);
    decode(data, size, max_event, seed, &split, NULL);
    if (!same_log(&whole, &split)) {
        fprintf(stderr, "fed whole:\n%s\nfed in chunks (seed %" PRIu32 "):\n%s\n",
                whole.text ? whole.text : "", seed, split.text ? split.text : "");
        FUZZ_CHECK(!"a split of the input changed the events");
    }
    if (size <= 16384) {
        decode(data, size, max_event, BYTE_AT_A_TIME, &bytes, NULL);
        if (!same_log(&whole, &bytes)) {
            fprintf(stderr, "fed whole:\n%s\nfed a byte at a time:\n%s\n",
                    whole.text ? whole.text : "", bytes.text ? bytes.text : "");
            FUZZ_CHECK(!"feeding a byte at a time changed the events");
        }
    }
    cJSON *want = model(data, size, max_event ? max_event : (size_t)64 << 20);
    if (!fuzz_same_json(events, want)) {
        char *g = cJSON_PrintUnformatted(events), *w = cJSON_PrintUnformatted(want);
        fprintf(stderr, "decoded:  %s\nparsed by line: %s\n", g ? g : "?", w ? w : "?");
        free(g), free(w);
        FUZZ_CHECK(!"the decoded events differ from the stream's lines");
    }
    cJSON_Delete(events);
    cJSON_Delete(want);
    free(whole.text);
    free(split.text);
    free(bytes.text);
    return 0;
}
