/* members.c - MemberCluster objects -> members: their client on the shared
 * loop (from the kubeconfig Secret, in memory only), the PodGroup flavour
 * and informer, placement labels.  Probes and Ready: probe.c; leaving and
 * clean-up: lifecycle.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operator.h"

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

/* --- the member's client and informer --- */

/* kc_client_free cancels the member's requests and runs their callbacks
 * right away, while m is still alive. */
static void stop_client(kco_member *m)
{
    kco_lifecycle_stop(m);
    kc_informer_stop(m->pg_inf);
    m->pg_inf = NULL;
    kc_client_free(m->client);
    kc_config_free(m->cfg);
    m->client = NULL;
    m->cfg = NULL;
    m->flavour_known = 0;
    m->identity_known = 0; /* a new kubeconfig may name another cluster */
    m->other_flavour_swept = 0;
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
    char origin[300], msg[1200];
    if (strcmp(m->secret_ns, op->o.namespace_)) {
        snprintf(msg, sizeof(msg),
                 "spec.kubeconfigSecretRef.namespace is %s: the kubeconfig Secret must be in the "
                 "operator's namespace %s (the operator reads Secrets only there)",
                 m->secret_ns, op->o.namespace_);
        kco_member_set_ready(m, "False", "KubeconfigSecretNamespace", msg);
        return -1;
    }
    cJSON *secret = kc_informer_get(op->secret_inf, m->secret_ns, m->secret_name);
    const char *b64 = secret ? kco_jstr(cJSON_GetObjectItem(secret, "data"), m->secret_key) : NULL;
    snprintf(origin, sizeof(origin), "secret %s/%s key %s", m->secret_ns, m->secret_name,
             m->secret_key);
    if (!secret || !b64) {
        snprintf(msg, sizeof(msg), "%s: %s", origin, secret ? "no such key" : "not found");
        kco_member_set_ready(m, "False", "KubeconfigNotFound", msg);
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
    kco_member_set_ready(m, "False", "KubeconfigInvalid", msg);
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

/* Lifecycle facts from the MemberCluster's metadata and (our own) status. */
static void update_meta(kco_member *m, const cJSON *mc)
{
    const char *created = kco_jstr(mc, "metadata.creationTimestamp");
    snprintf(m->created, sizeof(m->created), "%s", created ? created : "");
    const char *rv = kco_jstr(mc, "metadata.resourceVersion");
    free(m->mc_rv);
    m->mc_rv = rv ? strdup(rv) : NULL;
    cJSON_Delete(m->finalizers);
    const cJSON *f = kco_jget(mc, "metadata.finalizers");
    m->finalizers = f ? cJSON_Duplicate(f, 1) : NULL;
    int leaving = kco_jstr(mc, "metadata.deletionTimestamp") != NULL;
    if (leaving && !m->leaving) {
        kco_log(m->op->log, 2, "member cluster leaving", "cluster", m->name, NULL);
        m->op->placement_changed = 1; /* placed nowhere now */
        m->status_dirty = 1;
    }
    m->leaving = leaving;
    const char *force = kco_meta_map(mc, "annotations", KCO_ANN_FORCE_LEAVE);
    m->force_leave = force && !strcmp(force, "true");
    const char *id = kco_jstr(mc, "status.clusterID");
    if (id && !m->cluster_id) /* known before a restart; the member confirms it when it answers */
        m->cluster_id = strdup(id);
    if (kco_jstr(mc, "status.lastSuccessfulContactTime"))
        m->ever_contacted = 1;
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
    update_meta(m, mc);
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
    m->track = kco_track_new();
    if (!m->name || !m->message || !m->track) {
        kco_track_free(m->track);
        free(m->name);
        free(m->message);
        free(m);
        return NULL;
    }
    m->next = op->members;
    op->members = m;
    return m;
}

static void member_free(kco_member *m)
{
    kco_probe_stop(m);
    stop_client(m);
    kco_lifecycle_free(m);
    kco_track_free(m->track);
    cJSON_Delete(m->finalizers);
    free(m->mc_rv);
    free(m->cluster_id);
    free(m->duplicate_of);
    free(m->leave_message);
    free(m->fail_logged);
    free(m->fin_logged);
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
        if (m->secret_name)
            build_client(m);
    }
    if (!m->probe)
        kco_probe_start(m, 0);
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
    kco_lifecycle_duplicates(op);
    for (kco_member *m = op->members; m; m = m->next)
        kco_lifecycle_step(m);
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

void kco_members_free(kco_operator *op)
{
    while (op->members) {
        kco_member *m = op->members;
        op->members = m->next;
        member_free(m);
    }
}
