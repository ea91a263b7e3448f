/* track.c - what the operator knows of its writes to one member, per
 * FederatedPodGroup key: a write in flight (so a reconcile never sends a
 * second one behind it, and never waits for it), the last failure and its
 * backoff, what the member acknowledged.  An open hash table with chaining;
 * entries are dropped when the hub object is gone. */
#include <stdlib.h>
#include <string.h>

#include "operator.h"

struct kco_track {
    kco_write_state **buckets;
    size_t nbuckets, count, inflight;
};

kco_track *kco_track_new(void)
{
    kco_track *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->nbuckets = 64;
    t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    return t;
}

static void state_free(kco_write_state *s)
{
    free(s->key);
    free(s->reason);
    free(s->message);
    free(s->acked_uid);
    free(s->removed_uid);
    free(s->logged);
    cJSON_Delete(s->published);
    free(s);
}

static void grow(kco_track *t)
{
    size_t n = t->nbuckets * 2;
    kco_write_state **b = calloc(n, sizeof(*b));
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < t->nbuckets; i++)
        for (kco_write_state *s = t->buckets[i], *next; s; s = next) {
            next = s->next;
            size_t j = kco_hash_str(s->key) & (n - 1);
            s->next = b[j];
            b[j] = s;
        }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

kco_write_state *kco_track_get(kco_track *t, const char *key, int create)
{
    if (!t || !key)
        return NULL;
    size_t i = kco_hash_str(key) & (t->nbuckets - 1);
    for (kco_write_state *s = t->buckets[i]; s; s = s->next)
        if (!strcmp(s->key, key))
            return s;
    if (!create)
        return NULL;
    kco_write_state *s = calloc(1, sizeof(*s));
    if (!s || !(s->key = strdup(key))) {
        free(s);
        return NULL;
    }
    s->acked_gen = -1;
    s->next = t->buckets[i];
    t->buckets[i] = s;
    if (++t->count > t->nbuckets)
        grow(t);
    return s;
}

void kco_track_set_inflight(kco_track *t, kco_write_state *s, int on)
{
    if (!t || !s || s->inflight == on)
        return;
    s->inflight = on;
    if (on)
        t->inflight++;
    else
        t->inflight--;
}

void kco_track_drop(kco_track *t, const char *key)
{
    if (!t || !key)
        return;
    kco_write_state **p = &t->buckets[kco_hash_str(key) & (t->nbuckets - 1)];
    for (; *p; p = &(*p)->next) {
        kco_write_state *s = *p;
        if (strcmp(s->key, key))
            continue;
        if (s->inflight) /* its answer still comes: keep the record until then */
            return;
        *p = s->next;
        t->count--;
        state_free(s);
        return;
    }
}

size_t kco_track_inflight(const kco_track *t) { return t ? t->inflight : 0; }

/* The member answers again: parked work must not sit out its backoff. */
void kco_track_reset_backoff(kco_track *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (kco_write_state *s = t->buckets[i]; s; s = s->next) {
            s->retry_at_ns = 0;
            s->failures = 0;
        }
}

void kco_track_free(kco_track *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (kco_write_state *s = t->buckets[i], *next; s; s = next) {
            next = s->next;
            state_free(s);
        }
    free(t->buckets);
    free(t);
}

void kco_state_set_problem(kco_write_state *s, const char *reason, const char *message)
{
    if (!s)
        return;
    free(s->reason);
    free(s->message);
    s->reason = reason ? strdup(reason) : NULL;
    s->message = message ? strdup(message) : NULL;
}
