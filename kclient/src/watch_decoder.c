/* watch_decoder.c - the pure decoder of newline-delimited watch events.
 *
 * The buffer holds buf[start, end) unconsumed; newline search resumes at
 * scan (buf[start, scan) is known to hold no '\n'), so no byte is searched
 * twice.  Consumed bytes stay in place until room is needed: then the live
 * part is moved to the front only if at least as many bytes were consumed
 * (so each move is paid for by bytes never moved again), else the buffer
 * grows.
 */
#include <cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kclient/watch.h"
#include "util.h"

#define KC_WATCH_DEFAULT_MAX ((size_t)64 << 20)
#define KC_WATCH_INITIAL_CAP ((size_t)64 << 10)
/* An empty buffer larger than this is given back after a huge event. */
#define KC_WATCH_KEEP_CAP ((size_t)4 << 20)
/* A status code for ERROR events whose Status carries none. */
#define KC_WATCH_DEFAULT_ERROR_CODE 500

struct kc_watch_decoder {
    char *buf;
    size_t cap;
    size_t start;      /* first unconsumed byte */
    size_t end;        /* one past the last byte fed */
    size_t scan;       /* newline search resumes here */
    size_t max_event;
    uint64_t base;     /* stream offset of buf[0] */
    int skipping;      /* dropping the rest of an oversized line */
    int finished;
    cJSON *tail;       /* last line without newline, parsed by finish */
    uint64_t tail_offset;
};

kc_watch_decoder *kc_watch_decoder_new(size_t max_event_bytes)
{
    kc_watch_decoder *d = calloc(1, sizeof(*d));
    if (d)
        d->max_event = max_event_bytes ? max_event_bytes : KC_WATCH_DEFAULT_MAX;
    return d;
}

void kc_watch_decoder_free(kc_watch_decoder *d)
{
    if (!d)
        return;
    cJSON_Delete(d->tail);
    free(d->buf);
    free(d);
}

size_t kc_watch_decoder_buffered(const kc_watch_decoder *d) { return d ? d->end - d->start : 0; }

const char *kc_watch_event_type_name(kc_watch_event_type type)
{
    switch (type) {
    case KC_WATCH_ADDED: return "ADDED";
    case KC_WATCH_MODIFIED: return "MODIFIED";
    case KC_WATCH_DELETED: return "DELETED";
    case KC_WATCH_BOOKMARK: return "BOOKMARK";
    case KC_WATCH_ERROR: return "ERROR";
    case KC_WATCH_NONE: break;
    }
    return "NONE";
}

void kc_watch_event_clear(kc_watch_event *ev)
{
    if (!ev)
        return;
    cJSON_Delete(ev->object);
    free(ev->resource_version);
    kc_error_clear(&ev->status);
    ev->type = KC_WATCH_NONE;
    ev->object = NULL;
    ev->resource_version = NULL;
    ev->initial_events_end = 0;
}

/* --- buffer management --- */

/* Drop everything buffered; offsets keep counting from the stream start. */
static void buffer_reset(kc_watch_decoder *d)
{
    d->base += d->end;
    d->start = d->end = d->scan = 0;
    if (d->cap > KC_WATCH_KEEP_CAP) {
        free(d->buf);
        d->buf = NULL;
        d->cap = 0;
    }
}

static void buffer_compact(kc_watch_decoder *d)
{
    size_t live = d->end - d->start;
    memmove(d->buf, d->buf + d->start, live);
    d->base += d->start;
    d->scan -= d->start;
    d->end = live;
    d->start = 0;
}

/* Make room for len more bytes at end. */
static int buffer_reserve(kc_watch_decoder *d, size_t len)
{
    if (d->start == d->end)
        buffer_reset(d);
    if (d->cap - d->end >= len)
        return 0;
    size_t live = d->end - d->start;
    /* Moving live bytes is paid for by at least as many consumed ones, or
     * precedes a doubling anyway (and makes realloc carry less). */
    if (d->start > 0 && (d->start >= live || live + len > d->cap))
        buffer_compact(d);
    if (d->cap - d->end >= len)
        return 0;
    size_t cap = d->cap ? d->cap : KC_WATCH_INITIAL_CAP;
    while (cap - d->end < len) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    char *p = realloc(d->buf, cap);
    if (!p)
        return -1;
    d->buf = p;
    d->cap = cap;
    return 0;
}

/* While skipping an oversized line, drop fed bytes up to its newline.
 * Returns how many leading bytes of buf to ignore. */
static size_t skip_oversized(kc_watch_decoder *d, const char *buf, size_t len)
{
    const char *nl = memchr(buf, '\n', len);
    size_t n = nl ? (size_t)(nl - buf) + 1 : len;
    d->base += n;
    if (nl)
        d->skipping = 0;
    return n;
}

kc_code kc_watch_decoder_feed(kc_watch_decoder *d, const char *buf, size_t len, kc_error *err)
{
    if (!d || (!buf && len))
        return kc_error_set(err, KC_EINVAL, "watch decoder: no decoder or no bytes");
    if (d->finished)
        return kc_error_set(err, KC_EINVAL, "watch decoder: feed after finish");
    if (len == 0) /* buf may be NULL: nothing for memchr or memcpy */
        return KC_OK;
    if (d->skipping) {
        size_t n = skip_oversized(d, buf, len);
        buf += n;
        len -= n;
    }
    if (len == 0)
        return KC_OK;
    if (buffer_reserve(d, len) != 0)
        return kc_error_set(err, KC_ENOMEM, "watch decoder: out of memory buffering %zu bytes",
                            d->end - d->start + len);
    memcpy(d->buf + d->end, buf, len);
    d->end += len;
    return KC_OK;
}

/* --- decoding one line --- */

static int is_blank(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

static kc_watch_event_type parse_type(const char *s)
{
    static const struct {
        const char *name;
        kc_watch_event_type type;
    } types[] = {{"ADDED", KC_WATCH_ADDED},       {"MODIFIED", KC_WATCH_MODIFIED},
                 {"DELETED", KC_WATCH_DELETED},   {"BOOKMARK", KC_WATCH_BOOKMARK},
                 {"ERROR", KC_WATCH_ERROR}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(s, types[i].name) == 0)
            return types[i].type;
    return KC_WATCH_NONE;
}

static int bad_line(kc_error *err, uint64_t off, const char *what)
{
    return kc_error_set(err, KC_EDECODE, "watch event at byte %" PRIu64 ": %s", off, what);
}

static int too_large(kc_watch_decoder *d, uint64_t off, kc_error *err)
{
    return kc_error_set(err, KC_EDECODE,
                        "watch event at byte %" PRIu64 ": larger than the limit of %zu bytes",
                        off, d->max_event);
}

static const cJSON *get_path(const cJSON *obj, const char *a, const char *b)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, a), b);
}

static int is_initial_events_end(const cJSON *object)
{
    const cJSON *ann = get_path(object, "metadata", "annotations");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ann, "k8s.io/initial-events-end");
    return cJSON_IsString(v) && strcmp(v->valuestring, "true") == 0;
}

/* The Status of an ERROR event as an error value.  ERROR events are rare,
 * so printing the object back to text for kc_error_from_status is fine. */
static int decode_status(kc_watch_event *ev, kc_error *err)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(ev->object, "code");
    /* only a plausible HTTP status: a huge or fractional "code" from a
     * hostile stream must not reach the integer conversion (UB; found by
     * fuzz_watch) */
    long http = cJSON_IsNumber(code) && code->valuedouble >= 100 && code->valuedouble < 1000
                    ? (long)code->valuedouble
                    : KC_WATCH_DEFAULT_ERROR_CODE;
    char *text = cJSON_PrintUnformatted(ev->object);
    if (!text || kc_error_from_status(&ev->status, http, text, strlen(text)) != KC_OK) {
        free(text);
        return kc_error_set(err, KC_ENOMEM, "watch decoder: out of memory");
    }
    free(text);
    return 1;
}

/* Why root is not a watch event (written to what when formatted), or NULL
 * with *type and *object set when it is one. */
static const char *check_event(const cJSON *root, kc_watch_event_type *type, cJSON **object,
                               char *what, size_t len)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "type");
    *object = cJSON_GetObjectItemCaseSensitive(root, "object");
    if (!cJSON_IsObject(root))
        return "not a JSON object";
    if (!t)
        return "missing \"type\"";
    if (!cJSON_IsString(t))
        return "\"type\" is not a string";
    if ((*type = parse_type(t->valuestring)) == KC_WATCH_NONE) {
        snprintf(what, len, "unknown type \"%.40s\"", t->valuestring);
        return what;
    }
    if (!*object)
        return "missing \"object\"";
    if (!cJSON_IsObject(*object))
        return "\"object\" is not a JSON object";
    return NULL;
}

/* Fill ev from the parsed line root (consumed).  Returns 1 or an error. */
static int decode_event(cJSON *root, uint64_t off, kc_watch_event *ev, kc_error *err)
{
    char what[64];
    kc_watch_event_type type = KC_WATCH_NONE;
    cJSON *object = NULL;
    const char *problem = check_event(root, &type, &object, what, sizeof(what));
    if (problem) {
        cJSON_Delete(root);
        return bad_line(err, off, problem);
    }
    ev->type = type;
    ev->object = cJSON_DetachItemViaPointer(root, object);
    cJSON_Delete(root);
    const cJSON *rv = get_path(ev->object, "metadata", "resourceVersion");
    if (cJSON_IsString(rv) && !(ev->resource_version = strdup(rv->valuestring)))
        return kc_error_set(err, KC_ENOMEM, "watch decoder: out of memory");
    if (type == KC_WATCH_BOOKMARK)
        ev->initial_events_end = is_initial_events_end(ev->object);
    if (type == KC_WATCH_ERROR)
        return decode_status(ev, err);
    return 1;
}

/* Parse one complete value from p[0, len).  NULL when the bytes are not
 * exactly one JSON value (surrounding whitespace allowed); then *bad_at is
 * where the parse failed, or len for trailing bytes. */
static cJSON *parse_value(const char *p, size_t len, size_t *bad_at)
{
    const char *stop = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(p, len, &stop, 0);
    size_t used = stop ? (size_t)(stop - p) : len;
    if (!root) {
        *bad_at = used;
        return NULL;
    }
    if (used < len && !is_blank(p + used, len - used)) {
        cJSON_Delete(root);
        *bad_at = len;
        return NULL;
    }
    return root;
}

/* Decode the line p[0, len) (newline excluded) starting at stream offset
 * off.  Returns 1 (event), 0 (blank line) or an error. */
static int decode_line(const char *p, size_t len, uint64_t off, kc_watch_event *ev, kc_error *err)
{
    size_t lead = 0;
    while (lead < len && (p[lead] == ' ' || p[lead] == '\t' || p[lead] == '\r'))
        lead++;
    if (lead == len)
        return 0;
    size_t bad_at = 0;
    cJSON *root = parse_value(p + lead, len - lead, &bad_at);
    if (root)
        return decode_event(root, off, ev, err);
    if (bad_at == len - lead)
        return bad_line(err, off, "trailing bytes after the JSON value");
    return kc_error_set(err, KC_EDECODE,
                        "watch event at byte %" PRIu64 ": not JSON (error near byte %" PRIu64 ")",
                        off, off + lead + bad_at);
}

/* No complete line is buffered: check the partial one against the limit. */
static int need_more(kc_watch_decoder *d, kc_watch_event *ev, kc_error *err)
{
    d->scan = d->end;
    if (d->end - d->start > d->max_event) {
        uint64_t off = d->base + d->start;
        buffer_reset(d);
        d->skipping = 1;
        return too_large(d, off, err);
    }
    if (d->tail) {
        cJSON *root = d->tail;
        d->tail = NULL;
        return decode_event(root, d->tail_offset, ev, err);
    }
    return 0;
}

/* The next event, blank line (0 and go on) or error from the buffer;
 * *more is set when no complete line is buffered. */
static int next_line(kc_watch_decoder *d, kc_watch_event *ev, kc_error *err, int *more)
{
    char *nl = d->scan < d->end ? memchr(d->buf + d->scan, '\n', d->end - d->scan) : NULL;
    if (!nl) {
        *more = 1;
        return need_more(d, ev, err);
    }
    size_t line = d->start;
    size_t len = (size_t)(nl - (d->buf + line));
    d->start = d->scan = line + len + 1;
    if (len > d->max_event)
        return too_large(d, d->base + line, err);
    return decode_line(d->buf + line, len, d->base + line, ev, err);
}

int kc_watch_decoder_next(kc_watch_decoder *d, kc_watch_event *ev, kc_error *err)
{
    if (!d || !ev)
        return kc_error_set(err, KC_EINVAL, "kc_watch_decoder_next: no decoder or event");
    kc_watch_event_clear(ev);
    int rc = 0, more = 0;
    while (rc == 0 && !more)
        rc = next_line(d, ev, err, &more);
    if (rc < 0)
        kc_watch_event_clear(ev);
    return rc;
}

kc_code kc_watch_decoder_finish(kc_watch_decoder *d, kc_error *err)
{
    if (!d)
        return kc_error_set(err, KC_EINVAL, "watch decoder: no decoder");
    if (d->finished)
        return KC_OK;
    d->finished = 1;
    if (d->skipping)
        return kc_error_set(err, KC_EDECODE, "watch stream ended inside an oversized event");
    /* buf[start, scan) has no newline, so the last line starts after the
     * last newline in buf[scan, end), or at start. */
    const char *nl = d->scan < d->end ? memrchr(d->buf + d->scan, '\n', d->end - d->scan) : NULL;
    size_t tail = nl ? (size_t)(nl - d->buf) + 1 : d->start;
    size_t len = d->end - tail;
    if (len == 0 || is_blank(d->buf + tail, len))
        return KC_OK;
    d->end = tail;
    if (d->scan > d->end)
        d->scan = d->end;
    if (len > d->max_event)
        return too_large(d, d->base + tail, err);
    size_t bad_at = 0;
    d->tail = parse_value(d->buf + tail, len, &bad_at);
    d->tail_offset = d->base + tail;
    if (!d->tail)
        return kc_error_set(err, KC_EDECODE, "watch stream ended mid-event after %zu bytes", len);
    return KC_OK;
}
