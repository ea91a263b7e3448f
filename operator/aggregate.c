/* aggregate.c - member copies -> the hub object's status: one entry per
 * placed cluster (docs/member-lifecycle.md, "Status"), the totals, phase and
 * conditions.  An entry keeps the values last observed: a failed write or a
 * member gone away never resets it; applied counts only what the member
 * acknowledged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operator.h"

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

const cJSON *kco_old_entry(const cJSON *fpg, const char *cluster)
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
                                 "appliedGeneration", "stale", "reason", "message"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!cJSON_Compare(cJSON_GetObjectItem(old, keys[i]), cJSON_GetObjectItem(now, keys[i]), 1))
            return 0;
    return 1;
}

/* The generation of fpg a copy carries (its hub uid must match), or -1. */
static long copy_generation(const cJSON *fpg, const cJSON *copy)
{
    const char *uid = kco_meta_map(copy, "annotations", KCO_ANN_HUB_UID);
    const char *gen = kco_meta_map(copy, "annotations", KCO_ANN_HUB_GEN);
    const char *want = kco_jstr(fpg, "metadata.uid");
    if (!gen || (uid && want && strcmp(uid, want)))
        return -1;
    return strtol(gen, NULL, 10);
}

typedef struct entry_in {
    const cJSON *fpg;
    const char *key;
    kco_member *m;
    int placed;
    const char *now;
} entry_in;

/* Values: the copy as last seen, else the entry as last written, else
 * nothing observed yet. */
static void add_values(cJSON *e, const cJSON *copy, const cJSON *old, long *gen)
{
    if (copy) {
        const char *phase = kco_jstr(copy, "status.phase");
        cJSON_AddStringToObject(e, "memberPhase", phase ? phase : "Pending");
        cJSON_AddNumberToObject(e, "running", kco_jnum(copy, "status.running", 0));
        cJSON_AddNumberToObject(e, "succeeded", kco_jnum(copy, "status.succeeded", 0));
        cJSON_AddNumberToObject(e, "failed", kco_jnum(copy, "status.failed", 0));
        return;
    }
    const char *phase = kco_jstr(old, "memberPhase");
    cJSON_AddStringToObject(e, "memberPhase", phase ? phase : "Pending");
    cJSON_AddNumberToObject(e, "running", kco_jnum(old, "running", 0));
    cJSON_AddNumberToObject(e, "succeeded", kco_jnum(old, "succeeded", 0));
    cJSON_AddNumberToObject(e, "failed", kco_jnum(old, "failed", 0));
    if (old && *gen < 0)
        *gen = (long)kco_jnum(old, "appliedGeneration", -1);
}

/* The reason and message of an entry whose member is not Ready. */
static const char *away_reason(const kco_member *m, char *buf, size_t len)
{
    snprintf(buf, len, "last known status; %s", m->message ? m->message : "");
    return strcmp(m->ready, "Unknown") ? "MemberNotReady" : "MemberUnreachable";
}

static void reason_of(const entry_in *in, const kco_write_state *st, const char **reason,
                      const char **msg, char *buf, size_t len)
{
    const kco_member *m = in->m;
    *msg = "";
    if (!in->placed) {
        *reason = "Removing";
        snprintf(buf, len, "no longer placed: the copy is being removed%s",
                 m->online ? "" : " when the member answers again");
        *msg = buf;
    } else if (m->duplicate_of) {
        *reason = "DuplicateCluster";
        snprintf(buf, len, "the same cluster is served by MemberCluster %s", m->duplicate_of);
        *msg = buf;
    } else if (!m->online) {
        *reason = away_reason(m, buf, len);
        *msg = buf;
    } else if (st && st->reason) {
        *reason = st->reason;
        *msg = st->message ? st->message : "";
    } else if (!kco_member_serving(m) || (st && st->inflight)) {
        *reason = "Applying";
    } else {
        *reason = "Observed";
    }
}

/* One status.clusters entry, or NULL when it should not be listed. */
static cJSON *cluster_entry(const entry_in *in)
{
    kco_member *m = in->m;
    const cJSON *old = kco_old_entry(in->fpg, m->name);
    kco_write_state *st = kco_track_get(m->track, in->key, 0);
    cJSON *copy = m->pg_inf ? kc_informer_get(m->pg_inf, kco_jstr(in->fpg, "metadata.namespace"),
                                              kco_jstr(in->fpg, "metadata.name"))
                            : NULL;
    if (copy && !kco_copy_ours(m, copy)) {
        cJSON_Delete(copy);
        copy = NULL;
    }
    if (!in->placed && !copy && !(st && st->inflight) && (m->online || !old)) {
        return NULL; /* not placed and nothing left there */
    }
    if (m->leaving)
        return NULL; /* its own clean-up deals with the copy */
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "clusterName", m->name);
    /* A member away: its entry keeps the values last published - by this
     * process if it published one (the hub cache may lag our own last
     * write), else as the hub has them (a new leader: the old one's) - never
     * a cache's view, which may be older. */
    const cJSON *pub = st ? st->published : NULL;
    const cJSON *last = pub ? pub : old;
    const cJSON *src = !m->online && last ? NULL : copy;
    long gen = src ? copy_generation(in->fpg, src) : -1;
    add_values(e, src, last, &gen);
    const char *uid = kco_jstr(in->fpg, "metadata.uid");
    if (st && st->acked_uid && uid && !strcmp(st->acked_uid, uid) && st->acked_gen > gen)
        gen = st->acked_gen;
    long want = (long)kco_jnum(in->fpg, "metadata.generation", 0);
    cJSON_AddBoolToObject(e, "applied", in->placed && gen == want && !m->duplicate_of);
    cJSON_AddNumberToObject(e, "appliedGeneration", gen > 0 ? (double)gen : 0);
    const char *reason, *msg;
    char buf[1200];
    reason_of(in, st, &reason, &msg, buf, sizeof(buf));
    cJSON_AddStringToObject(e, "reason", reason);
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddBoolToObject(e, "stale", !m->online);
    const cJSON *was = old ? cJSON_GetObjectItem(old, "lastObservedTime") : NULL;
    cJSON_AddStringToObject(e, "lastObservedTime",
                            old && same_observation(old, e) && cJSON_IsString(was) ? was->valuestring
                                                                                   : in->now);
    cJSON_Delete(copy);
    if (m->online && in->placed && (st || (st = kco_track_get(m->track, in->key, 1)))) {
        cJSON_Delete(st->published);
        st->published = cJSON_Duplicate(e, 1);
    }
    return e;
}

/* A placement name no MemberCluster has. */
static cJSON *not_found_entry(const cJSON *fpg, const char *name, const char *now)
{
    const cJSON *old = kco_old_entry(fpg, name);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "clusterName", name);
    cJSON_AddBoolToObject(e, "applied", 0);
    cJSON_AddNumberToObject(e, "appliedGeneration", 0);
    cJSON_AddStringToObject(e, "memberPhase", "Pending");
    cJSON_AddNumberToObject(e, "running", 0);
    cJSON_AddNumberToObject(e, "succeeded", 0);
    cJSON_AddNumberToObject(e, "failed", 0);
    cJSON_AddStringToObject(e, "reason", "ClusterNotFound");
    char msg[400];
    snprintf(msg, sizeof(msg), "spec.placement.clusterNames names %s: no MemberCluster of that name", name);
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddBoolToObject(e, "stale", 0);
    const cJSON *was = old ? cJSON_GetObjectItem(old, "lastObservedTime") : NULL;
    cJSON_AddStringToObject(e, "lastObservedTime",
                            old && same_observation(old, e) && cJSON_IsString(was) ? was->valuestring : now);
    return e;
}

static void add_condition(cJSON *conds, const cJSON *fpg, const char *type, const char *status,
                          const char *reason, const char *msg, const char *now)
{
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

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(kco_jstr(*(cJSON *const *)a, "clusterName"), kco_jstr(*(cJSON *const *)b, "clusterName"));
}

/* Entries for every member that is placed (or still holds a copy being
 * removed) and every placement name without a MemberCluster, by name. */
static cJSON *entries(kco_operator *op, const cJSON *fpg, const char *key, const char *now)
{
    size_t n = 0, cap = 16;
    cJSON **v = malloc(cap * sizeof(*v));
    for (kco_member *m = op->members; m && v; m = m->next) {
        entry_in in = {fpg, key, m, kco_placed_on(fpg, m), now};
        cJSON *e = cluster_entry(&in);
        if (e && n == cap) {
            cJSON **bigger = realloc(v, (cap *= 2) * sizeof(*v));
            if (!bigger) {
                cJSON_Delete(e);
                break;
            }
            v = bigger;
        }
        if (e)
            v[n++] = e;
    }
    const cJSON *name;
    cJSON_ArrayForEach(name, kco_jget(fpg, "spec.placement.clusterNames")) {
        if (!v || !cJSON_IsString(name) || kco_member_find(op, name->valuestring))
            continue;
        if (n == cap) {
            cJSON **bigger = realloc(v, (cap *= 2) * sizeof(*v));
            if (!bigger)
                break;
            v = bigger;
        }
        v[n++] = not_found_entry(fpg, name->valuestring, now);
    }
    cJSON *arr = cJSON_CreateArray();
    if (v) {
        qsort(v, n, sizeof(*v), entry_cmp);
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, v[i]);
    }
    free(v);
    return arr;
}

typedef struct tally {
    int placed, fresh, ready, failed, completed, scheduling, stale, applied;
    double run, succ, fail;
    const char *problem;   /* reason of the first entry not applied, by rank */
    int problem_rank;
    char problems[900];    /* "cluster: message; ..." */
} tally;

static int problem_rank(const char *reason)
{
    static const char *order[] = {"ClusterNotFound", "OverrideFailed", "ApplyFailed", "Conflict",
                                  "DuplicateCluster", "MemberNotReady", "MemberUnreachable", "Applying"};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (!strcmp(reason, order[i]))
            return (int)(sizeof(order) / sizeof(order[0]) - i);
    return 1;
}

static void count_entry(tally *t, const cJSON *e)
{
    const char *reason = kco_jstr(e, "reason");
    if (reason && !strcmp(reason, "Removing"))
        return; /* not placed any more */
    const char *p = normal_phase(kco_jstr(e, "memberPhase"));
    int is_stale = cJSON_IsTrue(cJSON_GetObjectItem(e, "stale"));
    t->placed++;
    t->stale += is_stale;
    t->fresh += !is_stale;
    t->ready += !is_stale && !strcmp(p, "running");
    t->failed += !strcmp(p, "failed");
    t->completed += !strcmp(p, "completed");
    t->scheduling += !strcmp(p, "scheduling");
    t->run += kco_jnum(e, "running", 0);
    t->succ += kco_jnum(e, "succeeded", 0);
    t->fail += kco_jnum(e, "failed", 0);
    if (cJSON_IsTrue(cJSON_GetObjectItem(e, "applied"))) {
        t->applied++;
        return;
    }
    const char *r = reason ? reason : "Applying";
    if (problem_rank(r) > t->problem_rank) {
        t->problem_rank = problem_rank(r);
        t->problem = r;
    }
    size_t used = strlen(t->problems);
    const char *msg = kco_jstr(e, "message");
    if (used < sizeof(t->problems) - 1)
        snprintf(t->problems + used, sizeof(t->problems) - used, "%s%s: %s%s%s", used ? "; " : "",
                 kco_jstr(e, "clusterName"), r, msg && *msg ? ": " : "", msg ? msg : "");
}

static const char *aggregate_phase(const tally *t, int min_ready)
{
    if (t->placed == 0)
        return "Pending";
    if (t->fresh == 0)
        return "Unknown";
    if (t->failed)
        return "Failed";
    if (t->completed == t->placed)
        return "Completed";
    if (t->ready >= min_ready && !t->stale)
        return "Running";
    if (t->ready > 0)
        return "Degraded";
    return t->scheduling ? "Scheduling" : "Pending";
}

static void add_conditions(cJSON *status, const cJSON *fpg, const tally *t, const char *phase,
                           int min_ready, const char *now)
{
    cJSON *conds = cJSON_AddArrayToObject(status, "conditions");
    char msg[1200];
    int all = t->applied == t->placed;
    snprintf(msg, sizeof(msg), "applied on %d of %d placed clusters%s%s", t->applied, t->placed,
             all ? "" : "; ", all ? "" : t->problems);
    add_condition(conds, fpg, "Applied", all ? "True" : "False", all ? "Applied" : t->problem, msg, now);
    snprintf(msg, sizeof(msg), "%d of %d placed clusters running (%d needed)", t->ready, t->placed, min_ready);
    add_condition(conds, fpg, "Ready", !strcmp(phase, "Running") ? "True" : "False", phase, msg, now);
    snprintf(msg, sizeof(msg), "%d of %d placed clusters unreachable", t->stale, t->placed);
    add_condition(conds, fpg, "StatusFresh", t->stale ? "False" : "True",
                  t->stale ? "MembersUnreachable" : "AllMembersReachable", msg, now);
}

void kco_aggregate(kco_operator *op, const cJSON *fpg, const char *key)
{
    char now[40];
    kco_iso_time(time(NULL), now, sizeof(now));
    cJSON *clusters = entries(op, fpg, key, now);
    tally t = {0};
    const cJSON *e;
    cJSON_ArrayForEach(e, clusters) {
        count_entry(&t, e);
    }
    int min_ready = (int)kco_jlong(fpg, "spec.minReadyClusters", 1, 0, INT32_MAX);
    if (min_ready > t.placed)
        min_ready = t.placed;
    const char *phase = aggregate_phase(&t, min_ready);
    cJSON *status = cJSON_CreateObject();
    cJSON_AddNumberToObject(status, "observedGeneration", kco_jnum(fpg, "metadata.generation", 0));
    cJSON_AddStringToObject(status, "phase", phase);
    cJSON_AddNumberToObject(status, "placedClusters", t.placed);
    cJSON_AddNumberToObject(status, "readyClusters", t.ready);
    cJSON_AddNumberToObject(status, "running", t.run);
    cJSON_AddNumberToObject(status, "succeeded", t.succ);
    cJSON_AddNumberToObject(status, "failed", t.fail);
    cJSON_AddItemToObject(status, "clusters", clusters);
    add_conditions(status, fpg, &t, phase, min_ready, now);
    const cJSON *current = cJSON_GetObjectItem(fpg, "status");
    if (current && cJSON_Compare(current, status, 1)) {
        cJSON_Delete(status); /* unchanged: no write (and no event loop with ourselves) */
        return;
    }
    kco_status_queue(op->status, kco_jstr(fpg, "metadata.namespace"), kco_jstr(fpg, "metadata.name"), status);
}

/* The entries as last written, but those of members not Ready now stale:
 * the status of an object being deleted tells the truth too. */
static void mark_stale_entries(kco_operator *op, cJSON *status)
{
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(status, "clusters")) {
        const char *name = kco_jstr(e, "clusterName");
        kco_member *m = name ? kco_member_find(op, name) : NULL;
        if (!m || m->online)
            continue;
        char msg[700];
        const char *reason = away_reason(m, msg, sizeof(msg));
        cJSON_ReplaceItemInObject(e, "stale", cJSON_CreateBool(1));
        if (!cJSON_GetObjectItem(e, "stale"))
            cJSON_AddBoolToObject(e, "stale", 1);
        cJSON_DeleteItemFromObject(e, "reason");
        cJSON_AddStringToObject(e, "reason", reason);
        cJSON_DeleteItemFromObject(e, "message");
        cJSON_AddStringToObject(e, "message", msg);
    }
}

void kco_status_deleting(kco_operator *op, const cJSON *fpg, const char *msg)
{
    const cJSON *current = cJSON_GetObjectItem(fpg, "status");
    cJSON *status = current ? cJSON_Duplicate(current, 1) : cJSON_CreateObject();
    mark_stale_entries(op, status);
    cJSON *conds = cJSON_GetObjectItem(status, "conditions");
    if (!cJSON_IsArray(conds)) {
        cJSON_DeleteItemFromObject(status, "conditions");
        conds = cJSON_AddArrayToObject(status, "conditions");
    }
    for (int i = cJSON_GetArraySize(conds) - 1; i >= 0; i--) {
        const char *t = kco_jstr(cJSON_GetArrayItem(conds, i), "type");
        if (t && !strcmp(t, "Deleting"))
            cJSON_DeleteItemFromArray(conds, i);
    }
    char now[40];
    kco_iso_time(time(NULL), now, sizeof(now));
    add_condition(conds, fpg, "Deleting", "True", "WaitingForMembers", msg, now);
    if (current && cJSON_Compare(current, status, 1)) {
        cJSON_Delete(status);
        return;
    }
    kco_status_queue(op->status, kco_jstr(fpg, "metadata.namespace"), kco_jstr(fpg, "metadata.name"), status);
}
