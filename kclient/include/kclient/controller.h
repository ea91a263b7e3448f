/* kclient/controller.h - the reconcile loop: informer events -> a
 * rate-limited work queue -> your reconcile function.
 *
 * Keys are "namespace/name" (or "name").  A key is never reconciled twice at
 * once; a key changed while being reconciled runs again after it finishes.
 * Up to max_concurrent keys are in progress at a time: a reconcile may finish
 * at once (return OK, REQUEUE_AFTER or ERROR) or later (return PENDING, then
 * call kc_controller_finish from any callback on the same loop), which lets
 * one thread keep many reconciles' requests in flight.  ERROR requeues with
 * per-key exponential backoff (5 ms doubling to 1000 s) and the queue's
 * overall token bucket; OK forgets the key's failures.
 */
#ifndef KCLIENT_CONTROLLER_H
#define KCLIENT_CONTROLLER_H

#include "informer.h"
#include "workqueue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kc_controller kc_controller;

typedef enum kc_reconcile_result {
    KC_RECONCILE_OK = 0,        /* done; forget failures */
    KC_RECONCILE_REQUEUE_AFTER, /* done; run again after *requeue_after_ms */
    KC_RECONCILE_ERROR,         /* failed; run again with backoff */
    KC_RECONCILE_PENDING        /* still working: call kc_controller_finish later */
} kc_reconcile_result;

/* key is borrowed until the reconcile finishes. */
typedef kc_reconcile_result (*kc_reconcile_fn)(kc_controller *ctl, const char *key,
                                               long *requeue_after_ms, void *ud);

typedef struct kc_controller_options {
    const char *name;           /* for logs and metrics */
    int max_concurrent;         /* keys in progress at once; 0 = 1 */
    kc_workqueue_options queue; /* zero = client-go's defaults */
    kc_reconcile_fn reconcile;
    void *ud;
} kc_controller_options;

typedef struct kc_controller_stats {
    uint64_t reconciles;        /* controller_runtime_reconcile_total, all results */
    uint64_t ok, requeue_after, errors;
    uint64_t time_ns_total;     /* summed reconcile time */
    uint64_t time_count;
    uint64_t time_buckets[12];  /* <= 5ms,10,25,50,100,250,500ms,1s,2.5,5,10s,+Inf (cumulative) */
    int in_progress;
} kc_controller_stats;

kc_code kc_controller_new(kc_client *c, const kc_controller_options *opts, kc_controller **out,
                          kc_error *err);

/* Queue a key now. */
void kc_controller_enqueue(kc_controller *ctl, const char *key);

/* Queue a key after delay_ms. */
void kc_controller_enqueue_after(kc_controller *ctl, const char *key, long delay_ms);

/* Informer handlers that enqueue the object's key: pass the result and ctl
 * as kc_informer_options.handlers / .ud (or call kc_controller_enqueue from
 * handlers of your own when one informer feeds several controllers). */
kc_informer_handlers kc_controller_handlers(void);

/* The object key of obj ("ns/name" or "name"); new string, caller frees. */
char *kc_object_key(const struct cJSON *obj);

/* Finish a PENDING reconcile of key. */
void kc_controller_finish(kc_controller *ctl, const char *key, kc_reconcile_result result,
                          long requeue_after_ms);

/* Stop taking new keys; keys in progress finish.  kc_controller_idle tells
 * when none is left in progress. */
void kc_controller_shutdown(kc_controller *ctl);
int kc_controller_idle(const kc_controller *ctl);

void kc_controller_get_stats(const kc_controller *ctl, kc_controller_stats *out);
kc_workqueue *kc_controller_queue(kc_controller *ctl);

void kc_controller_free(kc_controller *ctl);

#ifdef __cplusplus
}
#endif
#endif
