/* kclient/informer.h - a list-then-watch cache of one resource.
 *
 * The informer lists (500 a page), then watches from the list's
 * resourceVersion, on the client's loop.  Its store, keyed "namespace/name"
 * ("name" for cluster-scoped objects), always equals what the server held at
 * the last event seen.  When the watch falls too far behind (410 Gone), it
 * relists and reconciles the store with the new list, so handlers see a
 * consistent picture: objects deleted during the gap are reported deleted,
 * changed ones updated.  A failed list is retried with backoff (800 ms
 * doubling to 30 s, jitter 1.0); after a dead link (client.h) a list
 * waiting out that backoff runs as soon as the server answers again.
 *
 * Memory: objects are stored once, as compact JSON text, with
 * metadata.managedFields stripped (as controller-runtime's default
 * transform does) unless keep_managed_fields is set.  An object of n bytes
 * of compact JSON costs n + about 100 bytes (see bench/README.md).  Reads
 * parse the text: kc_informer_get returns a new tree the caller frees.
 *
 * Handlers get borrowed objects valid only during the call.
 */
#ifndef KCLIENT_INFORMER_H
#define KCLIENT_INFORMER_H

#include "watch.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;
typedef struct kc_informer kc_informer;

typedef struct kc_informer_handlers {
    void (*on_add)(kc_informer *inf, const struct cJSON *obj, void *ud);
    /* old_obj is the cached state before the change (on resync: the same object) */
    void (*on_update)(kc_informer *inf, const struct cJSON *old_obj, const struct cJSON *new_obj,
                      void *ud);
    /* obj is the last state known (from the DELETED event, or the cache after a relist) */
    void (*on_delete)(kc_informer *inf, const struct cJSON *obj, void *ud);
    /* the first full list has been applied to the store */
    void (*on_synced)(kc_informer *inf, void *ud);
} kc_informer_handlers;

/* An index function: the value obj is filed under, or NULL for none.
 * Return a pointer into obj, or into static storage. */
typedef const char *(*kc_index_fn)(const struct cJSON *obj, void *ud);

typedef struct kc_informer_options {
    kc_ref ref;                  /* group/version/resource, namespace_ (NULL = all) */
    const char *label_selector;
    const char *field_selector;
    long page_size;              /* 0 = 500 */
    long resync_ms;              /* call on_update(obj, obj) for every object this often; 0 = never */
    int keep_managed_fields;     /* 0 = strip metadata.managedFields */
    kc_informer_handlers handlers;
    void *ud;
    kc_watch_options watch;      /* tuning passed to the watch (ref, selectors, callbacks ignored) */
} kc_informer_options;

/* Start listing and watching.  Indexes added before the first loop turn
 * apply from the start; later ones index what is cached. */
kc_code kc_informer_start(kc_client *c, const kc_informer_options *opts, kc_informer **out,
                          kc_error *err);

/* 1 once the first list is in the store. */
int kc_informer_has_synced(const kc_informer *inf);

/* Number of cached objects. */
size_t kc_informer_len(const kc_informer *inf);

/* A copy of the cached object (caller frees with cJSON_Delete), or NULL. */
struct cJSON *kc_informer_get(const kc_informer *inf, const char *namespace_, const char *name);

/* The cached resourceVersion of an object (borrowed), or NULL. */
const char *kc_informer_get_resource_version(const kc_informer *inf, const char *namespace_,
                                             const char *name);

/* Visit every cached object (borrowed for the call); non-zero from cb stops. */
typedef int (*kc_object_cb)(const struct cJSON *obj, void *ud);
void kc_informer_each(const kc_informer *inf, kc_object_cb cb, void *ud);

/* Add an index.  Built-ins: kc_index_namespace, and label indexes made with
 * kc_informer_add_label_index.  KC_EINVAL when name, fn or label_key is NULL
 * or the index table is full. */
kc_code kc_informer_add_index(kc_informer *inf, const char *name, kc_index_fn fn, void *fn_ud);
kc_code kc_informer_add_label_index(kc_informer *inf, const char *label_key);
const char *kc_index_namespace(const struct cJSON *obj, void *ud);

/* Visit the objects filed under value in index; returns how many. */
size_t kc_informer_by_index(const kc_informer *inf, const char *index, const char *value,
                            kc_object_cb cb, void *ud);

/* Relists done (after 410) and watch streams opened: for tests and metrics. */
unsigned kc_informer_relists(const kc_informer *inf);
kc_watch *kc_informer_watch(const kc_informer *inf);

/* Stop and free.  Safe from inside the informer's own handlers. */
void kc_informer_stop(kc_informer *inf);

#ifdef __cplusplus
}
#endif
#endif
