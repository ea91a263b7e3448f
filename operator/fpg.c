/* fpg.c - reconcile one FederatedPodGroup: finalizer, placement, the
 * writes to members (server-side apply, our field manager, force; DELETE of
 * copies no longer placed), deletion, strays; then the hub status
 * (aggregate.c, written in batches by status.c).
 *
 * Members are isolated (docs/member-lifecycle.md, "Isolation"): a reconcile
 * sends its member writes and finishes without waiting for them; each write
 * is tracked per member and object (track.c) so no second one queues behind
 * it, and its answer requeues the object.  A reconcile waits only on the hub
 * (finalizer patches, the GET that confirms a stray's hub object is gone). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operator.h"

typedef struct recon {
    kco_operator *op;
    char *key, *ns, *name;
    cJSON *fpg; /* the hub object (owned) */
    int outstanding;
    int failures;
    char *first_error;
} recon;

#define meta_map kco_meta_map

/* --- enqueueing --- */

static int enqueue_one(const cJSON *obj, void *ud)
{
    kco_operator *op = ((void **)ud)[0];
    long spread = *(long *)((void **)ud)[1];
    char *key = kc_object_key(obj);
    if (key && op->ctl) {
        uint64_t seed = (uint64_t)(uintptr_t)key ^ kc_client_now(op->hub);
        long delay = spread > 0 ? (long)(kc_rand64(&seed) % (uint64_t)spread) : 0;
        kc_controller_enqueue_after(op->ctl, key, delay);
    }
    free(key);
    return 0;
}

static int enqueue_copy_owner(const cJSON *obj, void *ud);

/* Every hub object, and the owner of every member copy: a copy whose hub
 * object is gone is found and removed by its own reconcile. */
void kco_enqueue_all(kco_operator *op, long spread_ms)
{
    if (!op->fpg_inf)
        return;
    void *args[2] = {op, &spread_ms};
    kc_informer_each(op->fpg_inf, enqueue_one, args);
    for (kco_member *m = op->members; m; m = m->next)
        if (m->pg_inf)
            kc_informer_each(m->pg_inf, enqueue_copy_owner, op);
}

/* Member PodGroup events lead back to their hub object by its labels. */
static void enqueue_owner(kco_operator *op, const cJSON *obj)
{
    const char *ns = meta_map(obj, "labels", KCO_LABEL_FPG_NS);
    const char *name = meta_map(obj, "labels", KCO_LABEL_FPG_NAME);
    if (!ns || !name || !op->ctl)
        return;
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    kc_controller_enqueue(op->ctl, key);
}

static int enqueue_copy_owner(const cJSON *obj, void *ud)
{
    enqueue_owner(ud, obj);
    return 0;
}

static void member_event(kco_member *m, const cJSON *obj)
{
    enqueue_owner(m->op, obj);
}

static void pg_add(kc_informer *i, const cJSON *o, void *ud)
{
    (void)i;
    member_event(ud, o);
}
static void pg_update(kc_informer *i, const cJSON *a, const cJSON *b, void *ud)
{
    (void)i;
    (void)a;
    member_event(ud, b);
}
static void pg_delete(kc_informer *i, const cJSON *o, void *ud)
{
    (void)i;
    member_event(ud, o);
}

static void pg_synced(kc_informer *i, void *ud)
{
    (void)i;
    kco_member *m = ud;
    kco_enqueue_all(m->op, 0); /* a member (re)served: everything it may hold */
    kco_lifecycle_step(m);
}

void kco_member_pg_handlers(kc_informer_handlers *h)
{
    h->on_add = pg_add;
    h->on_update = pg_update;
    h->on_delete = pg_delete;
    h->on_synced = pg_synced;
}

/* --- completion of a reconcile --- */

static void recon_free(recon *r)
{
    free(r->key);
    free(r->ns);
    free(r->name);
    free(r->first_error);
    cJSON_Delete(r->fpg);
    free(r);
}

/* Reconcile r's key again 5 s after since_ns (none once the controller is
 * gone at shutdown). */
static void look_again(const recon *r, uint64_t now, uint64_t since_ns)
{
    if (r->op->ctl)
        kc_controller_enqueue_after(r->op->ctl, r->key, 5000 - (long)((now - since_ns) / 1000000ull));
}

static void maybe_finish(recon *r)
{
    if (r->outstanding > 0)
        return;
    kc_reconcile_result res = r->failures ? KC_RECONCILE_ERROR : KC_RECONCILE_OK;
    if (r->failures)
        kco_log(r->op->log, 1, "reconcile failed", "key", r->key, "error",
                r->first_error ? r->first_error : "?", NULL);
    if (r->op->ctl) /* gone at shutdown: the hub client's free cancels what is left */
        kc_controller_finish(r->op->ctl, r->key, res, 0);
    recon_free(r);
}

static void note_failure(recon *r, const char *where, const kc_error *err)
{
    char line[1024];
    kc_error_format(err, line, sizeof(line));
    r->failures++;
    if (!r->first_error && asprintf(&r->first_error, "%s: %s", where, line) < 0)
        r->first_error = NULL;
}

/* --- writes to members, tracked --- */

typedef enum write_kind { W_APPLY, W_DELETE, W_RELEASE, W_STRAY_DELETE, W_STRAY_RELEASE } write_kind;

typedef struct member_call {
    kco_operator *op;
    char *cluster, *key, *ns, *name, *uid; /* uid: of the hub object the write is for */
    write_kind kind;
    long gen;
    uint64_t hash;
} member_call;

static void call_free(member_call *mc)
{
    free(mc->cluster);
    free(mc->key);
    free(mc->ns);
    free(mc->name);
    free(mc->uid);
    free(mc);
}

static const char *problem_reason(write_kind k, const kc_error *err)
{
    if (err->code == KC_EHTTP && err->http_status == 409 && k == W_APPLY)
        return "Conflict";
    return k == W_APPLY ? "ApplyFailed" : "RemoveFailed";
}

/* A problem is logged once per distinct text, not at every retry. */
static void log_problem(kco_operator *op, kco_write_state *st, const char *cluster, const char *key,
                        const char *what, const char *line)
{
    if (st->logged && !strcmp(st->logged, line)) {
        kco_log(op->log, 4, what, "key", key, "cluster", cluster, "error", line, NULL);
        return;
    }
    kco_log(op->log, 1, what, "key", key, "cluster", cluster, "error", line, NULL);
    free(st->logged);
    st->logged = strdup(line);
}

static int namespace_missing(const member_call *mc, const kc_error *err)
{
    return mc->kind == W_APPLY && err->code == KC_EHTTP && err->http_status == 404 && err->name &&
           !strcmp(err->name, mc->ns) && err->message && !strncmp(err->message, "namespaces ", 11);
}

static void ensure_namespace(kco_member *m, member_call *mc);

static void write_failed(kco_member *m, kco_write_state *st, member_call *mc, const kc_error *err)
{
    kco_operator *op = mc->op;
    char line[1024];
    kc_error_format(err, line, sizeof(line));
    st->failures++;
    kco_state_set_problem(st, problem_reason(mc->kind, err), line);
    log_problem(op, st, m->name, mc->key, mc->kind == W_APPLY ? "apply to member failed" : "removal on member failed", line);
    long delay = KCO_MEMBER_RETRY_BASE_MS;
    for (unsigned i = 1; i < st->failures && delay < KCO_MEMBER_RETRY_MAX_MS; i++)
        delay *= 2;
    if (delay > KCO_MEMBER_RETRY_MAX_MS)
        delay = KCO_MEMBER_RETRY_MAX_MS;
    st->retry_at_ns = kc_client_now(op->hub) + (uint64_t)delay * 1000000ull;
    if (op->ctl) {
        kc_controller_enqueue(op->ctl, mc->key); /* the status shows the problem now */
        kc_controller_enqueue_after(op->ctl, mc->key, delay + 10);
    }
}

static void write_succeeded(kco_operator *op, kco_write_state *st, member_call *mc, const kc_response *resp)
{
    int had_problem = st->reason != NULL;
    st->failures = 0;
    st->retry_at_ns = 0;
    kco_state_set_problem(st, NULL, NULL);
    free(st->logged);
    st->logged = NULL;
    if (mc->kind == W_APPLY) {
        st->acked_gen = mc->gen;
        free(st->acked_uid);
        st->acked_uid = mc->uid ? strdup(mc->uid) : NULL;
        st->acked_hash = mc->hash;
        st->acked_at_ns = kc_client_now(op->hub);
    } else if (mc->kind == W_DELETE || mc->kind == W_RELEASE) {
        /* a stray's removal says nothing of the live object's copy */
        free(st->removed_uid);
        st->removed_uid = mc->uid ? strdup(mc->uid) : NULL;
        st->removed_at_ns = kc_client_now(op->hub);
    }
    (void)resp;
    /* an apply's watch event brings the object back by itself; removals and
     * cleared problems change what the status and the finalizer say */
    if (op->ctl && (had_problem || mc->kind != W_APPLY))
        kc_controller_enqueue(op->ctl, mc->key);
}

static void on_member_write(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    member_call *mc = ud;
    kco_member *m = kco_member_find(mc->op, mc->cluster);
    kco_write_state *st = m ? kco_track_get(m->track, mc->key, 1) : NULL;
    if (st)
        kco_track_set_inflight(m->track, st, 0);
    if (!st || err->code == KC_ECANCELLED) {
        if (mc->op->ctl && !mc->op->shutting_down)
            kc_controller_enqueue(mc->op->ctl, mc->key);
    } else if (err->code == KC_OK || (mc->kind != W_APPLY && kc_error_is_not_found(err))) {
        write_succeeded(mc->op, st, mc, resp);
    } else if ((mc->kind == W_STRAY_DELETE || mc->kind == W_STRAY_RELEASE) && err->code == KC_EHTTP &&
               err->http_status == 409) {
        /* changed since we looked: its event brings us back */
    } else if (namespace_missing(mc, err)) {
        ensure_namespace(m, mc); /* expected on a first placement: no warning */
        return;                  /* mc goes with the namespace answer */
    } else {
        write_failed(m, st, mc, err);
    }
    if (m)
        kco_lifecycle_step(m); /* a leaving member waits for its writes in flight */
    call_free(mc);
}

static kc_request_spec member_spec(const kco_member *m, const char *ns, const char *name, const char *method)
{
    kc_request_spec spec = {
        .method = method,
        .ref = {m->volcano ? "scheduling.volcano.sh" : "scheduling.x-k8s.io",
                m->volcano ? "v1beta1" : "v1alpha1", "podgroups", ns, name, NULL},
        .max_attempts = 2,
        /* bounded: a hanging member holds our record of the write, nothing else */
        .timeout_ms = (m->timeout_s * 2 > 10 ? m->timeout_s * 2 : 10) * 1000};
    return spec;
}

static void send_tracked(kco_operator *op, kco_member *m, const char *key, const cJSON *fpg,
                         kc_request_spec *spec, write_kind kind, uint64_t hash)
{
    kco_write_state *st = kco_track_get(m->track, key, 1);
    member_call *mc = calloc(1, sizeof(*mc));
    if (!st || !mc) {
        free(mc);
        return; /* out of memory: the next reconcile tries again */
    }
    mc->op = op;
    mc->cluster = strdup(m->name);
    mc->key = strdup(key);
    mc->ns = strdup(spec->ref.namespace_);
    mc->name = strdup(spec->ref.name);
    const char *uid = kco_jstr(fpg, "metadata.uid");
    mc->uid = uid ? strdup(uid) : NULL;
    mc->kind = kind;
    mc->gen = (long)kco_jnum(fpg, "metadata.generation", 0);
    mc->hash = hash;
    kc_error err = KC_ERROR_INIT;
    if (kind == W_APPLY) { /* whatever was removed before, this may create a copy again */
        free(st->removed_uid);
        st->removed_uid = NULL;
    }
    kco_track_set_inflight(m->track, st, 1);
    if (kc_request_send(m->client, spec, on_member_write, mc, NULL, &err) != KC_OK) {
        kco_track_set_inflight(m->track, st, 0);
        char line[512];
        kc_error_format(&err, line, sizeof(line));
        kco_state_set_problem(st, problem_reason(kind, &err), line);
        call_free(mc);
    }
    kc_error_clear(&err);
    if (kind == W_APPLY)
        op->reconcile_applies++;
    else
        op->reconcile_deletes++;
}

static void send_apply(kco_operator *op, kco_member *m, const char *key, const cJSON *fpg, const char *body)
{
    kc_param ps[] = {{"fieldManager", op->o.field_manager}, {"force", "true"}};
    kc_request_spec spec = member_spec(m, kco_jstr(fpg, "metadata.namespace"), kco_jstr(fpg, "metadata.name"), "PATCH");
    spec.params = ps;
    spec.nparams = 2;
    spec.content_type = "application/apply-patch+yaml";
    spec.body = body;
    spec.body_len = strlen(body);
    spec.idempotent = 1;
    send_tracked(op, m, key, fpg, &spec, W_APPLY, kco_hash_str(body));
}

/* DELETE, with uid (and resourceVersion) preconditions when given. */
static void send_delete(kco_operator *op, kco_member *m, const char *key, const cJSON *fpg,
                        const char *uid, const char *rv, write_kind kind)
{
    char body[512];
    kc_request_spec spec = member_spec(m, kco_jstr(fpg, "metadata.namespace"), kco_jstr(fpg, "metadata.name"), "DELETE");
    if (uid) {
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\",\"preconditions\":{\"uid\":\"%s\"%s%s%s}}",
                 uid, rv ? ",\"resourceVersion\":\"" : "", rv ? rv : "", rv ? "\"" : "");
        spec.content_type = "application/json";
        spec.body = body;
        spec.body_len = strlen(body);
    }
    send_tracked(op, m, key, fpg, &spec, kind, 0);
}

/* Orphan: the copy stays but is no longer ours - drop the labels that tie
 * it to the hub object, so nothing of ours touches it again.  With rv, only
 * the version we saw. */
static void send_release(kco_operator *op, kco_member *m, const char *key, const cJSON *fpg,
                         const char *rv, write_kind kind)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"metadata\":{%s%s%s\"labels\":{\"" KCO_LABEL_MANAGED_BY "\":null,\"" KCO_LABEL_FPG_NS
             "\":null,\"" KCO_LABEL_FPG_NAME "\":null,\"" KCO_CLUSTER_LABEL "\":null}}}",
             rv ? "\"resourceVersion\":\"" : "", rv ? rv : "", rv ? "\"," : "");
    kc_request_spec spec = member_spec(m, kco_jstr(fpg, "metadata.namespace"), kco_jstr(fpg, "metadata.name"), "PATCH");
    spec.content_type = "application/merge-patch+json";
    spec.body = body;
    spec.body_len = strlen(body);
    send_tracked(op, m, key, fpg, &spec, kind, 0);
}

/* The member namespace must exist: apply it (idempotent, our manager), then
 * run the object again at once. */

static void on_namespace(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    (void)resp;
    member_call *mc = ud;
    kco_member *m = kco_member_find(mc->op, mc->cluster);
    kco_write_state *st = m ? kco_track_get(m->track, mc->key, 1) : NULL;
    if (st && err->code != KC_OK && err->code != KC_ECANCELLED)
        write_failed(m, st, mc, err);
    else if (mc->op->ctl && err->code == KC_OK)
        kc_controller_enqueue(mc->op->ctl, mc->key);
    kco_log(mc->op->log, 3, "created the member namespace", "cluster", mc->cluster, "namespace", mc->ns, NULL);
    call_free(mc);
}

static void ensure_namespace(kco_member *m, member_call *mc)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\","
             "\"labels\":{\"" KCO_LABEL_MANAGED_BY "\":\"kclient-federation\"}}}",
             mc->ns);
    kc_param ps[] = {{"fieldManager", mc->op->o.field_manager}};
    kc_request_spec spec = {.method = "PATCH",
                            .ref = {NULL, "v1", "namespaces", NULL, mc->ns, NULL},
                            .params = ps,
                            .nparams = 1,
                            .content_type = "application/apply-patch+yaml",
                            .body = body,
                            .body_len = strlen(body),
                            .idempotent = 1};
    kco_write_state *st = kco_track_get(m->track, mc->key, 1);
    kc_error err = KC_ERROR_INIT;
    if (kc_request_send(m->client, &spec, on_namespace, mc, NULL, &err) != KC_OK) {
        if (st)
            write_failed(m, st, mc, &err);
        call_free(mc);
    }
    kc_error_clear(&err);
}

/* --- the live object on one member --- */

static cJSON *cached_copy(const kco_member *m, const recon *r)
{
    return m->pg_inf ? kc_informer_get(m->pg_inf, r->ns, r->name) : NULL;
}

/* A copy of ours left by another incarnation of the hub object (or by an
 * object that is gone): its own policy decides. */
static void remove_by_policy(recon *r, kco_member *m, const cJSON *copy, write_kind del, write_kind rel)
{
    const char *policy = meta_map(copy, "annotations", KCO_ANN_POLICY);
    const char *uid = kco_jstr(copy, "metadata.uid");
    const char *rv = kco_jstr(copy, "metadata.resourceVersion");
    if (!uid || !rv)
        return;
    kco_log(r->op->log, 2, policy && !strcmp(policy, "Delete") ? "deleting a copy whose hub object is gone"
                                                               : "releasing a copy whose hub object is gone",
            "key", r->key, "cluster", m->name, NULL);
    if (policy && !strcmp(policy, "Delete"))
        send_delete(r->op, m, r->key, r->fpg, uid, rv, del);
    else /* Orphan, or a copy that does not say: never deleted */
        send_release(r->op, m, r->key, r->fpg, rv, rel);
}

static int copy_of_other_incarnation(const recon *r, const cJSON *copy)
{
    const char *cu = meta_map(copy, "annotations", KCO_ANN_HUB_UID);
    const char *fu = kco_jstr(r->fpg, "metadata.uid");
    return cu && fu && *cu && strcmp(cu, fu);
}

static void apply_member(recon *r, kco_member *m, kco_write_state *st, const cJSON *have)
{
    char *why = NULL;
    cJSON *want = kco_desired_member(r->fpg, m, &why);
    if (!want) {
        st = kco_track_get(m->track, r->key, 1);
        if (st) {
            kco_state_set_problem(st, "OverrideFailed", why);
            log_problem(r->op, st, m->name, r->key, "override cannot apply", why ? why : "?");
        }
        free(why);
        return;
    }
    if (have && kco_subset(want, have)) {
        if (st && st->reason && !st->inflight)
            kco_state_set_problem(st, NULL, NULL); /* e.g. fixed by hand, or the override was dropped */
        cJSON_Delete(want);
        return;
    }
    char *body = cJSON_PrintUnformatted(want);
    cJSON_Delete(want);
    if (!body)
        return;
    uint64_t h = kco_hash_str(body), now = kc_client_now(r->op->hub);
    const char *uid = kco_jstr(r->fpg, "metadata.uid");
    /* just acknowledged and the cache has not caught up: its event brings us
     * back; look again shortly in case that event was a drift */
    if (st && st->acked_hash == h && st->acked_uid && uid && !strcmp(st->acked_uid, uid) &&
        now - st->acked_at_ns < 5000000000ull) {
        look_again(r, now, st->acked_at_ns);
        free(body);
        return;
    }
    send_apply(r->op, m, r->key, r->fpg, body);
    free(body);
}

/* The member said the copy is gone a moment ago and the cache has not seen
 * the deletion yet: its event brings us back, no second DELETE. */
static int just_removed(const recon *r, const kco_write_state *st)
{
    const char *uid = kco_jstr(r->fpg, "metadata.uid");
    if (!st || !st->removed_uid || !uid || strcmp(st->removed_uid, uid))
        return 0;
    uint64_t now = kc_client_now(r->op->hub);
    if (now - st->removed_at_ns >= 5000000000ull)
        return 0;
    look_again(r, now, st->removed_at_ns);
    return 1;
}

static void sync_member(recon *r, kco_member *m)
{
    if (!kco_member_serving(m))
        return;
    kco_write_state *st = kco_track_get(m->track, r->key, 0);
    if (st && (st->inflight || st->retry_at_ns > kc_client_now(r->op->hub)))
        return; /* its answer, or the retry timer, brings us back */
    cJSON *have = cached_copy(m, r);
    int placed = kco_placed_on(r->fpg, m);
    if (have && !kco_copy_ours(m, have)) {
        if (placed && (st = kco_track_get(m->track, r->key, 1)))
            kco_state_set_problem(st, "Conflict", "a copy there belongs to another MemberCluster");
    } else if (have && copy_of_other_incarnation(r, have) && !placed) {
        remove_by_policy(r, m, have, W_STRAY_DELETE, W_STRAY_RELEASE);
    } else if (placed) {
        apply_member(r, m, st, have);
    } else if (have && !just_removed(r, st)) { /* no longer placed: removed whatever the policy */
        send_delete(r->op, m, r->key, r->fpg, kco_jstr(have, "metadata.uid"), NULL, W_DELETE);
    }
    cJSON_Delete(have);
}

/* --- finalizer --- */

static int has_finalizer(const cJSON *fpg)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, kco_jget(fpg, "metadata.finalizers"))
        if (cJSON_IsString(f) && !strcmp(f->valuestring, KCO_FINALIZER))
            return 1;
    return 0;
}

static void forget_everywhere(kco_operator *op, const char *key)
{
    for (kco_member *m = op->members; m; m = m->next)
        kco_track_drop(m->track, key);
}

typedef struct fin_call {
    recon *r;
    int add;
} fin_call;

static void on_finalizer(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    (void)resp;
    fin_call *fc = ud;
    recon *r = fc->r;
    r->outstanding--;
    if (err->code != KC_OK && !kc_error_is_not_found(err))
        note_failure(r, "hub", err);
    else if (!fc->add)
        forget_everywhere(r->op, r->key);
    free(fc);
    maybe_finish(r);
}

/* Merge patch of the whole finalizer list, guarded by resourceVersion so a
 * concurrent change by someone else is not lost. */
static void set_finalizers(recon *r, int add)
{
    char *body = kco_finalizer_patch(kco_jget(r->fpg, "metadata.finalizers"), KCO_FINALIZER, add,
                                     kco_jstr(r->fpg, "metadata.resourceVersion"));
    if (!body) {
        r->failures++; /* out of memory: retried with backoff */
        return;
    }
    kc_request_spec spec = {.method = "PATCH",
                            .ref = {KCO_GROUP, KCO_VERSION, "federatedpodgroups", r->ns, r->name, NULL},
                            .content_type = "application/merge-patch+json",
                            .body = body,
                            .body_len = strlen(body)};
    fin_call *fc = calloc(1, sizeof(*fc));
    kc_error err = KC_ERROR_INIT;
    if (fc) {
        fc->r = r;
        fc->add = add;
        r->outstanding++;
        if (kc_request_send(r->op->hub, &spec, on_finalizer, fc, NULL, &err) != KC_OK) {
            r->outstanding--;
            free(fc);
            note_failure(r, "hub", &err);
        }
    }
    kc_error_clear(&err);
    free(body);
}

/* --- deletion --- */

/* m may hold a copy of the object being deleted. */
static int may_hold(const recon *r, const kco_member *m)
{
    if (kco_placed_on(r->fpg, m) || kco_old_entry(r->fpg, m->name))
        return 1;
    cJSON *copy = cached_copy(m, r);
    int ours = copy && kco_copy_ours(m, copy);
    cJSON_Delete(copy);
    return ours;
}

/* Delete (or, with deletionPolicy Orphan, release) the copy on every member
 * that may hold one, whether or not its cache has seen one: an apply whose
 * answer (and watch event) was lost on a dropped link still created a copy.
 * A 404 naming the object is fine; one that does not (a restarting member
 * not yet serving PodGroups) proves nothing and is retried.  The finalizer
 * goes when every such member confirmed; unrelated members (never placed,
 * no entry, no copy), leaving members (their own clean-up) and duplicates
 * are not waited on. */
static void reconcile_delete(recon *r)
{
    const char *policy = kco_jstr(r->fpg, "spec.deletionPolicy");
    int orphan = policy && !strcmp(policy, "Orphan"), pending = 0;
    const char *uid = kco_jstr(r->fpg, "metadata.uid");
    char waiting[900] = "";
    uint64_t now = kc_client_now(r->op->hub);
    for (kco_member *m = r->op->members; m; m = m->next) {
        if (m->leaving || m->duplicate_of || !may_hold(r, m))
            continue;
        kco_write_state *st = kco_track_get(m->track, r->key, 0);
        if (st && st->removed_uid && uid && !strcmp(st->removed_uid, uid))
            continue; /* confirmed */
        if (!kco_member_serving(m)) {
            size_t used = strlen(waiting);
            snprintf(waiting + used, sizeof(waiting) - used, "%s%s (%s)", used ? ", " : "", m->name, m->reason);
            continue;
        }
        pending = 1;
        if (st && (st->inflight || st->retry_at_ns > now))
            continue;
        if (orphan)
            send_release(r->op, m, r->key, r->fpg, NULL, W_RELEASE);
        else
            send_delete(r->op, m, r->key, r->fpg, NULL, NULL, W_DELETE);
    }
    if (*waiting) {
        char msg[1000];
        snprintf(msg, sizeof(msg), "waiting for MemberClusters that may hold a copy: %s", waiting);
        kco_status_deleting(r->op, r->fpg, msg);
    } else if (!pending && has_finalizer(r->fpg)) {
        set_finalizers(r, 0);
    }
    maybe_finish(r);
}

/* --- strays --- */

/* A copy of ours whose hub object is gone can still appear after the
 * finalizer was released (a deposed leader's late apply; a request this
 * client gave up on that the server still ran), or be found when a member
 * rejoins.  The hub itself (not our cache, which may lag) must confirm the
 * object is gone; then the copy's own deletion-policy annotation decides:
 * Delete deletes exactly the copy we saw (uid and resourceVersion
 * preconditions), anything else releases it.  An Orphan copy is never
 * deleted. */
static cJSON *stray_copy(const recon *r, const kco_member *m)
{
    if (!kco_member_serving(m))
        return NULL;
    cJSON *copy = cached_copy(m, r);
    const char *ns = meta_map(copy, "labels", KCO_LABEL_FPG_NS);
    const char *name = meta_map(copy, "labels", KCO_LABEL_FPG_NAME);
    if (copy && ns && name && !strcmp(ns, r->ns) && !strcmp(name, r->name) && kco_copy_ours(m, copy))
        return copy;
    cJSON_Delete(copy);
    return NULL;
}

static void on_hub_checked(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    (void)resp;
    recon *r = ud;
    r->outstanding--;
    if (kc_error_is_not_found(err)) {
        for (kco_member *m = r->op->members; m; m = m->next) {
            cJSON *copy = stray_copy(r, m);
            kco_write_state *st = copy ? kco_track_get(m->track, r->key, 0) : NULL;
            if (copy && !(st && st->inflight))
                remove_by_policy(r, m, copy, W_STRAY_DELETE, W_STRAY_RELEASE);
            cJSON_Delete(copy);
        }
    } else if (err->code != KC_OK) {
        note_failure(r, "hub", err);
    } /* else it exists: the hub informer's event reconciles it */
    maybe_finish(r);
}

static void reconcile_gone(recon *r)
{
    int strays = 0;
    for (kco_member *m = r->op->members; m; m = m->next) {
        cJSON *copy = stray_copy(r, m);
        strays += copy != NULL;
        cJSON_Delete(copy);
    }
    if (!strays) {
        forget_everywhere(r->op, r->key);
    } else {
        kc_request_spec spec = {
            .method = "GET",
            .ref = {KCO_GROUP, KCO_VERSION, "federatedpodgroups", r->ns, r->name, NULL}};
        kc_error err = KC_ERROR_INIT;
        r->outstanding++;
        if (kc_request_send(r->op->hub, &spec, on_hub_checked, r, NULL, &err) != KC_OK) {
            r->outstanding--;
            note_failure(r, "hub", &err);
        }
        kc_error_clear(&err);
    }
    maybe_finish(r);
}

/* The hub object is gone: a stand-in with its namespace and name (and no
 * uid) lets the write helpers address the copies. */
static cJSON *stand_in(const recon *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(md, "namespace", r->ns);
    cJSON_AddStringToObject(md, "name", r->name);
    return o;
}

/* --- the reconcile --- */

kc_reconcile_result kco_reconcile(kc_controller *ctl, const char *key, long *after, void *ud)
{
    (void)after;
    kco_operator *op = ud;
    if (!op->leading || op->shutting_down)
        return KC_RECONCILE_OK;
    const char *slash = strchr(key, '/');
    if (!slash)
        return KC_RECONCILE_OK;
    recon *r = calloc(1, sizeof(*r));
    if (!r)
        return KC_RECONCILE_ERROR; /* out of memory: retried with backoff */
    r->op = op;
    (void)ctl; /* op->ctl: NULL once freed, which a late callback must see */
    r->key = strdup(key);
    r->ns = strndup(key, (size_t)(slash - key));
    r->name = strdup(slash + 1);
    if (!r->key || !r->ns || !r->name) {
        recon_free(r);
        return KC_RECONCILE_ERROR; /* out of memory: retried with backoff */
    }
    r->fpg = kc_informer_get(op->fpg_inf, r->ns, r->name);
    if (!r->fpg) { /* gone from the hub: the finalizer did the clean-up, but see */
        r->fpg = stand_in(r);
        reconcile_gone(r);
        return KC_RECONCILE_PENDING;
    }
    if (kco_jstr(r->fpg, "metadata.deletionTimestamp")) {
        reconcile_delete(r);
        return KC_RECONCILE_PENDING;
    }
    if (!has_finalizer(r->fpg)) {
        set_finalizers(r, 1); /* its update event brings us back */
        maybe_finish(r);
        return KC_RECONCILE_PENDING;
    }
    for (kco_member *m = op->members; m; m = m->next)
        sync_member(r, m);
    kco_aggregate(op, r->fpg, r->key);
    maybe_finish(r);
    return KC_RECONCILE_PENDING;
}
