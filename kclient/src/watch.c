/* watch.c - a watch stream that reconnects and resumes from the last
 * resourceVersion, on the client's loop.  Decoding is watch_decoder.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "kclient/watch.h"

struct kc_watch {
    kc_client *client;
    kc_watch_options o;
    char *group, *version, *resource, *namespace_, *label, *field;
    char *rv;
    kc_watch_decoder *dec;
    kc_request *req;
    uint64_t timer;
    unsigned streams;
    unsigned failures;
    uint64_t stream_start_ns;
    int stopped;
    int gone;          /* this stream said the version is too old */
    int stream_failed; /* this stream ended on a bad event */
    kc_error stream_err;
    int in_callback;
    int opened;        /* this stream answered 200 */
    int restarting;    /* cancelled to start again at once (the link is back) */
    kc_backoff backoff;
    uint64_t rng;
    kc_link_listener link; /* told when the server answers again after a dead link */
};

static void open_stream(kc_watch *w);

static void watch_free(kc_watch *w)
{
    kc_client_link_unlisten(w->client, &w->link);
    if (w->timer)
        kc_client_timer_cancel(w->client, w->timer);
    kc_watch_decoder_free(w->dec);
    kc_error_clear(&w->stream_err);
    free(w->group);
    free(w->version);
    free(w->resource);
    free(w->namespace_);
    free(w->label);
    free(w->field);
    free(w->rv);
    free(w);
}

static void set_rv(kc_watch *w, const char *rv)
{
    if (!rv || !*rv)
        return;
    char *copy = strdup(rv);
    if (copy) {
        free(w->rv);
        w->rv = copy;
    }
}

/* 410 Expired/Gone, or "too large resource version": relist needed. */
static int is_gone(const kc_error *e)
{
    if (e->http_status == 410)
        return 1;
    return e->message && strstr(e->message, "too large resource version") != NULL;
}

static int handle_event(kc_watch *w, kc_watch_event *ev)
{
    if (ev->type == KC_WATCH_ERROR) {
        kc_error_copy(&w->stream_err, &ev->status);
        if (is_gone(&ev->status))
            w->gone = 1;
        else
            w->stream_failed = 1;
        return 1; /* end this stream */
    }
    set_rv(w, ev->resource_version);
    if (w->o.on_event) {
        w->in_callback++;
        w->o.on_event(w, ev, w->o.ud);
        w->in_callback--;
    }
    return w->stopped;
}

static int on_data(const char *buf, size_t len, void *ud)
{
    kc_watch *w = ud;
    kc_error err = KC_ERROR_INIT;
    if (w->stopped)
        return 1;
    if (kc_watch_decoder_feed(w->dec, buf, len, &err) != KC_OK) {
        kc_error_copy(&w->stream_err, &err);
        w->stream_failed = 1;
        kc_error_clear(&err);
        return 1;
    }
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    int rc, stop = 0;
    while (!stop && (rc = kc_watch_decoder_next(w->dec, &ev, &err)) != 0) {
        if (rc < 0) { /* a malformed event: drop the stream, resume from the last good one */
            kc_error_copy(&w->stream_err, &err);
            w->stream_failed = 1;
            stop = 1;
        } else {
            stop = handle_event(w, &ev);
        }
        kc_watch_event_clear(&ev);
    }
    kc_error_clear(&err);
    return stop;
}

static void on_open(long status, void *ud)
{
    kc_watch *w = ud;
    (void)status;
    w->streams++;
    w->opened = 1;
    if (w->o.on_open && !w->stopped) {
        w->in_callback++;
        w->o.on_open(w, w->o.ud);
        w->in_callback--;
    }
}

static void on_reconnect_timer(kc_client *c, void *ud)
{
    (void)c;
    kc_watch *w = ud;
    w->timer = 0;
    open_stream(w);
}

static void schedule_reconnect(kc_watch *w, int failed)
{
    uint64_t now = kc_client_now(w->client);
    if (now - w->stream_start_ns >= (uint64_t)w->o.backoff_reset_ms * 1000000ull)
        w->failures = 0;
    /* an attempt made while the link was dead, failing after the server
     * answered again: a failure of the outage, not of the server */
    if (failed && w->client->link_back_ns > w->stream_start_ns) {
        w->failures = 0;
        failed = 0;
    }
    uint64_t delay = 0;
    if (failed)
        delay = kc_backoff_delay(&w->backoff, w->failures++, &w->rng);
    w->timer = kc_client_timer_at(w->client, now + delay, on_reconnect_timer, w);
}

static void report(kc_watch *w, void (*cb)(kc_watch *, const kc_error *, void *),
                   const kc_error *err)
{
    if (!cb)
        return;
    w->in_callback++;
    cb(w, err, w->o.ud);
    w->in_callback--;
}

static void on_done(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    (void)resp;
    kc_watch *w = ud;
    w->req = NULL;
    if (w->stopped) {
        watch_free(w);
        return;
    }
    if (w->restarting) {
        w->restarting = 0;
        if (err->code == KC_ECANCELLED) { /* on_link_back cancelled it: start again now */
            open_stream(w);
            return;
        }
    }
    if (w->stream_err.code && !w->stream_err.path && err->path) { /* name the stream */
        w->stream_err.method = strdup(err->method ? err->method : "GET");
        w->stream_err.path = strdup(err->path);
    }
    const kc_error *why = w->stream_err.code ? &w->stream_err : err;
    if (w->gone || (err->code == KC_EHTTP && is_gone(err))) {
        w->gone = 0;
        if (w->o.on_gone) {
            report(w, w->o.on_gone, why); /* the owner relists, then resumes */
        } else {
            free(w->rv);
            w->rv = NULL;
            schedule_reconnect(w, 0);
        }
    } else if (w->stream_failed || err->code != KC_OK) {
        report(w, w->o.on_error, why);
        if (!w->stopped)
            schedule_reconnect(w, 1);
    } else {
        schedule_reconnect(w, 0); /* the server ended the stream on its timeout */
    }
    if (w->stopped && !w->req && !w->in_callback)
        watch_free(w);
}

static void open_stream(kc_watch *w)
{
    char timeout[24];
    long span = w->o.timeout_max_s - w->o.timeout_min_s;
    long secs = w->o.timeout_min_s + (span > 0 ? (long)(kc_rand_unit(&w->rng) * (double)span) : 0);
    snprintf(timeout, sizeof(timeout), "%ld", secs);
    kc_param ps[6];
    size_t n = 0;
    ps[n++] = (kc_param){"watch", "true"};
    ps[n++] = (kc_param){"timeoutSeconds", timeout};
    if (!w->o.no_bookmarks)
        ps[n++] = (kc_param){"allowWatchBookmarks", "true"};
    if (w->rv)
        ps[n++] = (kc_param){"resourceVersion", w->rv};
    if (w->label)
        ps[n++] = (kc_param){"labelSelector", w->label};
    if (w->field)
        ps[n++] = (kc_param){"fieldSelector", w->field};
    kc_request_spec spec = {
        .method = "GET",
        .ref = {w->group, w->version, w->resource, w->namespace_, NULL, NULL},
        .params = ps,
        .nparams = n,
        .max_attempts = 1,                /* reconnection is ours: resume from rv */
        .timeout_ms = (secs + 30) * 1000, /* the server ends it at timeoutSeconds */
        .on_data = on_data,
        .on_open = on_open,
        .stream_ud = w,
        .no_rate_limit = 1, /* as client-go: watches are not throttled */
    };
    kc_watch_decoder_free(w->dec);
    w->dec = kc_watch_decoder_new(w->o.max_event_bytes);
    kc_error_clear(&w->stream_err);
    w->stream_failed = 0;
    w->gone = 0;
    w->opened = 0;
    w->stream_start_ns = kc_client_now(w->client);
    kc_error err = KC_ERROR_INIT;
    if (!w->dec || kc_request_send(w->client, &spec, on_done, w, &w->req, &err) != KC_OK) {
        report(w, w->o.on_error, &err);
        schedule_reconnect(w, 1);
    }
    kc_error_clear(&err);
}

/* The client's health check found the link dead and the server answers
 * again: whatever backoff the outage earned is forgiven.  Waiting: go now.
 * An attempt made during the outage and still unanswered may hang on a
 * connection that never recovers: abandon it and start again. */
static void on_link_back(kc_client *c, void *ud)
{
    kc_watch *w = ud;
    if (w->stopped)
        return;
    w->failures = 0;
    if (w->timer) {
        kc_watch_reconnect_now(w);
    } else if (w->req && !w->opened && !w->restarting && w->stream_start_ns < c->link_back_ns) {
        w->restarting = 1;
        kc_request_cancel(w->req); /* on_done opens the next stream */
    }
}

static int copy_options(kc_watch *w, const kc_watch_options *o)
{
    w->o = *o;
    w->group = strdup(o->ref.group ? o->ref.group : "");
    w->version = kc_strdup_or_null(o->ref.version);
    w->resource = kc_strdup_or_null(o->ref.resource);
    w->namespace_ = kc_strdup_or_null(o->ref.namespace_);
    w->label = kc_strdup_or_null(o->label_selector);
    w->field = kc_strdup_or_null(o->field_selector);
    if (o->resource_version && *o->resource_version)
        w->rv = strdup(o->resource_version);
    if (!w->o.timeout_min_s)
        w->o.timeout_min_s = 300;
    if (!w->o.timeout_max_s)
        w->o.timeout_max_s = w->o.timeout_min_s * 2;
    if (!w->o.backoff_initial_ms)
        w->o.backoff_initial_ms = 800;
    if (!w->o.backoff_max_ms)
        w->o.backoff_max_ms = 30000;
    if (!w->o.backoff_reset_ms)
        w->o.backoff_reset_ms = 120000;
    return w->group && w->version && w->resource;
}

kc_code kc_watch_start(kc_client *c, const kc_watch_options *opts, kc_watch **out, kc_error *err)
{
    *out = NULL;
    if (!opts->ref.version || !opts->ref.resource)
        return kc_error_set(err, KC_EINVAL, "watch: ref needs version and resource");
    kc_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    w->client = c;
    if (!copy_options(w, opts)) {
        watch_free(w);
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    }
    /* client-go's reflector: 800 ms doubling to 30 s, jitter 1.0 */
    w->backoff = (kc_backoff){(uint64_t)w->o.backoff_initial_ms * 1000000ull,
                              (uint64_t)w->o.backoff_max_ms * 1000000ull, 2.0, 1.0};
    w->rng = kc_client_now(c) ^ (uint64_t)(uintptr_t)w;
    kc_error_init(&w->stream_err);
    w->link = (kc_link_listener){.on_back = on_link_back, .ud = w};
    kc_client_link_listen(c, &w->link);
    *out = w;
    open_stream(w);
    return KC_OK;
}

void kc_watch_resume(kc_watch *w, const char *resource_version)
{
    if (!w || w->stopped || w->req || w->timer)
        return;
    free(w->rv);
    w->rv = resource_version && *resource_version ? strdup(resource_version) : NULL;
    w->failures = 0;
    open_stream(w);
}

void kc_watch_reconnect_now(kc_watch *w)
{
    if (!w || w->stopped || w->req || !w->timer)
        return; /* streaming, stopped, or waiting for the owner's relist */
    kc_client_timer_cancel(w->client, w->timer);
    w->timer = 0;
    w->failures = 0;
    open_stream(w);
}

const char *kc_watch_resource_version(const kc_watch *w) { return w->rv; }

unsigned kc_watch_streams(const kc_watch *w) { return w->streams; }

void kc_watch_stop(kc_watch *w)
{
    if (!w || w->stopped)
        return;
    w->stopped = 1;
    if (w->timer) {
        kc_client_timer_cancel(w->client, w->timer);
        w->timer = 0;
    }
    if (w->req) {
        kc_request_cancel(w->req); /* on_done frees */
        return;
    }
    if (!w->in_callback)
        watch_free(w);
    /* else: on_done, which is running our callback, frees on its way out */
}
