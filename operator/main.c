/* main.c - kclient-operator: flags, wiring, the loop, graceful shutdown. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flags.h"
#include "operator.h"

/* The one piece of global state: set by the signal handler, read by the loop. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct raw_flags {
    long verbosity, max_concurrent, qps, burst;
} raw_flags;

static int parse_flags(kco_options *o, raw_flags *raw, int argc, char **argv)
{
    const kco_flag flags[] = {
        {"kubeconfig", KCO_FLAG_STRING, &o->kubeconfig, NULL, "hub kubeconfig; unset: in-cluster, else ~/.kube/config"},
        {"context", KCO_FLAG_STRING, &o->context, NULL, "hub kubeconfig context"},
        {"namespace", KCO_FLAG_STRING, &o->namespace_, "kclient-system", "operator namespace: the Lease and the members' kubeconfig Secrets"},
        {"field-manager", KCO_FLAG_STRING, &o->field_manager, "kclient-federation", "server-side apply field manager"},
        {"leader-elect", KCO_FLAG_BOOL, &o->leader_elect, "false", "elect a leader on a Lease; only the leader writes"},
        {"lease-name", KCO_FLAG_STRING, &o->lease_name, "kclient-operator", "Lease name"},
        {"identity", KCO_FLAG_STRING, &o->identity, NULL, "leader election identity (default $POD_NAME, else host name and pid)"},
        {"lease-duration", KCO_FLAG_DURATION_MS, &o->lease_duration_ms, "15s", "Lease duration"},
        {"renew-deadline", KCO_FLAG_DURATION_MS, &o->renew_deadline_ms, "10s", "leader renew deadline"},
        {"retry-period", KCO_FLAG_DURATION_MS, &o->retry_period_ms, "2s", "leader election retry period"},
        {"metrics-bind-address", KCO_FLAG_STRING, &o->metrics_addr, ":8080", "address of /metrics (\"0\" = off)"},
        {"health-probe-bind-address", KCO_FLAG_STRING, &o->probe_addr, ":8081", "address of /healthz and /readyz"},
        {"log-format", KCO_FLAG_STRING, &o->log_format, "text", "text or json"},
        {"v", KCO_FLAG_INT, &raw->verbosity, "0", "log verbosity (0-9)"},
        {"max-concurrent-reconciles", KCO_FLAG_INT, &raw->max_concurrent, "16", "FederatedPodGroups reconciled at once"},
        {"kube-api-qps", KCO_FLAG_INT, &raw->qps, "-1", "client-side requests/s per API server (hub and each member); -1 = no client-side limit (the servers' priority and fairness protect them, as with controller-runtime)"},
        {"kube-api-burst", KCO_FLAG_INT, &raw->burst, "200", "token bucket size when --kube-api-qps is set"},
        {"status-batch-interval", KCO_FLAG_DURATION_MS, &o->status_batch_ms, "100ms", "how long hub status changes gather before one PatchStatusAll run"},
        {"shutdown-grace-period", KCO_FLAG_DURATION_MS, &o->shutdown_grace_ms, "20s", "time to finish in-flight writes on SIGTERM"},
        {"service-account-dir", KCO_FLAG_STRING, &o->sa_dir, NULL, "in-cluster service account directory (default /var/run/secrets/kubernetes.io/serviceaccount)"},
    };
    int rc = kco_flags_parse(flags, sizeof(flags) / sizeof(flags[0]), argc, argv, "kclient-operator",
                             "Reconciles FederatedPodGroups in the hub into PodGroups in member "
                             "clusters and aggregates their status back.",
                             stdout, stderr);
    o->verbosity = (int)raw->verbosity;
    o->max_concurrent = (int)raw->max_concurrent;
    o->api_qps = raw->qps < 0 ? -1 : (double)raw->qps;
    o->api_burst = (int)raw->burst;
    return rc;
}

static kc_code load_hub_config(kco_operator *op, kc_error *err)
{
    kc_config_options co = {.kubeconfig = op->o.kubeconfig, .context = op->o.context};
    if (!op->o.kubeconfig && getenv("KUBERNETES_SERVICE_HOST"))
        return kc_config_in_cluster(op->o.sa_dir, &op->hub_cfg, err);
    return kc_config_load(&co, &op->hub_cfg, err);
}

/* --- informer handlers --- */

static void any_add(kc_informer *i, const cJSON *o, void *ud)
{
    (void)i;
    (void)o;
    kco_members_schedule_sync(ud);
}
static void any_update(kc_informer *i, const cJSON *a, const cJSON *b, void *ud)
{
    (void)i;
    (void)a;
    (void)b;
    kco_members_schedule_sync(ud);
}
static void any_synced(kc_informer *i, void *ud)
{
    (void)i;
    kco_members_schedule_sync(ud);
}

static kc_code start_informer(kco_operator *op, kc_ref ref, kc_informer_handlers h, void *ud,
                              kc_informer **out, kc_error *err)
{
    kc_informer_options io = {.ref = ref, .handlers = h, .ud = ud};
    return kc_informer_start(op->hub, &io, out, err);
}

static kc_code start_watching(kco_operator *op, kc_error *err)
{
    kc_informer_handlers members = {any_add, any_update, any_add, any_synced};
    kc_controller_options co = {.name = "federatedpodgroup",
                                .max_concurrent = op->o.max_concurrent,
                                /* client-go's 1000 s ceiling parks work for a quarter hour
                                 * after an edge outage; member writes have their own backoff */
                                .queue = {.max_delay_ns = (uint64_t)KCO_QUEUE_MAX_BACKOFF_MS * 1000000ull},
                                .reconcile = kco_reconcile,
                                .ud = op};
    kc_code rc = kc_controller_new(op->hub, &co, &op->ctl, err);
    if (rc == KC_OK)
        rc = start_informer(op, (kc_ref){NULL, "v1", "secrets", op->o.namespace_, NULL, NULL},
                            members, op, &op->secret_inf, err);
    if (rc == KC_OK)
        rc = start_informer(op, (kc_ref){KCO_GROUP, KCO_VERSION, "memberclusters", NULL, NULL, NULL},
                            members, op, &op->mc_inf, err);
    if (rc == KC_OK)
        rc = start_informer(op, (kc_ref){KCO_GROUP, KCO_VERSION, "federatedpodgroups", NULL, NULL, NULL},
                            kc_controller_handlers(), op->ctl, &op->fpg_inf, err);
    return rc;
}

/* --- leadership --- */

static void started_leading(kc_lease *l, void *ud)
{
    (void)l;
    kco_operator *op = ud;
    if (op->lost_leadership || op->shutting_down)
        return; /* deposed or stopping: never lead again in this process (the Lease may still
                   name us while we drain; a renewal then must not restart the work) */
    op->leading = 1;
    kco_log(op->log, 2, "started leading", "identity", op->o.identity, NULL);
    for (kco_member *m = op->members; m; m = m->next) {
        m->status_dirty = 1;
        kco_lifecycle_step(m); /* finalizers at once: a MemberCluster deleted now must wait for us */
    }
    kco_enqueue_all(op, 0);
}

static void stopped_leading(kc_lease *l, void *ud)
{
    (void)l;
    kco_operator *op = ud;
    if (!op->leading)
        return;
    op->leading = 0;
    kco_status_cancel(op->status); /* no fencing: stop writing now */
    if (!op->shutting_down) {
        kco_log(op->log, 0, "lost leadership: exiting so that a fresh process campaigns again",
                "identity", op->o.identity, NULL);
        op->lost_leadership = 1;
    }
}

static kc_code start_leading(kco_operator *op, kc_error *err)
{
    if (!op->o.leader_elect) {
        op->leading = 1;
        return KC_OK;
    }
    kc_lease_options lo = {.namespace_ = op->o.namespace_,
                           .name = op->o.lease_name,
                           .identity = op->o.identity,
                           .lease_duration_ms = op->o.lease_duration_ms,
                           .renew_deadline_ms = op->o.renew_deadline_ms,
                           .retry_period_ms = op->o.retry_period_ms,
                           .on_started_leading = started_leading,
                           .on_stopped_leading = stopped_leading,
                           .ud = op};
    return kc_lease_start(op->hub, &lo, &op->lease, err);
}

/* --- probes and metrics --- */

static int caches_synced(const kco_operator *op)
{
    return op->fpg_inf && kc_informer_has_synced(op->fpg_inf) && kc_informer_has_synced(op->mc_inf) &&
           kc_informer_has_synced(op->secret_inf);
}

static void publish(kco_operator *op)
{
    int ready = caches_synced(op) && !op->shutting_down;
    const char *why = op->shutting_down ? "shutting down" : ready ? (op->leading ? "leading" : "standing by")
                                                                  : "caches not synced yet";
    char *metrics = kco_metrics_render(op);
    if (op->probe_httpd)
        kco_httpd_publish(op->probe_httpd, 1, "ok", ready, why, metrics ? metrics : "");
    if (op->metrics_httpd)
        kco_httpd_publish(op->metrics_httpd, 1, "ok", ready, why, metrics ? metrics : "");
    free(metrics);
}

static kco_httpd *serve(kco_operator *op, const char *addr)
{
    if (!addr || !*addr || !strcmp(addr, "0"))
        return NULL;
    char errbuf[256];
    kco_httpd *h = kco_httpd_start(addr, errbuf, sizeof(errbuf));
    if (!h)
        kco_log(op->log, 0, "cannot serve HTTP", "address", addr, "error", errbuf, NULL);
    else
        kco_log(op->log, 2, "serving HTTP", "address", addr, NULL);
    return h;
}

/* --- run and shut down --- */

static void run_loop(kco_operator *op)
{
    uint64_t last_publish = 0;
    while (!stop_requested && !op->lost_leadership) {
        kc_client_run_once(op->hub, 200);
        uint64_t now = kc_client_now(op->hub);
        if (now - last_publish >= 1000000000ull) {
            publish(op);
            kco_members_write_status(op);
            last_publish = now;
        }
    }
}

/* Stop taking work, finish writes in flight, release the lease. */
static void shut_down(kco_operator *op)
{
    op->shutting_down = 1;
    publish(op);
    kco_log(op->log, 2, "shutting down: finishing writes in flight", NULL);
    if (op->ctl)
        kc_controller_shutdown(op->ctl);
    /* deposed: our writes were cancelled when the lease went; nothing to drain */
    uint64_t grace = op->lost_leadership ? 0 : (uint64_t)op->o.shutdown_grace_ms * 1000000ull;
    uint64_t end = kc_client_now(op->hub) + grace;
    while (kc_client_now(op->hub) < end &&
           ((op->ctl && !kc_controller_idle(op->ctl)) || !kco_status_idle(op->status)))
        kc_client_run_once(op->hub, 50);
    if (op->lease) {
        kc_lease_stop(op->lease); /* releases: a standby takes over at once */
        op->lease = NULL;
        uint64_t release_end = kc_client_now(op->hub) + 3000000000ull;
        do /* at least one turn: the lease finishes from the loop */
            kc_client_run_once(op->hub, 50);
        while (kc_client_now(op->hub) < release_end && op->leading);
    }
}

static void free_all(kco_operator *op)
{
    kco_status_free(op->status);
    kc_informer_stop(op->fpg_inf);
    kc_informer_stop(op->mc_inf);
    kco_members_free(op);
    kc_informer_stop(op->secret_inf);
    kc_controller *ctl = op->ctl;
    op->ctl = NULL; /* the hub requests cancelled below end reconciles: they must not finish on it */
    kc_controller_free(ctl);
    kc_client_free(op->hub);
    kc_config_free(op->hub_cfg);
    kco_httpd_stop(op->metrics_httpd);
    kco_httpd_stop(op->probe_httpd);
    kco_logger_free(op->log);
}

/* $POD_NAME in a Deployment; elsewhere host name and pid, unique enough for
 * several replicas on one machine. */
static char *default_identity(void)
{
    const char *pod = getenv("POD_NAME");
    if (pod && *pod)
        return strdup(pod);
    char host[256] = "", *id = NULL;
    gethostname(host, sizeof(host) - 1);
    return asprintf(&id, "%s_%d", host, (int)getpid()) < 0 ? NULL : id;
}

int main(int argc, char **argv)
{
    kco_operator op = {0};
    raw_flags raw = {0};
    int rc = parse_flags(&op.o, &raw, argc, argv);
    if (rc)
        return rc > 0 ? 0 : 2;
    char *identity = op.o.identity ? NULL : default_identity();
    if (identity)
        op.o.identity = identity;
    op.log = kco_logger_new(stderr, strcmp(op.o.log_format, "json") ? KCO_LOG_TEXT : KCO_LOG_JSON, op.o.verbosity);
    (void)signal(SIGTERM, on_signal); /* fails only for an invalid signal number */
    (void)signal(SIGINT, on_signal);
    (void)signal(SIGPIPE, SIG_IGN);
    kc_error err = KC_ERROR_INIT;
    snprintf(op.user_agent, sizeof(op.user_agent), "kclient-operator/%s (%s)", KC_VERSION,
             op.o.identity);
    kc_client_options co = {.log = kco_kclient_log, .log_ud = op.log, .verbosity = op.o.verbosity + 2,
                            .qps = op.o.api_qps, .burst = op.o.api_burst,
                            .user_agent = op.user_agent};
    int exit_code = 0;
    if (load_hub_config(&op, &err) != KC_OK || kc_client_new(op.hub_cfg, &co, &op.hub, &err) != KC_OK ||
        start_watching(&op, &err) != KC_OK || start_leading(&op, &err) != KC_OK) {
        char line[1024];
        kc_error_format(&err, line, sizeof(line));
        kco_log(op.log, 0, "cannot start", "error", line, NULL);
        exit_code = 2;
    } else {
        op.status = kco_status_new(&op);
        op.probe_httpd = serve(&op, op.o.probe_addr);
        if (op.o.metrics_addr && op.o.probe_addr && strcmp(op.o.metrics_addr, op.o.probe_addr))
            op.metrics_httpd = serve(&op, op.o.metrics_addr);
        kco_log(op.log, 2, "kclient-operator started", "hub", kc_config_server(op.hub_cfg),
                "identity", op.o.identity, "namespace", op.o.namespace_, NULL);
        run_loop(&op);
        shut_down(&op);
        exit_code = op.lost_leadership ? 1 : 0;
        kco_log(op.log, 2, "stopped", NULL);
    }
    kc_error_clear(&err);
    free_all(&op);
    free(identity);
    return exit_code;
}
