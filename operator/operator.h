/* operator.h - kclient-operator: FederatedPodGroups in a hub cluster become
 * PodGroups in member (edge) clusters; member statuses come back to the hub.
 *
 * One thread, one loop: the hub client and every member client share the
 * hub client's curl multi (kc_client_options.share_loop).  The HTTP server
 * (httpd.c) runs in libmicrohttpd's thread and only reads snapshots.
 *
 * Files: main.c (flags, wiring, shutdown), members.c (MemberCluster ->
 * member clients, health probes, Ready condition), fpg.c (reconcile of a
 * FederatedPodGroup: placement, apply, clean-up, aggregation), status.c
 * (hub status writes batched through PatchStatusAll), metrics.c. */
#ifndef KCO_OPERATOR_H
#define KCO_OPERATOR_H

#include <cJSON.h>
#include <kclient/kclient.h>
#include <time.h>

#include "httpd.h"
#include "log.h"

#define KCO_GROUP "federation.kclient.io"
#define KCO_VERSION "v1alpha1"
#define KCO_FINALIZER "federation.kclient.io/cleanup"
#define KCO_LABEL_MANAGED_BY "federation.kclient.io/managed-by"
#define KCO_LABEL_FPG_NS "federation.kclient.io/fpg-namespace"
#define KCO_LABEL_FPG_NAME "federation.kclient.io/fpg-name"
#define KCO_ANN_HUB_UID "federation.kclient.io/hub-uid"
#define KCO_ANN_HUB_GEN "federation.kclient.io/hub-generation"
#define KCO_CLUSTER_LABEL "federation.kclient.io/cluster"
#define KCO_ANN_POLICY "federation.kclient.io/deletion-policy"
#define KCO_MEMBER_FINALIZER "federation.kclient.io/member-cleanup"
#define KCO_ANN_FORCE_LEAVE "federation.kclient.io/force-leave"

/* Member write backoff (per member and object) and the hub work queue's
 * per-key ceiling: edge outages must not park work for a quarter hour. */
#define KCO_MEMBER_RETRY_BASE_MS 1000
#define KCO_MEMBER_RETRY_MAX_MS 30000
#define KCO_QUEUE_MAX_BACKOFF_MS 60000

typedef struct kco_operator kco_operator;
typedef struct kco_member kco_member;
typedef struct kco_status_batcher kco_status_batcher;
typedef struct kco_track kco_track;
typedef struct kco_sweep kco_sweep;

/* What we know of our writes of one FederatedPodGroup to one member
 * (track.c).  Strings owned. */
typedef struct kco_write_state {
    char *key;
    int inflight;           /* a write is on its way: never a second one behind it */
    unsigned failures;      /* in a row, for the backoff */
    uint64_t retry_at_ns;   /* no write before (monotonic); 0 = now */
    char *reason, *message; /* the last problem (ApplyFailed, OverrideFailed, ...) or NULL */
    char *logged;           /* the problem text last logged: each distinct one once */
    long acked_gen;         /* generation whose apply the member answered; -1 = none */
    char *acked_uid;        /* hub uid of that apply */
    uint64_t acked_hash;    /* body of that apply */
    uint64_t acked_at_ns;
    char *removed_uid;      /* the member confirmed the copy of this hub uid removed */
    uint64_t removed_at_ns;
    cJSON *published;       /* the entry this process last computed while the member was Ready */
    struct kco_write_state *next;
} kco_write_state;

typedef struct kco_options {
    const char *kubeconfig;
    const char *context;
    const char *namespace_;       /* operator namespace: Lease, kubeconfig Secrets */
    const char *field_manager;    /* kclient-federation */
    const char *identity;         /* leader election identity */
    const char *lease_name;
    int leader_elect;
    long lease_duration_ms, renew_deadline_ms, retry_period_ms;
    const char *metrics_addr;
    const char *probe_addr;
    const char *log_format;
    int verbosity;
    int max_concurrent;
    double api_qps;               /* client-side limit per API server (hub and each member) */
    int api_burst;
    long status_batch_ms;         /* how long status changes gather before one bulk write */
    long shutdown_grace_ms;
    const char *sa_dir;           /* in-cluster service account dir (tests lay one out) */
} kco_options;

struct kco_member {
    kco_operator *op;
    char *name;
    cJSON *labels;                /* MemberCluster metadata.labels (owned) */
    char *secret_ns, *secret_name, *secret_key, *secret_rv;
    char *api;                    /* Coscheduling | Volcano | Auto (spec) */
    int volcano;                  /* resolved flavour */
    int flavour_known;
    long period_s, timeout_s, grace_s;
    int threshold;
    kc_config *cfg;
    kc_client *client;
    kc_informer *pg_inf;
    kc_request *probe;
    kc_request *flavour_req;
    uint64_t probe_timer;
    int failures;
    time_t last_contact;          /* wall clock, for status */
    uint64_t last_contact_ns;     /* monotonic, for the grace period */
    time_t last_probe;
    time_t last_status_write;
    char ready[16];               /* True | False | Unknown */
    char reason[64];
    char *message;
    char ltt[40];                 /* lastTransitionTime of Ready */
    char *version;
    int online;                   /* Ready == True */
    int status_dirty;
    int seen;
    int status_inflight;          /* one MemberCluster status write at a time: never out of order */
    /* lifecycle (lifecycle.c) */
    char *cluster_id;             /* uid of the member's kube-system namespace */
    int identity_known;           /* cluster_id read from the member (or unreadable: served anyway) */
    kc_request *identity_req;
    char *duplicate_of;           /* the MemberCluster that serves the same cluster, or NULL */
    char created[40];             /* MemberCluster creationTimestamp: the older of two duplicates serves */
    char *mc_rv;                  /* MemberCluster resourceVersion (finalizer patches) */
    cJSON *finalizers;            /* MemberCluster metadata.finalizers (owned) */
    int leaving;                  /* deletionTimestamp set */
    int force_leave;              /* annotation federation.kclient.io/force-leave=true */
    int ever_contacted;           /* answered once (now or, per its status, before) */
    char leave_reason[32];
    char *leave_message;
    kc_request *finalizer_req;
    kco_sweep *sweep;             /* listing and cleaning copies (leave, other flavour) */
    int other_flavour_swept;      /* since the client was built */
    char *fail_logged;            /* the probe failure last logged */
    char *fin_logged;             /* the finalizer patch failure last logged */
    uint64_t probe_started_ns;
    kco_track *track;             /* our writes to this member, per object */
    kco_member *next;
};

struct kco_operator {
    kco_options o;
    kco_logger *log;
    kc_config *hub_cfg;
    kc_client *hub;
    kc_informer *fpg_inf, *mc_inf, *secret_inf;
    kc_controller *ctl;
    kc_lease *lease;
    int leading;
    int lost_leadership;
    kco_member *members;
    kco_status_batcher *status;
    uint64_t sync_timer;
    kco_httpd *metrics_httpd, *probe_httpd;
    int shutting_down;
    int placement_changed;        /* set by a member sync: labels or the member set moved */
    uint64_t reconcile_applies, reconcile_deletes;
    char user_agent[192];         /* kclient-operator/VERSION (identity): audit logs tell replicas apart */
};

/* members.c */
void kco_members_schedule_sync(kco_operator *op);
/* The member is written to: Ready, identity known, not a duplicate, not
 * leaving, its flavour known and its PodGroup cache synced. */
int kco_member_serving(const kco_member *m);
void kco_member_set_ready(kco_member *m, const char *status, const char *reason, const char *msg);
/* probe.c */
/* Joining, Ready, NotReady, Unreachable, Duplicate or Leaving (static string). */
const char *kco_member_phase(const kco_member *m);
void kco_probe_start(kco_member *m, long delay_ms); /* no-op while a timer is armed */
void kco_probe_stop(kco_member *m);
kco_member *kco_member_find(kco_operator *op, const char *name);
int kco_member_matches(const kco_member *m, const cJSON *selector);
void kco_members_free(kco_operator *op);
void kco_members_write_status(kco_operator *op);
void kco_iso_time(time_t t, char *buf, size_t len);

/* lifecycle.c: join, leave, duplicates, flavour clean-up */
/* A member copy is ours on m: our managed-by label, and a cluster label that
 * is m's name, empty, or names no MemberCluster (adopted). */
int kco_copy_ours(const kco_member *m, const cJSON *copy);
void kco_lifecycle_step(kco_member *m);      /* after a sync, a probe, an answer */
void kco_lifecycle_duplicates(kco_operator *op);
void kco_lifecycle_stop(kco_member *m);      /* cancel a sweep (the client goes) */
void kco_lifecycle_free(kco_member *m);

/* track.c */
kco_track *kco_track_new(void);
/* The state of key; created (zeroed, acked_gen -1) when create is set.
 * Borrowed from the table until kco_track_drop. */
kco_write_state *kco_track_get(kco_track *t, const char *key, int create);
void kco_track_set_inflight(kco_track *t, kco_write_state *s, int on);
void kco_track_drop(kco_track *t, const char *key); /* kept while a write is in flight */
size_t kco_track_inflight(const kco_track *t);
void kco_track_reset_backoff(kco_track *t);
void kco_track_free(kco_track *t);
void kco_state_set_problem(kco_write_state *s, const char *reason, const char *message);

/* desired.c: the member PodGroup we want */
/* The copy of fpg for m, overrides applied; NULL with *why (owned) when an
 * override cannot apply. */
cJSON *kco_desired_member(const cJSON *fpg, const kco_member *m, char **why);
/* Every field of want is on have with the same value. */
int kco_subset(const cJSON *want, const cJSON *have);
const char *kco_meta_map(const cJSON *obj, const char *map, const char *key);
int kco_placed_on(const cJSON *fpg, const kco_member *m);

/* aggregate.c: member copies -> hub status */
void kco_aggregate(kco_operator *op, const cJSON *fpg, const char *key);
/* While the finalizer waits: the Deleting condition with msg. */
void kco_status_deleting(kco_operator *op, const cJSON *fpg, const char *msg);
const cJSON *kco_old_entry(const cJSON *fpg, const char *cluster);

/* fpg.c */
kc_reconcile_result kco_reconcile(kc_controller *ctl, const char *key, long *after, void *ud);
void kco_enqueue_all(kco_operator *op, long spread_ms);
void kco_member_pg_handlers(kc_informer_handlers *h);

/* status.c */
kco_status_batcher *kco_status_new(kco_operator *op);
/* Queue status (owned) for ns/name; written with the next batch. */
void kco_status_queue(kco_status_batcher *b, const char *ns, const char *name, cJSON *status);
int kco_status_idle(const kco_status_batcher *b);
void kco_status_cancel(kco_status_batcher *b);
void kco_status_free(kco_status_batcher *b);
uint64_t kco_status_batches(const kco_status_batcher *b);
uint64_t kco_status_items(const kco_status_batcher *b);

/* util.c */
/* Values at a dotted path in a cJSON tree, borrowed from it; NULL (def) when
 * absent or of another type. */
const cJSON *kco_jget(const cJSON *o, const char *path);
const char *kco_jstr(const cJSON *o, const char *path);
double kco_jnum(const cJSON *o, const char *path, double def);
/* An integer at path, def when absent, clamped into [min, max]. */
long kco_jlong(const cJSON *o, const char *path, long def, long min, long max);
int kco_base64_decode(const char *in, char **out, size_t *len);
uint64_t kco_hash_str(const char *s); /* FNV-1a */
/* A merge patch setting metadata.finalizers to finalizers without name, and
 * with it when add; guarded by rv when given.  New string, caller frees. */
char *kco_finalizer_patch(const cJSON *finalizers, const char *name, int add, const char *rv);
void kco_secure_free(char *p, size_t len);

/* metrics.c */
char *kco_metrics_render(kco_operator *op);

#endif
