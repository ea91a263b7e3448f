/* fpg.c - reconcile one FederatedPodGroup: finalizer, placement, apply the
 * member PodGroups (server-side apply, our field manager, force), remove
 * the ones no longer placed, and aggregate member status into the hub
 * status (written in batches by status.c).
 *
 * A reconcile sends its member writes at once and finishes when the last
 * answer is in (KC_RECONCILE_PENDING), so many keys progress together on the
 * one loop.  Offline members are never written to and nothing is deleted
 * because a member is offline: their entries keep their last-known values
 * with stale: true until the member returns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operator.h"

typedef struct recon {
    kco_operator *op;
    kc_controller *ctl;
    char *key, *ns, *name;
    cJSON *fpg;        /* the hub object (owned) */
    cJSON *applied;    /* clusterName -> member object returned by apply (owned) */
    int outstanding;
    int failures;
    char *first_error;
    int deleting;
    int release_finalizer; /* after the member DELETEs succeed */
} recon;

/* metadata.<map>.<key> where key may contain dots (label and annotation keys). */
static const char *meta_map(const cJSON *obj, const char *map, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), map);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

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

void kco_member_pg_handlers(kc_informer_handlers *h)
{
    h->on_add = pg_add;
    h->on_update = pg_update;
    h->on_delete = pg_delete;
    h->on_synced = NULL;
}

/* --- placement --- */

static int placed_on(const cJSON *fpg, const kco_member *m)
{
    const cJSON *placement = kco_jget(fpg, "spec.placement");
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItem(placement, "clusterNames"))
        if (cJSON_IsString(n) && !strcmp(n->valuestring, m->name))
            return 1;
    return kco_member_matches(m, cJSON_GetObjectItem(placement, "clusterSelector"));
}

/* --- the member PodGroup we want --- */

static void copy_field(cJSON *dst, const cJSON *src, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
    if (v)
        cJSON_AddItemToObject(dst, key, cJSON_Duplicate(v, 1));
}

static cJSON *desired_spec(const cJSON *tspec, int volcano)
{
    cJSON *spec = cJSON_CreateObject();
    copy_field(spec, tspec, "minMember");
    copy_field(spec, tspec, "minResources");
    if (volcano) {
        copy_field(spec, tspec, "minTaskMember");
        copy_field(spec, tspec, "queue");
        copy_field(spec, tspec, "priorityClassName");
    } else {
        copy_field(spec, tspec, "scheduleTimeoutSeconds");
    }
    return spec;
}

static cJSON *string_map(const cJSON *src)
{
    return src ? cJSON_Duplicate(src, 1) : cJSON_CreateObject();
}

/* RFC 6902-like ops from spec.overrides for this cluster, on the object. */
static cJSON *parent_of(cJSON *root, const char *path, char *last, size_t lastlen, int create)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf + strlen(buf) - 1)
        return NULL;
    snprintf(last, lastlen, "%s", slash + 1);
    *slash = '\0';
    cJSON *cur = root;
    for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok && cur;
         tok = strtok_r(NULL, "/", &save)) {
        cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, tok);
        if (!next && create)
            next = cJSON_AddObjectToObject(cur, tok);
        cur = next;
    }
    /* "~1" is "/" in a JSON pointer: label keys like federation.kclient.io/x */
    for (char *t; (t = strstr(last, "~1"));) {
        *t = '/';
        memmove(t + 1, t + 2, strlen(t + 2) + 1);
    }
    return cJSON_IsObject(cur) ? cur : NULL;
}

static void apply_overrides(cJSON *obj, const cJSON *fpg, const char *cluster)
{
    const cJSON *ov;
    cJSON_ArrayForEach(ov, kco_jget(fpg, "spec.overrides")) {
        const char *cn = kco_jstr(ov, "clusterName");
        if (!cn || strcmp(cn, cluster))
            continue;
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(ov, "patches")) {
            const char *op = kco_jstr(p, "op"), *path = kco_jstr(p, "path");
            char last[256];
            if (!op || !path)
                continue;
            cJSON *parent = parent_of(obj, path, last, sizeof(last), strcmp(op, "remove"));
            if (!parent)
                continue;
            cJSON_DeleteItemFromObjectCaseSensitive(parent, last);
            const cJSON *v = cJSON_GetObjectItem(p, "value");
            if (strcmp(op, "remove") && v)
                cJSON_AddItemToObject(parent, last, cJSON_Duplicate(v, 1));
        }
    }
}

static cJSON *desired_member(const recon *r, const kco_member *m)
{
    const cJSON *tmpl = kco_jget(r->fpg, "spec.template");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", m->volcano ? "scheduling.volcano.sh/v1beta1"
                                                        : "scheduling.x-k8s.io/v1alpha1");
    cJSON_AddStringToObject(o, "kind", "PodGroup");
    cJSON *md = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(md, "name", r->name);
    cJSON_AddStringToObject(md, "namespace", r->ns);
    cJSON *labels = string_map(kco_jget(tmpl, "metadata.labels"));
    cJSON_DeleteItemFromObject(labels, KCO_LABEL_MANAGED_BY);
    cJSON_AddStringToObject(labels, KCO_LABEL_MANAGED_BY, "kclient-federation");
    cJSON_AddStringToObject(labels, KCO_LABEL_FPG_NS, r->ns);
    cJSON_AddStringToObject(labels, KCO_LABEL_FPG_NAME, r->name);
    cJSON_AddStringToObject(labels, KCO_CLUSTER_LABEL, m->name);
    cJSON_AddItemToObject(md, "labels", labels);
    cJSON *ann = string_map(kco_jget(tmpl, "metadata.annotations"));
    cJSON_AddStringToObject(ann, KCO_ANN_HUB_UID, kco_jstr(r->fpg, "metadata.uid"));
    char gen[32];
    snprintf(gen, sizeof(gen), "%.0f", kco_jnum(r->fpg, "metadata.generation", 0));
    cJSON_AddStringToObject(ann, KCO_ANN_HUB_GEN, gen);
    cJSON_AddItemToObject(md, "annotations", ann);
    cJSON_AddItemToObject(o, "spec", desired_spec(kco_jget(tmpl, "spec"), m->volcano));
    apply_overrides(o, r->fpg, m->name);
    return o;
}

/* Every field we own is already on the member object: no write needed. */
static int subset(const cJSON *want, const cJSON *have)
{
    if (cJSON_IsObject(want)) {
        const cJSON *w;
        cJSON_ArrayForEach(w, want) {
            if (!subset(w, cJSON_GetObjectItemCaseSensitive(have, w->string)))
                return 0;
        }
        return cJSON_IsObject(have);
    }
    return have && cJSON_Compare(want, have, 1);
}

/* --- completion of a reconcile --- */

static void recon_free(recon *r)
{
    free(r->key);
    free(r->ns);
    free(r->name);
    free(r->first_error);
    cJSON_Delete(r->fpg);
    cJSON_Delete(r->applied);
    free(r);
}

static void aggregate(recon *r);

static void set_finalizers(recon *r, int add);
static int has_finalizer(const cJSON *fpg);

static void maybe_finish(recon *r)
{
    if (r->outstanding > 0)
        return;
    if (r->release_finalizer && !r->failures && has_finalizer(r->fpg)) {
        r->release_finalizer = 0; /* every member answered its DELETE: let the object go */
        set_finalizers(r, 0);
        if (r->outstanding > 0)
            return;
    }
    if (!r->deleting)
        aggregate(r);
    kc_reconcile_result res = r->failures ? KC_RECONCILE_ERROR : KC_RECONCILE_OK;
    if (r->failures)
        kco_log(r->op->log, 1, "reconcile failed", "key", r->key, "error",
                r->first_error ? r->first_error : "?", NULL);
    kc_controller_finish(r->ctl, r->key, res, 0);
    recon_free(r);
}

static void ensure_namespace(recon *r, kco_member *m);

typedef struct member_call {
    recon *r;
    char *cluster;
    int is_delete; /* a 404 naming the object means: already gone */
    int stray;     /* a 409 answer means: changed since we looked; its event brings us back */
} member_call;

static void note_failure(recon *r, const char *cluster, const kc_error *err)
{
    char line[1024];
    kc_error_format(err, line, sizeof(line));
    r->failures++;
    if (!r->first_error && asprintf(&r->first_error, "cluster %s: %s", cluster, line) < 0)
        r->first_error = NULL;
}

static void on_member_write(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    member_call *mc = ud;
    recon *r = mc->r;
    r->outstanding--;
    if (err->code == KC_OK && resp->body_len) {
        cJSON *obj = cJSON_ParseWithLength(resp->body, resp->body_len);
        if (obj && !r->deleting)
            cJSON_AddItemToObject(r->applied, mc->cluster, obj);
        else
            cJSON_Delete(obj);
    } else if (err->code == KC_EHTTP && err->http_status == 404 && !r->deleting && !mc->is_delete) {
        /* the member has no such namespace yet: make it; the retry applies */
        kco_member *m = kco_member_find(r->op, mc->cluster);
        if (m && m->client)
            ensure_namespace(r, m);
        note_failure(r, mc->cluster, err);
    } else if (err->code != KC_OK && !kc_error_is_not_found(err) &&
               !(mc->stray && err->code == KC_EHTTP && err->http_status == 409)) {
        note_failure(r, mc->cluster, err);
    }
    free(mc->cluster);
    free(mc);
    maybe_finish(r);
}

static kc_request_spec member_spec(const recon *r, const kco_member *m, const char *method)
{
    kc_request_spec spec = {
        .method = method,
        .ref = {m->volcano ? "scheduling.volcano.sh" : "scheduling.x-k8s.io",
                m->volcano ? "v1beta1" : "v1alpha1", "podgroups", r->ns, r->name, NULL},
        .max_attempts = 3};
    return spec;
}

static void send_member_spec(recon *r, kco_member *m, const kc_request_spec *spec, int stray)
{
    member_call *mc = calloc(1, sizeof(*mc));
    if (!mc) {
        kc_error oom = KC_ERROR_INIT;
        kc_error_set(&oom, KC_ENOMEM, "out of memory");
        note_failure(r, m->name, &oom);
        kc_error_clear(&oom);
        return;
    }
    mc->r = r;
    mc->cluster = strdup(m->name);
    int is_delete = !strcmp(spec->method, "DELETE");
    mc->is_delete = is_delete;
    mc->stray = stray;
    kc_error err = KC_ERROR_INIT;
    r->outstanding++;
    if (kc_request_send(m->client, spec, on_member_write, mc, NULL, &err) != KC_OK) {
        r->outstanding--;
        note_failure(r, m->name, &err);
        free(mc->cluster);
        free(mc);
    }
    kc_error_clear(&err);
    if (is_delete)
        r->op->reconcile_deletes++;
    else
        r->op->reconcile_applies++;
}

/* Server-side apply of body (our field manager, force), or DELETE when body
 * is NULL. */
static void send_member(recon *r, kco_member *m, const char *method, const char *body)
{
    kc_param ps[] = {{"fieldManager", r->op->o.field_manager}, {"force", "true"}};
    kc_request_spec spec = member_spec(r, m, method);
    if (body) {
        spec.params = ps;
        spec.nparams = 2;
        spec.content_type = "application/apply-patch+yaml";
        spec.body = body;
        spec.body_len = strlen(body);
    }
    send_member_spec(r, m, &spec, 0);
}

/* The member namespace must exist: apply it (idempotent, our manager). */
static void ensure_namespace(recon *r, kco_member *m)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\","
             "\"labels\":{\"" KCO_LABEL_MANAGED_BY "\":\"kclient-federation\"}}}",
             r->ns);
    kc_param ps[] = {{"fieldManager", r->op->o.field_manager}};
    kc_request_spec spec = {.method = "PATCH",
                            .ref = {NULL, "v1", "namespaces", NULL, r->ns, NULL},
                            .params = ps,
                            .nparams = 1,
                            .content_type = "application/apply-patch+yaml",
                            .body = body,
                            .body_len = strlen(body)};
    kc_request_send(m->client, &spec, NULL, NULL, NULL, NULL);
}

static void sync_member(recon *r, kco_member *m, int placed)
{
    cJSON *have = m->pg_inf ? kc_informer_get(m->pg_inf, r->ns, r->name) : NULL;
    if (placed) {
        cJSON *want = desired_member(r, m);
        if (!have || !subset(want, have)) {
            char *body = cJSON_PrintUnformatted(want);
            send_member(r, m, "PATCH", body);
            free(body);
        } else {
            cJSON_AddItemToObject(r->applied, m->name, cJSON_Duplicate(have, 1));
        }
        cJSON_Delete(want);
    } else if (have) {
        send_member(r, m, "DELETE", NULL);
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

static void on_finalizer(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    (void)resp;
    recon *r = ud;
    r->outstanding--;
    if (err->code != KC_OK && !kc_error_is_not_found(err))
        note_failure(r, "hub", err);
    r->deleting = 1; /* nothing to aggregate: the next event reconciles again */
    maybe_finish(r);
}

/* Merge patch of the whole finalizer list, guarded by resourceVersion so a
 * concurrent change by someone else is not lost. */
static void set_finalizers(recon *r, int add)
{
    cJSON *list = cJSON_CreateArray();
    const cJSON *f;
    cJSON_ArrayForEach(f, kco_jget(r->fpg, "metadata.finalizers"))
        if (cJSON_IsString(f) && strcmp(f->valuestring, KCO_FINALIZER))
            cJSON_AddItemToArray(list, cJSON_CreateString(f->valuestring));
    if (add)
        cJSON_AddItemToArray(list, cJSON_CreateString(KCO_FINALIZER));
    cJSON *patch = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(patch, "metadata");
    cJSON_AddItemToObject(md, "finalizers", list);
    cJSON_AddStringToObject(md, "resourceVersion", kco_jstr(r->fpg, "metadata.resourceVersion"));
    char *body = cJSON_PrintUnformatted(patch);
    cJSON_Delete(patch);
    kc_request_spec spec = {.method = "PATCH",
                            .ref = {KCO_GROUP, KCO_VERSION, "federatedpodgroups", r->ns, r->name, NULL},
                            .content_type = "application/merge-patch+json",
                            .body = body,
                            .body_len = strlen(body)};
    r->outstanding++;
    kc_error err = KC_ERROR_INIT;
    if (kc_request_send(r->op->hub, &spec, on_finalizer, r, NULL, &err) != KC_OK) {
        r->outstanding--;
        note_failure(r, "hub", &err);
    }
    kc_error_clear(&err);
    free(body);
}

/* --- deletion --- */

/* Orphan: the copy stays but is no longer ours - drop the labels that tie
 * it to the hub object, so no later sweep (reconcile_gone) removes it. */
static void release_copy(recon *r, kco_member *m)
{
    static const char body[] = "{\"metadata\":{\"labels\":{\"" KCO_LABEL_MANAGED_BY
                               "\":null,\"" KCO_LABEL_FPG_NS "\":null,\"" KCO_LABEL_FPG_NAME
                               "\":null}}}";
    kc_request_spec spec = member_spec(r, m, "PATCH");
    spec.content_type = "application/merge-patch+json";
    spec.body = body;
    spec.body_len = sizeof(body) - 1;
    send_member_spec(r, m, &spec, 0);
}

/* Delete (or, with deletionPolicy Orphan, release) the copy on every online
 * member, whether or not its informer has seen one: an apply whose answer
 * (and watch event) was lost on a dropped link still created a copy, and the
 * cache would say there is none.  A 404 naming the object is fine; one that
 * does not (a restarting member not yet serving the PodGroup resource) is
 * not proof of anything and is retried.  Only when every member
 * answered is the finalizer removed; an offline member may hold a copy, so
 * the finalizer waits for it. */
static void reconcile_delete(recon *r)
{
    r->deleting = 1;
    const char *policy = kco_jstr(r->fpg, "spec.deletionPolicy");
    int orphan = policy && !strcmp(policy, "Orphan");
    int waiting = 0;
    for (kco_member *m = r->op->members; m; m = m->next) {
        if (!m->online || !m->flavour_known) {
            waiting = 1; /* may hold a copy (even one whose kubeconfig we cannot read now) */
            continue;
        }
        if (orphan)
            release_copy(r, m);
        else
            send_member(r, m, "DELETE", NULL);
    }
    if (waiting) {
        r->failures++;
        if (!r->first_error)
            r->first_error = strdup("waiting for offline members before removing the finalizer");
    }
    r->release_finalizer = !waiting;
    maybe_finish(r);
}

/* A copy of ours whose hub object is gone can still appear after the
 * finalizer was released: a deposed leader's late apply, or a request this
 * client gave up on that the server still ran.  Its watch event brings us
 * here; the hub itself (not our cache, which may lag) must confirm the
 * object is gone, and then exactly the copies we saw are deleted: uid and
 * resourceVersion preconditions, so a copy re-created or changed since the
 * cache saw it (an Orphan copy whose labels we just removed, whose event has
 * not reached the cache yet) is not touched. */
static cJSON *stray_copy(const recon *r, const kco_member *m)
{
    if (!m->online || !m->flavour_known || !m->client || !m->pg_inf)
        return NULL;
    cJSON *copy = kc_informer_get(m->pg_inf, r->ns, r->name);
    const char *ns = meta_map(copy, "labels", KCO_LABEL_FPG_NS);
    const char *name = meta_map(copy, "labels", KCO_LABEL_FPG_NAME);
    if (copy && ns && name && !strcmp(ns, r->ns) && !strcmp(name, r->name))
        return copy;
    cJSON_Delete(copy);
    return NULL;
}

static void delete_stray(recon *r, kco_member *m, const cJSON *copy)
{
    const char *uid = kco_jstr(copy, "metadata.uid");
    const char *rv = kco_jstr(copy, "metadata.resourceVersion");
    if (!uid || !rv)
        return;
    char body[512];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\",\"preconditions\":"
             "{\"uid\":\"%s\",\"resourceVersion\":\"%s\"}}",
             uid, rv);
    kc_request_spec spec = member_spec(r, m, "DELETE");
    spec.content_type = "application/json";
    spec.body = body;
    spec.body_len = strlen(body);
    kco_log(r->op->log, 2, "deleting a copy whose hub object is gone", "key", r->key, "cluster",
            m->name, NULL);
    send_member_spec(r, m, &spec, 1);
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
            if (copy)
                delete_stray(r, m, copy);
            cJSON_Delete(copy);
        }
    } else if (err->code != KC_OK) {
        note_failure(r, "hub", err);
    } /* else it exists: the hub informer's event reconciles it */
    maybe_finish(r);
}

static void reconcile_gone(recon *r)
{
    r->deleting = 1;
    int strays = 0;
    for (kco_member *m = r->op->members; m; m = m->next) {
        cJSON *copy = stray_copy(r, m);
        strays += copy != NULL;
        cJSON_Delete(copy);
    }
    if (strays) {
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

/* --- aggregation --- */

static const char *normal_phase(const char *p)
{
    if (!p || !*p || !strcmp(p, "Pending") || !strcmp(p, "Unknown"))
        return "pending";
    if (!strcmp(p, "Running"))
        return "running";
    if (!strcmp(p, "Finished") || !strcmp(p, "Completed"))
        return "completed";
    if (!strcmp(p, "Failed"))
        return "failed";
    return "scheduling"; /* Scheduling, Inqueue */
}

static const cJSON *old_entry(const cJSON *fpg, const char *cluster)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, kco_jget(fpg, "status.clusters")) {
        const char *name = kco_jstr(e, "clusterName");
        if (name && !strcmp(name, cluster))
            return e;
    }
    return NULL;
}

static int same_observation(const cJSON *old, const cJSON *now)
{
    static const char *keys[] = {"memberPhase", "running", "succeeded", "failed", "applied",
                                 "appliedGeneration", "stale"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!cJSON_Compare(cJSON_GetObjectItem(old, keys[i]), cJSON_GetObjectItem(now, keys[i]), 1))
            return 0;
    return 1;
}

static cJSON *entry_from(const recon *r, const char *cluster, const cJSON *obj, int stale)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "clusterName", cluster);
    const char *gen = meta_map(obj, "annotations", KCO_ANN_HUB_GEN);
    double fpg_gen = kco_jnum(r->fpg, "metadata.generation", 0);
    cJSON_AddBoolToObject(e, "applied", gen && strtod(gen, NULL) == fpg_gen);
    cJSON_AddNumberToObject(e, "appliedGeneration", gen ? strtod(gen, NULL) : 0);
    const char *phase = kco_jstr(obj, "status.phase");
    cJSON_AddStringToObject(e, "memberPhase", phase ? phase : "Pending");
    cJSON_AddNumberToObject(e, "running", kco_jnum(obj, "status.running", 0));
    cJSON_AddNumberToObject(e, "succeeded", kco_jnum(obj, "status.succeeded", 0));
    cJSON_AddNumberToObject(e, "failed", kco_jnum(obj, "status.failed", 0));
    cJSON_AddStringToObject(e, "reason", stale ? "MemberUnreachable" : "Observed");
    cJSON_AddStringToObject(e, "message", stale ? "last known status; the member is unreachable" : "");
    cJSON_AddBoolToObject(e, "stale", stale);
    return e;
}

/* One status.clusters entry; keeps lastObservedTime unless something changed. */
static cJSON *cluster_entry(const recon *r, kco_member *m, const char *now)
{
    const cJSON *old = old_entry(r->fpg, m->name);
    cJSON *e;
    if (!m->online) { /* last known values, marked stale; nothing invented */
        e = old ? cJSON_Duplicate(old, 1) : entry_from(r, m->name, NULL, 1);
        cJSON_DeleteItemFromObject(e, "stale");
        cJSON_AddBoolToObject(e, "stale", 1);
        cJSON_DeleteItemFromObject(e, "reason");
        cJSON_AddStringToObject(e, "reason", "MemberUnreachable");
        cJSON_DeleteItemFromObject(e, "message");
        cJSON_AddStringToObject(e, "message", "last known status; the member is unreachable");
        if (!cJSON_GetObjectItem(e, "lastObservedTime"))
            cJSON_AddStringToObject(e, "lastObservedTime", now);
        return e;
    }
    const cJSON *obj = cJSON_GetObjectItem(r->applied, m->name);
    e = entry_from(r, m->name, obj, 0);
    const cJSON *was = old ? cJSON_GetObjectItem(old, "lastObservedTime") : NULL;
    cJSON_AddStringToObject(e, "lastObservedTime",
                            old && same_observation(old, e) && cJSON_IsString(was) ? was->valuestring : now);
    return e;
}

static const char *aggregate_phase(int placed, int fresh, int ready, int min_ready, int failed,
                                   int completed, int scheduling, int stale)
{
    if (placed == 0)
        return "Pending";
    if (fresh == 0)
        return "Unknown";
    if (failed)
        return "Failed";
    if (completed == placed)
        return "Completed";
    if (ready >= min_ready && !stale)
        return "Running";
    if (ready > 0)
        return "Degraded";
    return scheduling ? "Scheduling" : "Pending";
}

static void add_condition(cJSON *conds, const cJSON *fpg, const char *type, int ok,
                          const char *reason, const char *msg, const char *now)
{
    const char *status = ok ? "True" : "False";
    const char *ltt = now;
    const cJSON *c;
    cJSON_ArrayForEach(c, kco_jget(fpg, "status.conditions")) {
        const char *t = kco_jstr(c, "type"), *st = kco_jstr(c, "status"), *at = kco_jstr(c, "lastTransitionTime");
        if (t && st && at && !strcmp(t, type) && !strcmp(st, status))
            ltt = at; /* moves only when the status does */
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "status", status);
    cJSON_AddNumberToObject(o, "observedGeneration", kco_jnum(fpg, "metadata.generation", 0));
    cJSON_AddStringToObject(o, "lastTransitionTime", ltt);
    cJSON_AddStringToObject(o, "reason", reason);
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddItemToArray(conds, o);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp((*(kco_member *const *)a)->name, (*(kco_member *const *)b)->name);
}

/* Placed members, sorted by name: status.clusters has a stable order. */
static size_t placed_members(const recon *r, kco_member **out, size_t max)
{
    size_t n = 0;
    for (kco_member *m = r->op->members; m && n < max; m = m->next)
        if (placed_on(r->fpg, m))
            out[n++] = m;
    // cppcheck-suppress uninitvar ; out[0, n) was just written; qsort reads only those n
    qsort(out, n, sizeof(*out), name_cmp);
    return n;
}

static void aggregate(recon *r)
{
    char now[40];
    kco_iso_time(time(NULL), now, sizeof(now));
    kco_member *placed[256];
    size_t n = placed_members(r, placed, 256);
    cJSON *status = cJSON_CreateObject();
    cJSON *clusters = cJSON_CreateArray();
    int fresh = 0, ready = 0, failed = 0, completed = 0, scheduling = 0, stale = 0, applied = 0;
    double run = 0, succ = 0, fail = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cluster_entry(r, placed[i], now);
        const char *p = normal_phase(kco_jstr(e, "memberPhase"));
        int is_stale = cJSON_IsTrue(cJSON_GetObjectItem(e, "stale"));
        stale += is_stale;
        fresh += !is_stale;
        ready += !is_stale && !strcmp(p, "running");
        failed += !strcmp(p, "failed");
        completed += !strcmp(p, "completed");
        scheduling += !strcmp(p, "scheduling");
        applied += cJSON_IsTrue(cJSON_GetObjectItem(e, "applied"));
        run += kco_jnum(e, "running", 0);
        succ += kco_jnum(e, "succeeded", 0);
        fail += kco_jnum(e, "failed", 0);
        cJSON_AddItemToArray(clusters, e);
    }
    int min_ready = (int)kco_jlong(r->fpg, "spec.minReadyClusters", 1, 0, INT32_MAX);
    if (min_ready > (int)n)
        min_ready = (int)n;
    const char *phase = aggregate_phase((int)n, fresh, ready, min_ready, failed, completed,
                                        scheduling, stale);
    cJSON_AddNumberToObject(status, "observedGeneration", kco_jnum(r->fpg, "metadata.generation", 0));
    cJSON_AddStringToObject(status, "phase", phase);
    cJSON_AddNumberToObject(status, "placedClusters", (double)n);
    cJSON_AddNumberToObject(status, "readyClusters", ready);
    cJSON_AddNumberToObject(status, "running", run);
    cJSON_AddNumberToObject(status, "succeeded", succ);
    cJSON_AddNumberToObject(status, "failed", fail);
    cJSON_AddItemToObject(status, "clusters", clusters);
    cJSON *conds = cJSON_AddArrayToObject(status, "conditions");
    char msg[160];
    snprintf(msg, sizeof(msg), "applied on %d of %zu placed clusters", applied, n);
    add_condition(conds, r->fpg, "Applied", applied == (int)n, applied == (int)n ? "Applied" : "Applying", msg, now);
    snprintf(msg, sizeof(msg), "%d of %zu placed clusters running (%d needed)", ready, n, min_ready);
    add_condition(conds, r->fpg, "Ready", !strcmp(phase, "Running"), phase, msg, now);
    snprintf(msg, sizeof(msg), "%d of %zu placed clusters unreachable", stale, n);
    add_condition(conds, r->fpg, "StatusFresh", stale == 0, stale ? "MembersUnreachable" : "AllMembersReachable", msg, now);
    const cJSON *current = cJSON_GetObjectItem(r->fpg, "status");
    if (current && cJSON_Compare(current, status, 1)) {
        cJSON_Delete(status); /* unchanged: no write (and no event loop with ourselves) */
        return;
    }
    kco_status_queue(r->op->status, r->ns, r->name, status);
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
    r->ctl = ctl;
    r->key = strdup(key);
    r->ns = strndup(key, (size_t)(slash - key));
    r->name = strdup(slash + 1);
    if (!r->key || !r->ns || !r->name) {
        recon_free(r);
        return KC_RECONCILE_ERROR; /* out of memory: retried with backoff */
    }
    r->fpg = kc_informer_get(op->fpg_inf, r->ns, r->name);
    r->applied = cJSON_CreateObject();
    if (!r->fpg) { /* gone from the hub: the finalizer did the clean-up, but see */
        reconcile_gone(r);
        return KC_RECONCILE_PENDING;
    }
    if (kco_jstr(r->fpg, "metadata.deletionTimestamp")) {
        reconcile_delete(r);
        return KC_RECONCILE_PENDING;
    }
    if (!has_finalizer(r->fpg)) {
        set_finalizers(r, 1); /* its update event brings us back */
        return KC_RECONCILE_PENDING;
    }
    for (kco_member *m = op->members; m; m = m->next)
        if (m->online && m->client && m->flavour_known)
            sync_member(r, m, placed_on(r->fpg, m));
    maybe_finish(r);
    return KC_RECONCILE_PENDING;
}
