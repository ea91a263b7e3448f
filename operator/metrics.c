/* metrics.c - the operator's Prometheus metrics, under the names people
 * already graph (controller-runtime, client-go workqueue and REST client),
 * plus per-member health. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operator.h"

#define CTL "federatedpodgroup"

static const char *BUCKETS[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};

static void reconcile_metrics(kco_metrics *m, kco_operator *op)
{
    kc_controller_stats st = {0};
    if (op->ctl)
        kc_controller_get_stats(op->ctl, &st);
    kco_metrics_help(m, "controller_runtime_reconcile_total", "counter", "Reconciles by result.");
    kco_metrics_sample_kv(m, "controller_runtime_reconcile_total", (double)st.ok, "controller", CTL, "result", "success", NULL);
    kco_metrics_sample_kv(m, "controller_runtime_reconcile_total", (double)st.errors, "controller", CTL, "result", "error", NULL);
    kco_metrics_sample_kv(m, "controller_runtime_reconcile_total", (double)st.requeue_after, "controller", CTL, "result", "requeue_after", NULL);
    kco_metrics_help(m, "controller_runtime_reconcile_errors_total", "counter", "Reconciles that failed.");
    kco_metrics_sample_kv(m, "controller_runtime_reconcile_errors_total", (double)st.errors, "controller", CTL, NULL);
    kco_metrics_help(m, "controller_runtime_reconcile_time_seconds", "histogram", "Time per reconcile.");
    for (int i = 0; i < 12; i++)
        kco_metrics_sample_kv(m, "controller_runtime_reconcile_time_seconds_bucket", (double)st.time_buckets[i],
                              "controller", CTL, "le", BUCKETS[i], NULL);
    kco_metrics_sample_kv(m, "controller_runtime_reconcile_time_seconds_sum", (double)st.time_ns_total / 1e9, "controller", CTL, NULL);
    kco_metrics_sample_kv(m, "controller_runtime_reconcile_time_seconds_count", (double)st.time_count, "controller", CTL, NULL);
    kco_metrics_help(m, "controller_runtime_active_workers", "gauge", "Reconciles in progress.");
    kco_metrics_sample_kv(m, "controller_runtime_active_workers", st.in_progress, "controller", CTL, NULL);
}

static void queue_metrics(kco_metrics *m, kco_operator *op)
{
    kc_workqueue_stats q = {0};
    if (op->ctl)
        kc_workqueue_get_stats(kc_controller_queue(op->ctl), &q);
    kco_metrics_help(m, "workqueue_depth", "gauge", "Keys waiting in the work queue.");
    kco_metrics_sample_kv(m, "workqueue_depth", (double)q.depth, "name", CTL, NULL);
    kco_metrics_help(m, "workqueue_adds_total", "counter", "Keys added to the work queue.");
    kco_metrics_sample_kv(m, "workqueue_adds_total", (double)q.adds_total, "name", CTL, NULL);
    kco_metrics_help(m, "workqueue_retries_total", "counter", "Keys requeued with a delay.");
    kco_metrics_sample_kv(m, "workqueue_retries_total", (double)q.retries_total, "name", CTL, NULL);
    kco_metrics_help(m, "workqueue_longest_running_processor_seconds", "gauge", "Longest reconcile in progress.");
    kco_metrics_sample_kv(m, "workqueue_longest_running_processor_seconds", (double)q.longest_running_ns / 1e9, "name", CTL, NULL);
}

typedef struct rest_ctx {
    kco_metrics *m;
    const char *host;
} rest_ctx;

static void rest_count(const char *method, const char *code, uint64_t count, void *ud)
{
    rest_ctx *r = ud;
    kco_metrics_sample_kv(r->m, "rest_client_requests_total", (double)count, "code", code, "method",
                          method, "host", r->host, NULL);
}

static void rest_metrics(kco_metrics *m, kco_operator *op)
{
    kco_metrics_help(m, "rest_client_requests_total", "counter", "HTTP requests by status code, method and host.");
    rest_ctx hub = {m, kc_config_server(op->hub_cfg)};
    kc_client_each_request_count(op->hub, rest_count, &hub);
    for (kco_member *mb = op->members; mb; mb = mb->next) {
        if (!mb->client)
            continue;
        rest_ctx r = {m, kc_config_server(mb->cfg)};
        kc_client_each_request_count(mb->client, rest_count, &r);
    }
}

static void member_metrics(kco_metrics *m, kco_operator *op)
{
    kco_metrics_help(m, "kclient_member_ready", "gauge", "Member Ready condition: 1 True, 0 False, -1 Unknown.");
    kco_metrics_help(m, "kclient_member_last_contact_timestamp_seconds", "gauge", "Last successful contact with the member.");
    kco_metrics_help(m, "kclient_member_dead_links_total", "counter", "Dead links found by the health check.");
    kco_metrics_help(m, "kclient_member_phase", "gauge", "1 for the member's lifecycle phase (docs/member-lifecycle.md).");
    kco_metrics_help(m, "kclient_member_writes_in_flight", "gauge", "Writes to the member waiting for its answer.");
    for (kco_member *mb = op->members; mb; mb = mb->next) {
        kco_metrics_sample_kv(m, "kclient_member_phase", 1, "cluster", mb->name, "phase", kco_member_phase(mb), NULL);
        kco_metrics_sample_kv(m, "kclient_member_writes_in_flight", (double)kco_track_inflight(mb->track), "cluster", mb->name, NULL);
        double v = !strcmp(mb->ready, "True") ? 1 : !strcmp(mb->ready, "False") ? 0 : -1;
        kco_metrics_sample_kv(m, "kclient_member_ready", v, "cluster", mb->name, NULL);
        kco_metrics_sample_kv(m, "kclient_member_last_contact_timestamp_seconds", (double)mb->last_contact, "cluster", mb->name, NULL);
        kc_client_stats st = {0};
        if (mb->client)
            kc_client_get_stats(mb->client, &st);
        kco_metrics_sample_kv(m, "kclient_member_dead_links_total", (double)st.dead_links, "cluster", mb->name, NULL);
    }
}

char *kco_metrics_render(kco_operator *op)
{
    kco_metrics *m = kco_metrics_new();
    if (!m)
        return NULL;
    reconcile_metrics(m, op);
    queue_metrics(m, op);
    rest_metrics(m, op);
    member_metrics(m, op);
    kco_metrics_help(m, "leader_election_master_status", "gauge", "1 while this replica leads.");
    kco_metrics_sample_kv(m, "leader_election_master_status", op->leading, "name", op->o.lease_name, NULL);
    kco_metrics_help(m, "kclient_status_batches_total", "counter", "PatchStatusAll runs writing hub statuses.");
    kco_metrics_sample(m, "kclient_status_batches_total", NULL, (double)kco_status_batches(op->status));
    kco_metrics_help(m, "kclient_status_writes_total", "counter", "Hub statuses written by those runs.");
    kco_metrics_sample(m, "kclient_status_writes_total", NULL, (double)kco_status_items(op->status));
    kco_metrics_help(m, "kclient_member_writes_total", "counter", "Member PodGroup writes.");
    kco_metrics_sample_kv(m, "kclient_member_writes_total", (double)op->reconcile_applies, "verb", "apply", NULL);
    kco_metrics_sample_kv(m, "kclient_member_writes_total", (double)op->reconcile_deletes, "verb", "delete", NULL);
    const char *t = kco_metrics_text(m);
    char *out = t ? strdup(t) : NULL;
    kco_metrics_free(m);
    return out;
}
