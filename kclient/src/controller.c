/* controller.c - informer events -> work queue -> reconcile, on the loop. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "kclient/controller.h"

typedef struct running {
    char *key;
    uint64_t start_ns;
    struct running *next;
} running;

struct kc_controller {
    kc_client *client;
    kc_controller_options o;
    char *name;
    kc_workqueue *q;
    uint64_t pump_timer, pump_due;
    int in_pump, shutting;
    running *runs;
    kc_controller_stats st;
};

static const double BUCKETS_S[11] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static void pump(kc_controller *ctl);

static void on_pump_timer(kc_client *c, void *ud)
{
    (void)c;
    kc_controller *ctl = ud;
    ctl->pump_timer = 0;
    pump(ctl);
}

/* Make sure the pump runs within delay_ns (keeps the earliest). */
static void arm(kc_controller *ctl, uint64_t delay_ns)
{
    uint64_t due = kc_client_now(ctl->client) + delay_ns;
    if (ctl->pump_timer && ctl->pump_due <= due)
        return;
    if (ctl->pump_timer)
        kc_client_timer_cancel(ctl->client, ctl->pump_timer);
    ctl->pump_due = due;
    ctl->pump_timer = kc_client_timer_at(ctl->client, due, on_pump_timer, ctl);
}

static void record_time(kc_controller *ctl, uint64_t ns)
{
    double s = (double)ns / 1e9;
    ctl->st.time_ns_total += ns;
    ctl->st.time_count++;
    for (int i = 0; i < 11; i++)
        if (s <= BUCKETS_S[i])
            ctl->st.time_buckets[i]++;
    ctl->st.time_buckets[11]++;
}

static running *take_running(kc_controller *ctl, const char *key)
{
    for (running **p = &ctl->runs; *p; p = &(*p)->next) {
        if (strcmp((*p)->key, key) == 0) {
            running *r = *p;
            *p = r->next;
            return r;
        }
    }
    return NULL;
}

void kc_controller_finish(kc_controller *ctl, const char *key, kc_reconcile_result result,
                          long requeue_after_ms)
{
    running *r = take_running(ctl, key);
    if (!r)
        return; /* not in progress: a stray or repeated finish */
    record_time(ctl, kc_client_now(ctl->client) - r->start_ns);
    ctl->st.reconciles++;
    ctl->st.in_progress--;
    kc_workqueue_done(ctl->q, r->key);
    switch (result) {
    case KC_RECONCILE_OK:
        ctl->st.ok++;
        kc_workqueue_forget(ctl->q, r->key);
        break;
    case KC_RECONCILE_REQUEUE_AFTER:
        ctl->st.requeue_after++;
        kc_workqueue_forget(ctl->q, r->key);
        kc_workqueue_add_after(ctl->q, r->key, (uint64_t)(requeue_after_ms > 0 ? requeue_after_ms : 0) * 1000000ull);
        break;
    default:
        ctl->st.errors++;
        kc_workqueue_add_rate_limited(ctl->q, r->key, NULL);
        break;
    }
    free(r->key);
    free(r);
    arm(ctl, 0);
}

static void run(kc_controller *ctl, const char *key)
{
    running *r = calloc(1, sizeof(*r));
    if (!r || !(r->key = strdup(key))) {
        free(r);
        kc_workqueue_done(ctl->q, key);
        kc_workqueue_add_rate_limited(ctl->q, key, NULL);
        return;
    }
    r->start_ns = kc_client_now(ctl->client);
    r->next = ctl->runs;
    ctl->runs = r;
    ctl->st.in_progress++;
    long after = 0;
    kc_reconcile_result res = ctl->o.reconcile(ctl, r->key, &after, ctl->o.ud);
    if (res != KC_RECONCILE_PENDING)
        kc_controller_finish(ctl, key, res, after);
}

static void pump(kc_controller *ctl)
{
    if (ctl->in_pump)
        return;
    ctl->in_pump = 1;
    int max = ctl->o.max_concurrent > 0 ? ctl->o.max_concurrent : 1;
    while (ctl->st.in_progress < max) {
        const char *key = NULL;
        uint64_t wait = UINT64_MAX;
        int rc = kc_workqueue_get(ctl->q, kc_client_now(ctl->client), &key, &wait);
        if (rc == 1) {
            char *copy = strdup(key); /* the queue's copy lives until done */
            if (copy)
                run(ctl, copy);
            free(copy);
            continue;
        }
        if (rc == 0 && wait != UINT64_MAX)
            arm(ctl, wait);
        break;
    }
    ctl->in_pump = 0;
}

kc_code kc_controller_new(kc_client *c, const kc_controller_options *opts, kc_controller **out,
                          kc_error *err)
{
    *out = NULL;
    if (!opts->reconcile)
        return kc_error_set(err, KC_EINVAL, "controller: no reconcile function");
    kc_controller *ctl = calloc(1, sizeof(*ctl));
    if (!ctl)
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    ctl->client = c;
    ctl->o = *opts;
    kc_workqueue_options qo = opts->queue;
    if (!qo.clock) {
        qo.clock = c->opts.clock;
        qo.clock_ud = c->opts.clock_ud;
    }
    ctl->q = kc_workqueue_new(&qo);
    ctl->name = strdup(opts->name ? opts->name : "controller");
    if (!ctl->q || !ctl->name) {
        kc_controller_free(ctl);
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    }
    *out = ctl;
    return KC_OK;
}

void kc_controller_enqueue(kc_controller *ctl, const char *key)
{
    if (kc_workqueue_add(ctl->q, key) == KC_OK)
        arm(ctl, 0);
}

void kc_controller_enqueue_after(kc_controller *ctl, const char *key, long delay_ms)
{
    uint64_t ns = (uint64_t)(delay_ms > 0 ? delay_ms : 0) * 1000000ull;
    if (kc_workqueue_add_after(ctl->q, key, ns) == KC_OK)
        arm(ctl, ns);
}

char *kc_object_key(const cJSON *obj)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
    if (!cJSON_IsString(name))
        return NULL;
    if (cJSON_IsString(ns) && *ns->valuestring)
        return kc_asprintf("%s/%s", ns->valuestring, name->valuestring);
    return strdup(name->valuestring);
}

static void enqueue_obj(void *ud, const cJSON *obj)
{
    char *key = kc_object_key(obj);
    if (key)
        kc_controller_enqueue(ud, key);
    free(key);
}

static void h_add(kc_informer *inf, const cJSON *obj, void *ud)
{
    (void)inf;
    enqueue_obj(ud, obj);
}

static void h_update(kc_informer *inf, const cJSON *old_obj, const cJSON *new_obj, void *ud)
{
    (void)inf;
    (void)old_obj;
    enqueue_obj(ud, new_obj);
}

static void h_delete(kc_informer *inf, const cJSON *obj, void *ud)
{
    (void)inf;
    enqueue_obj(ud, obj);
}

kc_informer_handlers kc_controller_handlers(void)
{
    kc_informer_handlers h = {h_add, h_update, h_delete, NULL};
    return h;
}

void kc_controller_shutdown(kc_controller *ctl)
{
    ctl->shutting = 1;
    kc_workqueue_shut_down(ctl->q);
}

int kc_controller_idle(const kc_controller *ctl) { return ctl->st.in_progress == 0; }

void kc_controller_get_stats(const kc_controller *ctl, kc_controller_stats *out)
{
    *out = ctl->st;
}

kc_workqueue *kc_controller_queue(kc_controller *ctl) { return ctl->q; }

void kc_controller_free(kc_controller *ctl)
{
    if (!ctl)
        return;
    if (ctl->pump_timer)
        kc_client_timer_cancel(ctl->client, ctl->pump_timer);
    while (ctl->runs) {
        running *r = ctl->runs;
        ctl->runs = r->next;
        free(r->key);
        free(r);
    }
    kc_workqueue_free(ctl->q);
    free(ctl->name);
    free(ctl);
}
