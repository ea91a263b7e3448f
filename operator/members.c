/* members.c - MemberCluster objects -> member clients on the shared loop,
 * health probes, the Ready condition, and the PodGroup informer per member. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operator.h"

static void start_probe_timer(kco_member *m, long delay_ms);
static void resolve_flavour(kco_member *m);

void kco_iso_time(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 && len) /* too small: contents undefined */
        buf[0] = '\0';
}

kco_member *kco_member_find(kco_operator *op, const char *name)
{
    for (kco_member *m = op->members; m; m = m->next)
        if (!strcmp(m->name, name))
            return m;
    return NULL;
}

/* --- the Ready condition --- */

static void set_ready(kco_member *m, const char *status, const char *reason, const char *msg)
{
    int changed = strcmp(m->ready, status) != 0;
    if (changed) {
        kco_iso_time(time(NULL), m->ltt, sizeof(m->ltt));
        kco_log(m->op->log, changed && strcmp(status, "True") ? 1 : 2, "member cluster ready changed",
                "cluster", m->name, "ready", status, "reason", reason, NULL);
    }
    if (changed || strcmp(m->reason, reason) || !m->message || strcmp(m->message, msg))
        m->status_dirty = 1;
    snprintf(m->ready, sizeof(m->ready), "%s", status);
    snprintf(m->reason, sizeof(m->reason), "%s", reason);
    free(m->message);
    m->message = strdup(msg);
    int online = !strcmp(status, "True");
    if (online && !m->online && m->pg_inf) /* back: do not sit out the watch's backoff */
        kc_watch_reconnect_now(kc_informer_watch(m->pg_inf));
    if (online != m->online) {
        m->online = online;
        /* back: re-apply and refresh every placed object; gone: mark stale.
         * Spread over a few seconds so many members returning at once do not
         * stampede the hub or themselves. */
        kco_enqueue_all(m->op, online ? 3000 : 0);
    }
}

/* --- member status on the hub (apply, our field manager) --- */

static void on_status_written(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    (void)r;
    kco_operator *op = ud;
    if (err->code != KC_OK) {
        char line[512];
        kc_error_format(err, line, sizeof(line));
        kco_log(op->log, 1, "member status write failed", "error", line, NULL);
    }
}

static void write_member_status(kco_member *m)
{
    kco_operator *op = m->op;
    char probe[40], contact[40];
    kco_iso_time(m->last_probe ? m->last_probe : time(NULL), probe, sizeof(probe));
    kco_iso_time(m->last_contact, contact, sizeof(contact));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", KCO_GROUP "/" KCO_VERSION);
    cJSON_AddStringToObject(o, "kind", "MemberCluster");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "metadata"), "name", m->name);
    cJSON *st = cJSON_AddObjectToObject(o, "status");
    cJSON *cond = cJSON_CreateObject();
    cJSON_AddStringToObject(cond, "type", "Ready");
    cJSON_AddStringToObject(cond, "status", m->ready);
    cJSON_AddStringToObject(cond, "reason", m->reason);
    cJSON_AddStringToObject(cond, "message", m->message ? m->message : "");
    cJSON_AddStringToObject(cond, "lastTransitionTime", m->ltt);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(st, "conditions"), cond);
    cJSON_AddStringToObject(st, "lastProbeTime", probe);
    if (m->last_contact)
        cJSON_AddStringToObject(st, "lastSuccessfulContactTime", contact);
    if (m->version)
        cJSON_AddStringToObject(st, "kubernetesVersion", m->version);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    kc_param ps[] = {{"fieldManager", op->o.field_manager}, {"force", "true"}};
    kc_request_spec spec = {.method = "PATCH",
                            .ref = {KCO_GROUP, KCO_VERSION, "memberclusters", NULL, m->name, "status"},
                            .params = ps,
                            .nparams = 2,
                            .content_type = "application/apply-patch+yaml",
                            .body = body,
                            .body_len = strlen(body)};
    kc_error err = KC_ERROR_INIT;
    kc_request_send(op->hub, &spec, on_status_written, op, NULL, &err);
    kc_error_clear(&err);
    free(body);
    m->status_dirty = 0;
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

/* --- probes --- */

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
    if (err->code == KC_OK || err->code == KC_EHTTP) { /* it answered */
        m->failures = 0;
        m->last_contact = time(NULL);
        m->last_contact_ns = kc_client_now(c);
        if (err->code == KC_OK) {
            set_ready(m, "True", "MemberReachable", "the member's /readyz answers ok");
            if (!m->flavour_known && !m->flavour_req) /* an earlier try failed */
                resolve_flavour(m);
        } else
            set_ready(m, "False", "MemberNotReady", line);
        if (!m->version) {
            kc_request_spec v = {.method = "GET", .path = "/version", .max_attempts = 1};
            kc_request_send(m->client, &v, on_version, m, NULL, NULL);
        }
    } else if (++m->failures >= m->threshold &&
               kc_client_now(c) - m->last_contact_ns >= (uint64_t)m->grace_s * 1000000000ull) {
        char msg[700];
        snprintf(msg, sizeof(msg), "no contact for %lds: %s",
                 (long)((kc_client_now(c) - m->last_contact_ns) / 1000000000ull), line);
        set_ready(m, "Unknown", "MemberUnreachable", msg);
    }
    kco_members_write_status(m->op);
    start_probe_timer(m, m->period_s * 1000);
}

static void on_probe_timer(kc_client *c, void *ud)
{
    (void)c;
    kco_member *m = ud;
    m->probe_timer = 0;
    if (!m->client) {
        start_probe_timer(m, m->period_s * 1000);
        return;
    }
    kc_request_spec spec = {.method = "GET",
                            .path = "/readyz",
                            .accept = "*/*",
                            .max_attempts = 1,
                            .timeout_ms = m->timeout_s * 1000,
                            .no_rate_limit = 1};
    kc_error err = KC_ERROR_INIT;
    if (kc_request_send(m->client, &spec, on_probe, m, &m->probe, &err) != KC_OK)
        start_probe_timer(m, m->period_s * 1000);
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

/* --- the member's client and informer --- */

/* kc_client_free cancels the member's requests and runs their callbacks
 * right away, while m is still alive. */
static void stop_client(kco_member *m)
{
    kc_informer_stop(m->pg_inf);
    m->pg_inf = NULL;
    kc_client_free(m->client);
    kc_config_free(m->cfg);
    m->client = NULL;
    m->cfg = NULL;
    m->flavour_known = 0;
}

static void start_informer(kco_member *m)
{
    kc_informer_options io = {
        .ref = {m->volcano ? "scheduling.volcano.sh" : "scheduling.x-k8s.io",
                m->volcano ? "v1beta1" : "v1alpha1", "podgroups", NULL, NULL, NULL},
        .label_selector = KCO_LABEL_MANAGED_BY "=kclient-federation",
        .ud = m};
    kco_member_pg_handlers(&io.handlers);
    kc_error err = KC_ERROR_INIT;
    if (kc_informer_start(m->client, &io, &m->pg_inf, &err) != KC_OK)
        kco_log(m->op->log, 0, "cannot watch member podgroups", "cluster", m->name, "error",
                err.message, NULL);
    kc_error_clear(&err);
}

/* podGroupAPI: Auto asks the member which flavour it serves. */
/* api Auto: scheduler-plugins' group if the member serves it, else
 * Volcano's - but only once the member positively serves Volcano's: a
 * restarting apiserver serves neither for a moment, and guessing then would
 * write the wrong kind for good. */
static void probe_group(kco_member *m, int volcano);

static void flavour_found(kco_member *m, int volcano)
{
    m->volcano = volcano;
    m->flavour_known = 1;
    kco_log(m->op->log, 2, "member podgroup flavour", "cluster", m->name, "api",
            m->volcano ? "Volcano" : "Coscheduling", NULL);
    start_informer(m);
}

static void on_flavour(kc_client *c, const kc_response *r, const kc_error *err, void *ud,
                       int volcano)
{
    (void)c;
    (void)r;
    kco_member *m = ud;
    m->flavour_req = NULL;
    if (err->code == KC_ECANCELLED)
        return;
    if (err->code == KC_OK)
        flavour_found(m, volcano);
    else if (err->http_status == 404 && !volcano)
        probe_group(m, 1);
    /* else unreachable, or neither group served yet: the next successful
     * probe tries again (on_probe) */
}

static void on_flavour_sp(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    on_flavour(c, r, err, ud, 0);
}

static void on_flavour_volcano(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    on_flavour(c, r, err, ud, 1);
}

static void probe_group(kco_member *m, int volcano)
{
    kc_request_spec spec = {.method = "GET",
                            .path = volcano ? "/apis/scheduling.volcano.sh/v1beta1"
                                            : "/apis/scheduling.x-k8s.io/v1alpha1",
                            .max_attempts = 3};
    kc_request_send(m->client, &spec, volcano ? on_flavour_volcano : on_flavour_sp, m,
                    &m->flavour_req, NULL);
}

static void resolve_flavour(kco_member *m)
{
    if (strcmp(m->api, "Auto") != 0) {
        flavour_found(m, !strcmp(m->api, "Volcano"));
        return;
    }
    probe_group(m, 0);
}

/* The kubeconfig from the Secret, kept in memory only. */
static int build_client(kco_member *m)
{
    kco_operator *op = m->op;
    cJSON *secret = kc_informer_get(op->secret_inf, m->secret_ns, m->secret_name);
    const char *b64 = secret ? kco_jstr(cJSON_GetObjectItem(secret, "data"), m->secret_key) : NULL;
    char origin[300], msg[1200];
    snprintf(origin, sizeof(origin), "secret %s/%s key %s", m->secret_ns, m->secret_name,
             m->secret_key);
    if (!secret || !b64) {
        snprintf(msg, sizeof(msg), "%s: %s", origin, secret ? "no such key" : "not found");
        set_ready(m, "False", "KubeconfigNotFound", msg);
        cJSON_Delete(secret);
        return -1;
    }
    free(m->secret_rv);
    const char *rv = kco_jstr(secret, "metadata.resourceVersion");
    m->secret_rv = strdup(rv ? rv : "");
    kc_error err = KC_ERROR_INIT;
    char *yaml = NULL;
    size_t len = 0;
    int rc = kco_base64_decode(b64, &yaml, &len);
    cJSON_Delete(secret);
    if (rc == 0 && kc_config_from_buffer(yaml, len, origin, NULL, NULL, &m->cfg, &err) == KC_OK) {
        kc_client_options co = {.share_loop = op->hub,
                                .qps = op->o.api_qps,
                                .burst = op->o.api_burst,
                                .health_check_ms = m->period_s * 1000,
                                .health_timeout_ms = m->timeout_s * 1000,
                                .log = kco_kclient_log,
                                .log_ud = op->log,
                                .verbosity = op->o.verbosity + 2,
                                .user_agent = op->user_agent};
        if (kc_client_new(m->cfg, &co, &m->client, &err) == KC_OK) {
            kc_error_clear(&err);
            kco_secure_free(yaml, len);
            resolve_flavour(m);
            return 0;
        }
    }
    snprintf(msg, sizeof(msg), "%s", rc ? "the kubeconfig is not valid base64" : err.message);
    set_ready(m, "False", "KubeconfigInvalid", msg);
    kc_error_clear(&err);
    kco_secure_free(yaml, len);
    kc_config_free(m->cfg);
    m->cfg = NULL;
    return -1;
}

static void replace_str(char **dst, const char *src, int *changed)
{
    int same = *dst && src ? strcmp(*dst, src) == 0 : *dst == src;
    if (!same) {
        free(*dst);
        *dst = src ? strdup(src) : NULL;
        *changed = 1;
    }
}

/* Take the spec of a MemberCluster; returns 1 when the client must be rebuilt. */
static int update_spec(kco_member *m, const cJSON *mc)
{
    int rebuild = 0, flavour = 0;
    const cJSON *spec = cJSON_GetObjectItem(mc, "spec");
    replace_str(&m->secret_ns, kco_jstr(spec, "kubeconfigSecretRef.namespace"), &rebuild);
    replace_str(&m->secret_name, kco_jstr(spec, "kubeconfigSecretRef.name"), &rebuild);
    const char *key = kco_jstr(spec, "kubeconfigSecretRef.key");
    replace_str(&m->secret_key, key ? key : "kubeconfig", &rebuild);
    const char *api = kco_jstr(spec, "podGroupAPI");
    replace_str(&m->api, api ? api : "Coscheduling", &flavour);
    /* the CRD validates these; clamped anyway, the operator trusts no input */
    m->period_s = kco_jlong(spec, "healthCheck.periodSeconds", 10, 1, 86400);
    m->timeout_s = kco_jlong(spec, "healthCheck.timeoutSeconds", 5, 1, 86400);
    m->threshold = (int)kco_jlong(spec, "healthCheck.failureThreshold", 3, 1, 1000000);
    m->grace_s = kco_jlong(spec, "unreachableGraceSeconds", 40, 0, INT32_MAX);
    const cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(mc, "metadata"), "labels");
    cJSON *now = labels ? cJSON_Duplicate(labels, 1) : cJSON_CreateObject();
    if (!m->labels || !cJSON_Compare(m->labels, now, 1))
        m->op->placement_changed = 1; /* labels drive placement */
    cJSON_Delete(m->labels);
    m->labels = now;
    return rebuild || flavour;
}

static kco_member *member_new(kco_operator *op, const char *name)
{
    kco_member *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->op = op;
    m->name = strdup(name);
    snprintf(m->ready, sizeof(m->ready), "Unknown");
    snprintf(m->reason, sizeof(m->reason), "Probing");
    m->message = strdup("not probed yet");
    kco_iso_time(time(NULL), m->ltt, sizeof(m->ltt));
    m->last_contact_ns = kc_client_now(op->hub); /* the grace period starts now */
    m->status_dirty = 1;
    m->next = op->members;
    op->members = m;
    return m;
}

static void member_free(kco_member *m)
{
    if (m->probe_timer)
        kc_client_timer_cancel(m->op->hub, m->probe_timer);
    stop_client(m);
    cJSON_Delete(m->labels);
    free(m->name);
    free(m->secret_ns);
    free(m->secret_name);
    free(m->secret_key);
    free(m->secret_rv);
    free(m->api);
    free(m->message);
    free(m->version);
    free(m);
}

static int secret_changed(kco_member *m)
{
    const char *rv = m->client ? kc_informer_get_resource_version(m->op->secret_inf, m->secret_ns,
                                                                  m->secret_name)
                               : NULL;
    return m->client && rv && m->secret_rv && strcmp(rv, m->secret_rv) != 0;
}

static int sync_one(const cJSON *mc, void *ud)
{
    kco_operator *op = ud;
    const char *name = kco_jstr(mc, "metadata.name");
    if (!name)
        return 0;
    kco_member *m = kco_member_find(op, name);
    if (!m) {
        m = member_new(op, name);
        op->placement_changed = 1;
    }
    if (!m)
        return 0; /* out of memory: the next sync adds it */
    m->seen = 1;
    if ((update_spec(m, mc) || secret_changed(m) || !m->client)) {
        stop_client(m);
        if (m->secret_name && build_client(m) == 0 && !m->probe_timer)
            start_probe_timer(m, 0);
    }
    if (!m->probe_timer && !m->probe)
        start_probe_timer(m, 0);
    return 0;
}

static void on_sync_timer(kc_client *c, void *ud)
{
    (void)c;
    kco_operator *op = ud;
    op->sync_timer = 0;
    if (!kc_informer_has_synced(op->mc_inf) || !kc_informer_has_synced(op->secret_inf))
        return;
    for (kco_member *m = op->members; m; m = m->next)
        m->seen = 0;
    kc_informer_each(op->mc_inf, sync_one, op);
    for (kco_member **p = &op->members; *p;) {
        kco_member *m = *p;
        if (m->seen) {
            p = &m->next;
            continue;
        }
        kco_log(op->log, 2, "member cluster removed", "cluster", m->name, NULL);
        op->placement_changed = 1;
        *p = m->next;
        member_free(m);
    }
    /* our own status writes come back as MemberCluster events: only a change
     * that can move placement sends every FederatedPodGroup round again */
    if (op->placement_changed)
        kco_enqueue_all(op, 0);
    op->placement_changed = 0;
}

/* MemberCluster or Secret events: rebuild the member set soon (coalesced). */
void kco_members_schedule_sync(kco_operator *op)
{
    if (!op->sync_timer)
        op->sync_timer = kc_client_timer(op->hub, 50, on_sync_timer, op);
}

/* matchLabels and matchExpressions of a metav1.LabelSelector. */
static int expression_matches(const kco_member *m, const cJSON *e)
{
    const char *key = kco_jstr(e, "key"), *op = kco_jstr(e, "operator");
    const char *val = key ? kco_jstr(m->labels, key) : NULL;
    if (!key || !op)
        return 0;
    if (!strcmp(op, "Exists"))
        return val != NULL;
    if (!strcmp(op, "DoesNotExist"))
        return val == NULL;
    int in = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(e, "values"))
        if (val && cJSON_IsString(v) && !strcmp(v->valuestring, val))
            in = 1;
    return !strcmp(op, "In") ? in : !in;
}

int kco_member_matches(const kco_member *m, const cJSON *selector)
{
    if (!selector)
        return 0; /* absent selects nothing; {} selects all */
    const cJSON *kv;
    cJSON_ArrayForEach(kv, cJSON_GetObjectItem(selector, "matchLabels")) {
        const char *have = kco_jstr(m->labels, kv->string);
        if (!cJSON_IsString(kv) || !have || strcmp(have, kv->valuestring))
            return 0;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(selector, "matchExpressions"))
        if (!expression_matches(m, e))
            return 0;
    return 1;
}

void kco_members_free(kco_operator *op)
{
    while (op->members) {
        kco_member *m = op->members;
        op->members = m->next;
        member_free(m);
    }
}
