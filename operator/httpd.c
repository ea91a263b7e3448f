/* operator/httpd.c - health, readiness and metrics endpoints served by
 * libmicrohttpd's internal thread from a published snapshot (see httpd.h),
 * and the Prometheus text builder the main loop fills that snapshot with.
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Probes come from the kubelet and a scraper or two; a small cap keeps a
 * misbehaving client from using up memory, and the timeout frees slots held
 * by idle keep-alive connections. */
#define CONNECTION_LIMIT 64u
#define CONNECTION_TIMEOUT_S 10u
#define DEFAULT_STALL_MS 30000L

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define TEXT_CONTENT_TYPE "text/plain; charset=utf-8"

struct kco_httpd {
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t mu;
    /* Below: the snapshot, guarded by mu. */
    int healthy, ready;
    char *health_detail, *ready_detail, *metrics; /* NULL reads as "" */
    int64_t last_publish_ms;                      /* monotonic; start time at first */
    long stall_ms;
    /* libmicrohttpd's first complaint while starting, for errbuf */
    int starting;
    char start_err[256];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static const char *or_empty(const char *s) { return s ? s : ""; }

/* --- responses (run on the server thread) --- */

/* Queue body (malloc'd, taken) with code.  A NULL body means we ran out of
 * memory: closing the connection is all that is left to do. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, char *body,
                             const char *content_type, const char *allow)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(strlen(body), body, free);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

/* The probe's status and body from the snapshot.  Call with mu held. */
static char *probe_body_locked(const kco_httpd *h, int readiness, int verbose, unsigned *code)
{
    int64_t since = now_ms() - h->last_publish_ms;
    int ok = readiness ? h->ready : h->healthy;
    const char *detail = or_empty(readiness ? h->ready_detail : h->health_detail);
    *code = MHD_HTTP_INTERNAL_SERVER_ERROR;
    if (h->stall_ms > 0 && since > h->stall_ms)
        return dup_printf("main loop stalled for %.1fs (limit %.1fs)", (double)since / 1000.0,
                          (double)h->stall_ms / 1000.0);
    if (!ok)
        return strdup(*detail ? detail : readiness ? "not ready" : "unhealthy");
    *code = MHD_HTTP_OK;
    if (verbose && *detail)
        return dup_printf("ok\n%s", detail);
    return strdup("ok");
}

static enum MHD_Result serve_probe(kco_httpd *h, struct MHD_Connection *c, int readiness)
{
    /* ?verbose counts with or without a value, as on the API server */
    const char *v = NULL;
    size_t vlen = 0;
    int verbose = MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, "verbose", 7, &v,
                                                &vlen) == MHD_YES;
    unsigned code;
    pthread_mutex_lock(&h->mu);
    char *body = probe_body_locked(h, readiness, verbose, &code);
    pthread_mutex_unlock(&h->mu);
    return reply(c, code, body, TEXT_CONTENT_TYPE, NULL);
}

static enum MHD_Result serve_metrics(kco_httpd *h, struct MHD_Connection *c)
{
    pthread_mutex_lock(&h->mu);
    char *body = strdup(or_empty(h->metrics));
    pthread_mutex_unlock(&h->mu);
    return reply(c, MHD_HTTP_OK, body, METRICS_CONTENT_TYPE, NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
    (void)version, (void)upload, (void)upload_size, (void)req_cls;
    kco_httpd *h = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, strdup("method not allowed"),
                     TEXT_CONTENT_TYPE, "GET, HEAD");
    if (strcmp(url, "/healthz") == 0)
        return serve_probe(h, c, 0);
    if (strcmp(url, "/readyz") == 0)
        return serve_probe(h, c, 1);
    if (strcmp(url, "/metrics") == 0)
        return serve_metrics(h, c);
    return reply(c, MHD_HTTP_NOT_FOUND, strdup("not found"), TEXT_CONTENT_TYPE, NULL);
}

/* libmicrohttpd's messages: the first one while starting explains a failure
 * (bind errors, mostly); later ones go to stderr, as they would by default. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    kco_httpd *h = cls;
    pthread_mutex_lock(&h->mu);
    if (h->starting && !h->start_err[0]) {
        vsnprintf(h->start_err, sizeof(h->start_err), fmt, ap);
        h->start_err[strcspn(h->start_err, "\n")] = 0;
    } else if (!h->starting) {
        fputs("httpd: ", stderr);
        vfprintf(stderr, fmt, ap);
    }
    pthread_mutex_unlock(&h->mu);
}

/* --- addresses --- */

/* Split "host:port", "[v6]:port" or ":port".  host gets "" for all
 * interfaces. */
static int split_addr(const char *addr, char *host, size_t hostlen, unsigned *port)
{
    const char *colon, *h = addr, *hend;
    if (addr[0] == '[') {
        hend = strchr(addr, ']');
        if (!hend || hend[1] != ':')
            return -1;
        h = addr + 1;
        colon = hend + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr))) /* bare IPv6 needs [] */
            return -1;
        hend = colon;
    }
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || p > 65535 || colon[1] == '-' || colon[1] == '+')
        return -1;
    if ((size_t)(hend - h) >= hostlen)
        return -1;
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = 0;
    *port = (unsigned)p;
    return 0;
}

static struct MHD_Daemon *start_daemon(kco_httpd *h, const struct sockaddr *sa, unsigned family_flags)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | family_flags;
    return MHD_start_daemon(flags, 0, NULL, NULL, handle, h,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
                            MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S,
                            MHD_OPTION_END);
}

/* All interfaces: IPv6 with IPv4 mapped in, like Go's ":8081"; plain IPv4
 * where the kernel has no IPv6 (some container hosts disable it). */
static struct MHD_Daemon *start_any(kco_httpd *h, unsigned port)
{
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
                              .sin6_addr = IN6ADDR_ANY_INIT};
    struct MHD_Daemon *d = start_daemon(h, (struct sockaddr *)&a6, MHD_USE_DUAL_STACK);
    if (d)
        return d;
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_ANY)};
    h->start_err[0] = 0; /* report the IPv4 attempt's failure, not IPv6's */
    return start_daemon(h, (struct sockaddr *)&a4, 0);
}

static struct MHD_Daemon *start_host(kco_httpd *h, const char *host, unsigned port,
                                     char *errbuf, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &ai);
    if (rc != 0) {
        snprintf(errbuf, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return NULL;
    }
    struct sockaddr_storage ss;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    int v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (v6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    return start_daemon(h, (struct sockaddr *)&ss, v6 ? MHD_USE_IPv6 : 0);
}

/* --- lifecycle --- */

static kco_httpd *httpd_new(void)
{
    kco_httpd *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    pthread_mutex_init(&h->mu, NULL);
    h->healthy = 1; /* starting up is not a reason to be restarted */
    h->ready_detail = strdup("not ready: no state published yet");
    h->last_publish_ms = now_ms();
    h->stall_ms = DEFAULT_STALL_MS;
    h->starting = 1;
    return h;
}

static void httpd_free(kco_httpd *h)
{
    pthread_mutex_destroy(&h->mu);
    free(h->health_detail);
    free(h->ready_detail);
    free(h->metrics);
    free(h);
}

kco_httpd *kco_httpd_start(const char *addr, char *errbuf, size_t errlen)
{
    char host[256], dummy[1];
    unsigned port;
    if (!errbuf || !errlen) {
        errbuf = dummy;
        errlen = sizeof(dummy);
    }
    errbuf[0] = 0;
    if (!addr || split_addr(addr, host, sizeof(host), &port) < 0) {
        snprintf(errbuf, errlen, "bad listen address \"%s\": want host:port, :port or [v6]:port",
                 or_empty(addr));
        return NULL;
    }
    kco_httpd *h = httpd_new();
    if (!h) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    h->daemon = host[0] ? start_host(h, host, port, errbuf, errlen) : start_any(h, port);
    if (!h->daemon) {
        if (!errbuf[0])
            snprintf(errbuf, errlen, "cannot listen on %s: %s", addr,
                     h->start_err[0] ? h->start_err : "libmicrohttpd failed to start");
        httpd_free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    pthread_mutex_lock(&h->mu);
    h->starting = 0;
    h->port = info ? info->port : (int)port;
    pthread_mutex_unlock(&h->mu);
    return h;
}

int kco_httpd_port(const kco_httpd *h) { return h ? h->port : 0; }

void kco_httpd_publish(kco_httpd *h, int healthy, const char *health_detail, int ready,
                       const char *ready_detail, const char *metrics_text)
{
    if (!h)
        return;
    /* copy outside the lock: the server thread waits only for the swap */
    char *hd = strdup(or_empty(health_detail));
    char *rd = strdup(or_empty(ready_detail));
    char *mt = strdup(or_empty(metrics_text));
    pthread_mutex_lock(&h->mu);
    char *old[3] = {h->health_detail, h->ready_detail, h->metrics};
    h->healthy = healthy;
    h->ready = ready;
    h->health_detail = hd;
    h->ready_detail = rd;
    h->metrics = mt;
    h->last_publish_ms = now_ms();
    pthread_mutex_unlock(&h->mu);
    for (int i = 0; i < 3; i++)
        free(old[i]);
}

void kco_httpd_set_stall_ms(kco_httpd *h, long stall_ms)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stall_ms = stall_ms < 0 ? 0 : stall_ms;
    pthread_mutex_unlock(&h->mu);
}

void kco_httpd_stop(kco_httpd *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    httpd_free(h);
}

/* --- Prometheus text builder --- */

struct kco_metrics {
    char *buf;
    size_t len, cap;
    int failed;      /* an allocation failed: the text is incomplete */
    char **names;    /* names whose HELP/TYPE were written */
    size_t nnames, cap_names;
};

kco_metrics *kco_metrics_new(void)
{
    kco_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->buf = calloc(1, 256);
    if (!m->buf) {
        free(m);
        return NULL;
    }
    m->cap = 256;
    return m;
}

void kco_metrics_free(kco_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nnames; i++)
        free(m->names[i]);
    free(m->names);
    free(m->buf);
    free(m);
}

const char *kco_metrics_text(const kco_metrics *m)
{
    return m && !m->failed ? m->buf : NULL;
}

static int reserve(kco_metrics *m, size_t more)
{
    if (m->failed)
        return -1;
    if (m->len + more + 1 <= m->cap)
        return 0;
    size_t cap = m->cap * 2;
    while (cap < m->len + more + 1)
        cap *= 2;
    char *b = realloc(m->buf, cap);
    if (!b) {
        m->failed = 1;
        return -1;
    }
    m->buf = b;
    m->cap = cap;
    return 0;
}

static void put(kco_metrics *m, const char *s, size_t n)
{
    if (reserve(m, n) < 0)
        return;
    memcpy(m->buf + m->len, s, n);
    m->len += n;
    m->buf[m->len] = 0;
}

static void puts_m(kco_metrics *m, const char *s) { put(m, s, strlen(s)); }

/* Escape backslash and newline, and the double quote too when quote is set
 * (label values; HELP text keeps its quotes). */
static void put_escaped(kco_metrics *m, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            put(m, "\\\\", 2);
        else if (*s == '\n')
            put(m, "\\n", 2);
        else if (*s == '"' && quote)
            put(m, "\\\"", 2);
        else
            put(m, s, 1);
    }
}

char *kco_metrics_escape(const char *value)
{
    kco_metrics *m = kco_metrics_new();
    if (!m)
        return NULL;
    put_escaped(m, or_empty(value), 1);
    char *s = m->failed ? NULL : m->buf;
    if (s)
        m->buf = NULL;
    kco_metrics_free(m);
    return s;
}

/* Remember name; returns 1 when it was new. */
static int first_sight(kco_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->nnames; i++)
        if (strcmp(m->names[i], name) == 0)
            return 0;
    if (m->nnames == m->cap_names) {
        size_t cap = m->cap_names ? m->cap_names * 2 : 16;
        char **n = realloc(m->names, cap * sizeof(*n));
        if (!n) {
            m->failed = 1;
            return 0;
        }
        m->names = n;
        m->cap_names = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        m->failed = 1;
        return 0;
    }
    m->names[m->nnames++] = copy;
    return 1;
}

void kco_metrics_help(kco_metrics *m, const char *name, const char *type, const char *help)
{
    if (!m || !name || !first_sight(m, name))
        return;
    puts_m(m, "# HELP ");
    puts_m(m, name);
    puts_m(m, " ");
    put_escaped(m, or_empty(help), 0);
    puts_m(m, "\n# TYPE ");
    puts_m(m, name);
    puts_m(m, " ");
    puts_m(m, type ? type : "untyped");
    puts_m(m, "\n");
}

/* Shortest text that reads back as the same double; Prometheus spellings
 * for the special values. */
static void format_value(double v, char *buf, size_t len)
{
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(buf, len, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, len, "%.17g", v);
    }
}

static void put_value(kco_metrics *m, double value)
{
    char num[40];
    format_value(value, num, sizeof(num));
    puts_m(m, " ");
    puts_m(m, num);
    puts_m(m, "\n");
}

void kco_metrics_sample(kco_metrics *m, const char *name, const char *labels, double value)
{
    if (!m || !name)
        return;
    puts_m(m, name);
    if (labels && *labels) {
        puts_m(m, "{");
        puts_m(m, labels);
        puts_m(m, "}");
    }
    put_value(m, value);
}

void kco_metrics_sample_kv(kco_metrics *m, const char *name, double value, ...)
{
    if (!m || !name)
        return;
    puts_m(m, name);
    va_list ap;
    va_start(ap, value);
    const char *sep = "{";
    for (const char *k; (k = va_arg(ap, const char *)); sep = ",") {
        puts_m(m, sep);
        puts_m(m, k);
        puts_m(m, "=\"");
        put_escaped(m, or_empty(va_arg(ap, const char *)), 1);
        puts_m(m, "\"");
    }
    va_end(ap);
    if (sep[0] == ',')
        puts_m(m, "}");
    put_value(m, value);
}
