/* Integration: leader election on a Lease with two candidates on the real
 * control plane.  The leader's link is black-holed: it must stop leading by
 * its renew deadline, and the standby must take over only after the lease
 * has expired as it observed it, never while the old leader may still act.
 * A leader that stops releases the lease: the standby takes over at once. */
#include "kc_proxy.h"
#include "kc_test.h"
#include "kclient/lease.h"

typedef struct cand {
    const char *id;
    uint64_t started_ns, stopped_ns;
    int starts, stops;
    char new_leader[64];
} cand;

static void started(kc_lease *l, void *ud)
{
    (void)l;
    cand *c = ud;
    c->starts++;
    c->started_ns = kc_now_ns();
}

static void stopped(kc_lease *l, void *ud)
{
    (void)l;
    cand *c = ud;
    c->stops++;
    c->stopped_ns = kc_now_ns();
}

static void new_leader(kc_lease *l, const char *id, void *ud)
{
    (void)l;
    cand *c = ud;
    snprintf(c->new_leader, sizeof(c->new_leader), "%s", id);
}

static kc_lease *campaign(kc_client *c, const char *ns, cand *who)
{
    kc_lease_options o = {.namespace_ = ns, .name = "leader", .identity = who->id,
                          .lease_duration_ms = 4000, .renew_deadline_ms = 2500,
                          .retry_period_ms = 500,
                          .on_started_leading = started, .on_stopped_leading = stopped,
                          .on_new_leader = new_leader, .ud = who};
    kc_lease *l = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_lease_start(c, &o, &l, &err), &err);
    return l;
}

static void drive(kc_client *a, kc_client *b, long ms, int (*until)(void *), void *ud)
{
    uint64_t end = kc_now_ns() + (uint64_t)ms * 1000000ull;
    while (kc_now_ns() < end && !(until && until(ud))) {
        kc_client_run_once(a, 5);
        kc_client_run_once(b, 5);
    }
}

static int leads(void *ud) { return kc_lease_is_leader(ud); }

START_TEST(hand_over_after_expiry_and_not_before)
{
    kct_proxy px;
    kct_proxy_start(&px, kct_cluster_port(NULL));
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_config *pcfg = kct_config_via_proxy(NULL, "kubeconfig", &px);
    kc_client_options quick = {.health_check_ms = -1};
    kc_client *ca = kct_client(pcfg, &quick);
    kc_client *cb = kct_client(cfg, NULL);
    char *ns = kct_namespace(cb, "lease");
    cand a = {"candidate-a"}, b = {"candidate-b"};
    kc_lease *la = campaign(ca, ns, &a);
    drive(ca, cb, 10000, leads, la);
    ck_assert(kc_lease_is_leader(la));
    kc_lease *lb = campaign(cb, ns, &b);
    drive(ca, cb, 2000, NULL, NULL);
    ck_assert(!kc_lease_is_leader(lb));
    ck_assert_str_eq(b.new_leader, "candidate-a");
    ck_assert_str_eq(kc_lease_holder(lb), "candidate-a");

    kct_proxy_ctl(&px, "mode?set=blackhole");
    uint64_t cut = kc_now_ns();
    drive(ca, cb, 15000, leads, lb);
    ck_assert(kc_lease_is_leader(lb));
    ck_assert_int_eq(a.stops, 1);
    double a_stop = (double)(a.stopped_ns - cut) / 1e9;
    double b_start = (double)(b.started_ns - cut) / 1e9;
    fprintf(stderr, "leader cut off: it stopped after %.2fs, the standby took over after %.2fs\n",
            a_stop, b_start);
    ck_assert(a_stop <= 2.5 + 0.2);         /* by its renew deadline (its last renewal came before the cut) */
    ck_assert(b_start >= a_stop);           /* never two leaders */
    ck_assert(b_start >= 4.0 - 0.6);        /* not before the lease expired as observed */
    ck_assert_str_eq(b.new_leader, "candidate-b");

    /* the new leader stops: it releases, the other (link back) takes over at once */
    kct_proxy_ctl(&px, "mode?set=pass");
    drive(ca, cb, 1500, NULL, NULL);
    ck_assert(!kc_lease_is_leader(la));
    uint64_t release = kc_now_ns();
    kc_lease_stop(lb);
    drive(ca, cb, 10000, leads, la);
    ck_assert(kc_lease_is_leader(la));
    ck_assert_int_eq(b.stops, 1);
    double takeover = (double)(kc_now_ns() - release) / 1e9;
    fprintf(stderr, "after a release the standby took over in %.2fs\n", takeover);
    ck_assert(takeover < 2.0); /* no waiting for expiry */
    kc_lease_stop(la);
    drive(ca, cb, 1000, NULL, NULL);
    ck_assert_int_eq(a.stops, 2);
    kc_client_free(ca);
    kc_client_free(cb);
    kc_config_free(pcfg);
    kc_config_free(cfg);
    kct_proxy_stop(&px);
    free(ns);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("lease");
    TCase *tc = tcase_create("lease");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, hand_over_after_expiry_and_not_before);
    suite_add_tcase(s, tc);
    return kct_run_suite(s);
}
