/* kclient/lease.h - leader election on a coordination.k8s.io/v1 Lease.
 *
 * The algorithm of client-go's leaderelection package: every retry period
 * (jittered by 1.2) each candidate reads the Lease; a candidate takes it
 * when it is free or when its holder has not renewed it within the lease
 * duration *as observed locally* (no reliance on clocks agreeing), writing
 * with the resourceVersion it read so that only one candidate wins.  The
 * leader renews every retry period; a leader that has not renewed within the
 * renew deadline stops leading (on_stopped_leading) before its lease can
 * expire for anyone else, since lease duration > renew deadline.  There is
 * no fencing: stop writing when on_stopped_leading runs.
 *
 * Defaults are client-go's: 15 s lease, 10 s renew deadline, 2 s retry.
 */
#ifndef KCLIENT_LEASE_H
#define KCLIENT_LEASE_H

#include "client.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kc_lease kc_lease;

typedef struct kc_lease_options {
    const char *namespace_;   /* required */
    const char *name;         /* required */
    const char *identity;     /* required: unique per candidate (e.g. pod name) */
    long lease_duration_ms;   /* 0 = 15000 */
    long renew_deadline_ms;   /* 0 = 10000 */
    long retry_period_ms;     /* 0 = 2000 */
    int no_release;           /* 0 = give the lease up on kc_lease_stop (default) */
    void (*on_started_leading)(kc_lease *l, void *ud);
    void (*on_stopped_leading)(kc_lease *l, void *ud);
    void (*on_new_leader)(kc_lease *l, const char *identity, void *ud); /* "" when free */
    void *ud;
} kc_lease_options;

/* Start campaigning on c's loop.  opts (and its strings) are copied. */
kc_code kc_lease_start(kc_client *c, const kc_lease_options *opts, kc_lease **out, kc_error *err);

/* 1 while this candidate leads. */
int kc_lease_is_leader(const kc_lease *l);

/* The holder last observed ("" when free; borrowed). */
const char *kc_lease_holder(const kc_lease *l);

/* Stop campaigning.  A leader first releases the lease (holder emptied, so a
 * standby takes over at once) and calls on_stopped_leading; the handle is
 * freed when that write has finished (drive the loop until
 * kc_client_pending is 0).  Safe from the lease's own callbacks. */
void kc_lease_stop(kc_lease *l);

#ifdef __cplusplus
}
#endif
#endif
