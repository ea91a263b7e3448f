/* operator/httpd.h - /healthz, /readyz and /metrics over HTTP, and a small
 * Prometheus text builder.
 *
 * The operator's main loop is single-threaded; the server runs in
 * libmicrohttpd's own polling thread and answers from a snapshot that the
 * main loop publishes (copied, under a mutex).  The handlers never call into
 * the main loop or kclient, so a busy or stuck loop cannot block a probe,
 * and the probe can tell that the loop is stuck.
 *
 * Every server answers all three paths; run one, or two (e.g. metrics and
 * probes on different ports) and publish to both.
 *
 *   /healthz, /readyz  200 "ok", or 500 with the detail (text/plain);
 *                      ?verbose adds the detail to a 200 as well.
 *   /metrics           200, Content-Type: text/plain; version=0.0.4; charset=utf-8
 *   other paths 404; methods other than GET and HEAD 405.
 *
 * Before the first publish, /healthz is ok (the operator is starting),
 * /readyz is 500 and /metrics is empty.
 */
#ifndef KCO_HTTPD_H
#define KCO_HTTPD_H

#include <stddef.h>

typedef struct kco_httpd kco_httpd;

/* Listen on addr, "host:port": ":8081" (all interfaces, IPv6 and IPv4 when
 * the host has IPv6, else IPv4), "127.0.0.1:0" (port 0 = any free port),
 * "[::1]:8080", "localhost:9090".  Returns NULL with a message in errbuf
 * when the address is bad or cannot be bound.  The server thread is running
 * when this returns. */
kco_httpd *kco_httpd_start(const char *addr, char *errbuf, size_t errlen);

/* The bound port (useful after asking for port 0). */
int kco_httpd_port(const kco_httpd *h);

/* Replace the snapshot (main loop, e.g. every second and on changes).  The
 * strings are copied; NULL means "".  healthy/ready: nonzero = pass.  Also
 * records that the main loop is alive (see kco_httpd_set_stall_ms). */
void kco_httpd_publish(kco_httpd *h, int healthy, const char *health_detail, int ready,
                       const char *ready_detail, const char *metrics_text);

/* /healthz and /readyz answer 500 "main loop stalled for Ns (limit Ms)"
 * when nothing was published (since start) for longer than stall_ms: a
 * deadlocked loop gets restarted by the kubelet, and is not reported ready
 * on stale state.  Default 30000; 0 turns the check off. */
void kco_httpd_set_stall_ms(kco_httpd *h, long stall_ms);

/* Stop the server thread (waits for requests in flight) and free.  NULL is
 * allowed. */
void kco_httpd_stop(kco_httpd *h);

/* --- Prometheus text exposition format, 0.0.4 --- */

typedef struct kco_metrics kco_metrics; /* a growable text buffer */

/* NULL on allocation failure. */
kco_metrics *kco_metrics_new(void);

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram...),
 * written only the first time a name is seen, so a loop over series may call
 * it every time.  help may hold any text: it is escaped. */
void kco_metrics_help(kco_metrics *m, const char *name, const char *type, const char *help);

/* One sample line: name{labels} value.  labels is the text between the
 * braces, already escaped (build values with kco_metrics_escape, or use
 * kco_metrics_sample_kv); NULL or "" for none.  Values print exactly
 * (shortest round-trip form; NaN, +Inf, -Inf). */
void kco_metrics_sample(kco_metrics *m, const char *name, const char *labels, double value);

/* Like kco_metrics_sample with labels given as const char * name, value
 * pairs ended by a NULL name; the values are escaped here. */
void kco_metrics_sample_kv(kco_metrics *m, const char *name, double value, ...)
    __attribute__((sentinel));

/* The text so far (owned by m, valid until the next call on m), "" when
 * empty, NULL after an allocation failure (which drops the whole text
 * rather than publish a partial one). */
const char *kco_metrics_text(const kco_metrics *m);

/* NULL is allowed. */
void kco_metrics_free(kco_metrics *m);

/* A label value escaped for the text format: backslash, double quote and
 * newline become \\, \" and \n.  The caller frees; NULL on allocation
 * failure. */
char *kco_metrics_escape(const char *value);

#endif
