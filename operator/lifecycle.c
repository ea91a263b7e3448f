/* lifecycle.c - a member's join and leave (docs/member-lifecycle.md): the
 * MemberCluster finalizer, the clean-up of a leaving member's copies
 * (handed over, deleted or released per policy), and the clean-up of
 * copies of the flavour a member no longer uses.
 *
 * A sweep lists our copies straight from the member (not from the cache,
 * which may miss an apply whose answer was lost) and acts on each; the
 * member's requests are cancelled with its client, whose callbacks run
 * while the member is still alive. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operator.h"

typedef enum sweep_kind { SWEEP_LEAVE, SWEEP_OTHER_FLAVOUR } sweep_kind;

struct kco_sweep {
    kco_member *m;
    sweep_kind kind;
    int outstanding;
    int listed[2], absent[2]; /* per flavour (0 scheduler-plugins, 1 Volcano): 200, 404 */
    int failures, cancelled, acted;
    char *first_error;
};

int kco_copy_ours(const kco_member *m, const cJSON *copy)
{
    const char *mb = kco_meta_map(copy, "labels", KCO_LABEL_MANAGED_BY);
    if (!mb || strcmp(mb, "kclient-federation"))
        return 0;
    const char *cl = kco_meta_map(copy, "labels", KCO_CLUSTER_LABEL);
    if (!cl || !*cl || !strcmp(cl, m->name))
        return 1;
    return kco_member_find(m->op, cl) == NULL; /* left by a MemberCluster that is gone: adopted */
}

static void set_leave(kco_member *m, const char *reason, const char *msg)
{
    if (!strcmp(m->leave_reason, reason) && m->leave_message && !strcmp(m->leave_message, msg))
        return;
    /* routine steps are info; what needs the user (unreachable, failed, forced) a warning */
    int warn = !strcmp(reason, "MemberUnreachable") || !strcmp(reason, "CleanupFailed") || !strcmp(reason, "ForcedLeave");
    kco_log(m->op->log, warn ? 1 : 2, "member cluster leaving", "cluster",
            m->name, "reason", reason, "message", msg, NULL);
    snprintf(m->leave_reason, sizeof(m->leave_reason), "%s", reason);
    free(m->leave_message);
    m->leave_message = strdup(msg);
    m->status_dirty = 1;
}

/* --- the MemberCluster finalizer --- */

static int has_member_finalizer(const kco_member *m)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, m->finalizers)
        if (cJSON_IsString(f) && !strcmp(f->valuestring, KCO_MEMBER_FINALIZER))
            return 1;
    return 0;
}

typedef struct fin_call {
    kco_operator *op;
    char *name;
} fin_call;

/* Looked up by name: the member may be gone when the hub answers. */
static void on_finalizer(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    (void)resp;
    fin_call *fc = ud;
    kco_member *m = kco_member_find(fc->op, fc->name);
    if (m)
        m->finalizer_req = NULL;
    if (err->code != KC_OK && err->code != KC_ECANCELLED && !kc_error_is_not_found(err) &&
        !(err->code == KC_EHTTP && err->http_status == 409)) { /* 409: changed; its event brings us back */
        char line[512];
        kc_error_format(err, line, sizeof(line));
        int repeat = m && m->fin_logged && !strcmp(m->fin_logged, line);
        kco_log(fc->op->log, repeat ? 4 : 1, "cannot update the MemberCluster finalizer", "cluster", fc->name,
                "error", line, NULL);
        if (m && !repeat) {
            free(m->fin_logged);
            m->fin_logged = strdup(line);
        }
    }
    free(fc->name);
    free(fc);
}

static void set_member_finalizer(kco_member *m, int add)
{
    char *body = kco_finalizer_patch(m->finalizers, KCO_MEMBER_FINALIZER, add, m->mc_rv);
    fin_call *fc = calloc(1, sizeof(*fc));
    if (body && fc && (fc->name = strdup(m->name))) {
        fc->op = m->op;
        kc_request_spec spec = {.method = "PATCH",
                                .ref = {KCO_GROUP, KCO_VERSION, "memberclusters", NULL, m->name, NULL},
                                .content_type = "application/merge-patch+json",
                                .body = body,
                                .body_len = strlen(body)};
        if (kc_request_send(m->op->hub, &spec, on_finalizer, fc, &m->finalizer_req, NULL) == KC_OK)
            fc = NULL;
    }
    if (fc)
        free(fc->name);
    free(fc);
    free(body);
}

/* --- sweeps --- */

static const char *group_of(int volcano) { return volcano ? "scheduling.volcano.sh" : "scheduling.x-k8s.io"; }
static const char *version_of(int volcano) { return volcano ? "v1beta1" : "v1alpha1"; }

static void sweep_done(kco_sweep *s);

static void sweep_failed(kco_sweep *s, const kc_error *err)
{
    char line[1024];
    kc_error_format(err, line, sizeof(line));
    s->failures++;
    if (!s->first_error)
        s->first_error = strdup(line);
}

static void on_action(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    (void)resp;
    kco_sweep *s = ud;
    s->outstanding--;
    if (err->code == KC_ECANCELLED)
        s->cancelled = 1;
    else if (err->code != KC_OK && !kc_error_is_not_found(err))
        sweep_failed(s, err);
    if (s->outstanding == 0)
        sweep_done(s);
}

/* The hub object's policy when it still is the copy's (same uid), else
 * the copy's own annotation; NULL when nothing says. */
static const char *policy_of(const kco_operator *op, const cJSON *copy, int *hub_exists)
{
    const char *ns = kco_meta_map(copy, "labels", KCO_LABEL_FPG_NS);
    const char *name = kco_meta_map(copy, "labels", KCO_LABEL_FPG_NAME);
    const char *cuid = kco_meta_map(copy, "annotations", KCO_ANN_HUB_UID);
    cJSON *fpg = ns && name ? kc_informer_get(op->fpg_inf, ns, name) : NULL;
    const char *fuid = kco_jstr(fpg, "metadata.uid");
    *hub_exists = fpg && fuid && (!cuid || !strcmp(cuid, fuid));
    static const char *names[] = {"Delete", "Orphan"};
    const char *p = *hub_exists ? kco_jstr(fpg, "spec.deletionPolicy") : kco_meta_map(copy, "annotations", KCO_ANN_POLICY);
    const char *out = NULL;
    if (*hub_exists && !p)
        out = names[0]; /* the CRD's default */
    else if (p)
        out = !strcmp(p, "Delete") ? names[0] : !strcmp(p, "Orphan") ? names[1] : NULL;
    cJSON_Delete(fpg);
    return out;
}

static const kco_member *successor_of(const kco_member *m)
{
    if (!m->cluster_id || !*m->cluster_id)
        return NULL;
    for (const kco_member *o = m->op->members; o; o = o->next)
        if (o != m && !o->leaving && o->cluster_id && !strcmp(o->cluster_id, m->cluster_id))
            return o;
    return NULL;
}

static void send_action(kco_sweep *s, const cJSON *copy, int volcano, const char *method,
                        const char *ctype, const char *body)
{
    kc_request_spec spec = {.method = method,
                            .ref = {group_of(volcano), version_of(volcano), "podgroups",
                                    kco_jstr(copy, "metadata.namespace"), kco_jstr(copy, "metadata.name"), NULL},
                            .content_type = ctype,
                            .body = body,
                            .body_len = body ? strlen(body) : 0,
                            .max_attempts = 2,
                            .timeout_ms = 15000};
    kc_error err = KC_ERROR_INIT;
    s->outstanding++;
    if (kc_request_send(s->m->client, &spec, on_action, s, NULL, &err) != KC_OK) {
        s->outstanding--;
        sweep_failed(s, &err);
    }
    kc_error_clear(&err);
    s->acted++;
}

/* What becomes of one copy: handed over, deleted or released. */
static void act_on(kco_sweep *s, const cJSON *copy, int volcano)
{
    kco_member *m = s->m;
    const char *uid = kco_jstr(copy, "metadata.uid");
    if (!uid || !kco_copy_ours(m, copy))
        return;
    char body[512];
    int hub_exists = 0;
    const char *policy = policy_of(m->op, copy, &hub_exists);
    const kco_member *succ = s->kind == SWEEP_LEAVE ? successor_of(m) : NULL;
    if (succ) {
        snprintf(body, sizeof(body), "{\"metadata\":{\"labels\":{\"" KCO_CLUSTER_LABEL "\":\"%s\"}}}", succ->name);
        send_action(s, copy, volcano, "PATCH", "application/merge-patch+json", body);
    } else if ((s->kind == SWEEP_OTHER_FLAVOUR && hub_exists) || (policy && !strcmp(policy, "Delete"))) {
        /* superseded by the new flavour's copy, or its policy says Delete */
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\",\"preconditions\":{\"uid\":\"%s\"}}", uid);
        send_action(s, copy, volcano, "DELETE", "application/json", body);
    } else { /* Orphan, or nothing says: never deleted */
        send_action(s, copy, volcano, "PATCH", "application/merge-patch+json",
                    "{\"metadata\":{\"labels\":{\"" KCO_LABEL_MANAGED_BY "\":null,\"" KCO_LABEL_FPG_NS
                    "\":null,\"" KCO_LABEL_FPG_NAME "\":null,\"" KCO_CLUSTER_LABEL "\":null}}}");
    }
}

static void on_list(kco_sweep *s, const kc_response *resp, const kc_error *err, int volcano)
{
    s->outstanding--;
    if (err->code == KC_OK) {
        s->listed[volcano] = 1;
        cJSON *list = cJSON_ParseWithLength(resp->body, resp->body_len);
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItem(list, "items")) {
            act_on(s, item, volcano);
        }
        cJSON_Delete(list);
    } else if (err->code == KC_EHTTP && err->http_status == 404) {
        s->absent[volcano] = 1; /* the flavour is not served there */
    } else if (err->code == KC_ECANCELLED) {
        s->cancelled = 1;
    } else {
        sweep_failed(s, err);
    }
    if (s->outstanding == 0)
        sweep_done(s);
}

static void on_list_sp(kc_client *c, const kc_response *r, const kc_error *e, void *ud)
{
    (void)c;
    on_list(ud, r, e, 0);
}

static void on_list_volcano(kc_client *c, const kc_response *r, const kc_error *e, void *ud)
{
    (void)c;
    on_list(ud, r, e, 1);
}

static void send_list(kco_sweep *s, int volcano)
{
    char path[200];
    snprintf(path, sizeof(path), "/apis/%s/%s/podgroups", group_of(volcano), version_of(volcano));
    kc_param ps[] = {{"labelSelector", KCO_LABEL_MANAGED_BY "=kclient-federation"}};
    kc_request_spec spec = {.method = "GET", .path = path, .params = ps, .nparams = 1,
                            .max_attempts = 2, .timeout_ms = 30000};
    kc_error err = KC_ERROR_INIT;
    s->outstanding++;
    if (kc_request_send(s->m->client, &spec, volcano ? on_list_volcano : on_list_sp, s, NULL, &err) != KC_OK) {
        s->outstanding--;
        sweep_failed(s, &err);
    }
    kc_error_clear(&err);
}

/* The flavour the member is configured for must have been listed: a 404
 * from an apiserver still installing its CRDs proves nothing. */
static int listed_enough(const kco_sweep *s)
{
    const kco_member *m = s->m;
    if (s->kind == SWEEP_OTHER_FLAVOUR)
        return s->listed[!m->volcano] || s->absent[!m->volcano];
    if (m->flavour_known)
        return s->listed[m->volcano];
    if (!strcmp(m->api, "Auto"))
        return s->listed[0] || s->listed[1];
    return s->listed[!strcmp(m->api, "Volcano")];
}

static void sweep_done(kco_sweep *s)
{
    kco_member *m = s->m;
    m->sweep = NULL;
    int ok = !s->failures && !s->cancelled && listed_enough(s);
    if (s->kind == SWEEP_OTHER_FLAVOUR) {
        m->other_flavour_swept = ok;
        if (s->acted)
            kco_log(m->op->log, 2, "removed copies of the member's other PodGroup flavour", "cluster", m->name, NULL);
    } else if (ok) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%d copies handed over, deleted or released", s->acted);
        set_leave(m, "CopiesRemoved", msg);
        if (s->acted == 0) /* nothing (more) there: let it go */
            set_member_finalizer(m, 0);
        /* else: the next step lists again and finds none of ours */
    } else if (!s->cancelled) {
        char msg[1200];
        snprintf(msg, sizeof(msg), "clean-up of the member's copies failed (tried again at the next probe): %s",
                 s->first_error ? s->first_error : "the PodGroup resource is not served yet");
        set_leave(m, "CleanupFailed", msg);
    }
    free(s->first_error);
    free(s);
}

static void start_sweep(kco_member *m, sweep_kind kind)
{
    kco_sweep *s = calloc(1, sizeof(*s));
    if (!s)
        return;
    s->m = m;
    s->kind = kind;
    m->sweep = s;
    s->outstanding = 1; /* held while the lists go out: a synchronous failure must not finish it */
    if (kind == SWEEP_LEAVE) {
        send_list(s, 0);
        send_list(s, 1);
    } else {
        send_list(s, !m->volcano);
    }
    if (--s->outstanding == 0)
        sweep_done(s);
}

/* --- the steps --- */

static void leave_step(kco_member *m)
{
    char msg[900];
    if (m->force_leave) {
        set_leave(m, "ForcedLeave", "annotation " KCO_ANN_FORCE_LEAVE "=true: removed without cleaning "
                                    "the member; copies there keep our labels");
        kco_log(m->op->log, 1, "member cluster force-removed: its copies were not cleaned", "cluster", m->name, NULL);
        set_member_finalizer(m, 0);
    } else if (!m->ever_contacted && !(m->cluster_id && *m->cluster_id)) {
        set_leave(m, "NeverJoined", "never answered: it holds no copy of ours");
        set_member_finalizer(m, 0);
    } else if (!m->client || m->failures || !m->last_contact || strcmp(m->ready, "Unknown") == 0) {
        snprintf(msg, sizeof(msg),
                 "the member does not answer (%s: %s); copies of ours there are kept until it does. "
                 "To remove the MemberCluster without cleaning the member: kubectl annotate "
                 "membercluster %s " KCO_ANN_FORCE_LEAVE "=true",
                 m->reason, m->message ? m->message : "", m->name);
        set_leave(m, "MemberUnreachable", msg);
    } else if (kco_track_inflight(m->track)) {
        snprintf(msg, sizeof(msg), "waiting for %zu writes in flight", kco_track_inflight(m->track));
        set_leave(m, "RemovingCopies", msg);
    } else {
        set_leave(m, "RemovingCopies", successor_of(m) ? "handing copies over to the MemberCluster that "
                                                         "serves the same cluster"
                                                       : "removing or releasing our copies");
        start_sweep(m, SWEEP_LEAVE);
    }
}

void kco_lifecycle_step(kco_member *m)
{
    if (!m->op->leading || m->finalizer_req || m->sweep)
        return;
    if (!m->leaving) {
        if (!has_member_finalizer(m) && m->mc_rv)
            set_member_finalizer(m, 1);
        if (kco_member_serving(m) && !m->other_flavour_swept)
            start_sweep(m, SWEEP_OTHER_FLAVOUR);
        return;
    }
    if (has_member_finalizer(m))
        leave_step(m);
}

/* The client goes: its requests (and their callbacks) go with it. */
void kco_lifecycle_stop(kco_member *m)
{
    (void)m; /* kc_client_free runs the sweep's callbacks, which free it */
}

void kco_lifecycle_free(kco_member *m)
{
    if (m->finalizer_req)
        kc_request_cancel(m->finalizer_req); /* its callback finds no member by name */
    m->finalizer_req = NULL;
}
