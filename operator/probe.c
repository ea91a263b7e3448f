/* probe.c - a member's health and identity: the /readyz probe, the Ready
 * condition, the cluster's identity (uid of its kube-system namespace),
 * duplicates, and the MemberCluster status written on the hub.
 *
 * Probes run every periodSeconds start to start (+-10% jitter), each
 * bounded by timeoutSeconds, so detection does not drift with slow
 * answers: Ready=Unknown comes at most
 * max(threshold x period, grace + period) x 1.1 + timeout after the link
 * dies (docs/member-lifecycle.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operator.h"

void kco_member_set_ready(kco_member *m, const char *status, const char *reason, const char *msg)
{
    int changed = strcmp(m->ready, status) != 0;
    if (changed) {
        kco_iso_time(time(NULL), m->ltt, sizeof(m->ltt));
        kco_log(m->op->log, strcmp(status, "True") ? 1 : 2, "member cluster ready changed", "cluster",
                m->name, "ready", status, "reason", reason, "message", msg, NULL);
    }
    if (changed || strcmp(m->reason, reason) || !m->message || strcmp(m->message, msg))
        m->status_dirty = 1;
    snprintf(m->ready, sizeof(m->ready), "%s", status);
    snprintf(m->reason, sizeof(m->reason), "%s", reason);
    free(m->message);
    m->message = strdup(msg);
    int online = !strcmp(status, "True");
    if (online && !m->online) { /* back: parked work runs now, whatever its backoff */
        kco_track_reset_backoff(m->track);
        if (m->pg_inf)
            kc_watch_reconnect_now(kc_informer_watch(m->pg_inf));
    }
    if (online != m->online) {
        m->online = online;
        /* back: re-apply and refresh every placed object; gone: stale at
         * once.  A short spread so many members returning together do not
         * stampede the hub. */
        kco_enqueue_all(m->op, online ? 500 : 0);
    }
}

int kco_member_serving(const kco_member *m)
{
    return m->online && m->client && m->flavour_known && m->identity_known && !m->leaving &&
           !m->duplicate_of && m->pg_inf && kc_informer_has_synced(m->pg_inf);
}

/* --- MemberCluster status on the hub (apply, our field manager) --- */

typedef struct status_call {
    kco_operator *op;
    char *name;
} status_call;

static void write_member_status(kco_member *m);

/* By name: the member may be gone when the hub answers. */
static void on_status_written(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    (void)r;
    status_call *sc = ud;
    kco_member *m = kco_member_find(sc->op, sc->name);
    if (err->code != KC_OK && err->code != KC_ECANCELLED && !kc_error_is_not_found(err)) {
        char line[512];
        kc_error_format(err, line, sizeof(line));
        kco_log(sc->op->log, 1, "member status write failed", "cluster", sc->name, "error", line, NULL);
        if (m)
            m->status_dirty = 1; /* written again with the next round */
    }
    if (m) {
        m->status_inflight = 0;
        if (m->status_dirty && sc->op->leading && err->code != KC_ECANCELLED)
            write_member_status(m); /* what changed while this one was on its way */
    }
    free(sc->name);
    free(sc);
}

const char *kco_member_phase(const kco_member *m)
{
    if (m->leaving)
        return "Leaving";
    if (m->duplicate_of)
        return "Duplicate";
    if (!strcmp(m->ready, "True"))
        return "Ready";
    if (!strcmp(m->ready, "Unknown"))
        return m->ever_contacted ? "Unreachable" : "Joining";
    return "NotReady";
}

static void add_cond(cJSON *conds, const char *type, const char *status, const char *reason,
                     const char *msg, const char *ltt)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "type", type);
    cJSON_AddStringToObject(c, "status", status);
    cJSON_AddStringToObject(c, "reason", reason);
    cJSON_AddStringToObject(c, "message", msg ? msg : "");
    cJSON_AddStringToObject(c, "lastTransitionTime", ltt);
    cJSON_AddItemToArray(conds, c);
}

static char *member_status_body(const kco_member *m)
{
    char probe[40], contact[40];
    kco_iso_time(m->last_probe ? m->last_probe : time(NULL), probe, sizeof(probe));
    kco_iso_time(m->last_contact, contact, sizeof(contact));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", KCO_GROUP "/" KCO_VERSION);
    cJSON_AddStringToObject(o, "kind", "MemberCluster");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "metadata"), "name", m->name);
    cJSON *st = cJSON_AddObjectToObject(o, "status");
    cJSON_AddStringToObject(st, "phase", kco_member_phase(m));
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    add_cond(conds, "Ready", m->ready, m->reason, m->message, m->ltt);
    if (m->leaving && m->leave_reason[0])
        add_cond(conds, "Leaving", "True", m->leave_reason, m->leave_message, m->ltt);
    cJSON_AddStringToObject(st, "lastProbeTime", probe);
    if (m->last_contact)
        cJSON_AddStringToObject(st, "lastSuccessfulContactTime", contact);
    if (m->version)
        cJSON_AddStringToObject(st, "kubernetesVersion", m->version);
    if (m->cluster_id && *m->cluster_id)
        cJSON_AddStringToObject(st, "clusterID", m->cluster_id);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return body;
}

static void write_member_status(kco_member *m)
{
    kco_operator *op = m->op;
    if (m->status_inflight) {
        m->status_dirty = 1; /* after the one on its way: never two racing, never out of order */
        return;
    }
    char *body = member_status_body(m);
    status_call *sc = calloc(1, sizeof(*sc));
    if (!body || !sc || !(sc->name = strdup(m->name))) {
        free(body);
        free(sc);
        return;
    }
    sc->op = op;
    kc_param ps[] = {{"fieldManager", op->o.field_manager}, {"force", "true"}};
    kc_request_spec spec = {.method = "PATCH",
                            .ref = {KCO_GROUP, KCO_VERSION, "memberclusters", NULL, m->name, "status"},
                            .params = ps,
                            .nparams = 2,
                            .content_type = "application/apply-patch+yaml",
                            .body = body,
                            .body_len = strlen(body),
                            .idempotent = 1};
    m->status_dirty = 0;
    if (kc_request_send(op->hub, &spec, on_status_written, sc, NULL, NULL) == KC_OK) {
        m->status_inflight = 1;
    } else {
        m->status_dirty = 1;
        free(sc->name);
        free(sc);
    }
    free(body);
    m->last_status_write = time(NULL);
}

void kco_members_write_status(kco_operator *op)
{
    if (!op->leading)
        return;
    time_t now = time(NULL);
    for (kco_member *m = op->members; m; m = m->next)
        if (m->status_dirty || now - m->last_status_write >= 30)
            write_member_status(m);
}

/* --- duplicates: one cluster, two MemberCluster names --- */

static int older(const kco_member *a, const kco_member *b)
{
    int c = strcmp(a->created, b->created);
    return c < 0 || (c == 0 && strcmp(a->name, b->name) < 0);
}

static const kco_member *primary_of(const kco_member *m)
{
    const kco_member *best = m;
    for (const kco_member *o = m->op->members; o; o = o->next)
        if (o != best && !o->leaving && o->cluster_id && !strcmp(o->cluster_id, m->cluster_id) && older(o, best))
            best = o;
    return best;
}

static void mark_ready(kco_member *m);

/* The older MemberCluster of one cluster serves it; the other is reported,
 * never obeyed (no applies, no deletes). */
void kco_lifecycle_duplicates(kco_operator *op)
{
    for (kco_member *m = op->members; m; m = m->next) {
        const kco_member *p = m->cluster_id && *m->cluster_id && !m->leaving ? primary_of(m) : m;
        const char *now = p != m ? p->name : NULL;
        if ((now == NULL) == (m->duplicate_of == NULL) && (!now || !strcmp(now, m->duplicate_of)))
            continue;
        free(m->duplicate_of);
        m->duplicate_of = now ? strdup(now) : NULL;
        m->status_dirty = 1;
        if (now)
            kco_log(op->log, 1, "the same cluster is registered twice: this MemberCluster is not served",
                    "cluster", m->name, "served-by", now, "cluster-id", m->cluster_id, NULL);
        if (m->identity_known && m->failures == 0 && m->last_contact)
            mark_ready(m); /* answers: Ready follows the new role */
    }
}

/* --- probes --- */

static void start_probe_timer(kco_member *m, long delay_ms);

static void on_version(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    kco_member *m = ud;
    if (err->code != KC_OK)
        return;
    cJSON *v = cJSON_ParseWithLength(r->body, r->body_len);
    const char *gv = kco_jstr(v, "gitVersion");
    if (gv && (!m->version || strcmp(m->version, gv))) {
        free(m->version);
        m->version = strdup(gv);
        m->status_dirty = 1;
    }
    cJSON_Delete(v);
}

static void mark_ready(kco_member *m)
{
    if (m->duplicate_of) {
        char msg[400];
        snprintf(msg, sizeof(msg), "the same cluster (kube-system uid %s) is MemberCluster %s, which serves it",
                 m->cluster_id ? m->cluster_id : "?", m->duplicate_of);
        kco_member_set_ready(m, "False", "DuplicateCluster", msg);
    } else {
        kco_member_set_ready(m, "True", "MemberReachable", "the member's /readyz answers ok");
    }
}

static void on_identity(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    kco_member *m = ud;
    m->identity_req = NULL;
    if (err->code == KC_ECANCELLED || err->code == KC_ETRANSPORT || err->code == KC_ETIMEDOUT)
        return; /* the next good probe asks again */
    cJSON *ns = err->code == KC_OK ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
    const char *uid = kco_jstr(ns, "metadata.uid");
    if (uid) {
        if (m->cluster_id && *m->cluster_id && strcmp(m->cluster_id, uid))
            kco_log(m->op->log, 1, "the member is another cluster than before", "cluster", m->name,
                    "was", m->cluster_id, "now", uid, NULL);
        free(m->cluster_id);
        m->cluster_id = strdup(uid);
        m->status_dirty = 1;
    } else {
        char line[512];
        kc_error_format(err, line, sizeof(line));
        kco_log(m->op->log, 1, "cannot read the member's kube-system namespace: a second registration "
                               "of this cluster cannot be detected", "cluster", m->name, "error", line, NULL);
    }
    cJSON_Delete(ns);
    m->identity_known = 1;
    kco_lifecycle_duplicates(m->op);
    mark_ready(m);
    if (kco_member_serving(m)) /* served from now on (its cache may have synced first) */
        kco_enqueue_all(m->op, 0);
    kco_lifecycle_step(m);
}

static void ask_identity(kco_member *m)
{
    kc_request_spec spec = {.method = "GET", .ref = {NULL, "v1", "namespaces", NULL, "kube-system", NULL},
                            .max_attempts = 1, .timeout_ms = m->timeout_s * 1000};
    kc_request_send(m->client, &spec, on_identity, m, &m->identity_req, NULL);
}

static void probe_answered(kco_member *m, kc_client *c, const kc_error *err, const char *line)
{
    m->failures = 0;
    m->last_contact = time(NULL);
    m->last_contact_ns = kc_client_now(c);
    m->ever_contacted = 1;
    free(m->fail_logged);
    m->fail_logged = NULL;
    if (!m->version) {
        kc_request_spec v = {.method = "GET", .path = "/version", .max_attempts = 1};
        kc_request_send(m->client, &v, on_version, m, NULL, NULL);
    }
    if (err->code != KC_OK)
        kco_member_set_ready(m, "False", "MemberNotReady", line);
    else if (!m->identity_known) {
        if (!m->identity_req)
            ask_identity(m); /* Ready once we know which cluster this is */
    } else
        mark_ready(m);
}

/* The kind of a failure, for logging each once per outage: a cut link
 * answers "reset" at one probe and "refused" at the next. */
static void failure_class(const kc_error *err, char *buf, size_t len)
{
    if (err->code == KC_EHTTP)
        snprintf(buf, len, "HTTP %ld", err->http_status);
    else
        snprintf(buf, len, "%s", kc_strerror(err->code));
}

static void probe_failed(kco_member *m, kc_client *c, const kc_error *err, const char *line)
{
    ++m->failures;
    char cls[64];
    failure_class(err, cls, sizeof(cls));
    int repeat = m->fail_logged && !strcmp(m->fail_logged, cls);
    kco_log(m->op->log, repeat ? 4 : 1, "member cluster probe failed", "cluster", m->name, "error", line, NULL);
    if (!repeat) {
        free(m->fail_logged);
        m->fail_logged = strdup(cls);
    }
    uint64_t since = kc_client_now(c) - m->last_contact_ns;
    if (m->failures >= m->threshold && since >= (uint64_t)m->grace_s * 1000000000ull) {
        char msg[700];
        snprintf(msg, sizeof(msg), "no contact for %lds: %s", (long)(since / 1000000000ull), line);
        kco_member_set_ready(m, "Unknown", "MemberUnreachable", msg);
    }
}

static void on_probe(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)r;
    kco_member *m = ud;
    m->probe = NULL;
    if (err->code == KC_ECANCELLED)
        return;
    m->last_probe = time(NULL);
    char line[512];
    kc_error_format(err, line, sizeof(line));
    if (err->code == KC_OK || err->code == KC_EHTTP) /* it answered */
        probe_answered(m, c, err, line);
    else
        probe_failed(m, c, err, line);
    kco_members_write_status(m->op);
    kco_lifecycle_step(m);
}

static void on_probe_timer(kc_client *c, void *ud)
{
    (void)c;
    kco_member *m = ud;
    m->probe_timer = 0;
    start_probe_timer(m, m->period_s * 1000); /* start to start */
    if (!m->client || m->probe)
        return; /* no client (its status says why), or the last probe is still within its timeout */
    kc_request_spec spec = {.method = "GET",
                            .path = "/readyz",
                            .accept = "*/*",
                            .max_attempts = 1,
                            .timeout_ms = m->timeout_s * 1000,
                            .no_rate_limit = 1,
                            /* its own connection: answered within its timeout even while
                             * writes on a dead link hold every shared one */
                            .fresh_connection = 1};
    kc_error err = KC_ERROR_INIT;
    m->probe_started_ns = kc_client_now(c);
    if (kc_request_send(m->client, &spec, on_probe, m, &m->probe, &err) != KC_OK) {
        char line[512];
        kc_error_format(&err, line, sizeof(line));
        probe_failed(m, c, &err, line);
    }
    kc_error_clear(&err);
}

static void start_probe_timer(kco_member *m, long delay_ms)
{
    if (m->probe_timer)
        kc_client_timer_cancel(m->op->hub, m->probe_timer);
    /* +-10% jitter: members probed in step would load the hub in step */
    uint64_t seed = (uint64_t)(uintptr_t)m ^ (uint64_t)kc_client_now(m->op->hub);
    long jitter = delay_ms / 10 ? (long)(kc_rand64(&seed) % (uint64_t)(delay_ms / 5)) - delay_ms / 10 : 0;
    m->probe_timer = kc_client_timer(m->op->hub, delay_ms + jitter, on_probe_timer, m);
}

void kco_probe_start(kco_member *m, long delay_ms)
{
    if (!m->probe_timer)
        start_probe_timer(m, delay_ms);
}

void kco_probe_stop(kco_member *m)
{
    if (m->probe_timer)
        kc_client_timer_cancel(m->op->hub, m->probe_timer);
    m->probe_timer = 0;
}
