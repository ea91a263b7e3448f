/* fuzz_http.h - a small HTTP/1.1 server on 127.0.0.1 for the fuzz targets
 * that reach the library through its real request path (curl, the header
 * callback of transport.c, rest.c, discovery.c, informer.c), and a client
 * of it.
 *
 * The server answers each connection on a thread of its own: it reads a
 * request head, asks the current input's responder (under a lock) for the
 * whole response and writes it; well-framed JSON answers keep the
 * connection for the client's next request, others say "Connection: close"
 * and are followed by the end of the stream.  A closing connection waits
 * for the client to close first, then resets, so no TIME_WAIT piles up over
 * millions of inputs.  Requests of one input are numbered from 0 and
 * their targets ("/api/v1/...?...") are kept for the checks.  The client is
 * made once per process: HTTP/1.1, no client-side rate limit, one attempt
 * per request, no health check, and a clock that a target may move ahead
 * (fuzz_http_skip_ns) past a backoff it would otherwise sit out. */
#ifndef KC_FUZZ_HTTP_H
#define KC_FUZZ_HTTP_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "kclient/kclient.h"

/* The full response (status line, headers, blank line, body) to request
 * index of the current input: malloc'd, *len set.  Runs on a server thread
 * with the server locked, so it may read what the input set up. */
typedef char *(*fuzz_http_fn)(unsigned index, const char *target, size_t *len, void *ud);

#define FUZZ_HTTP_LOG 256

static struct {
    int lfd, port;
    pthread_mutex_t mu;
    fuzz_http_fn fn;
    void *ud;
    unsigned count;
    char *targets[FUZZ_HTTP_LOG];
} fuzz_http = {-1, 0, PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, {NULL}};

/* "HTTP/1.1 <status> Fuzz\r\n" + extra header text (each line ending in
 * "\r\n", may be empty) + Content-Type, Content-Length, and with close
 * "Connection: close" + the body.  Without close the connection stays open
 * for the client's next request (curl keeps it in its pool). */
static inline char *fuzz_http_build(int status, const char *ctype, const char *extra,
                                    size_t extra_len, const void *body, size_t body_len,
                                    int close, size_t *len)
{
    fuzz_buf b = {0};
    fuzz_buf_addf(&b, "HTTP/1.1 %d Fuzz\r\n", status);
    if (ctype)
        fuzz_buf_addf(&b, "Content-Type: %s\r\n", ctype);
    fuzz_buf_add(&b, extra, extra_len);
    fuzz_buf_addf(&b, "Content-Length: %zu\r\n%s\r\n", body_len, close ? "Connection: close\r\n" : "");
    fuzz_buf_add(&b, body, body_len);
    *len = b.n;
    return b.p;
}

/* A response whose head may be anything: the connection closes after it. */
static inline char *fuzz_http_response(int status, const char *ctype, const char *extra,
                                       size_t extra_len, const void *body, size_t body_len,
                                       size_t *len)
{
    return fuzz_http_build(status, ctype, extra, extra_len, body, body_len, 1, len);
}

/* A well-framed JSON answer on a connection that stays open. */
static inline char *fuzz_http_json(int status, const void *body, size_t body_len, size_t *len)
{
    return fuzz_http_build(status, "application/json", "", 0, body, body_len, 0, len);
}

static inline void fuzz_http_send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Read one request head into req; its target into target.  0 at EOF. */
static inline int fuzz_http_read_head(int fd, char *req, size_t cap, char *target, size_t tcap)
{
    size_t n = 0;
    req[0] = '\0';
    while (n < cap - 1 && !strstr(req, "\r\n\r\n")) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 30000) <= 0)
            return 0;
        ssize_t r = read(fd, req + n, cap - 1 - n);
        if (r <= 0)
            return 0;
        n += (size_t)r;
        req[n] = '\0';
    }
    /* "GET <target> HTTP/1.1" */
    target[0] = '\0';
    const char *sp = strchr(req, ' ');
    if (sp) {
        size_t k = strcspn(sp + 1, " \r\n");
        if (k >= tcap)
            k = tcap - 1;
        memcpy(target, sp + 1, k);
        target[k] = '\0';
    }
    return 1;
}

static inline void *fuzz_http_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[16384], target[8192];
    int close_after = 0;
    while (!close_after && fuzz_http_read_head(fd, req, sizeof(req), target, sizeof(target))) {
        size_t len = 0;
        char *resp = NULL;
        pthread_mutex_lock(&fuzz_http.mu);
        unsigned idx = fuzz_http.count++;
        if (idx < FUZZ_HTTP_LOG)
            fuzz_http.targets[idx] = strdup(target);
        if (fuzz_http.fn)
            resp = fuzz_http.fn(idx, target, &len, fuzz_http.ud);
        pthread_mutex_unlock(&fuzz_http.mu);
        if (!resp) /* a straggler from an earlier input */
            resp = fuzz_http_response(500, "application/json", "", 0, "{}", 2, &len);
        /* our framing ends the head with Content-Length and maybe Connection */
        char *head_end = strstr(resp, "\r\n\r\n");
        close_after = !head_end || memmem(resp, (size_t)(head_end - resp) + 2,
                                          "\r\nConnection: close\r\n", 21) != NULL;
        fuzz_http_send_all(fd, resp, len);
        free(resp);
    }
    /* The end of the body is also the end of the stream (a response whose
     * head a fuzzed line cut short still ends); let the client close first,
     * then reset: no TIME_WAIT on our side. */
    shutdown(fd, SHUT_WR);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        char sink[4096];
        if (poll(&p, 1, 3000) <= 0 || read(fd, sink, sizeof(sink)) <= 0)
            break;
    }
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    return NULL;
}

static inline void *fuzz_http_accept(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept4(fuzz_http.lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
                continue;
            perror("fuzz_http: accept");
            abort();
        }
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, fuzz_http_conn, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&at);
    }
    return NULL;
}

static inline void fuzz_http_start(void)
{
    if (fuzz_http.lfd >= 0)
        return;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        perror("fuzz_http: listen");
        abort();
    }
    fuzz_http.lfd = fd;
    fuzz_http.port = ntohs(a.sin_port);
    pthread_t t;
    if (pthread_create(&t, NULL, fuzz_http_accept, NULL) != 0)
        abort();
    pthread_detach(t);
}

/* Start an input: responder fn with ud answers its requests. */
static inline void fuzz_http_begin(fuzz_http_fn fn, void *ud)
{
    pthread_mutex_lock(&fuzz_http.mu);
    for (unsigned i = 0; i < FUZZ_HTTP_LOG; i++) {
        free(fuzz_http.targets[i]);
        fuzz_http.targets[i] = NULL;
    }
    fuzz_http.count = 0;
    fuzz_http.fn = fn;
    fuzz_http.ud = ud;
    pthread_mutex_unlock(&fuzz_http.mu);
}

/* End it: later connections get a plain 500. */
static inline void fuzz_http_end(void)
{
    pthread_mutex_lock(&fuzz_http.mu);
    fuzz_http.fn = NULL;
    fuzz_http.ud = NULL;
    pthread_mutex_unlock(&fuzz_http.mu);
}

/* Requests so far in this input. */
static inline unsigned fuzz_http_count(void)
{
    pthread_mutex_lock(&fuzz_http.mu);
    unsigned n = fuzz_http.count;
    pthread_mutex_unlock(&fuzz_http.mu);
    return n;
}

/* The target of request i (a copy the caller frees), or NULL. */
static inline char *fuzz_http_target(unsigned i)
{
    pthread_mutex_lock(&fuzz_http.mu);
    char *t = i < FUZZ_HTTP_LOG && fuzz_http.targets[i] ? strdup(fuzz_http.targets[i]) : NULL;
    pthread_mutex_unlock(&fuzz_http.mu);
    return t;
}

/* How far the client's clock is ahead of CLOCK_MONOTONIC (the client's
 * thread alone reads and moves it). */
static uint64_t fuzz_http_skew;

static inline uint64_t fuzz_http_clock(void *ud)
{
    (void)ud;
    return kc_now_ns() + fuzz_http_skew;
}

/* Move the client's clock ns ahead: its timers due by then run at its next
 * turn, a request in flight may reach its deadline. */
static inline void fuzz_http_skip_ns(uint64_t ns) { fuzz_http_skew += ns; }

/* The process's client of the server (made on first use, never freed: it
 * stays reachable, so LeakSanitizer does not count it). */
static inline kc_client *fuzz_http_client(void)
{
    static kc_config *cfg;
    static kc_client *client;
    if (client)
        return client;
    fuzz_http_start();
    char kubeconfig[512];
    int n = snprintf(kubeconfig, sizeof(kubeconfig),
                     "apiVersion: v1\nkind: Config\n"
                     "clusters: [{name: fuzz, cluster: {server: \"http://127.0.0.1:%d\"}}]\n"
                     "contexts: [{name: fuzz, context: {cluster: fuzz, namespace: ns}}]\n"
                     "current-context: fuzz\n",
                     fuzz_http.port);
    kc_error err = KC_ERROR_INIT;
    kc_client_options o = {.qps = -1,
                           .max_attempts = 1,
                           .connect_timeout_ms = 20000,
                           .request_timeout_ms = 20000, /* a hang is libFuzzer's -timeout */
                           .http1_only = 1,
                           .health_check_ms = -1,
                           .clock = fuzz_http_clock};
    if (kc_config_from_buffer(kubeconfig, (size_t)n, "fuzz", NULL, NULL, &cfg, &err) != KC_OK ||
        kc_client_new(cfg, &o, &client, &err) != KC_OK) {
        fprintf(stderr, "fuzz_http: client: %s\n", err.message ? err.message : "?");
        abort();
    }
    return client;
}

/* Percent-decode the value of query parameter name in target into a new
 * string; NULL when absent. */
static inline char *fuzz_http_query(const char *target, const char *name)
{
    const char *q = strchr(target, '?');
    size_t k = strlen(name);
    for (const char *p = q; p && *p; p = strchr(p, '&')) {
        p++;
        if (strncmp(p, name, k) == 0 && p[k] == '=') {
            const char *v = p + k + 1;
            size_t n = strcspn(v, "&");
            char *out = malloc(n + 1), *w = out;
            if (!out)
                abort();
            for (size_t i = 0; i < n; i++) {
                unsigned hi, lo;
                if (v[i] == '%' && i + 2 < n && sscanf(v + i + 1, "%1x%1x", &hi, &lo) == 2) {
                    *w++ = (char)(hi << 4 | lo);
                    i += 2;
                } else {
                    *w++ = v[i];
                }
            }
            *w = '\0';
            return out;
        }
    }
    return NULL;
}

#endif
