/* lease.c - leader election on a coordination.k8s.io/v1 Lease, driven by
 * timers on the client's loop.  See kclient/lease.h for the algorithm. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "client_internal.h"
#include "kclient/lease.h"

#define MS 1000000ull

struct kc_lease {
    kc_client *client;
    kc_lease_options o;
    char *ns, *name, *id;
    int leader;
    int stopped, releasing, in_callback;
    kc_request *req;
    uint64_t timer;
    uint64_t deadline_timer;  /* fires renew_deadline after our last renewal */
    uint64_t last_renew_ns;   /* our last successful write as leader */
    char *holder;             /* observed holder */
    char *observed_renew;     /* observed spec.renewTime, to see change */
    uint64_t observed_ns;     /* local time the record last changed */
    int observed_duration_s;
    uint64_t rng;
};

static void tick(kc_client *c, void *ud);
static void release(kc_lease *l);
static void set_leader(kc_lease *l, int leader);
static void lease_free(kc_lease *l);

/* Stopped and nothing in flight: give the lease up, or just free. */
static void finish_stop(kc_lease *l)
{
    if (l->leader && !l->o.no_release) {
        release(l);
        return;
    }
    set_leader(l, 0);
    lease_free(l);
}

static void lease_free(kc_lease *l)
{
    if (l->timer)
        kc_client_timer_cancel(l->client, l->timer);
    if (l->deadline_timer)
        kc_client_timer_cancel(l->client, l->deadline_timer);
    free(l->ns);
    free(l->name);
    free(l->id);
    free(l->holder);
    free(l->observed_renew);
    free(l);
}

static void micro_time(char *buf, size_t len)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char base[32];
    (void)strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm); /* 19 characters fit */
    snprintf(buf, len, "%s.%06ldZ", base, (long)tv.tv_usec);
}

static void call(kc_lease *l, void (*cb)(kc_lease *, void *))
{
    if (!cb)
        return;
    l->in_callback++;
    cb(l, l->o.ud);
    l->in_callback--;
}

static void set_leader(kc_lease *l, int leader)
{
    if (l->leader == leader)
        return;
    l->leader = leader;
    kc_log(l->client, 2, "lease %s/%s: %s %s", l->ns, l->name, l->id,
           leader ? "started leading" : "stopped leading");
    call(l, leader ? l->o.on_started_leading : l->o.on_stopped_leading);
}

static void observe(kc_lease *l, const char *holder, const char *renew, int duration_s)
{
    holder = holder ? holder : "";
    int changed = !l->holder || strcmp(l->holder, holder) != 0;
    int renewed = !l->observed_renew || !renew || strcmp(l->observed_renew, renew) != 0;
    if (changed || renewed)
        l->observed_ns = kc_client_now(l->client);
    l->observed_duration_s = duration_s > 0 ? duration_s : (int)(l->o.lease_duration_ms / 1000);
    free(l->observed_renew);
    l->observed_renew = kc_strdup_or_null(renew);
    if (changed) {
        free(l->holder);
        l->holder = strdup(holder);
        if (l->o.on_new_leader) {
            l->in_callback++;
            l->o.on_new_leader(l, holder, l->o.ud);
            l->in_callback--;
        }
    }
}

/* A leader that has not renewed by the deadline steps down at once, before
 * its lease can expire for the others (lease duration > renew deadline). */
static void on_deadline(kc_client *c, void *ud)
{
    (void)c;
    kc_lease *l = ud;
    l->deadline_timer = 0;
    if (l->leader)
        kc_log(l->client, 1, "lease %s/%s: not renewed within %ld ms", l->ns, l->name,
               l->o.renew_deadline_ms);
    set_leader(l, 0);
}

static void arm_deadline(kc_lease *l)
{
    if (l->deadline_timer)
        kc_client_timer_cancel(l->client, l->deadline_timer);
    l->deadline_timer = kc_client_timer(l->client, l->o.renew_deadline_ms, on_deadline, l);
}

static void schedule(kc_lease *l, long ms)
{
    if (l->stopped)
        return;
    /* jitter 1.2 as client-go's wait.JitterUntil */
    long jittered = ms + (long)(kc_rand_unit(&l->rng) * 0.2 * (double)ms);
    if (l->timer)
        kc_client_timer_cancel(l->client, l->timer);
    l->timer = kc_client_timer(l->client, jittered, tick, l);
}

static cJSON *lease_body(kc_lease *l, const cJSON *current, int release)
{
    char now[48];
    micro_time(now, sizeof(now));
    cJSON *obj = current ? cJSON_Duplicate(current, 1) : cJSON_CreateObject();
    if (!current) {
        cJSON_AddStringToObject(obj, "apiVersion", "coordination.k8s.io/v1");
        cJSON_AddStringToObject(obj, "kind", "Lease");
        cJSON *md = cJSON_AddObjectToObject(obj, "metadata");
        cJSON_AddStringToObject(md, "name", l->name);
        cJSON_AddStringToObject(md, "namespace", l->ns);
    }
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    if (!spec)
        spec = cJSON_AddObjectToObject(obj, "spec");
    const cJSON *old_holder = cJSON_GetObjectItemCaseSensitive(spec, "holderIdentity");
    int taking = !cJSON_IsString(old_holder) || strcmp(old_holder->valuestring, l->id) != 0;
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions");
    int transitions = cJSON_IsNumber(tr) ? tr->valueint : 0;
    cJSON_DeleteItemFromObject(spec, "holderIdentity");
    cJSON_AddStringToObject(spec, "holderIdentity", release ? "" : l->id);
    cJSON_DeleteItemFromObject(spec, "leaseDurationSeconds");
    /* whole seconds: leaseDurationSeconds is an integer field of the Lease */
    cJSON_AddNumberToObject(spec, "leaseDurationSeconds",
                            release ? 1 : (double)(l->o.lease_duration_ms / 1000)); // NOLINT(bugprone-integer-division)
    cJSON_DeleteItemFromObject(spec, "renewTime");
    cJSON_AddStringToObject(spec, "renewTime", now);
    if (taking && !release) {
        cJSON_DeleteItemFromObject(spec, "acquireTime");
        cJSON_AddStringToObject(spec, "acquireTime", now);
        cJSON_DeleteItemFromObject(spec, "leaseTransitions");
        cJSON_AddNumberToObject(spec, "leaseTransitions", current ? transitions + 1 : 0);
    }
    return obj;
}

static void on_write(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    (void)resp;
    kc_lease *l = ud;
    l->req = NULL;
    if (l->releasing) {
        set_leader(l, 0);
        lease_free(l);
        return;
    }
    if (l->stopped) {
        finish_stop(l);
        return;
    }
    if (err->code == KC_OK) {
        l->last_renew_ns = kc_client_now(l->client);
        arm_deadline(l);
        observe(l, l->id, NULL, (int)(l->o.lease_duration_ms / 1000));
        set_leader(l, 1);
    } else {
        kc_log(l->client, 3, "lease %s/%s: write failed: %s", l->ns, l->name,
               err->message ? err->message : kc_strerror(err->code));
    }
    schedule(l, l->o.retry_period_ms);
}

static void send_write(kc_lease *l, const char *method, const cJSON *obj)
{
    char *body = cJSON_PrintUnformatted(obj);
    kc_request_spec spec = {.method = method,
                            .ref = {"coordination.k8s.io", "v1", "leases", l->ns,
                                    strcmp(method, "POST") ? l->name : NULL, NULL},
                            .content_type = "application/json",
                            .body = body,
                            .body_len = body ? strlen(body) : 0,
                            .max_attempts = 1,
                            .timeout_ms = l->o.retry_period_ms * 2,
                            .no_rate_limit = 1};
    kc_error err = KC_ERROR_INIT;
    if (!body || kc_request_send(l->client, &spec, on_write, l, &l->req, &err) != KC_OK)
        schedule(l, l->o.retry_period_ms);
    kc_error_clear(&err);
    free(body);
}

static int expired(const kc_lease *l)
{
    uint64_t dur = (uint64_t)l->observed_duration_s * 1000 * MS;
    return kc_client_now(l->client) >= l->observed_ns + dur;
}

static void decide(kc_lease *l, const cJSON *lease)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(spec, "holderIdentity");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(spec, "renewTime");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(spec, "leaseDurationSeconds");
    const char *holder = cJSON_IsString(h) ? h->valuestring : "";
    observe(l, holder, cJSON_IsString(r) ? r->valuestring : NULL, cJSON_IsNumber(d) ? d->valueint : 0);
    int mine = strcmp(holder, l->id) == 0;
    if (!mine && *holder && !expired(l)) {
        set_leader(l, 0);
        schedule(l, l->o.retry_period_ms);
        return;
    }
    cJSON *body = lease_body(l, lease, 0); /* carries metadata.resourceVersion: optimistic lock */
    send_write(l, "PUT", body);
    cJSON_Delete(body);
}

static void on_read(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    kc_lease *l = ud;
    l->req = NULL;
    if (l->stopped) {
        finish_stop(l);
        return;
    }
    if (kc_error_is_not_found(err)) {
        cJSON *body = lease_body(l, NULL, 0);
        send_write(l, "POST", body);
        cJSON_Delete(body);
        return;
    }
    if (err->code != KC_OK) {
        schedule(l, l->o.retry_period_ms);
        return;
    }
    cJSON *lease = cJSON_ParseWithLength(resp->body, resp->body_len);
    decide(l, lease);
    cJSON_Delete(lease);
}

static void tick(kc_client *c, void *ud)
{
    kc_lease *l = ud;
    l->timer = 0;
    if (l->stopped) {
        if (!l->req)
            finish_stop(l);
        return;
    }
    if (l->req)
        return;
    kc_request_spec spec = {.method = "GET",
                            .ref = {"coordination.k8s.io", "v1", "leases", l->ns, l->name, NULL},
                            .max_attempts = 1,
                            .timeout_ms = l->o.retry_period_ms * 2,
                            .no_rate_limit = 1};
    kc_error err = KC_ERROR_INIT;
    if (kc_request_send(c, &spec, on_read, l, &l->req, &err) != KC_OK)
        schedule(l, l->o.retry_period_ms);
    kc_error_clear(&err);
}

kc_code kc_lease_start(kc_client *c, const kc_lease_options *opts, kc_lease **out, kc_error *err)
{
    *out = NULL;
    if (!opts->namespace_ || !opts->name || !opts->identity || !*opts->identity)
        return kc_error_set(err, KC_EINVAL, "lease: namespace, name and identity are required");
    kc_lease *l = calloc(1, sizeof(*l));
    if (!l)
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    l->client = c;
    l->o = *opts;
    if (!l->o.lease_duration_ms)
        l->o.lease_duration_ms = 15000;
    if (!l->o.renew_deadline_ms)
        l->o.renew_deadline_ms = 10000;
    if (!l->o.retry_period_ms)
        l->o.retry_period_ms = 2000;
    if (l->o.lease_duration_ms <= l->o.renew_deadline_ms ||
        (double)l->o.renew_deadline_ms <= 1.2 * (double)l->o.retry_period_ms) {
        free(l);
        return kc_error_set(err, KC_EINVAL,
                            "lease: need lease duration > renew deadline > 1.2 x retry period");
    }
    l->ns = strdup(opts->namespace_);
    l->name = strdup(opts->name);
    l->id = strdup(opts->identity);
    l->rng = kc_client_now(c) ^ (uint64_t)(uintptr_t)l;
    if (!l->ns || !l->name || !l->id) {
        lease_free(l);
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    }
    *out = l;
    l->timer = kc_client_timer(c, 0, tick, l);
    return KC_OK;
}

int kc_lease_is_leader(const kc_lease *l) { return l->leader; }

const char *kc_lease_holder(const kc_lease *l) { return l->holder ? l->holder : ""; }

static void release(kc_lease *l)
{
    cJSON *lease = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(lease, "metadata");
    cJSON_AddStringToObject(md, "name", l->name);
    cJSON *body = lease_body(l, lease, 1);
    cJSON_Delete(lease);
    /* a merge patch, not a PUT: no resourceVersion needed, and the holder
     * check below makes it safe */
    cJSON *patch = cJSON_CreateObject();
    cJSON_AddItemToObject(patch, "spec", cJSON_DetachItemFromObject(body, "spec"));
    char *text = cJSON_PrintUnformatted(patch);
    cJSON_Delete(patch);
    cJSON_Delete(body);
    kc_request_spec spec = {.method = "PATCH",
                            .ref = {"coordination.k8s.io", "v1", "leases", l->ns, l->name, NULL},
                            .content_type = "application/merge-patch+json",
                            .body = text,
                            .body_len = text ? strlen(text) : 0,
                            .max_attempts = 2,
                            .timeout_ms = l->o.retry_period_ms * 2,
                            .no_rate_limit = 1};
    kc_error err = KC_ERROR_INIT;
    l->releasing = 1;
    if (!text || kc_request_send(l->client, &spec, on_write, l, &l->req, &err) != KC_OK) {
        set_leader(l, 0);
        lease_free(l);
    }
    kc_error_clear(&err);
    free(text);
}

void kc_lease_stop(kc_lease *l)
{
    if (!l || l->stopped)
        return;
    l->stopped = 1;
    if (l->timer)
        kc_client_timer_cancel(l->client, l->timer);
    l->timer = 0;
    /* finish from the loop, never from inside a caller's callback: an
     * in-flight request's answer finishes it, else a timer does */
    if (!l->req)
        l->timer = kc_client_timer(l->client, 0, tick, l);
}
