/* transport.c - one attempt of a request as a curl easy transfer: TLS,
 * credentials, headers, timeouts, and what came back. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_internal.h"

static void kc_transport_env_proxy(CURL *e);

static char *header_value(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return NULL;
    const char *v = line + n + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    return kc_strndup0(v, (size_t)(end - v));
}

/* Retry-After is delta-seconds or an HTTP date. */
static double parse_retry_after(const char *v)
{
    char *end;
    double secs = strtod(v, &end);
    if (end != v && *end == '\0') /* a negative delay is malformed (RFC 9110: 1*DIGIT): ignored */
        return secs < 0 || *v == '-' ? -1 : kc_retry_after_clamp(secs);
    time_t when = curl_getdate(v, NULL);
    if (when < 0)
        return -1;
    return kc_retry_after_clamp(difftime(when, time(NULL)));
}

static void reset_response(kc_request *r)
{
    kc_strbuf_free(&r->resp_body);
    free(r->resp_content_type);
    free(r->pf_flow_schema);
    free(r->pf_priority_level);
    r->resp_content_type = r->pf_flow_schema = r->pf_priority_level = NULL;
    r->retry_after_header = -1;
    r->http_status = 0;
    r->too_large = 0;
    r->curl_errbuf[0] = '\0';
}

static void header_end(kc_request *r)
{
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    r->http_status = status;
    if (r->on_open && status >= 200 && status < 300) {
        kc_loop *l = r->client->loop;
        r->in_curl_callback = 1;
        l->in_stream_cb++;
        r->on_open(status, r->stream_ud);
        l->in_stream_cb--;
        r->in_curl_callback = 0;
    }
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    kc_request *r = ud;
    size_t len = size * nitems;
    char *v;
    r->client->last_rx_ns = kc_client_now(r->client);
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        reset_response(r); /* a new response (after 100 Continue, or a retry) */
    } else if (len && (buf[0] == '\r' || buf[0] == '\n')) {
        /* curl ends the head at any line that starts with CR or LF ("\r\r\n"
         * too) and hands it over whole: so must we, or the status is lost */
        header_end(r);
        if (r->cancelled)
            return 0; /* cancelled inside on_open: end the transfer now */
    } else if ((v = header_value(buf, len, "Retry-After"))) {
        r->retry_after_header = parse_retry_after(v);
        free(v);
    } else if ((v = header_value(buf, len, "Content-Type"))) {
        free(r->resp_content_type);
        r->resp_content_type = v;
    } else if ((v = header_value(buf, len, "X-Kubernetes-PF-FlowSchema-UID"))) {
        free(r->pf_flow_schema);
        r->pf_flow_schema = v;
    } else if ((v = header_value(buf, len, "X-Kubernetes-PF-PriorityLevel-UID"))) {
        free(r->pf_priority_level);
        r->pf_priority_level = v;
    }
    return len;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    kc_request *r = ud;
    size_t len = size * nmemb;
    r->client->last_rx_ns = kc_client_now(r->client);
    if (r->cancelled)
        return 0;
    if (r->on_data && r->http_status >= 200 && r->http_status < 300) {
        r->streamed = 1;
        kc_loop *l = r->client->loop;
        r->in_curl_callback = 1;
        l->in_stream_cb++;
        int stop = r->on_data(ptr, len, r->stream_ud);
        l->in_stream_cb--;
        r->in_curl_callback = 0;
        if (stop || r->cancelled) {
            r->aborted_by_stream = 1;
            return 0; /* CURLE_WRITE_ERROR ends the transfer */
        }
        return len;
    }
    if (r->resp_body.len + len > r->client->opts.max_response_bytes) {
        r->too_large = 1;
        return 0;
    }
    return kc_strbuf_append(&r->resp_body, ptr, len) == 0 ? len : 0;
}

static struct curl_slist *build_headers(const char *accept, const char *ctype, const char *token)
{
    struct curl_slist *l = NULL, *n;
    char line[256];
    snprintf(line, sizeof(line), "Accept: %s", accept ? accept : "application/json");
    if (!(l = curl_slist_append(NULL, line)))
        return NULL;
    if (ctype) {
        snprintf(line, sizeof(line), "Content-Type: %s", ctype);
        if (!(n = curl_slist_append(l, line)))
            goto fail;
        l = n;
    }
    if (!(n = curl_slist_append(l, "Expect:"))) /* no 100-continue round trip */
        goto fail;
    l = n;
    if (token) {
        char *auth = kc_asprintf("Authorization: Bearer %s", token);
        n = auth ? curl_slist_append(l, auth) : NULL;
        if (auth)
            kc_free_secret(auth, strlen(auth));
        if (!n)
            goto fail;
        l = n;
    }
    return l;
fail:
    curl_slist_free_all(l);
    return NULL;
}

static int same(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

/* The shared list for these headers, made on first use; NULL when the cache
 * is full (after many token rotations): the caller builds its own. */
static struct curl_slist *cached_headers(kc_client *c, const char *accept, const char *ctype,
                                         const char *token)
{
    for (int i = 0; i < c->nheaders; i++) {
        kc_header_set *h = &c->headers[i];
        if (same(h->accept, accept) && same(h->content_type, ctype) && same(h->token, token))
            return h->list;
    }
    if (c->nheaders == KC_HEADER_CACHE || (token && !kc_header_value_ok(token, strlen(token))))
        return NULL; /* (a token that cannot be sent is refused by set_headers) */
    kc_header_set *h = &c->headers[c->nheaders];
    h->list = build_headers(accept, ctype, token);
    if (!h->list)
        return NULL;
    h->accept = kc_strdup_or_null(accept);
    h->content_type = kc_strdup_or_null(ctype);
    h->token = kc_strdup_or_null(token);
    c->nheaders++;
    return h->list;
}

static kc_code set_headers(kc_client *c, kc_request *r, const kc_credentials *cred,
                           kc_error *err)
{
    r->headers = cached_headers(c, r->accept, r->content_type, cred->token);
    r->headers_owned = r->headers == NULL;
    if (r->headers)
        return KC_OK;
    /* config.c refuses such tokens where it reads them (naming the file or
     * plugin); this keeps any other way in from adding header lines */
    if (cred->token && !kc_header_value_ok(cred->token, strlen(cred->token)))
        return kc_error_set(err, KC_EAUTH,
                            "the bearer token holds a control character (CR, LF, ...): not sent");
    r->headers = build_headers(r->accept, r->content_type, cred->token);
    return r->headers ? KC_OK : kc_error_set(err, KC_ENOMEM, "out of memory");
}

static void set_tls(kc_client *c, CURL *e, const kc_credentials *cred)
{
    const kc_config *cfg = c->cfg;
    if (cfg->insecure_skip_tls_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (cfg->ca_pem) {
        struct curl_blob ca = {cfg->ca_pem, cfg->ca_pem_len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
        /* the kubeconfig's CA only, as kubectl: libcurl would also trust its
         * built-in CA directory (/etc/ssl/certs on Debian) */
        curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
    if (cred->cert_pem && cred->key_pem) {
        struct curl_blob cert = {(void *)cred->cert_pem, cred->cert_pem_len, CURL_BLOB_COPY};
        struct curl_blob key = {(void *)cred->key_pem, cred->key_pem_len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (cred->username) {
        curl_easy_setopt(e, CURLOPT_USERNAME, cred->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, cred->password ? cred->password : "");
    }
}

static void set_timeouts(kc_client *c, kc_request *r, CURL *e)
{
    const kc_client_options *o = &c->opts;
    long timeout = r->timeout_ms ? r->timeout_ms : o->request_timeout_ms;
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout > 0 ? timeout : 0L);
    /* A stream that is legitimately quiet (a watch) must not trip the
     * low-speed check; dead links there are the watch layer's business. */
    if (o->low_speed_time_s > 0 && !r->on_data) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
    }
    if (o->keepalive_s > 0) {
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, o->keepalive_s);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, o->keepalive_s);
    }
}

static void set_method_and_body(kc_request *r, CURL *e)
{
    if (strcmp(r->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        return;
    }
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    if (r->body || strcmp(r->method, "DELETE") != 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    }
}

/* Shared connections: wait for a multiplexed one rather than open another;
 * their sockets are the client's (sockets.c), shut down when its link is
 * found dead so that none is reused.  fresh_connection: a new connection,
 * closed after this request, that no other transfer shares. */
static void set_connection_policy(kc_client *c, const kc_request *r, CURL *e)
{
    if (r->fresh_connection) {
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
        return;
    }
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    kc_sockets_attach(c, e);
}

/* libcurl before 8.1.0 keeps, on an easy handle, a pointer to the last
 * header of the previous transfer after freeing it (headers.c prevhead,
 * curl#11101, fixed in 8.1.0 by curl#11103; Debian 12 has 7.88): when the
 * next transfer on that handle gets a folded header line first (SP or HTAB
 * right after the status line, over HTTP/1.x), curl reallocs freed memory.
 * curl_easy_reset does not clear it; a new handle starts without one.  So
 * on those versions no handle serves a second transfer: neither the pool
 * nor a retry reuses one.  The cost, bench_patch_kclient against nghttpd
 * on curl 7.88, 32 in flight: a curl_easy_init and cleanup per request,
 * 186.6k instructions per PATCH instead of 171.5k (callgrind, 3000
 * PATCHes: +9 %), client CPU +11 % (5000 PATCHes, medians of 5 rounds);
 * only the affected versions pay it. */
static int easy_reuse_safe(kc_loop *l)
{
    if (!l->easy_reuse) /* once per loop: curl_version_info writes static buffers */
        l->easy_reuse = curl_version_info(CURLVERSION_NOW)->version_num >= 0x080100 ? 1 : -1;
    return l->easy_reuse > 0;
}

/* A handle for a request: a pooled one (*fresh = 0: to be reset) or a new one. */
static CURL *take_easy(kc_loop *l, int *fresh)
{
    *fresh = !l->npool;
    return l->npool ? l->easy_pool[--l->npool] : curl_easy_init();
}

void kc_transport_release_easy(kc_loop *l, CURL *e)
{
    if (easy_reuse_safe(l) && l->npool < (int)(sizeof(l->easy_pool) / sizeof(l->easy_pool[0])))
        l->easy_pool[l->npool++] = e; /* reset when taken again */
    else
        curl_easy_cleanup(e);
}

kc_code kc_transport_prepare(kc_client *c, kc_request *r, kc_error *err)
{
    kc_credentials cred;
    int force_refresh = r->refreshed_auth == 1; /* once, after a 401 */
    if (force_refresh)
        r->refreshed_auth = 2;
    kc_code rc = kc_config_credentials(c->cfg, force_refresh, &cred, err);
    if (rc != KC_OK)
        return rc;
    if (r->easy && !easy_reuse_safe(c->loop)) { /* a retry: a new handle too */
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    int fresh = 0;
    if (!r->easy && !(r->easy = take_easy(c->loop, &fresh)))
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    CURL *e = r->easy;
    if (!fresh) /* a new handle has nothing to reset */
        curl_easy_reset(e);
    if (r->headers_owned)
        curl_slist_free_all(r->headers);
    r->headers = NULL;
    r->headers_owned = 0;
    reset_response(r);
    r->streamed = 0;
    if ((rc = set_headers(c, r, &cred, err)) != KC_OK)
        return rc;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    set_connection_policy(c, r, e);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     c->opts.http1_only ? CURL_HTTP_VERSION_1_1 : CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
    if (c->connect_to)
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, &c->connect_to_list);
    if (c->cfg->proxy_url)
        curl_easy_setopt(e, CURLOPT_PROXY, c->cfg->proxy_url);
    else
        kc_transport_env_proxy(e);
    set_tls(c, e, &cred);
    set_timeouts(c, r, e);
    set_method_and_body(r, e);
    return KC_OK;
}

/* Like Go's ProxyFromEnvironment (what kubectl uses): HTTPS_PROXY and
 * NO_PROXY apply, but never to loopback addresses. */
static void kc_transport_env_proxy(CURL *e)
{
    curl_easy_setopt(e, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
}

static kc_code transport_code(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return KC_ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY: return KC_ENOMEM;
    default: return KC_ETRANSPORT;
    }
}

/* --- timeouts: say which step of the attempt was not done in time --- */

typedef enum kc_phase {
    KC_PH_WAIT_CONN, /* no connection yet: curl's pending queue */
    KC_PH_RESOLVE,
    KC_PH_CONNECT,
    KC_PH_TLS,
    KC_PH_SENT,      /* request sent, no response yet */
    KC_PH_RECEIVING
} kc_phase;

static curl_off_t info_time(CURL *e, CURLINFO what)
{
    curl_off_t v = 0;
    return curl_easy_getinfo(e, what, &v) == CURLE_OK ? v : 0;
}

static curl_off_t info_size(CURL *e)
{
    curl_off_t v = 0;
    return curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &v) == CURLE_OK ? v : 0;
}

static kc_phase timeout_phase(const kc_request *r)
{
    CURL *e = r->easy;
    const char *msg = r->curl_errbuf;
    /* curl's text when a transfer leaves its pending queue with its time
     * already used up (it has not resolved anything: the host may be an IP) */
    if (strncmp(msg, "Failed to resolve host", 22) == 0)
        return KC_PH_WAIT_CONN;
    if (strncmp(msg, "Resolving timed out", 19) == 0)
        return KC_PH_RESOLVE;
    if (r->http_status || info_time(e, CURLINFO_STARTTRANSFER_TIME_T) > 0)
        return KC_PH_RECEIVING;
    if (info_time(e, CURLINFO_PRETRANSFER_TIME_T) > 0 ||
        info_time(e, CURLINFO_APPCONNECT_TIME_T) > 0)
        return KC_PH_SENT;
    /* curl 7.88 sets CONNECT_TIME only once TLS is done too; the peer's
     * port is known as soon as TCP is */
    long port = 0;
    if (info_time(e, CURLINFO_CONNECT_TIME_T) > 0 ||
        (curl_easy_getinfo(e, CURLINFO_PRIMARY_PORT, &port) == CURLE_OK && port > 0))
        return strncmp(r->url, "https:", 6) == 0 ? KC_PH_TLS : KC_PH_SENT;
    if (info_time(e, CURLINFO_NAMELOOKUP_TIME_T) > 0)
        return KC_PH_CONNECT;
    return KC_PH_WAIT_CONN;
}

/* The limit that ran out: connect_timeout_ms before the request was sent
 * when it is the shorter one and the attempt is younger than timeout_ms. */
static long timeout_limit_ms(const kc_request *r, kc_phase ph)
{
    const kc_client_options *o = &r->client->opts;
    long limit = r->timeout_ms ? r->timeout_ms : o->request_timeout_ms;
    uint64_t ran_ms = (kc_client_now(r->client) - r->attempt_ns) / 1000000ull;
    if (ph > KC_PH_WAIT_CONN && ph < KC_PH_SENT && o->connect_timeout_ms > 0 &&
        (limit <= 0 || (o->connect_timeout_ms < limit && ran_ms < (uint64_t)limit)))
        return o->connect_timeout_ms;
    return limit;
}

static void timeout_error(const kc_request *r, kc_error *err)
{
    const kc_client *c = r->client;
    const char *server = c->cfg->server;
    if (strncmp(r->curl_errbuf, "Operation too slow", 18) == 0) {
        kc_error_set(err, KC_ETIMEDOUT,
                     "response from %s stalled: less than 1 byte/s for %ld s (low_speed_time_s)",
                     server, c->opts.low_speed_time_s);
        return;
    }
    kc_phase ph = timeout_phase(r);
    long ms = timeout_limit_ms(r, ph);
    switch (ph) {
    case KC_PH_WAIT_CONN:
        kc_error_set(err, KC_ETIMEDOUT,
                     "no answer from %s within %ld ms (waiting for a connection: all %ld "
                     "connections to the server busy or still being set up)",
                     server, ms, c->opts.max_connections);
        return;
    case KC_PH_RECEIVING:
        kc_error_set(err, KC_ETIMEDOUT,
                     "response from %s not complete within %ld ms (HTTP %ld, %" CURL_FORMAT_CURL_OFF_T
                     " bytes received)",
                     server, ms, r->http_status, info_size(r->easy));
        return;
    default:
        kc_error_set(err, KC_ETIMEDOUT, "no answer from %s within %ld ms (%s)", server, ms,
                     ph == KC_PH_RESOLVE   ? "resolving the host name"
                     : ph == KC_PH_CONNECT ? "TCP connection not established"
                     : ph == KC_PH_TLS     ? "TLS handshake not completed"
                                           : "request sent, waiting for the response");
    }
}

/* curl 7.88 ends "Failed to connect to H port P after N ms" with "Couldn't
 * connect to server" whether the connection was refused, reset or
 * unreachable: name the system's reason instead. */
static int connect_error(const kc_request *r, kc_error *err)
{
    static const char vague[] = ": Couldn't connect to server";
    long os_errno = 0;
    size_t n = strlen(r->curl_errbuf), v = sizeof(vague) - 1;
    if (curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno) != CURLE_OK || os_errno <= 0 ||
        n < v || strcmp(r->curl_errbuf + n - v, vague) != 0)
        return 0;
    kc_error_set(err, KC_ETRANSPORT, "%.*s: %s (curl %d)", (int)(n - v), r->curl_errbuf,
                 strerror((int)os_errno), (int)CURLE_COULDNT_CONNECT);
    return 1;
}

/* The ways curl reports a stream the server ended early, after its headers. */
static int answered_then_reset(CURLcode rc)
{
    return rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
           rc == CURLE_HTTP2_STREAM || rc == CURLE_HTTP2;
}

void kc_transport_result(kc_request *r, CURLcode rc, kc_error *err)
{
    if (r->too_large) {
        kc_error_set(err, KC_EDECODE, "response larger than %zu bytes (max_response_bytes)",
                     r->client->opts.max_response_bytes);
        err->http_status = r->http_status;
        return;
    }
    if (rc == CURLE_PEER_FAILED_VERIFICATION) {
        kc_error_set(err, KC_ETRANSPORT,
                     "TLS verification of %s failed: %s (curl %d); check the cluster's "
                     "certificate-authority in %s",
                     r->client->base_url, r->curl_errbuf[0] ? r->curl_errbuf : "bad certificate",
                     (int)rc, r->client->cfg->origin ? r->client->cfg->origin : "the kubeconfig");
        return;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        timeout_error(r, err);
        return;
    }
    if (rc == CURLE_COULDNT_CONNECT && connect_error(r, err))
        return;
    /* A server that answers before reading the whole body (a 401 or 429 to a
     * big POST) sends its status and then resets the stream (Go's HTTP/2
     * server, kube-apiserver's): the answer is the status, not a transport
     * failure - so a 401 still refreshes credentials and a 429 still waits
     * for Retry-After. */
    if (rc != CURLE_OK && r->http_status >= 400 && answered_then_reset(rc))
        rc = CURLE_OK;
    if (rc != CURLE_OK) {
        const char *detail = r->curl_errbuf[0] ? r->curl_errbuf : curl_easy_strerror(rc);
        kc_error_set(err, transport_code(rc), "%s (curl %d)", detail, (int)rc);
        return;
    }
    long status = r->http_status;
    if (status >= 200 && status < 300) {
        kc_error_clear(err);
        return;
    }
    err->retry_after = r->retry_after_header;
    kc_error_from_status(err, status, r->resp_body.data, r->resp_body.len);
}
