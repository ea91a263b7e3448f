/* request.c - the request state machine: throttle, send, classify, retry,
 * complete.  Every request, blocking or not, goes through here. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

static void start_attempt(kc_request *r);

static void live_link(kc_client *c, kc_request *r)
{
    kc_loop *l = c->loop;
    c->nrequests++;
    r->live_next = l->live_head;
    if (l->live_head)
        l->live_head->live_prev = r;
    l->live_head = r;
}

static void live_unlink(kc_client *c, kc_request *r)
{
    if (r->live_prev)
        r->live_prev->live_next = r->live_next;
    else
        c->loop->live_head = r->live_next;
    if (r->live_next)
        r->live_next->live_prev = r->live_prev;
    c->nrequests--;
}

static void request_free(kc_request *r)
{
    kc_loop *l = r->client->loop;
    if (r->easy)
        kc_transport_release_easy(l, r->easy);
    if (r->headers_owned)
        curl_slist_free_all(r->headers);
    kc_strbuf_free(&r->resp_body);
    free(r->resp_content_type);
    free(r->pf_flow_schema);
    free(r->pf_priority_level);
    free(r->method);
    free(r->url);
    free(r->path);
    free(r->accept);
    free(r->content_type);
    free(r->body);
    kc_error_clear(&r->outcome);
    free(r);
}

/* --- the attempt's deadline --- */

/* curl runs a transfer's timeout only once the transfer has a connection:
 * one waiting in curl's pending queue for a connection slot (every
 * connection the per-host budget allows is busy, or still being set up)
 * would wait past its timeout, and then fail with a message about name
 * resolution.  So the attempt's timeout is also a timer of ours, a few ms
 * after curl's own, which ends such a transfer on time. */
#define KC_DEADLINE_SLACK_NS 5000000ull

static void disarm_deadline(kc_request *r)
{
    if (r->deadline)
        kc_loop_timer_remove(r->client->loop, r->deadline);
    r->deadline = NULL;
}

static void on_deadline(kc_client *c, void *ud)
{
    (void)c;
    kc_request *r = ud;
    r->deadline = NULL; /* freed by the loop after this callback */
    if (r->state != KC_REQ_ACTIVE)
        return;
    curl_multi_remove_handle(r->multi, r->easy);
    kc_request_on_transfer_done(r, CURLE_OPERATION_TIMEDOUT);
}

static long attempt_timeout_ms(const kc_request *r)
{
    return r->timeout_ms ? r->timeout_ms : r->client->opts.request_timeout_ms;
}

static void arm_deadline(kc_request *r)
{
    long ms = attempt_timeout_ms(r);
    if (ms <= 0)
        return;
    uint64_t due = r->attempt_ns + (uint64_t)ms * 1000000ull + KC_DEADLINE_SLACK_NS;
    r->deadline = kc_loop_timer_add(r->client, due, on_deadline, r);
    /* without the timer (out of memory) curl's own timeout still applies */
}

/* --- completion --- */

/* Record the outcome and queue the callback for the loop to run: callbacks
 * never run inside kc_request_send or kc_request_cancel. */
static void finish(kc_request *r, const kc_error *err)
{
    kc_client *c = r->client;
    if (r->state == KC_REQ_DONE)
        return;
    if (r->state == KC_REQ_ACTIVE && r->easy) {
        if (c->loop->in_stream_cb)
            r->detached = 1; /* inside a curl callback: kc_request_reap removes it */
        else
            curl_multi_remove_handle(r->multi, r->easy);
    }
    r->on_data = NULL; /* nothing more reaches the owner, detached or not */
    r->on_open = NULL;
    disarm_deadline(r);
    if (r->timer_id)
        kc_client_timer_cancel(c, r->timer_id);
    r->timer_id = 0;
    r->state = KC_REQ_DONE;
    if (r->counted_stream) {
        r->counted_stream = 0;
        kc_client_stream_ended(c);
    }
    r->on_data = NULL;
    r->on_open = NULL;
    if (kc_error_copy(&r->outcome, err) != KC_OK)
        r->outcome.code = KC_ENOMEM;
    if (r->outcome.code != KC_OK) {
        free(r->outcome.method);
        free(r->outcome.path);
        r->outcome.method = strdup(r->method);
        r->outcome.path = strdup(r->path);
        r->outcome.attempts = r->attempts;
    }
    r->next_done = NULL;
    kc_loop *l = c->loop;
    if (l->done_tail)
        l->done_tail->next_done = r;
    else
        l->done_head = r;
    l->done_tail = r;
}

static void run_callback(kc_client *c, kc_request *r)
{
    kc_response resp = {r->http_status,
                        r->resp_body.data ? r->resp_body.data : "",
                        r->resp_body.len,
                        r->resp_content_type,
                        r->pf_flow_schema,
                        r->pf_priority_level,
                        r->attempts,
                        kc_client_now(c) - r->start_ns};
    if (r->cb)
        r->cb(c, &resp, &r->outcome, r->ud);
}

/* Runs the callback of r, already out of the done queue, and lets it go. */
static void complete_one(kc_loop *l, kc_request *r)
{
    kc_client *c = r->client;
    run_callback(c, r);
    l->pending--;
    if (r->detached) { /* still in its multi: freed by kc_request_reap */
        r->next_done = l->zombies;
        l->zombies = r;
        return;
    }
    live_unlink(c, r);
    request_free(r);
    if (c->freed && c->nrequests == 0)
        kc_client_destroy(c);
}

void kc_request_complete_queue(kc_loop *l)
{
    while (l->done_head) {
        kc_request *r = l->done_head;
        l->done_head = r->next_done;
        if (!l->done_head)
            l->done_tail = NULL;
        complete_one(l, r);
    }
}

/* Only c's: the callbacks of other clients on a shared loop must not run
 * inside kc_client_free(c), where their owners do not expect them. */
void kc_request_complete_client(kc_loop *l, kc_client *c)
{
    for (;;) {
        kc_request *prev = NULL, *r = l->done_head;
        while (r && r->client != c) {
            prev = r;
            r = r->next_done;
        }
        if (!r)
            return;
        if (prev)
            prev->next_done = r->next_done;
        else
            l->done_head = r->next_done;
        if (l->done_tail == r)
            l->done_tail = prev;
        complete_one(l, r);
    }
}

static void finish_code(kc_request *r, kc_code code, const char *msg)
{
    kc_error err = KC_ERROR_INIT;
    kc_error_set(&err, code, "%s", msg);
    finish(r, &err);
    kc_error_clear(&err);
}

void kc_request_cancel(kc_request *r)
{
    if (!r || r->state == KC_REQ_DONE)
        return;
    r->cancelled = 1;
    if (r->in_curl_callback)
        return; /* curl forbids removing a transfer from its own callback: the
                   callback's caller sees `cancelled` and ends the transfer */
    finish_code(r, KC_ECANCELLED, "request cancelled");
}

void kc_request_cancel_all(kc_client *c)
{
    for (kc_request *r = c->loop->live_head; r; r = r->live_next)
        if (r->client == c)
            kc_request_cancel(r);
}

void kc_request_reap(kc_loop *l)
{
    while (l->zombies) {
        kc_request *r = l->zombies;
        l->zombies = r->next_done;
        kc_client *c = r->client;
        curl_multi_remove_handle(r->multi, r->easy);
        live_unlink(c, r);
        request_free(r);
        if (c->freed && c->nrequests == 0)
            kc_client_destroy(c);
    }
}

/* --- scheduling: backoff, then the token bucket, then the wire --- */

static void on_start_timer(kc_client *c, void *ud)
{
    (void)c;
    kc_request *r = ud;
    r->timer_id = 0;
    start_attempt(r);
}

static void throttle_then_start(kc_request *r)
{
    kc_client *c = r->client;
    uint64_t wait = 0;
    if (!r->no_rate_limit)
        wait = kc_token_bucket_reserve(&c->bucket, kc_client_now(c));
    if (wait == 0) {
        start_attempt(r);
        return;
    }
    c->stats.throttle_wait_ns += wait;
    r->state = KC_REQ_WAITING;
    r->timer_id = kc_client_timer_at(c, kc_client_now(c) + wait, on_start_timer, r);
    if (!r->timer_id)
        finish_code(r, KC_ENOMEM, "out of memory");
}

static void on_backoff_timer(kc_client *c, void *ud)
{
    (void)c;
    kc_request *r = ud;
    r->timer_id = 0;
    throttle_then_start(r);
}

static void schedule(kc_request *r, uint64_t delay_ns)
{
    kc_client *c = r->client;
    if (delay_ns == 0) {
        throttle_then_start(r);
        return;
    }
    r->state = KC_REQ_WAITING;
    r->timer_id = kc_client_timer_at(c, kc_client_now(c) + delay_ns, on_backoff_timer, r);
    if (!r->timer_id)
        finish_code(r, KC_ENOMEM, "out of memory");
}

static void start_attempt(kc_request *r)
{
    kc_client *c = r->client;
    kc_error err = KC_ERROR_INIT;
    r->attempts++;
    if (kc_transport_prepare(c, r, &err) != KC_OK) {
        finish(r, &err);
        kc_error_clear(&err);
        return;
    }
    r->state = KC_REQ_ACTIVE;
    c->stats.requests++;
    r->attempt_ns = kc_client_now(c);
    CURLMcode mc = r->fresh_connection ? kc_isolated_add(c->loop, r->easy)
                                       : curl_multi_add_handle(c->loop->multi, r->easy);
    if (mc != CURLM_OK) {
        r->state = KC_REQ_WAITING;
        finish_code(r, KC_ETRANSPORT, "curl_multi_add_handle failed");
        return;
    }
    r->multi = r->fresh_connection ? c->loop->side : c->loop->multi; /* side: made on first use */
    arm_deadline(r);
}

/* --- what to do with an answer --- */

/* Errors where nothing reached the server: safe to repeat for any method. */
static int nothing_sent(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
}

/* Errors no retry can cure. */
static int permanent_transport(CURLcode rc)
{
    return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CERTPROBLEM ||
           rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CIPHER ||
           rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ||
           rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

static int should_retry(const kc_request *r, CURLcode rc, const kc_error *err)
{
    if (r->cancelled || r->streamed || r->aborted_by_stream || r->attempts >= r->max_attempts)
        return 0;
    if (err->code == KC_ETRANSPORT || err->code == KC_ETIMEDOUT)
        return !permanent_transport(rc) && (r->idempotent || nothing_sent(rc));
    if (err->code != KC_EHTTP)
        return 0;
    long s = err->http_status;
    if (s == 429)
        return 1; /* rejected before any processing (APF or max-in-flight) */
    if (s == 503 && err->retry_after >= 0)
        return 1; /* the server asks us to come back */
    return s >= 500 && r->idempotent;
}

static uint64_t retry_delay(kc_request *r, const kc_error *err)
{
    kc_client *c = r->client;
    if (err->retry_after >= 0)
        return (uint64_t)(err->retry_after * 1e9);
    return kc_backoff_delay(&c->backoff, (unsigned)(r->attempts - 1), &c->rng);
}

static void count_response(kc_client *c, kc_request *r, CURLcode rc)
{
    long s = rc == CURLE_OK ? r->http_status : 0;
    kc_client_count(c, r->method, s);
    if (rc != CURLE_OK && !r->aborted_by_stream)
        c->stats.transport_errors++;
    else if (s == 429)
        c->stats.responses_429++;
    if (s >= 200 && s < 300)
        c->stats.responses_2xx++;
    else if (s >= 400 && s < 500)
        c->stats.responses_4xx++;
    else if (s >= 500)
        c->stats.responses_5xx++;
}

void kc_request_on_transfer_done(kc_request *r, CURLcode rc)
{
    kc_client *c = r->client;
    kc_error err = KC_ERROR_INIT;
    if (r->state == KC_REQ_DONE)
        return; /* detached: reported already, reaped soon */
    r->state = KC_REQ_WAITING; /* removed from the multi by the caller */
    disarm_deadline(r);
    count_response(c, r, rc);
    if (r->cancelled) {
        finish_code(r, KC_ECANCELLED, "request cancelled");
        return;
    }
    if (r->aborted_by_stream) {
        finish_code(r, KC_ECANCELLED, "stream closed by its consumer");
        return;
    }
    kc_transport_result(r, rc, &err);
    kc_log(c, 6, "%s %s -> %ld %s (attempt %d)", r->method, r->path, r->http_status,
           err.code == KC_OK ? "ok" : kc_strerror(err.code), r->attempts);
    if (err.code == KC_EHTTP && err.http_status == 401 && !r->refreshed_auth &&
        kc_config_can_refresh(c->cfg)) {
        r->refreshed_auth = 1; /* refresh credentials once, then try again */
        kc_error_clear(&err);
        throttle_then_start(r);
        return;
    }
    if (err.code != KC_OK && should_retry(r, rc, &err)) {
        uint64_t delay = retry_delay(r, &err);
        c->stats.retries++;
        kc_log(c, 4, "retrying %s %s in %.3fs after %s (attempt %d of %d)", r->method, r->path,
               (double)delay / 1e9,
               err.http_status ? kc_http_reason(err.http_status) : kc_strerror(err.code),
               r->attempts, r->max_attempts);
        kc_error_clear(&err);
        schedule(r, delay);
        return;
    }
    finish(r, &err);
    kc_error_clear(&err);
}

/* --- starting a request --- */

static int is_apply(const char *content_type)
{
    return content_type && strncmp(content_type, "application/apply-patch", 23) == 0;
}

static char *spec_path(const kc_request_spec *spec)
{
    return spec->path ? strdup(spec->path) : kc_ref_path(&spec->ref);
}

static kc_code fill_request(kc_client *c, kc_request *r, const kc_request_spec *spec)
{
    r->method = strdup(spec->method);
    r->path = spec_path(spec);
    if (!r->method || !r->path)
        return KC_EINVAL;
    r->url = kc_url_build(c->base_url, r->path, spec->params, spec->nparams);
    r->accept = kc_strdup_or_null(spec->accept);
    r->content_type = kc_strdup_or_null(spec->content_type);
    if (spec->body) {
        r->body = kc_strndup0(spec->body, spec->body_len);
        r->body_len = spec->body_len;
        if (!r->body)
            return KC_ENOMEM;
    }
    if (!r->url || (spec->accept && !r->accept) || (spec->content_type && !r->content_type))
        return KC_ENOMEM;
    return KC_OK;
}

kc_code kc_request_send(kc_client *c, const kc_request_spec *spec, kc_done_cb cb, void *ud,
                        kc_request **out, kc_error *err)
{
    if (out)
        *out = NULL;
    if (!c || !spec || !spec->method)
        return kc_error_set(err, KC_EINVAL, "kc_request_send: missing client, spec or method");
    if (c->in_free)
        return kc_error_set(err, KC_ESHUTDOWN, "client is being freed");
    kc_request *r = calloc(1, sizeof(*r));
    if (!r)
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    r->client = c;
    kc_code rc = fill_request(c, r, spec);
    if (rc != KC_OK) {
        request_free(r);
        if (rc == KC_EINVAL)
            return kc_error_set(err, rc, "request needs a path, or a ref with version and "
                                         "resource (and a name for a subresource)");
        return kc_error_set(err, rc, "out of memory");
    }
    r->idempotent = spec->idempotent || strcmp(r->method, "GET") == 0 || is_apply(r->content_type);
    r->max_attempts = spec->max_attempts > 0 ? spec->max_attempts : c->opts.max_attempts;
    r->timeout_ms = spec->timeout_ms;
    r->no_rate_limit = spec->no_rate_limit;
    r->fresh_connection = spec->fresh_connection;
    r->on_data = spec->on_data;
    r->on_open = spec->on_open;
    r->stream_ud = spec->stream_ud;
    r->cb = cb;
    r->ud = ud;
    r->retry_after_header = -1;
    kc_error_init(&r->outcome);
    r->start_ns = kc_client_now(c);
    r->state = KC_REQ_WAITING;
    live_link(c, r);
    c->loop->pending++;
    if (r->on_data) {
        r->counted_stream = 1;
        kc_client_stream_started(c);
    }
    if (out)
        *out = r;
    schedule(r, 0);
    return KC_OK;
}
