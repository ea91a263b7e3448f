/* kclient/bulk.h - PatchStatusAll: patch the status of many objects at once.
 *
 * Kubernetes has no multi-object write: a bulk patch is N single-object
 * PATCH .../{name}/status requests.  kc_bulk runs them on the client's loop:
 *  - items stream in from an iterator (or from a label/field selector: list
 *    a page, patch it, list the next), so memory stays flat in N;
 *  - at most `concurrency` in flight, multiplexed over HTTP/2, through a
 *    token bucket (qps/burst), with the limit halved when the server answers
 *    429 and grown back by one per window of successes (AIMD);
 *  - 429, 5xx and connection failures are retried (connection failures only
 *    for idempotent patch types: apply and merge), honouring Retry-After,
 *    else exponential backoff with jitter; every retry passes the token
 *    bucket again; attempts are capped;
 *  - 403, 404, 422 and 409 with FieldManagerConflict causes are final and
 *    reported, never retried;
 *  - one result per item through a callback, as each completes; one failure
 *    never stops the rest; cancel and a whole-batch deadline report every
 *    remaining item as cancelled, so nothing is dropped silently.
 *
 * Both faces: kc_bulk_start() runs on the loop next to watches and other
 * requests; kc_patch_status_all() is the blocking wrapper.
 */
#ifndef KCLIENT_BULK_H
#define KCLIENT_BULK_H

#include <stdint.h>

#include "request.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kc_bulk kc_bulk;

typedef enum kc_bulk_outcome {
    KC_BULK_OK = 0,
    KC_BULK_CONFLICT,        /* 409: field manager conflict (or precondition, after retries) */
    KC_BULK_NOT_FOUND,       /* 404 */
    KC_BULK_FORBIDDEN,       /* 401, 403 */
    KC_BULK_INVALID,         /* 400, 415, 422, or an input item that could not be used */
    KC_BULK_THROTTLED_OUT,   /* still 429 when the attempts ran out */
    KC_BULK_SERVER_ERROR,    /* still 5xx when the attempts ran out */
    KC_BULK_TRANSPORT_ERROR, /* no response (after retries, when the type allows them) */
    KC_BULK_CANCELLED,       /* cancelled, or the deadline passed, before it was written */
    KC_BULK_OUTCOME_COUNT
} kc_bulk_outcome;

/* "ok", "conflict", "not-found", "forbidden", "invalid", "throttled-out",
 * "server-error", "transport-error", "cancelled". */
const char *kc_bulk_outcome_name(kc_bulk_outcome o);

/* One input item.  Strings are borrowed: kc_bulk copies what it needs before
 * the iterator is called again. */
typedef struct kc_bulk_item {
    const char *namespace_; /* NULL = the run's namespace */
    const char *name;
    const char *patch;      /* NULL = the run's common patch */
    size_t patch_len;
    const char *input_error;/* set instead of a patch: the item is reported
                               KC_BULK_INVALID with this message, never sent */
} kc_bulk_item;

/* The item iterator: fill *item and return 1, return 0 at the end, or < 0 to
 * stop the input with err set (items already taken still finish). */
typedef int (*kc_bulk_next_fn)(void *ud, kc_bulk_item *item, kc_error *err);

/* One result.  Borrowed: valid during the callback only. */
typedef struct kc_bulk_result {
    const char *namespace_;
    const char *name;
    kc_bulk_outcome outcome;
    long http_status;        /* last HTTP status, 0 if none */
    const kc_error *error;   /* the last error (reason, message, causes); code KC_OK when ok */
    int attempts;            /* requests sent for this item (0 when never sent) */
    uint64_t latency_ns;     /* from the item's first send to its result */
} kc_bulk_result;

typedef void (*kc_bulk_result_fn)(void *ud, const kc_bulk_result *r);

typedef struct kc_bulk_options {
    /* target: group/version/resource; namespace_ is the default namespace
     * (NULL with a selector = all namespaces); name is ignored */
    kc_ref target;
    const char *subresource;   /* NULL = "status" */
    const char *kind;          /* apply: filled into bodies that lack apiVersion/kind */
    kc_patch_type type;        /* default KC_PATCH_APPLY */
    const char *patch;         /* common patch (JSON), used for items without their own */
    size_t patch_len;
    const char *field_manager; /* required for apply */
    int force;                 /* apply: force conflicts */
    int dry_run;               /* dryRun=All: validate every item, persist nothing */

    int concurrency;           /* in flight at most; 0 = 64 */
    int adaptive;              /* 0 = halve on 429 / grow back (default); < 0 = fixed */
    double qps;                /* token bucket; 0 = no client-side limit */
    int burst;                 /* 0 = concurrency */
    int max_attempts;          /* per item; 0 = 10 */
    long backoff_initial_ms;   /* 0 = 100 */
    long backoff_max_ms;       /* 0 = 10000 */
    long deadline_ms;          /* whole batch; 0 = none */
    long request_timeout_ms;   /* per attempt; 0 = the client's */

    kc_bulk_next_fn next;      /* item source; when NULL, list target with the selectors */
    void *next_ud;
    const char *label_selector;
    const char *field_selector;

    kc_bulk_result_fn on_result; /* may be NULL */
    void *result_ud;
    void (*on_done)(kc_bulk *b, void *ud); /* async face: called once when all is done */
    void *done_ud;
} kc_bulk_options;

typedef struct kc_bulk_summary {
    uint64_t total;                            /* results delivered */
    uint64_t counts[KC_BULK_OUTCOME_COUNT];    /* per outcome */
    uint64_t requests;                         /* attempts sent */
    uint64_t retries;
    uint64_t throttled;                        /* 429 answers seen */
    double p50_ms, p99_ms, max_ms;             /* item latency */
    double elapsed_s;
    double items_per_s;
    int min_concurrency;                       /* lowest adaptive limit reached */
    int input_failed;                          /* the iterator or the list stopped with an error */
} kc_bulk_summary;

/* Start a bulk run on c's loop.  opts is copied (strings too); *out is valid
 * until kc_bulk_free.  Drive the loop (kc_client_run) until kc_bulk_done. */
kc_code kc_bulk_start(kc_client *c, const kc_bulk_options *opts, kc_bulk **out, kc_error *err);

/* 1 when every item has a result and the input is exhausted. */
int kc_bulk_done(const kc_bulk *b);

/* Stop: in-flight requests are cancelled, every item not yet written is
 * reported KC_BULK_CANCELLED.  With a selector, the pages of the list not
 * read yet are still read (reads only, nothing more is written) so that
 * each matching object is reported; a page that cannot be read ends the run
 * with summary.input_failed and kc_bulk_input_error.  Safe from callbacks,
 * on_result too. */
void kc_bulk_cancel(kc_bulk *b);

/* Counts so far (final once kc_bulk_done). */
void kc_bulk_get_summary(const kc_bulk *b, kc_bulk_summary *out);

/* The input's error, when summary.input_failed. */
const kc_error *kc_bulk_input_error(const kc_bulk *b);

/* Free (cancels first if not done). */
void kc_bulk_free(kc_bulk *b);

/* Blocking: start, drive the loop until done, fill *summary (may be NULL).
 * Returns KC_OK when every item succeeded, KC_EHTTP when some failed (see
 * the results), or the error that prevented the run. */
kc_code kc_patch_status_all(kc_client *c, const kc_bulk_options *opts, kc_bulk_summary *summary,
                            kc_error *err);

#ifdef __cplusplus
}
#endif
#endif
