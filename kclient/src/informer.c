/* informer.c - list-then-watch cache with indexers and handlers. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "kclient/informer.h"

#define MAX_INDEXES 8

typedef struct entry {
    char *key;          /* "ns/name" or "name" */
    char *json;         /* compact JSON of the object */
    char *rv;
    unsigned mark;      /* list generation that last saw it */
    char *ivals[MAX_INDEXES];
    struct entry *next; /* hash chain */
} entry;

typedef struct bucket_list {
    entry **items;
    size_t n, cap;
} bucket_list;

typedef struct ival {
    char *value;
    bucket_list members;
    struct ival *next;
} ival;

typedef struct index {
    char *name;
    kc_index_fn fn;
    void *fn_ud;
    char *label_key;
    ival **buckets;
    size_t nbuckets;
} index_t;

struct kc_informer {
    kc_client *client;
    kc_informer_options o;
    char *group, *version, *resource, *namespace_, *label, *field;
    char *list_kind;     /* "PodGroup": filled into list items that lack kind */
    char *api_version;
    entry **buckets;
    size_t nbuckets, count;
    index_t indexes[MAX_INDEXES];
    int nindexes;
    kc_watch *watch;
    kc_request *list_req;
    char *list_continue;
    unsigned generation;
    int listing, synced, stopped, busy;
    unsigned relists;
    unsigned list_failures;
    uint64_t list_timer, resync_timer;
    kc_backoff backoff;
    uint64_t rng;
    kc_link_listener link; /* told when the server answers again after a dead link */
};

static void start_list(kc_informer *inf);
static void try_free(kc_informer *inf);

/* --- the store: an intrusive chained hash on the key --- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static entry **slot(const kc_informer *inf, const char *key)
{
    entry **p = &inf->buckets[hash_str(key) & (inf->nbuckets - 1)];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

static int grow(kc_informer *inf)
{
    size_t n = inf->nbuckets ? inf->nbuckets * 2 : 1024;
    entry **b = calloc(n, sizeof(*b));
    if (!b)
        return -1;
    for (size_t i = 0; i < inf->nbuckets; i++) {
        for (entry *e = inf->buckets[i], *next; e; e = next) {
            next = e->next;
            size_t j = hash_str(e->key) & (n - 1);
            e->next = b[j];
            b[j] = e;
        }
    }
    free(inf->buckets);
    inf->buckets = b;
    inf->nbuckets = n;
    return 0;
}

/* --- indexes --- */

static ival **ival_slot(index_t *ix, const char *value)
{
    ival **p = &ix->buckets[hash_str(value) & (ix->nbuckets - 1)];
    while (*p && strcmp((*p)->value, value) != 0)
        p = &(*p)->next;
    return p;
}

static void index_insert(index_t *ix, entry *e, const char *value)
{
    ival **p = ival_slot(ix, value);
    if (!*p) {
        *p = calloc(1, sizeof(ival));
        if (!*p)
            return;
        (*p)->value = strdup(value);
    }
    bucket_list *m = &(*p)->members;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4;
        entry **items = realloc(m->items, cap * sizeof(*items));
        if (!items)
            return;
        m->items = items;
        m->cap = cap;
    }
    m->items[m->n++] = e;
}

static void index_remove(index_t *ix, entry *e, const char *value)
{
    ival **p = ival_slot(ix, value);
    if (!*p)
        return;
    bucket_list *m = &(*p)->members;
    for (size_t i = 0; i < m->n; i++) {
        if (m->items[i] == e) {
            m->items[i] = m->items[--m->n];
            break;
        }
    }
    if (m->n == 0) {
        ival *gone = *p;
        *p = gone->next;
        free(gone->value);
        free(gone->members.items);
        free(gone);
    }
}

static const char *label_value(const cJSON *obj, const char *key)
{
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *index_value_of(index_t *ix, const cJSON *obj)
{
    return ix->label_key ? label_value(obj, ix->label_key) : ix->fn(obj, ix->fn_ud);
}

static void unindex(kc_informer *inf, entry *e)
{
    for (int i = 0; i < inf->nindexes; i++) {
        if (e->ivals[i])
            index_remove(&inf->indexes[i], e, e->ivals[i]);
        free(e->ivals[i]);
        e->ivals[i] = NULL;
    }
}

static void index_one(kc_informer *inf, int i, entry *e, const cJSON *obj)
{
    const char *v = index_value_of(&inf->indexes[i], obj);
    if (v && (e->ivals[i] = strdup(v)))
        index_insert(&inf->indexes[i], e, v);
}

static void reindex(kc_informer *inf, entry *e, const cJSON *obj)
{
    unindex(inf, e);
    for (int i = 0; i < inf->nindexes; i++)
        index_one(inf, i, e, obj);
}

/* --- objects in and out --- */

static const char *meta(const cJSON *obj, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *key_of(const char *ns, const char *name)
{
    return ns && *ns ? kc_asprintf("%s/%s", ns, name) : strdup(name);
}

static void entry_free(entry *e)
{
    free(e->key);
    free(e->json);
    free(e->rv);
    free(e);
}

/* Call a handler with the informer kept alive across it. */
#define CALL(inf, fn, ...)                                                                     \
    do {                                                                                       \
        if ((inf)->o.handlers.fn && !(inf)->stopped) {                                         \
            (inf)->busy++;                                                                     \
            (inf)->o.handlers.fn((inf), __VA_ARGS__, (inf)->o.ud);                             \
            (inf)->busy--;                                                                     \
        }                                                                                      \
    } while (0)

static void upsert(kc_informer *inf, cJSON *obj)
{
    const char *name = meta(obj, "name");
    if (!name)
        return;
    if (!inf->o.keep_managed_fields)
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
                                                "managedFields");
    char *key = key_of(meta(obj, "namespace"), name);
    char *json = cJSON_PrintUnformatted(obj);
    const char *rv = meta(obj, "resourceVersion");
    if (!key || !json || (inf->count >= inf->nbuckets && grow(inf) != 0)) {
        free(key);
        free(json);
        return;
    }
    entry **p = slot(inf, key);
    entry *e = *p;
    if (e) {
        e->mark = inf->generation;
        free(key);
        if (e->rv && rv && !strcmp(e->rv, rv)) { /* unchanged (a relist sees it again) */
            free(json);
            return;
        }
        char *old_json = e->json;
        e->json = json;
        free(e->rv);
        e->rv = kc_strdup_or_null(rv);
        reindex(inf, e, obj);
        if (inf->o.handlers.on_update) {
            cJSON *old = cJSON_Parse(old_json);
            CALL(inf, on_update, old, obj);
            cJSON_Delete(old);
        }
        free(old_json);
        return;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        free(key);
        free(json);
        return;
    }
    e->key = key;
    e->json = json;
    e->rv = kc_strdup_or_null(rv);
    e->mark = inf->generation;
    *p = e;
    inf->count++;
    reindex(inf, e, obj);
    CALL(inf, on_add, obj);
}

static void remove_entry(kc_informer *inf, entry **p, const cJSON *last_state)
{
    entry *e = *p;
    *p = e->next;
    inf->count--;
    unindex(inf, e);
    if (inf->o.handlers.on_delete) {
        cJSON *parsed = last_state ? NULL : cJSON_Parse(e->json);
        CALL(inf, on_delete, last_state ? last_state : parsed);
        cJSON_Delete(parsed);
    }
    entry_free(e);
}

static void remove_object(kc_informer *inf, cJSON *obj)
{
    const char *name = meta(obj, "name");
    char *key = name ? key_of(meta(obj, "namespace"), name) : NULL;
    if (!key || !inf->nbuckets) {
        free(key);
        return;
    }
    entry **p = slot(inf, key);
    free(key);
    if (*p)
        remove_entry(inf, p, obj);
}

/* After a full list: whatever the list did not see is gone. */
static void sweep(kc_informer *inf)
{
    for (size_t i = 0; i < inf->nbuckets; i++) {
        entry **p = &inf->buckets[i];
        while (*p) {
            if ((*p)->mark != inf->generation)
                remove_entry(inf, p, NULL);
            else
                p = &(*p)->next;
        }
    }
}

/* --- watch --- */

static void on_watch_event(kc_watch *w, kc_watch_event *ev, void *ud)
{
    (void)w;
    kc_informer *inf = ud;
    if (inf->listing || !ev->object || inf->stopped)
        return;
    inf->busy++;
    switch (ev->type) {
    case KC_WATCH_ADDED:
    case KC_WATCH_MODIFIED: upsert(inf, ev->object); break;
    case KC_WATCH_DELETED: remove_object(inf, ev->object); break;
    default: break;
    }
    inf->busy--;
    try_free(inf);
}

static void on_watch_gone(kc_watch *w, const kc_error *err, void *ud)
{
    (void)w;
    kc_informer *inf = ud;
    kc_log(inf->client, 2, "informer %s: %s; relisting", inf->resource,
           err->message ? err->message : "resource version too old");
    inf->relists++;
    start_list(inf);
}

static void on_watch_error(kc_watch *w, const kc_error *err, void *ud)
{
    (void)w;
    kc_informer *inf = ud;
    char line[512];
    kc_error_format(err, line, sizeof(line));
    kc_log(inf->client, 3, "informer %s: watch dropped, resuming: %s", inf->resource, line);
}

static void start_or_resume_watch(kc_informer *inf, const char *rv)
{
    if (inf->watch) {
        kc_watch_resume(inf->watch, rv);
        return;
    }
    kc_watch_options wo = inf->o.watch;
    wo.ref = (kc_ref){inf->group, inf->version, inf->resource, inf->namespace_, NULL, NULL};
    wo.label_selector = inf->label;
    wo.field_selector = inf->field;
    wo.resource_version = rv;
    wo.on_event = on_watch_event;
    wo.on_gone = on_watch_gone;
    wo.on_error = on_watch_error;
    wo.on_open = NULL;
    wo.ud = inf;
    kc_error err = KC_ERROR_INIT;
    if (kc_watch_start(inf->client, &wo, &inf->watch, &err) != KC_OK)
        kc_log(inf->client, 0, "informer %s: cannot watch: %s", inf->resource, err.message);
    kc_error_clear(&err);
}

/* --- list --- */

static void fill_kind(kc_informer *inf, cJSON *item)
{
    if (!cJSON_GetObjectItemCaseSensitive(item, "kind") && inf->list_kind)
        cJSON_AddStringToObject(item, "kind", inf->list_kind);
    if (!cJSON_GetObjectItemCaseSensitive(item, "apiVersion") && inf->api_version)
        cJSON_AddStringToObject(item, "apiVersion", inf->api_version);
}

static void learn_kind(kc_informer *inf, const cJSON *page)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(page, "kind");
    if (inf->list_kind || !cJSON_IsString(kind))
        return;
    size_t n = strlen(kind->valuestring);
    if (n > 4 && !strcmp(kind->valuestring + n - 4, "List"))
        inf->list_kind = kc_strndup0(kind->valuestring, n - 4);
}

static void on_list_retry(kc_client *c, void *ud)
{
    (void)c;
    kc_informer *inf = ud;
    inf->list_timer = 0;
    start_list(inf);
}

static void list_failed(kc_informer *inf, const kc_error *err)
{
    char line[512];
    kc_error_format(err, line, sizeof(line));
    kc_log(inf->client, 1, "informer %s: list failed, retrying: %s", inf->resource, line);
    free(inf->list_continue);
    inf->list_continue = NULL; /* an expired continue token needs a fresh list */
    uint64_t delay = kc_backoff_delay(&inf->backoff, inf->list_failures++, &inf->rng);
    inf->list_timer = kc_client_timer_at(inf->client, kc_client_now(inf->client) + delay,
                                         on_list_retry, inf);
}

/* The server answers again after a dead link: a list waiting out the
 * backoff the outage earned runs now (the watch resumes by itself). */
static void on_link_back(kc_client *c, void *ud)
{
    kc_informer *inf = ud;
    inf->list_failures = 0;
    if (inf->stopped || !inf->list_timer)
        return;
    kc_client_timer_cancel(c, inf->list_timer);
    inf->list_timer = 0;
    start_list(inf);
}

static void list_complete(kc_informer *inf, const char *rv)
{
    inf->listing = 0;
    inf->list_failures = 0;
    sweep(inf);
    int first = !inf->synced;
    inf->synced = 1;
    if (first && inf->o.handlers.on_synced && !inf->stopped) {
        inf->busy++;
        inf->o.handlers.on_synced(inf, inf->o.ud);
        inf->busy--;
    }
    if (!inf->stopped)
        start_or_resume_watch(inf, rv);
}

static void on_page(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    kc_informer *inf = ud;
    inf->list_req = NULL;
    if (inf->stopped) {
        try_free(inf);
        return;
    }
    inf->busy++;
    if (err->code != KC_OK) {
        list_failed(inf, err);
        inf->busy--;
        return;
    }
    cJSON *page = cJSON_ParseWithLength(resp->body, resp->body_len);
    if (!cJSON_IsObject(page)) {
        /* a 2xx that is no list (a proxy's HTML page, a cut body) is a failed
         * list, as kc_list_each says: not its last page, or the sweep would
         * drop every object not seen yet and the watch start from "now" */
        kc_error bad = KC_ERROR_INIT;
        kc_error_set(&bad, KC_EDECODE, "list page is not a JSON object (%zu bytes)",
                     resp->body_len);
        list_failed(inf, &bad);
        kc_error_clear(&bad);
        cJSON_Delete(page);
        inf->busy--;
        return;
    }
    learn_kind(inf, page);
    cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(page, "items")) {
        fill_kind(inf, item);
        upsert(inf, item);
    }
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(page, "metadata");
    const cJSON *cont = cJSON_GetObjectItemCaseSensitive(md, "continue");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
    free(inf->list_continue);
    inf->list_continue = cJSON_IsString(cont) && *cont->valuestring ? strdup(cont->valuestring) : NULL;
    if (inf->list_continue)
        start_list(inf);
    else if (!inf->stopped)
        list_complete(inf, cJSON_IsString(rv) ? rv->valuestring : NULL);
    cJSON_Delete(page);
    inf->busy--;
    try_free(inf);
}

static void start_list(kc_informer *inf)
{
    char limit[24];
    snprintf(limit, sizeof(limit), "%ld", inf->o.page_size);
    kc_param ps[4];
    size_t n = 0;
    ps[n++] = (kc_param){"limit", limit};
    if (inf->label)
        ps[n++] = (kc_param){"labelSelector", inf->label};
    if (inf->field)
        ps[n++] = (kc_param){"fieldSelector", inf->field};
    if (inf->list_continue)
        ps[n++] = (kc_param){"continue", inf->list_continue};
    else {
        inf->generation++; /* a new full list begins */
        inf->listing = 1;
    }
    kc_request_spec spec = {.method = "GET",
                            .ref = {inf->group, inf->version, inf->resource, inf->namespace_, NULL, NULL},
                            .params = ps,
                            .nparams = n};
    kc_error err = KC_ERROR_INIT;
    if (kc_request_send(inf->client, &spec, on_page, inf, &inf->list_req, &err) != KC_OK)
        list_failed(inf, &err);
    kc_error_clear(&err);
}

/* --- resync --- */

static void on_resync(kc_client *c, void *ud)
{
    kc_informer *inf = ud;
    inf->resync_timer = kc_client_timer(c, inf->o.resync_ms, on_resync, inf);
    if (!inf->synced || !inf->o.handlers.on_update)
        return;
    for (size_t i = 0; i < inf->nbuckets && !inf->stopped; i++) {
        for (entry *e = inf->buckets[i]; e && !inf->stopped; e = e->next) {
            cJSON *obj = cJSON_Parse(e->json);
            CALL(inf, on_update, obj, obj);
            cJSON_Delete(obj);
        }
    }
}

/* --- public --- */

kc_code kc_informer_start(kc_client *c, const kc_informer_options *opts, kc_informer **out,
                          kc_error *err)
{
    *out = NULL;
    if (!opts->ref.version || !opts->ref.resource)
        return kc_error_set(err, KC_EINVAL, "informer: ref needs version and resource");
    kc_informer *inf = calloc(1, sizeof(*inf));
    if (!inf)
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    inf->client = c;
    inf->o = *opts;
    if (inf->o.page_size <= 0)
        inf->o.page_size = 500;
    inf->group = strdup(opts->ref.group ? opts->ref.group : "");
    inf->version = strdup(opts->ref.version);
    inf->resource = strdup(opts->ref.resource);
    inf->namespace_ = kc_strdup_or_null(opts->ref.namespace_);
    inf->label = kc_strdup_or_null(opts->label_selector);
    inf->field = kc_strdup_or_null(opts->field_selector);
    if (inf->group && inf->version)
        inf->api_version = *inf->group ? kc_asprintf("%s/%s", inf->group, inf->version)
                                       : strdup(inf->version);
    inf->backoff = (kc_backoff){800000000ull, 30000000000ull, 2.0, 1.0};
    inf->rng = kc_client_now(c) ^ (uint64_t)(uintptr_t)inf;
    if (!inf->group || !inf->version || !inf->resource || !inf->api_version || grow(inf) != 0) {
        kc_informer_stop(inf);
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    }
    if (inf->o.resync_ms > 0)
        inf->resync_timer = kc_client_timer(c, inf->o.resync_ms, on_resync, inf);
    inf->link = (kc_link_listener){.on_back = on_link_back, .ud = inf};
    kc_client_link_listen(c, &inf->link);
    *out = inf;
    start_list(inf);
    return KC_OK;
}

int kc_informer_has_synced(const kc_informer *inf) { return inf->synced; }

size_t kc_informer_len(const kc_informer *inf) { return inf->count; }

static entry *find(const kc_informer *inf, const char *ns, const char *name)
{
    char *key = key_of(ns, name);
    entry *e = key ? *slot(inf, key) : NULL;
    free(key);
    return e;
}

cJSON *kc_informer_get(const kc_informer *inf, const char *ns, const char *name)
{
    entry *e = find(inf, ns, name);
    return e ? cJSON_Parse(e->json) : NULL;
}

const char *kc_informer_get_resource_version(const kc_informer *inf, const char *ns,
                                             const char *name)
{
    entry *e = find(inf, ns, name);
    return e ? e->rv : NULL;
}

void kc_informer_each(const kc_informer *inf, kc_object_cb cb, void *ud)
{
    for (size_t i = 0; i < inf->nbuckets; i++) {
        for (entry *e = inf->buckets[i]; e; e = e->next) {
            cJSON *obj = cJSON_Parse(e->json);
            int stop = cb(obj, ud);
            cJSON_Delete(obj);
            if (stop)
                return;
        }
    }
}

const char *kc_index_namespace(const cJSON *obj, void *ud)
{
    (void)ud;
    return meta(obj, "namespace");
}

static kc_code add_index(kc_informer *inf, const char *name, kc_index_fn fn, void *fn_ud,
                         const char *label_key)
{
    if (inf->nindexes == MAX_INDEXES || !name || (!fn && !label_key))
        return KC_EINVAL;
    index_t *ix = &inf->indexes[inf->nindexes];
    memset(ix, 0, sizeof(*ix));
    ix->name = strdup(name);
    ix->fn = fn;
    ix->fn_ud = fn_ud;
    ix->label_key = kc_strdup_or_null(label_key);
    ix->nbuckets = 256;
    ix->buckets = calloc(ix->nbuckets, sizeof(*ix->buckets));
    if (!ix->name || !ix->buckets || (label_key && !ix->label_key)) { /* not counted: free it */
        free(ix->name);
        free(ix->label_key);
        free(ix->buckets);
        memset(ix, 0, sizeof(*ix));
        return KC_ENOMEM;
    }
    int i = inf->nindexes++;
    for (size_t b = 0; b < inf->nbuckets; b++) { /* index what is cached already */
        for (entry *e = inf->buckets[b]; e; e = e->next) {
            cJSON *obj = cJSON_Parse(e->json);
            index_one(inf, i, e, obj);
            cJSON_Delete(obj);
        }
    }
    return KC_OK;
}

kc_code kc_informer_add_index(kc_informer *inf, const char *name, kc_index_fn fn, void *fn_ud)
{
    return add_index(inf, name, fn, fn_ud, NULL);
}

kc_code kc_informer_add_label_index(kc_informer *inf, const char *label_key)
{
    return add_index(inf, label_key, NULL, NULL, label_key);
}

size_t kc_informer_by_index(const kc_informer *inf, const char *index, const char *value,
                            kc_object_cb cb, void *ud)
{
    for (int i = 0; i < inf->nindexes; i++) {
        index_t *ix = (index_t *)&inf->indexes[i];
        if (strcmp(ix->name, index) != 0)
            continue;
        ival *v = *ival_slot(ix, value);
        size_t n = v ? v->members.n : 0;
        for (size_t k = 0; cb && k < n; k++) {
            cJSON *obj = cJSON_Parse(v->members.items[k]->json);
            int stop = cb(obj, ud);
            cJSON_Delete(obj);
            if (stop)
                break;
        }
        return n;
    }
    return 0;
}

unsigned kc_informer_relists(const kc_informer *inf) { return inf->relists; }

kc_watch *kc_informer_watch(const kc_informer *inf) { return inf->watch; }

static void free_store(kc_informer *inf)
{
    for (size_t i = 0; i < inf->nbuckets; i++) {
        for (entry *e = inf->buckets[i], *next; e; e = next) {
            next = e->next;
            unindex(inf, e);
            entry_free(e);
        }
    }
    free(inf->buckets);
    for (int i = 0; i < inf->nindexes; i++) {
        free(inf->indexes[i].name);
        free(inf->indexes[i].label_key);
        free(inf->indexes[i].buckets);
    }
}

void kc_informer_stop(kc_informer *inf)
{
    if (!inf)
        return;
    if (!inf->stopped) {
        inf->stopped = 1;
        kc_client_link_unlisten(inf->client, &inf->link);
        kc_watch_stop(inf->watch);
        inf->watch = NULL;
        if (inf->list_timer)
            kc_client_timer_cancel(inf->client, inf->list_timer);
        if (inf->resync_timer)
            kc_client_timer_cancel(inf->client, inf->resync_timer);
        if (inf->list_req)
            kc_request_cancel(inf->list_req); /* on_page finishes the free */
    }
    try_free(inf);
}

/* Free once stopped and nothing of ours is running or pending. */
static void try_free(kc_informer *inf)
{
    if (!inf->stopped || inf->list_req || inf->busy)
        return;
    free_store(inf);
    free(inf->group);
    free(inf->version);
    free(inf->resource);
    free(inf->namespace_);
    free(inf->label);
    free(inf->field);
    free(inf->list_kind);
    free(inf->api_version);
    free(inf->list_continue);
    free(inf);
}
