/* kclient/client.h - the client: one event loop, many transfers.
 *
 * A kc_client owns one curl multi handle.  Every request, watch and bulk run
 * made through it is a transfer on that loop, multiplexed over a few HTTP/2
 * connections to the API server.  Nothing here starts a thread.
 *
 * Two faces, one implementation:
 *  - async: kc_request_send() starts a request and returns at once; its
 *    callback runs from inside kc_client_run_once() / kc_client_run().
 *  - blocking: kc_get(), kc_patch(), ... (request.h) send and then drive the
 *    same loop until their own request is done.  Other transfers on the
 *    client progress meanwhile.  Do not call blocking helpers from inside a
 *    callback.
 *
 * Thread safety: a kc_client and everything made from it belong to one
 * thread at a time.  Use one client per thread; a kc_config may be shared
 * read-only between clients of the same thread.
 *
 * Retries: a request that meets 429, 503 (or another 5xx, when idempotent)
 * or a connection failure is sent again after Retry-After (header, or the
 * Status's details.retryAfterSeconds) or else exponential backoff with
 * jitter, passing through the rate limiter again, up to max_attempts.
 * Connection failures and 5xx other than 503 are retried only for requests
 * that are safe or idempotent (GET, server-side apply, and writes the caller
 * marks idempotent).  400, 401 (after one credential refresh), 403, 404,
 * 409, 422 are never retried.
 *
 * Dead links: while streams (watches) are open and nothing has arrived for
 * health_check_ms, the client probes the server (GET /healthz on the
 * streams' connections).  Unanswered within health_timeout_ms, the link is
 * dead: this client's connections are dropped (other clients on a shared
 * loop keep theirs), watches resume, idempotent requests retry.  While it
 * stays dead, a probe on a fresh connection goes out every second
 * (health_check_ms when shorter), each given health_timeout_ms.  The first
 * answer, to a probe or to any other request of this client, ends the
 * outage: watches reconnect at once with their backoff reset, and
 * informers waiting to relist list at once (watch.h, informer.h), instead
 * of sitting out the backoff their failures earned while the link was dead.
 */
#ifndef KCLIENT_CLIENT_H
#define KCLIENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KC_VERSION "0.1.0"

typedef struct kc_client kc_client;
typedef struct kc_request kc_request;

/* Log levels: 0 error, 1 warning, 2 info, 3..9 debug detail (like klog -v). */
typedef void (*kc_log_fn)(void *ud, int level, const char *line);

/* Client options.  Zero means the documented default. */
typedef struct kc_client_options {
    double qps;               /* requests/s through the token bucket; 0 = 50; < 0 = no client-side limit
                                 (client-go: 5/10; we rely more on the server's priority and fairness) */
    int burst;                /* 0 = 100 */
    int max_attempts;         /* tries per request incl. the first; 0 = 8; 1 = never retry */
    long backoff_initial_ms;  /* 0 = 200 */
    long backoff_max_ms;      /* 0 = 30000 */
    long connect_timeout_ms;  /* 0 = 10000 */
    long request_timeout_ms;  /* per attempt; 0 = 60000; < 0 = none (watches set none) */
    long low_speed_time_s;    /* abort an attempt receiving < 1 byte/s for this long; 0 = 30; < 0 off */
    long max_connections;     /* connections per host; 0 = 4.  A request that finds them all
                                 busy (or still being set up) waits for one, its timeout
                                 running; fresh_connection requests (request.h) are outside
                                 this budget */
    long keepalive_s;         /* TCP keepalive idle and interval; 0 = 10; < 0 off */
    int http1_only;           /* 1 = do not negotiate HTTP/2 */
    long health_check_ms;     /* while streams (watches) are open and nothing has been received
                                 for this long, probe the server; 0 = 10000; < 0 = off */
    long health_timeout_ms;   /* a probe unanswered this long means the link is dead: every
                                 connection is dropped and re-made, watches resume, idempotent
                                 requests retry (fresh_connection requests, on connections of
                                 their own, are left to their own timeouts); 0 = 4000.
                                 Bound: a link that goes dead is declared dead at most
                                   health_check_ms + health_timeout_ms
                                 after the last byte received from the server (or after the
                                 streams started, when later), plus the time the loop takes to
                                 run a due timer (milliseconds while it is driven): 14 s by
                                 default, within the 15 s documented, against up to 45 s for
                                 client-go's HTTP/2 ping (30 s idle + 15 s).  The probe goes
                                 out when the link has been quiet that long, not on a tick. */
    size_t max_response_bytes;/* 0 = 256 MiB; larger bodies fail with KC_EDECODE */
    const char *user_agent;   /* NULL = "kclient/" KC_VERSION */
    uint64_t (*clock)(void *ud); /* monotonic ns; NULL = CLOCK_MONOTONIC */
    void *clock_ud;
    kc_client *share_loop;    /* drive this client's transfers and timers on share_loop's loop
                                 (one thread, one poll, many servers: hub and member clusters);
                                 NULL = a loop of its own.  Free the sharing clients first or
                                 in any order: the loop lives until its last client is freed. */
    kc_log_fn log;            /* NULL = no logging */
    void *log_ud;
    int verbosity;            /* highest level passed to log; 0 = errors only */
} kc_client_options;

/* Make a client for cfg.  cfg must outlive the client (it is borrowed, not
 * copied: credential caches inside it are shared).  opts may be NULL.
 * Logs at level 1 (warning) that TLS verification is off when cfg has
 * insecure-skip-tls-verify, and each line of kc_config_warnings(cfg). */
kc_code kc_client_new(kc_config *cfg, const kc_client_options *opts, kc_client **out,
                      kc_error *err);

/* Cancel every pending request (their callbacks run with KC_ECANCELLED
 * before this returns), then free the client.  NULL is allowed.  cfg may be
 * freed once this returns.  May be called from inside any callback on the
 * loop, also one of c's own requests: a completion's request is done
 * already; a stream whose on_open/on_data is running gets its KC_ECANCELLED
 * callback once that has returned (its ud must live until then).  The
 * memory goes once the loop has let the last of them go, in that same turn
 * of the loop.  Only c's callbacks run inside it: those of other clients
 * sharing the loop, also ones already due, run at the loop's next turn. */
void kc_client_free(kc_client *c);

kc_config *kc_client_config(kc_client *c);

/* --- the loop --- */

/* Wait at most max_wait_ms (0 = do not wait, < 0 = until something happens)
 * for network activity or a timer, then run due callbacks.  Drives the whole
 * loop (every client sharing it).  Returns the number of requests still
 * pending on the loop. */
int kc_client_run_once(kc_client *c, long max_wait_ms);

/* Run until no request is pending or timeout_ms passes (< 0 = no limit).
 * Returns the number of requests still pending. */
int kc_client_run(kc_client *c, long timeout_ms);

/* Make a kc_client_run/run_once in progress return soon (callable from a
 * callback or a signal handler). */
void kc_client_wakeup(kc_client *c);

/* Number of requests started and not yet completed. */
int kc_client_pending(const kc_client *c);

/* Monotonic now in ns on the client's clock. */
uint64_t kc_client_now(const kc_client *c);

/* Timers on the loop: cb runs from run_once no earlier than delay_ms from
 * now.  Returns an id for kc_client_timer_cancel, or 0 on allocation failure. */
typedef void (*kc_timer_cb)(kc_client *c, void *ud);
uint64_t kc_client_timer(kc_client *c, long delay_ms, kc_timer_cb cb, void *ud);
void kc_client_timer_cancel(kc_client *c, uint64_t id);

/* Log through the client's log function at level (printf-style). */
void kc_log(const kc_client *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --- counters (for /metrics and benchmarks) --- */
typedef struct kc_client_stats {
    uint64_t requests;     /* attempts sent */
    uint64_t responses_2xx, responses_4xx, responses_5xx, responses_429;
    uint64_t transport_errors;
    uint64_t retries;
    uint64_t throttle_wait_ns; /* time spent waiting for the token bucket */
    uint64_t dead_links;       /* times the health check found the link dead (once per
                                  outage: the fresh-connection probes that follow, until the
                                  server answers again, do not count) */
} kc_client_stats;
void kc_client_get_stats(const kc_client *c, kc_client_stats *out);

/* Request counts by verb and code, as client-go's rest_client_requests_total:
 * cb is called once per (method, code) pair seen; code "<error>" for
 * transport failures. */
void kc_client_each_request_count(const kc_client *c,
                                  void (*cb)(const char *method, const char *code,
                                             uint64_t count, void *ud),
                                  void *ud);

#ifdef __cplusplus
}
#endif
#endif
