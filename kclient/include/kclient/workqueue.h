/* kclient/workqueue.h - a rate-limited work queue of string keys.
 *
 * The queue controllers use between their watches and their reconcilers,
 * with client-go's semantics:
 *  - de-duplicating: a key added while it waits is queued once;
 *  - a key added while it is being processed (between get and done) is
 *    marked dirty and queued again, once, when done is called, so one key
 *    is never processed twice at the same time;
 *  - delayed adds (add_after) and rate-limited adds (add_rate_limited) whose
 *    delay is the larger of a per-key exponential backoff and an overall
 *    token bucket (client-go's DefaultTypedControllerRateLimiter);
 *  - shut_down: adds are refused, keys already queued are still handed out
 *    so in-flight work can finish; delayed keys are dropped.
 *
 * Single-threaded and event-loop friendly: nothing blocks and nothing starts
 * a thread.  Time comes from a monotonic clock (options.clock) or, for get,
 * from the caller, so tests inject time.  No global state.
 *
 * Costs: hash map for key state, FIFO for ready keys, min-heap for delayed
 * keys: add, get and done are O(1), delayed adds O(log n).
 *
 * Ownership: keys passed in are copied.  A key returned by get is borrowed
 * from the queue and stays valid until done is called for it.
 */
#ifndef KCLIENT_WORKQUEUE_H
#define KCLIENT_WORKQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kc_workqueue kc_workqueue;

/* Options.  Zero means the documented default (client-go's). */
typedef struct kc_workqueue_options {
    uint64_t base_delay_ns; /* per-key backoff after the first failure; 0 = 5 ms */
    uint64_t max_delay_ns;  /* per-key backoff cap; 0 = 1000 s */
    double qps;             /* overall bucket refill; 0 = 10/s; < 0 = no overall limit */
    int burst;              /* overall bucket size; 0 = 100 */
    uint64_t (*clock)(void *ud); /* monotonic ns; NULL = CLOCK_MONOTONIC (kc_now_ns) */
    void *clock_ud;
} kc_workqueue_options;

/* Counters, named after client-go's workqueue metrics. */
typedef struct kc_workqueue_stats {
    uint64_t adds_total;         /* workqueue_adds_total: adds not absorbed by de-duplication */
    uint64_t retries_total;      /* workqueue_retries_total: add_after and add_rate_limited calls */
    size_t depth;                /* workqueue_depth: keys ready for get */
    size_t delayed;              /* keys waiting for their time */
    size_t processing;           /* keys between get and done */
    uint64_t longest_running_ns; /* workqueue_longest_running_processor_seconds, in ns */
    uint64_t unfinished_work_ns; /* workqueue_unfinished_work_seconds: sum over processing keys */
    uint64_t queue_wait_ns_total; /* sum of waits from ready to get (workqueue_queue_duration) */
    uint64_t work_ns_total;      /* sum of get-to-done times (workqueue_work_duration) */
    uint64_t gets_total;         /* keys handed out */
    uint64_t dones_total;        /* done calls that matched a key in processing */
} kc_workqueue_stats;

/* New empty queue.  opts may be NULL.  Returns NULL when out of memory.
 * Free with kc_workqueue_free. */
kc_workqueue *kc_workqueue_new(const kc_workqueue_options *opts);

/* Free the queue and every key it holds.  NULL is allowed.  Keys borrowed
 * from get become invalid. */
void kc_workqueue_free(kc_workqueue *q);

/* Queue key now.  No-op when already queued; marks it dirty when being
 * processed.  KC_ESHUTDOWN after shut_down, KC_ENOMEM, else KC_OK. */
kc_code kc_workqueue_add(kc_workqueue *q, const char *key);

/* Queue key once delay_ns has passed (0 = add now).  A key already waiting
 * keeps the earlier of its two times.  KC_ESHUTDOWN, KC_ENOMEM or KC_OK. */
kc_code kc_workqueue_add_after(kc_workqueue *q, const char *key, uint64_t delay_ns);

/* Queue key after max(per-key backoff, overall bucket delay), counting one
 * more failure for it: backoff is base * 2^failures, capped at max.
 * *delay_ns_out (may be NULL) receives the delay chosen.  KC_ESHUTDOWN,
 * KC_ENOMEM or KC_OK. */
kc_code kc_workqueue_add_rate_limited(kc_workqueue *q, const char *key, uint64_t *delay_ns_out);

/* Reset key's failure count (after a success): its next backoff starts
 * from base again.  Does not remove it from the queue. */
void kc_workqueue_forget(kc_workqueue *q, const char *key);

/* How many failures add_rate_limited has counted for key since the last
 * forget. */
unsigned kc_workqueue_num_requeues(const kc_workqueue *q, const char *key);

/* Keys ready for get now (delayed keys not counted until due). */
size_t kc_workqueue_len(const kc_workqueue *q);

/* Hand out the oldest ready key, moving delayed keys whose time has come
 * (at now_ns, same clock as options.clock) to the ready queue first.
 * Returns 1 and sets *key (borrowed, valid until done); 0 when no key is
 * ready, with *wait_ns (may be NULL) set to the ns until the next delayed
 * key is due, or UINT64_MAX when none is (after shut_down: wait for done
 * calls); KC_ESHUTDOWN when shut down and drained, nothing will ever come. */
int kc_workqueue_get(kc_workqueue *q, uint64_t now_ns, const char **key, uint64_t *wait_ns);

/* Processing of key is finished.  If it was added meanwhile it is queued
 * again (also during shut-down, as client-go does).  Returns KC_OK, or
 * KC_EINVAL when key is not being processed. */
kc_code kc_workqueue_done(kc_workqueue *q, const char *key);

/* Refuse further adds and drop delayed keys; queued keys are still handed
 * out.  Idempotent. */
void kc_workqueue_shut_down(kc_workqueue *q);

/* 1 after kc_workqueue_shut_down. */
int kc_workqueue_is_shutting_down(const kc_workqueue *q);

/* 1 when nothing is queued or being processed (delayed keys aside): after
 * shut_down, the moment the workers may exit. */
int kc_workqueue_drained(const kc_workqueue *q);

/* Fill *out with the counters, times measured on options.clock now. */
void kc_workqueue_get_stats(const kc_workqueue *q, kc_workqueue_stats *out);

#ifdef __cplusplus
}
#endif
#endif
