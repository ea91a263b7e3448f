/* workqueue.c - de-duplicating, delaying, rate-limited queue of keys.
 *
 * One record per key lives in a chained hash map while the key is queued,
 * delayed, being processed, or has failures counted; it is freed as soon as
 * none of these holds.  Ready keys form an intrusive FIFO, delayed keys a
 * binary min-heap ordered by (due time, insertion sequence) so that keys
 * due at the same time come out in the order they were added.
 */
#include <stdlib.h>
#include <string.h>

#include "kclient/ratelimit.h"
#include "kclient/workqueue.h"

#define KC_WQ_BASE_DELAY_NS 5000000ull         /* 5 ms, as client-go */
#define KC_WQ_MAX_DELAY_NS 1000000000000ull    /* 1000 s, as client-go */
#define KC_WQ_QPS 10.0
#define KC_WQ_BURST 100
#define KC_WQ_INITIAL_BUCKETS 64
#define KC_WQ_NOT_IN_HEAP ((size_t)-1)

typedef struct kc_wq_item {
    struct kc_wq_item *hnext;         /* hash chain */
    struct kc_wq_item *qnext;         /* ready FIFO */
    struct kc_wq_item *pprev, *pnext; /* processing list */
    uint64_t hash;
    uint64_t due_ns;     /* while delayed: when it becomes ready */
    uint64_t seq;        /* while delayed: tie-break among equal due times */
    uint64_t ready_ns;   /* when it entered the FIFO */
    uint64_t started_ns; /* when get handed it out */
    size_t heap_idx;
    unsigned failures;
    unsigned char queued, processing, dirty;
    char key[];
} kc_wq_item;

struct kc_workqueue {
    uint64_t (*clock)(void *ud);
    void *clock_ud;
    kc_backoff backoff;
    kc_token_bucket bucket;
    uint64_t seed;
    kc_wq_item **buckets;
    size_t nbuckets, nitems;
    kc_wq_item *head, *tail; /* ready FIFO */
    size_t depth;
    kc_wq_item **heap;
    size_t heap_len, heap_cap;
    uint64_t next_seq;
    kc_wq_item *proc_head, *proc_tail;
    size_t nprocessing;
    int shutting_down;
    kc_workqueue_stats totals; /* only the *_total fields are kept here */
};

static uint64_t default_clock(void *ud)
{
    (void)ud;
    return kc_now_ns();
}

static uint64_t now_ns(const kc_workqueue *q) { return q->clock(q->clock_ud); }

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static uint64_t sat_sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

/* --- hash map --- */

/* FNV-1a from a per-queue seed, then a final mix so that the low bits used
 * for the bucket depend on every byte. */
static uint64_t hash_key(const kc_workqueue *q, const char *key)
{
    uint64_t h = q->seed;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static kc_wq_item **chain_of(const kc_workqueue *q, uint64_t hash)
{
    return &q->buckets[hash & (q->nbuckets - 1)];
}

static kc_wq_item *find(const kc_workqueue *q, const char *key)
{
    uint64_t h = hash_key(q, key);
    for (kc_wq_item *it = *chain_of(q, h); it; it = it->hnext)
        if (it->hash == h && strcmp(it->key, key) == 0)
            return it;
    return NULL;
}

static int grow_buckets(kc_workqueue *q)
{
    size_t n = q->nbuckets * 2;
    kc_wq_item **b = calloc(n, sizeof(*b));
    if (!b)
        return -1;
    for (size_t i = 0; i < q->nbuckets; i++) {
        for (kc_wq_item *it = q->buckets[i], *next; it; it = next) {
            next = it->hnext;
            it->hnext = b[it->hash & (n - 1)];
            b[it->hash & (n - 1)] = it;
        }
    }
    free(q->buckets);
    q->buckets = b;
    q->nbuckets = n;
    return 0;
}

/* The record of key, made when missing.  NULL when out of memory. */
static kc_wq_item *find_or_make(kc_workqueue *q, const char *key)
{
    kc_wq_item *it = find(q, key);
    if (it)
        return it;
    if (q->nitems >= q->nbuckets && grow_buckets(q) != 0)
        return NULL;
    size_t len = strlen(key);
    it = calloc(1, sizeof(*it) + len + 1);
    if (!it)
        return NULL;
    memcpy(it->key, key, len + 1);
    it->hash = hash_key(q, key);
    it->heap_idx = KC_WQ_NOT_IN_HEAP;
    kc_wq_item **chain = chain_of(q, it->hash);
    it->hnext = *chain;
    *chain = it;
    q->nitems++;
    return it;
}

/* Free the record once nothing refers to the key any more. */
static void release_if_idle(kc_workqueue *q, kc_wq_item *it)
{
    if (it->queued || it->processing || it->dirty || it->failures ||
        it->heap_idx != KC_WQ_NOT_IN_HEAP)
        return;
    kc_wq_item **pp = chain_of(q, it->hash);
    while (*pp != it)
        pp = &(*pp)->hnext;
    *pp = it->hnext;
    q->nitems--;
    free(it);
}

/* --- ready FIFO and processing list --- */

static void fifo_push(kc_workqueue *q, kc_wq_item *it, uint64_t ready_ns)
{
    it->queued = 1;
    it->ready_ns = ready_ns;
    it->qnext = NULL;
    if (q->tail)
        q->tail->qnext = it;
    else
        q->head = it;
    q->tail = it;
    q->depth++;
}

static kc_wq_item *fifo_pop(kc_workqueue *q)
{
    kc_wq_item *it = q->head;
    q->head = it->qnext;
    if (!q->head)
        q->tail = NULL;
    it->qnext = NULL;
    it->queued = 0;
    q->depth--;
    return it;
}

static void proc_link(kc_workqueue *q, kc_wq_item *it, uint64_t now)
{
    it->processing = 1;
    it->started_ns = now;
    it->pnext = NULL;
    it->pprev = q->proc_tail;
    if (q->proc_tail)
        q->proc_tail->pnext = it;
    else
        q->proc_head = it;
    q->proc_tail = it;
    q->nprocessing++;
}

static void proc_unlink(kc_workqueue *q, kc_wq_item *it)
{
    if (it->pprev)
        it->pprev->pnext = it->pnext;
    else
        q->proc_head = it->pnext;
    if (it->pnext)
        it->pnext->pprev = it->pprev;
    else
        q->proc_tail = it->pprev;
    it->pprev = it->pnext = NULL;
    it->processing = 0;
    q->nprocessing--;
}

/* --- delayed keys: min-heap on (due_ns, seq) --- */

static int heap_less(const kc_wq_item *a, const kc_wq_item *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_place(kc_workqueue *q, size_t i, kc_wq_item *it)
{
    q->heap[i] = it;
    it->heap_idx = i;
}

static void heap_up(kc_workqueue *q, size_t i)
{
    kc_wq_item *it = q->heap[i];
    while (i > 0 && heap_less(it, q->heap[(i - 1) / 2])) {
        heap_place(q, i, q->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_place(q, i, it);
}

static void heap_down(kc_workqueue *q, size_t i)
{
    kc_wq_item *it = q->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->heap_len)
            break;
        if (c + 1 < q->heap_len && heap_less(q->heap[c + 1], q->heap[c]))
            c++;
        if (!heap_less(q->heap[c], it))
            break;
        heap_place(q, i, q->heap[c]);
        i = c;
    }
    heap_place(q, i, it);
}

static int heap_push(kc_workqueue *q, kc_wq_item *it)
{
    if (q->heap_len == q->heap_cap) {
        size_t cap = q->heap_cap ? q->heap_cap * 2 : 16;
        kc_wq_item **h = realloc(q->heap, cap * sizeof(*h));
        if (!h)
            return -1;
        q->heap = h;
        q->heap_cap = cap;
    }
    it->seq = q->next_seq++;
    heap_place(q, q->heap_len++, it);
    heap_up(q, q->heap_len - 1);
    return 0;
}

static kc_wq_item *heap_pop(kc_workqueue *q)
{
    kc_wq_item *top = q->heap[0];
    top->heap_idx = KC_WQ_NOT_IN_HEAP;
    if (--q->heap_len > 0) {
        heap_place(q, 0, q->heap[q->heap_len]);
        heap_down(q, 0);
    }
    return top;
}

/* --- adding --- */

/* Queue it now (or mark it dirty while processing), like client-go's Add. */
static void add_ready(kc_workqueue *q, kc_wq_item *it, uint64_t ready_ns)
{
    if (it->queued || it->dirty)
        return;
    q->totals.adds_total++;
    if (it->processing)
        it->dirty = 1;
    else
        fifo_push(q, it, ready_ns);
}

/* Delay it until due_ns; a key already waiting keeps the earlier time. */
static kc_code add_delayed(kc_workqueue *q, kc_wq_item *it, uint64_t due_ns)
{
    if (it->heap_idx != KC_WQ_NOT_IN_HEAP) {
        if (due_ns < it->due_ns) {
            it->due_ns = due_ns;
            heap_up(q, it->heap_idx);
        }
        return KC_OK;
    }
    it->due_ns = due_ns;
    if (heap_push(q, it) != 0) {
        release_if_idle(q, it);
        return KC_ENOMEM;
    }
    return KC_OK;
}

kc_code kc_workqueue_add(kc_workqueue *q, const char *key)
{
    if (!q || !key)
        return KC_EINVAL;
    if (q->shutting_down)
        return KC_ESHUTDOWN;
    kc_wq_item *it = find_or_make(q, key);
    if (!it)
        return KC_ENOMEM;
    add_ready(q, it, now_ns(q));
    return KC_OK;
}

/* add_after for a found record; delay_ns 0 means now. */
static kc_code add_after_item(kc_workqueue *q, kc_wq_item *it, uint64_t delay_ns)
{
    uint64_t now = now_ns(q);
    q->totals.retries_total++;
    if (delay_ns == 0) {
        add_ready(q, it, now);
        return KC_OK;
    }
    return add_delayed(q, it, sat_add(now, delay_ns));
}

kc_code kc_workqueue_add_after(kc_workqueue *q, const char *key, uint64_t delay_ns)
{
    if (!q || !key)
        return KC_EINVAL;
    if (q->shutting_down)
        return KC_ESHUTDOWN;
    kc_wq_item *it = find_or_make(q, key);
    if (!it)
        return KC_ENOMEM;
    return add_after_item(q, it, delay_ns);
}

kc_code kc_workqueue_add_rate_limited(kc_workqueue *q, const char *key, uint64_t *delay_ns_out)
{
    if (!q || !key)
        return KC_EINVAL;
    if (q->shutting_down)
        return KC_ESHUTDOWN;
    kc_wq_item *it = find_or_make(q, key);
    if (!it)
        return KC_ENOMEM;
    /* Both limiters are charged, as client-go's MaxOfRateLimiter does. */
    uint64_t per_key = kc_backoff_delay(&q->backoff, it->failures, NULL);
    if (it->failures < UINT32_MAX)
        it->failures++;
    uint64_t overall = kc_token_bucket_reserve(&q->bucket, now_ns(q));
    uint64_t delay = per_key > overall ? per_key : overall;
    if (delay_ns_out)
        *delay_ns_out = delay;
    return add_after_item(q, it, delay);
}

void kc_workqueue_forget(kc_workqueue *q, const char *key)
{
    kc_wq_item *it = q && key ? find(q, key) : NULL;
    if (!it)
        return;
    it->failures = 0;
    release_if_idle(q, it);
}

unsigned kc_workqueue_num_requeues(const kc_workqueue *q, const char *key)
{
    const kc_wq_item *it = q && key ? find(q, key) : NULL;
    return it ? it->failures : 0;
}

size_t kc_workqueue_len(const kc_workqueue *q) { return q ? q->depth : 0; }

/* --- getting --- */

/* Move delayed keys whose time has come to the ready FIFO, in due order. */
static void promote_due(kc_workqueue *q, uint64_t now)
{
    while (q->heap_len > 0 && q->heap[0]->due_ns <= now) {
        kc_wq_item *it = heap_pop(q);
        add_ready(q, it, it->due_ns); /* queued, or dirty while processing */
    }
}

int kc_workqueue_get(kc_workqueue *q, uint64_t now, const char **key, uint64_t *wait_ns)
{
    if (!q || !key)
        return KC_EINVAL;
    promote_due(q, now);
    if (q->head) {
        kc_wq_item *it = fifo_pop(q);
        proc_link(q, it, now);
        q->totals.queue_wait_ns_total += sat_sub(now, it->ready_ns);
        q->totals.gets_total++;
        *key = it->key;
        return 1;
    }
    *key = NULL;
    if (wait_ns)
        *wait_ns = q->heap_len ? q->heap[0]->due_ns - now : UINT64_MAX;
    if (q->shutting_down && q->nprocessing == 0)
        return KC_ESHUTDOWN;
    return 0;
}

kc_code kc_workqueue_done(kc_workqueue *q, const char *key)
{
    kc_wq_item *it = q && key ? find(q, key) : NULL;
    if (!it || !it->processing)
        return KC_EINVAL;
    uint64_t now = now_ns(q);
    q->totals.work_ns_total += sat_sub(now, it->started_ns);
    q->totals.dones_total++;
    proc_unlink(q, it);
    if (it->dirty) {
        it->dirty = 0;
        fifo_push(q, it, now);
    } else {
        release_if_idle(q, it); /* key may point into it: not used after this */
    }
    return KC_OK;
}

/* --- shutting down --- */

void kc_workqueue_shut_down(kc_workqueue *q)
{
    if (!q || q->shutting_down)
        return;
    q->shutting_down = 1;
    /* Delayed keys never come due now, as in client-go. */
    while (q->heap_len > 0) {
        kc_wq_item *it = q->heap[--q->heap_len];
        it->heap_idx = KC_WQ_NOT_IN_HEAP;
        release_if_idle(q, it);
    }
}

int kc_workqueue_is_shutting_down(const kc_workqueue *q) { return q ? q->shutting_down : 0; }

int kc_workqueue_drained(const kc_workqueue *q)
{
    return !q || (q->depth == 0 && q->nprocessing == 0);
}

void kc_workqueue_get_stats(const kc_workqueue *q, kc_workqueue_stats *out)
{
    *out = q->totals;
    out->depth = q->depth;
    out->delayed = q->heap_len;
    out->processing = q->nprocessing;
    out->longest_running_ns = 0;
    out->unfinished_work_ns = 0;
    uint64_t now = now_ns(q);
    /* O(processing): called per metrics scrape, not per key. */
    for (const kc_wq_item *it = q->proc_head; it; it = it->pnext) {
        uint64_t ran = sat_sub(now, it->started_ns);
        if (ran > out->longest_running_ns)
            out->longest_running_ns = ran;
        out->unfinished_work_ns = sat_add(out->unfinished_work_ns, ran);
    }
}

/* --- life cycle --- */

kc_workqueue *kc_workqueue_new(const kc_workqueue_options *opts)
{
    kc_workqueue_options o = {0};
    if (opts)
        o = *opts;
    kc_workqueue *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->nbuckets = KC_WQ_INITIAL_BUCKETS;
    q->buckets = calloc(q->nbuckets, sizeof(*q->buckets));
    if (!q->buckets) {
        free(q);
        return NULL;
    }
    q->clock = o.clock ? o.clock : default_clock;
    q->clock_ud = o.clock ? o.clock_ud : NULL;
    q->backoff.initial_ns = o.base_delay_ns ? o.base_delay_ns : KC_WQ_BASE_DELAY_NS;
    q->backoff.max_ns = o.max_delay_ns ? o.max_delay_ns : KC_WQ_MAX_DELAY_NS;
    q->backoff.factor = 2.0;
    double qps = o.qps == 0 ? KC_WQ_QPS : o.qps;
    uint64_t now = now_ns(q);
    kc_token_bucket_init(&q->bucket, qps, o.burst > 0 ? o.burst : KC_WQ_BURST, now);
    /* A per-queue seed makes colliding key sets hard to prepare. */
    uint64_t rng = now ^ (uint64_t)(uintptr_t)q;
    q->seed = 0xcbf29ce484222325ull ^ kc_rand64(&rng);
    return q;
}

void kc_workqueue_free(kc_workqueue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nbuckets; i++) {
        for (kc_wq_item *it = q->buckets[i], *next; it; it = next) {
            next = it->hnext;
            free(it);
        }
    }
    free(q->buckets);
    free(q->heap);
    free(q);
}
