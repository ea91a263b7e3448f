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

typedef struct kco_operator kco_operator;
typedef struct kco_member kco_member;
typedef struct kco_status_batcher kco_status_batcher;

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
kco_member *kco_member_find(kco_operator *op, const char *name);
int kco_member_matches(const kco_member *m, const cJSON *selector);
void kco_members_free(kco_operator *op);
void kco_members_write_status(kco_operator *op);
void kco_iso_time(time_t t, char *buf, size_t len);

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
void kco_secure_free(char *p, size_t len);

/* metrics.c */
char *kco_metrics_render(kco_operator *op);

#endif
