/* status.c - hub status writes, batched: changes that arrive together (a
 * burst of member updates) become one PatchStatusAll run instead of one
 * write each.  A newer status for the same object replaces the queued one,
 * so an object is written once per batch with its latest state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operator.h"

typedef struct pending_status {
    char *ns, *name;
    cJSON *status;
    struct pending_status *next;
} pending_status;

struct kco_status_batcher {
    kco_operator *op;
    pending_status *head, *tail;
    size_t queued;
    kc_bulk *bulk;
    uint64_t timer;
    uint64_t batches, items, failures;
    /* the item being handed to the bulk run: its strings live until the next pull */
    pending_status *current;
    char *current_patch;
};

static void flush(kco_status_batcher *b);

kco_status_batcher *kco_status_new(kco_operator *op)
{
    kco_status_batcher *b = calloc(1, sizeof(*b));
    if (b)
        b->op = op;
    return b;
}

static void pending_free(pending_status *p)
{
    if (!p)
        return;
    free(p->ns);
    free(p->name);
    cJSON_Delete(p->status);
    free(p);
}

static void on_timer(kc_client *c, void *ud)
{
    (void)c;
    kco_status_batcher *b = ud;
    b->timer = 0;
    flush(b);
}

void kco_status_queue(kco_status_batcher *b, const char *ns, const char *name, cJSON *status)
{
    for (pending_status *p = b->head; p; p = p->next) {
        if (!strcmp(p->ns, ns) && !strcmp(p->name, name)) { /* newest wins */
            cJSON_Delete(p->status);
            p->status = status;
            return;
        }
    }
    pending_status *p = calloc(1, sizeof(*p));
    if (!p) { /* out of memory: dropped; the next reconcile queues it again */
        cJSON_Delete(status);
        return;
    }
    p->ns = strdup(ns);
    p->name = strdup(name);
    p->status = status;
    if (b->tail)
        b->tail->next = p;
    else
        b->head = p;
    b->tail = p;
    b->queued++;
    /* gather for a moment: the rest of a burst joins this batch */
    if ((!b->bulk || kc_bulk_done(b->bulk)) && !b->timer)
        b->timer = kc_client_timer(b->op->hub, b->op->o.status_batch_ms, on_timer, b);
}

/* The bulk run pulls queued items one at a time: memory stays flat. */
static int next_item(void *ud, kc_bulk_item *item, kc_error *err)
{
    (void)err;
    kco_status_batcher *b = ud;
    pending_free(b->current); /* the previous item has been copied by the bulk run */
    free(b->current_patch);
    b->current = NULL;
    b->current_patch = NULL;
    pending_status *p = b->head;
    if (!p || !b->op->leading)
        return 0;
    b->head = p->next;
    if (!b->head)
        b->tail = NULL;
    b->queued--;
    cJSON *patch = cJSON_CreateObject();
    cJSON_AddItemToObject(patch, "status", p->status);
    p->status = NULL;
    b->current_patch = cJSON_PrintUnformatted(patch);
    cJSON_Delete(patch);
    b->current = p;
    item->namespace_ = p->ns;
    item->name = p->name;
    item->patch = b->current_patch;
    item->patch_len = strlen(b->current_patch);
    return 1;
}

static void on_result(void *ud, const kc_bulk_result *r)
{
    kco_status_batcher *b = ud;
    b->items++;
    if (r->outcome == KC_BULK_OK || r->outcome == KC_BULK_NOT_FOUND)
        return; /* not found: deleted meanwhile, nothing to write */
    b->failures++;
    char line[1024], key[512];
    kc_error_format(r->error, line, sizeof(line));
    kco_log(b->op->log, 1, "status write failed", "object", r->name, "outcome",
            kc_bulk_outcome_name(r->outcome), "error", line, NULL);
    snprintf(key, sizeof(key), "%s/%s", r->namespace_, r->name);
    if (b->op->ctl) /* reconcile again later: it recomputes and requeues the status */
        kc_controller_enqueue_after(b->op->ctl, key, 1000);
}

static void on_done(kc_bulk *bulk, void *ud)
{
    (void)bulk;
    kco_status_batcher *b = ud;
    b->batches++;
    pending_free(b->current);
    free(b->current_patch);
    b->current = NULL;
    b->current_patch = NULL;
    /* freed from the next flush, never from inside its own callback */
    if (b->head && !b->timer)
        b->timer = kc_client_timer(b->op->hub, 0, on_timer, b);
}

static void flush(kco_status_batcher *b)
{
    if (b->bulk && kc_bulk_done(b->bulk)) {
        kc_bulk_free(b->bulk);
        b->bulk = NULL;
    }
    if (b->bulk || !b->head || !b->op->leading)
        return;
    kc_bulk_options o = {.target = {KCO_GROUP, KCO_VERSION, "federatedpodgroups", NULL, NULL, NULL},
                         .kind = "FederatedPodGroup",
                         .type = KC_PATCH_APPLY,
                         .field_manager = b->op->o.field_manager,
                         .force = 1,
                         .concurrency = 32,
                         .max_attempts = 10,
                         .next = next_item,
                         .next_ud = b,
                         .on_result = on_result,
                         .result_ud = b,
                         .on_done = on_done,
                         .done_ud = b};
    kc_error err = KC_ERROR_INIT;
    if (kc_bulk_start(b->op->hub, &o, &b->bulk, &err) != KC_OK)
        kco_log(b->op->log, 0, "cannot start a status batch", "error", err.message, NULL);
    kc_error_clear(&err);
}

int kco_status_idle(const kco_status_batcher *b)
{
    return (!b->bulk || kc_bulk_done(b->bulk)) && (!b->head || !b->op->leading);
}

void kco_status_cancel(kco_status_batcher *b)
{
    if (b->bulk)
        kc_bulk_cancel(b->bulk);
}

uint64_t kco_status_batches(const kco_status_batcher *b) { return b->batches; }

uint64_t kco_status_items(const kco_status_batcher *b) { return b->items; }

void kco_status_free(kco_status_batcher *b)
{
    if (!b)
        return;
    if (b->timer)
        kc_client_timer_cancel(b->op->hub, b->timer);
    kc_bulk_free(b->bulk);
    pending_free(b->current);
    free(b->current_patch);
    while (b->head) {
        pending_status *p = b->head;
        b->head = p->next;
        pending_free(p);
    }
    free(b);
}
