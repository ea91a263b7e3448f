/* kclient/watch.h - watching resources.
 *
 * A Kubernetes watch answers with a stream of JSON objects, one per line:
 *   {"type":"ADDED","object":{...}}
 * with type ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.
 *
 * This header has two parts:
 *  - the event decoder: pure (no I/O, no clock), fed whatever bytes
 *    arrived, in the style of hiredis's reader.  Any split of the input gives
 *    the same events, so it can be tested and fuzzed alone;
 *  - the watch stream API, which drives the decoder from a request on the
 *    client's loop (see the section below the decoder).
 */
#ifndef KCLIENT_WATCH_H
#define KCLIENT_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "error.h"
#include "request.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

/* ======================================================================
 * Watch event decoder
 * ======================================================================
 *
 * Usage:
 *   kc_watch_decoder *d = kc_watch_decoder_new(0);
 *   kc_watch_event ev = KC_WATCH_EVENT_INIT;
 *   on every chunk:  kc_watch_decoder_feed(d, buf, len, &err);
 *                    while ((rc = kc_watch_decoder_next(d, &ev, &err)) == 1)
 *                        handle(&ev);
 *                    if (rc < 0) ... err says which line and why ...
 *   at end of body:  kc_watch_decoder_finish(d, &err), then next() again
 *   kc_watch_event_clear(&ev); kc_watch_decoder_free(d);
 *
 * Costs: each byte is copied once into the decoder (consumed bytes are
 * dropped lazily, so moving the rest is amortised), searched for a newline
 * once, and each line is parsed once by cJSON.  Blank lines and "\r\n" line
 * ends are accepted.
 *
 * Errors: a bad line (not JSON, not an object, missing or unknown "type",
 * missing "object", an event larger than the limit) makes next() return
 * KC_EDECODE with a message naming the problem and the byte offset of the
 * line in the stream (counted from the first byte fed).  The bad line is
 * dropped, so next() may be called again to go on with the following line;
 * a watch would usually restart instead.  The decoder never holds more than
 * about max_event_bytes plus one fed chunk when next() is called after each
 * feed.
 */

typedef struct kc_watch_decoder kc_watch_decoder;

typedef enum kc_watch_event_type {
    KC_WATCH_NONE = 0,
    KC_WATCH_ADDED,
    KC_WATCH_MODIFIED,
    KC_WATCH_DELETED,
    KC_WATCH_BOOKMARK,
    KC_WATCH_ERROR
} kc_watch_event_type;

/* One decoded event.  Everything in it is owned by the event and released
 * by kc_watch_event_clear (or by the next kc_watch_decoder_next into it). */
typedef struct kc_watch_event {
    kc_watch_event_type type;
    /* The event's "object".  Owned by the event: to keep it, copy the pointer
     * and set this field to NULL, then free it with cJSON_Delete. */
    struct cJSON *object;
    /* object.metadata.resourceVersion (owned), or NULL when absent. */
    char *resource_version;
    /* 1 for a BOOKMARK annotated k8s.io/initial-events-end: "true" (the end
     * of the initial events of a streaming list). */
    int initial_events_end;
    /* For ERROR: the Status object as an error value, decoded with
     * kc_error_from_status using object.code as the HTTP status (500 when
     * absent), e.g. 410 Expired "too old resource version: 1 (28562)".
     * Empty (code KC_OK) for other types.  Owned: cleared with the event. */
    kc_error status;
} kc_watch_event;

#define KC_WATCH_EVENT_INIT {KC_WATCH_NONE, NULL, NULL, 0, KC_ERROR_INIT}

/* New decoder accepting events of up to max_event_bytes bytes per line
 * (newline excluded; 0 = 64 MiB).  NULL when out of memory.  Free with
 * kc_watch_decoder_free. */
kc_watch_decoder *kc_watch_decoder_new(size_t max_event_bytes);

/* Free the decoder and any buffered bytes.  NULL is allowed. */
void kc_watch_decoder_free(kc_watch_decoder *d);

/* Append len bytes of the stream (copied; buf is not kept).  Does not
 * decode: call kc_watch_decoder_next until it returns 0.  Returns KC_OK,
 * KC_ENOMEM, or KC_EINVAL after kc_watch_decoder_finish. */
kc_code kc_watch_decoder_feed(kc_watch_decoder *d, const char *buf, size_t len, kc_error *err);

/* Pull the next complete event into *ev, clearing what *ev held first (so
 * *ev must be KC_WATCH_EVENT_INIT, zeroed, or a previous result).
 * Returns 1 when an event was stored, 0 when more bytes are needed (or the
 * stream is finished), KC_EDECODE for a bad line (dropped; see above) or
 * KC_ENOMEM.  On error *ev is empty. */
int kc_watch_decoder_next(kc_watch_decoder *d, kc_watch_event *ev, kc_error *err);

/* The stream ended.  A last line without a newline is still decoded (by
 * the next calls to kc_watch_decoder_next) when it is a complete JSON value;
 * otherwise it is dropped and KC_EDECODE "stream ended mid-event after N
 * bytes" is returned.  Later feeds are refused. */
kc_code kc_watch_decoder_finish(kc_watch_decoder *d, kc_error *err);

/* Bytes fed and not yet consumed by kc_watch_decoder_next. */
size_t kc_watch_decoder_buffered(const kc_watch_decoder *d);

/* Release what ev owns and reset it to KC_WATCH_EVENT_INIT.  NULL is allowed. */
void kc_watch_event_clear(kc_watch_event *ev);

/* "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" or "NONE".  Static. */
const char *kc_watch_event_type_name(kc_watch_event_type type);

/* ======================================================================
 * Watch stream API (on the client's loop)
 * ====================================================================== */

/* A watch: one long-lived handle that keeps a watch stream open on the
 * client's loop.  After a drop (connection lost, server timeout, a dead link
 * found by the client's health check) it reconnects with jittered
 * exponential backoff and resumes from the last resourceVersion it saw
 * (events and bookmarks).  After a dead link (client.h) the backoff the
 * outage earned is forgiven: as soon as the client's health check sees the
 * server answer again, a watch waiting to reconnect reconnects at once with
 * its backoff reset, and an attempt made during the outage and still
 * unanswered is abandoned and made again (so a watch resumes about a
 * second after the link passes again, not tens of seconds later).  When
 * the server says that version is gone (an
 * ERROR event with 410 Expired, HTTP 410, or "too large resource version"),
 * it calls on_gone and waits: the owner relists and calls kc_watch_resume
 * with the list's resourceVersion (the informer does this).
 *
 * Stop with kc_watch_stop: the one way to tear a watch down, safe from
 * inside its own callbacks; no callback runs after it returns. */
typedef struct kc_watch kc_watch;

typedef struct kc_watch_options {
    kc_ref ref;                  /* group/version/resource; namespace_ NULL = all; name ignored */
    const char *label_selector;
    const char *field_selector;
    const char *resource_version; /* start after this version; NULL/"" = from now */
    int no_bookmarks;            /* 0 = allowWatchBookmarks=true (default) */
    long timeout_min_s;          /* server-side timeoutSeconds drawn from [min, max); 0 = 300 */
    long timeout_max_s;          /* 0 = 600 (client-go's randomisation) */
    long backoff_initial_ms;     /* reconnect backoff; 0 = 800 */
    long backoff_max_ms;         /* 0 = 30000 */
    long backoff_reset_ms;       /* a stream that lived this long resets the backoff; 0 = 120000 */
    /* Each event; ev is borrowed for the callback (take ev->object by
     * setting it to NULL).  BOOKMARK events are passed on too. */
    void (*on_event)(kc_watch *w, kc_watch_event *ev, void *ud);
    /* The stream dropped and will be retried (informational; may be NULL). */
    void (*on_error)(kc_watch *w, const kc_error *err, void *ud);
    /* The resourceVersion is too old: relist, then kc_watch_resume.  When
     * NULL the watch resumes from "now" by itself (events in the gap are
     * lost: only for callers that do not care). */
    void (*on_gone)(kc_watch *w, const kc_error *err, void *ud);
    /* A stream has been opened (HTTP 200 received). */
    void (*on_open)(kc_watch *w, void *ud);
    void *ud;
    /* Longest event line accepted (newline excluded); 0 = 64 MiB.  A longer
     * one (or a server that never ends a line) drops the stream with
     * KC_EDECODE "watch event at byte N: larger than the limit of M bytes"
     * (on_error), then the watch resumes after backoff.  This bounds the
     * memory one stream can make the client hold. */
    size_t max_event_bytes;
} kc_watch_options;

/* Start watching.  opts is copied.  *out stays valid until kc_watch_stop. */
kc_code kc_watch_start(kc_client *c, const kc_watch_options *opts, kc_watch **out, kc_error *err);

/* After on_gone: continue from resource_version (NULL = from now). */
void kc_watch_resume(kc_watch *w, const char *resource_version);

/* Waiting to reconnect after failures?  Reconnect now and reset the
 * backoff: for an owner that knows the server is back (a health probe of
 * its own just answered), so the watch does not sit out a long backoff.
 * The library does this by itself when the client's health check, having
 * found the link dead, sees the server answer again. */
void kc_watch_reconnect_now(kc_watch *w);

/* The last resourceVersion seen (borrowed; may be NULL). */
const char *kc_watch_resource_version(const kc_watch *w);

/* Streams opened so far (1 + reconnections). */
unsigned kc_watch_streams(const kc_watch *w);

/* Stop and free.  NULL is allowed. */
void kc_watch_stop(kc_watch *w);

#ifdef __cplusplus
}
#endif
#endif
