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

#ifdef __cplusplus
}
#endif
#endif
