/* client.c - the client object, its event loop and timers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

#define KC_DEFAULT_QPS 50.0
#define KC_DEFAULT_BURST 100
#define KC_DEFAULT_ATTEMPTS 8

static uint64_t default_clock(void *ud)
{
    (void)ud;
    return kc_now_ns();
}

static void apply_defaults(kc_client_options *o)
{
    if (o->qps == 0)
        o->qps = KC_DEFAULT_QPS;
    if (o->burst <= 0)
        o->burst = KC_DEFAULT_BURST;
    if (o->max_attempts <= 0)
        o->max_attempts = KC_DEFAULT_ATTEMPTS;
    if (o->backoff_initial_ms <= 0)
        o->backoff_initial_ms = 200;
    if (o->backoff_max_ms <= 0)
        o->backoff_max_ms = 30000;
    if (o->connect_timeout_ms <= 0)
        o->connect_timeout_ms = 10000;
    if (o->request_timeout_ms == 0)
        o->request_timeout_ms = 60000;
    if (o->low_speed_time_s == 0)
        o->low_speed_time_s = 30;
    if (o->max_connections <= 0)
        o->max_connections = 4;
    if (o->keepalive_s == 0)
        o->keepalive_s = 10;
    if (o->health_check_ms == 0)
        o->health_check_ms = 10000;
    if (o->health_timeout_ms <= 0)
        o->health_timeout_ms = 4000;
    if (o->max_response_bytes == 0)
        o->max_response_bytes = (size_t)256 << 20;
    if (!o->clock)
        o->clock = default_clock;
}

/* With tls-server-name the URL names the TLS host (so curl sends it as SNI
 * and verifies the certificate against it) and CONNECT_TO sends the TCP
 * connection to the real server. */
static kc_code setup_server(kc_client *c, kc_error *err)
{
    const char *server = c->cfg->server;
    if (!c->cfg->tls_server_name) {
        c->base_url = strdup(server);
        return c->base_url ? KC_OK : KC_ENOMEM;
    }
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    if (!u || curl_url_set(u, CURLUPART_URL, server, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_HOST, c->cfg->tls_server_name, 0) != CURLUE_OK) {
        curl_free(host);
        curl_free(port);
        curl_url_cleanup(u);
        return kc_error_set(err, KC_ECONFIG, "server %s: cannot parse URL", server);
    }
    char *url = NULL;
    curl_url_get(u, CURLUPART_URL, &url, 0);
    c->base_url = url ? strdup(url) : NULL;
    size_t n = c->base_url ? strlen(c->base_url) : 0;
    if (n && c->base_url[n - 1] == '/')
        c->base_url[n - 1] = '\0';
    c->connect_to = kc_asprintf("%s:%s:%s:%s", c->cfg->tls_server_name, port, host, port);
    c->connect_to_list.data = c->connect_to;
    c->connect_to_list.next = NULL;
    curl_free(url);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return c->base_url && c->connect_to ? KC_OK : KC_ENOMEM;
}

/* curl caps connections per host for the whole multi, but clients with
 * different credentials (a hub and members on one server, several members
 * behind one address) cannot share connections: each client brings its own
 * budget, or long-lived watches of some would starve the others. */
static void grow_host_budget(kc_loop *l, long n)
{
    l->host_budget += n;
    curl_multi_setopt(l->multi, CURLMOPT_MAX_HOST_CONNECTIONS, l->host_budget > 0 ? l->host_budget : 1L);
}

/* Join share's loop, or make a loop of our own. */
static kc_code setup_loop(kc_client *c, kc_client *share)
{
    if (share) {
        c->loop = share->loop;
        c->loop->refs++;
        grow_host_budget(c->loop, c->opts.max_connections);
        return KC_OK;
    }
    kc_loop *l = calloc(1, sizeof(*l));
    if (!l || !(l->multi = curl_multi_init())) {
        free(l);
        return KC_ENOMEM;
    }
    /* connection limits are per host: clients of different servers share
     * the loop without sharing a budget */
    curl_multi_setopt(l->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    grow_host_budget(l, c->opts.max_connections);
    curl_multi_setopt(l->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 100L);
    l->clock = c->opts.clock;
    l->clock_ud = c->opts.clock_ud;
    l->refs = 1;
    c->loop = l;
    return KC_OK;
}

static void loop_release(kc_loop *l)
{
    if (!l || --l->refs > 0)
        return;
    /* (the budget of a client leaving a shared loop is given back in kc_client_free) */
    for (int i = 0; i < l->npool; i++)
        curl_easy_cleanup(l->easy_pool[i]);
    for (size_t i = 0; i < l->timers.len; i++)
        free(l->timers.items[i]);
    free(l->timers.items);
    kc_isolated_free(l);
    curl_multi_cleanup(l->multi);
    kc_sockets_free(l);
    free(l);
}

kc_code kc_client_new(kc_config *cfg, const kc_client_options *opts, kc_client **out,
                      kc_error *err)
{
    *out = NULL;
    if (!cfg)
        return kc_error_set(err, KC_EINVAL, "kc_client_new: no configuration");
    kc_client *c = calloc(1, sizeof(*c));
    if (!c)
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    c->cfg = cfg;
    if (opts)
        c->opts = *opts;
    apply_defaults(&c->opts);
    c->user_agent = strdup(c->opts.user_agent ? c->opts.user_agent : "kclient/" KC_VERSION);
    c->opts.user_agent = c->user_agent;
    uint64_t now = c->opts.clock(c->opts.clock_ud);
    c->rng = now ^ (uint64_t)(uintptr_t)c ^ 0x5DEECE66Dull;
    kc_token_bucket_init(&c->bucket, c->opts.qps, c->opts.burst, now);
    c->backoff = (kc_backoff){(uint64_t)c->opts.backoff_initial_ms * 1000000ull,
                              (uint64_t)c->opts.backoff_max_ms * 1000000ull, 2.0, 0.5};
    kc_code rc = c->user_agent ? setup_server(c, err) : KC_ENOMEM;
    if (rc == KC_OK)
        rc = setup_loop(c, c->opts.share_loop);
    if (rc != KC_OK) {
        if (rc == KC_ENOMEM)
            kc_error_set(err, rc, "out of memory");
        kc_client_free(c);
        return rc;
    }
    c->id = ++c->loop->next_client_id; /* owner of the sockets it opens (sockets.c) */
    if (getenv("SSLKEYLOGFILE")) /* libcurl would write TLS session keys there */
        kc_log(c, 1, "warning: SSLKEYLOGFILE is set: TLS session keys (which decrypt tokens on "
                     "the wire) are written to that file");
    if (cfg->insecure_skip_tls_verify)
        kc_log(c, 1, "warning: TLS verification disabled for %s (insecure-skip-tls-verify in %s)",
               cfg->server, cfg->origin ? cfg->origin : "kubeconfig");
    for (const char *w = cfg->warnings; w && *w; w += strcspn(w, "\n") + (w[strcspn(w, "\n")] != 0))
        kc_log(c, 1, "warning: %.*s", (int)strcspn(w, "\n"), w);
    *out = c;
    return KC_OK;
}

kc_config *kc_client_config(kc_client *c) { return c->cfg; }

uint64_t kc_client_now(const kc_client *c) { return c->opts.clock(c->opts.clock_ud); }

void kc_log(const kc_client *c, int level, const char *fmt, ...)
{
    if (!c || !c->opts.log || level > c->opts.verbosity)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *line = kc_vasprintf(fmt, ap);
    va_end(ap);
    if (line)
        c->opts.log(c->opts.log_ud, level, line);
    free(line);
}

/* --- timers: a binary min-heap on due time --- */

static int timer_less(const kc_timer *a, const kc_timer *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->id < b->id);
}

static void heap_swap(kc_timer_heap *h, size_t i, size_t j)
{
    kc_timer *t = h->items[i];
    h->items[i] = h->items[j];
    h->items[j] = t;
    h->items[i]->pos = i;
    h->items[j]->pos = j;
}

static void heap_up(kc_timer_heap *h, size_t i)
{
    while (i > 0 && timer_less(h->items[i], h->items[(i - 1) / 2])) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(kc_timer_heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->len && timer_less(h->items[l], h->items[m]))
            m = l;
        if (r < h->len && timer_less(h->items[r], h->items[m]))
            m = r;
        if (m == i)
            return;
        heap_swap(h, i, m);
        i = m;
    }
}

/* Take out the timer at i (0 for the earliest). */
static kc_timer *heap_take(kc_timer_heap *h, size_t i)
{
    kc_timer *t = h->items[i];
    h->items[i] = h->items[--h->len];
    h->items[i]->pos = i;
    if (i < h->len) {
        heap_down(h, i);
        heap_up(h, i);
    }
    return t;
}

kc_timer *kc_loop_timer_add(kc_client *c, uint64_t due_ns, kc_timer_cb cb, void *ud)
{
    kc_timer_heap *h = &c->loop->timers;
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        kc_timer **items = realloc(h->items, cap * sizeof(*items));
        if (!items)
            return NULL;
        h->items = items;
        h->cap = cap;
    }
    kc_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->due_ns = due_ns;
    t->id = ++h->next_id;
    t->client = c;
    t->cb = cb;
    t->ud = ud;
    t->pos = h->len;
    h->items[h->len++] = t;
    heap_up(h, h->len - 1);
    return t;
}

uint64_t kc_client_timer(kc_client *c, long delay_ms, kc_timer_cb cb, void *ud)
{
    uint64_t due = kc_client_now(c) + (uint64_t)(delay_ms > 0 ? delay_ms : 0) * 1000000ull;
    kc_timer *t = kc_loop_timer_add(c, due, cb, ud);
    return t ? t->id : 0;
}

uint64_t kc_client_timer_at(kc_client *c, uint64_t due_ns, kc_timer_cb cb, void *ud)
{
    kc_timer *t = kc_loop_timer_add(c, due_ns, cb, ud);
    return t ? t->id : 0;
}

void kc_loop_timer_remove(kc_loop *l, kc_timer *t)
{
    kc_timer_heap *h = &l->timers;
    if (t->pos < h->len && h->items[t->pos] == t)
        free(heap_take(h, t->pos));
}

void kc_client_timer_cancel(kc_client *c, uint64_t id)
{
    kc_timer_heap *h = &c->loop->timers;
    for (size_t i = 0; i < h->len; i++) {
        if (h->items[i]->id == id) {
            h->items[i]->cancelled = 1;
            return;
        }
    }
}

static uint64_t loop_now(const kc_loop *l) { return l->clock(l->clock_ud); }

static void timers_run_due(kc_loop *l)
{
    uint64_t now = loop_now(l);
    kc_timer_heap *h = &l->timers;
    /* Only timers due now: ones added by callbacks wait for the next round. */
    while (h->len && h->items[0]->due_ns <= now) {
        kc_timer *t = heap_take(h, 0);
        if (!t->cancelled)
            t->cb(t->client, t->ud);
        free(t);
    }
}

static uint64_t timers_next_due(const kc_loop *l)
{
    return l->timers.len ? l->timers.items[0]->due_ns : UINT64_MAX;
}

/* --- the loop --- */

void kc_loop_read_messages(CURLM *multi)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        kc_request *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode rc = msg->data.result;
        curl_multi_remove_handle(multi, msg->easy_handle);
        if (r)
            kc_request_on_transfer_done(r, rc);
    }
}

static long wait_budget_ms(kc_loop *l, long max_wait_ms)
{
    long wait = max_wait_ms < 0 ? 1000 : max_wait_ms;
    long curl_ms = -1;
    curl_multi_timeout(l->multi, &curl_ms);
    if (curl_ms >= 0 && curl_ms < wait)
        wait = curl_ms;
    long side_ms = kc_isolated_timeout(l);
    if (side_ms >= 0 && side_ms < wait)
        wait = side_ms;
    uint64_t next = timers_next_due(l);
    if (next != UINT64_MAX) {
        uint64_t now = loop_now(l);
        long t = next <= now ? 0 : (long)((next - now + 999999) / 1000000);
        if (t < wait)
            wait = t;
    }
    if (l->done_head)
        wait = 0;
    return wait;
}

/* One turn of the loop.  The caller holds a reference to the loop
 * meanwhile: a callback may free the last client on it (kc_client_free
 * from inside a callback of one of its own requests), and the loop goes
 * only after the turn. */
static int loop_turn(kc_loop *l, long max_wait_ms)
{
    int running = 0;
    long wait = wait_budget_ms(l, max_wait_ms);
    kc_isolated_prepare_poll(l);
    if (wait > 0 || l->nside) /* the side multi's sockets are only seen through the poll */
        curl_multi_poll(l->multi, l->side_fds, l->nside, (int)wait, NULL);
    curl_multi_perform(l->multi, &running);
    kc_request_reap(l);
    kc_isolated_run(l);
    kc_request_reap(l);
    kc_loop_read_messages(l->multi);
    timers_run_due(l);
    kc_request_complete_queue(l);
    return l->pending;
}

int kc_client_run_once(kc_client *c, long max_wait_ms)
{
    kc_loop *l = c->loop;
    l->refs++;
    int pending = loop_turn(l, max_wait_ms);
    loop_release(l);
    return pending;
}

int kc_client_run(kc_client *c, long timeout_ms)
{
    kc_loop *l = c->loop; /* c itself may be freed by a callback meanwhile */
    l->refs++;
    uint64_t end = timeout_ms < 0 ? UINT64_MAX : loop_now(l) + (uint64_t)timeout_ms * 1000000ull;
    while (l->pending > 0) {
        uint64_t now = loop_now(l);
        if (now >= end)
            break;
        long left = end == UINT64_MAX ? -1 : (long)((end - now) / 1000000ull);
        loop_turn(l, left);
    }
    int pending = l->pending;
    loop_release(l);
    return pending;
}

void kc_client_wakeup(kc_client *c) { curl_multi_wakeup(c->loop->multi); }

int kc_client_pending(const kc_client *c) { return c->loop->pending; }

void kc_client_get_stats(const kc_client *c, kc_client_stats *out)
{
    *out = c->stats;
    out->dead_links = c->dead_links;
}

/* --- dead links: a quiet stream is fine, a link that answers nothing is not ---
 *
 * While streams are open, the check's timer is due health_check_ms after the
 * last byte received (transport.c stamps last_rx_ns) or after the streams
 * started, whichever is later; every turn re-arms it from the latest byte,
 * so a probe goes out exactly when the link has been quiet that long, not
 * on a tick of its own.  The probe (GET /healthz on the shared connections)
 * has health_timeout_ms: unanswered, the link is dead, at most
 * health_check_ms + health_timeout_ms after the last byte (client.h).
 *
 * Dead: this client's connections are abandoned once, then a probe on a
 * fresh connection goes out every dead_probe_period_ms while anything waits
 * for the link (streams, watches, informers).  The first answer - to one of
 * them or to any other request of this client - ends the outage: the link
 * listeners (watches, informers) are told, and reconnect at once. */

#define KC_MAX_DEAD_PROBES 8 /* in flight; each lasts at most health_timeout_ms */

static void health_tick(kc_client *c, void *ud);

static uint64_t ms_ns(long ms) { return ms > 0 ? (uint64_t)ms * 1000000ull : 0; }

/* While the link is dead, a probe this often: 1 s, or health_check_ms when
 * shorter (but not under 100 ms). */
static long dead_probe_period_ms(const kc_client *c)
{
    long p = c->opts.health_check_ms < 1000 ? c->opts.health_check_ms : 1000;
    return p < 100 ? 100 : p;
}

/* When the streams will have been quiet for health_check_ms. */
static uint64_t quiet_due(const kc_client *c)
{
    uint64_t from = c->last_rx_ns > c->quiet_from_ns ? c->last_rx_ns : c->quiet_from_ns;
    return from + ms_ns(c->opts.health_check_ms);
}

static void health_arm(kc_client *c, uint64_t due_ns)
{
    if (c->health_timer)
        kc_loop_timer_remove(c->loop, c->health_timer);
    c->health_timer = kc_loop_timer_add(c, due_ns, health_tick, NULL);
}

/* Abandon this client's connections: its active transfers fail as if the
 * peer had reset them (watches resume, idempotent requests retry), and its
 * sockets are shut down (sockets.c), so no connection made before now
 * carries a request again and the next ones share new connections.  Other
 * clients on the loop keep theirs (a connection two clients share is one
 * of the client that opened it), and fresh_connection requests too (their
 * connections are their own, and they have their own timeouts). */
static void reset_connections(kc_client *c)
{
    int n = kc_sockets_shutdown_client(c);
    kc_log(c, 3, "dropping %d connection(s) to %s", n, c->base_url);
    for (kc_request *r = c->loop->live_head; r; r = r->live_next) {
        if (r->client != c || r->state != KC_REQ_ACTIVE || r->fresh_connection)
            continue;
        curl_multi_remove_handle(r->multi, r->easy);
        r->state = KC_REQ_WAITING;
        snprintf(r->curl_errbuf, sizeof(r->curl_errbuf),
                 "the connection was found dead by the health check");
        kc_request_on_transfer_done(r, CURLE_RECV_ERROR);
    }
}

void kc_client_link_listen(kc_client *c, kc_link_listener *l)
{
    if (l->listening)
        return;
    l->prev = NULL;
    l->next = c->listeners;
    if (c->listeners)
        c->listeners->prev = l;
    c->listeners = l;
    l->listening = 1;
}

void kc_client_link_unlisten(kc_client *c, kc_link_listener *l)
{
    if (!l->listening)
        return;
    if (c->listener_next == l) /* link_back is walking the list: step over l */
        c->listener_next = l->next;
    if (l->prev)
        l->prev->next = l->next;
    else
        c->listeners = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
    l->listening = 0;
}

/* The server answers again: the outage is over. */
static void link_back(kc_client *c)
{
    uint64_t now = kc_client_now(c);
    c->link_dead = 0;
    c->link_back_ns = now;
    kc_log(c, 2, "%s answers again (dead for %.1f s): resuming watches now", c->cfg->server,
           (double)(now - c->dead_ns) / 1e9);
    health_arm(c, quiet_due(c));
    for (kc_link_listener *l = c->listeners; l; l = c->listener_next) {
        c->listener_next = l->next;
        l->on_back(c, l->ud);
    }
    c->listener_next = NULL;
}

static void found_dead(kc_client *c)
{
    c->dead_links++;
    c->link_dead = 1;
    c->dead_ns = kc_client_now(c);
    kc_log(c, 1, "warning: no answer from %s within %ld ms: dropping its connections",
           c->cfg->server, c->opts.health_timeout_ms);
    reset_connections(c);
    health_arm(c, c->dead_ns); /* a first probe on a fresh connection at once */
}

static void on_probe(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)resp;
    int fresh = ud != NULL;
    if (fresh)
        c->dead_probes--;
    else
        c->probe = NULL;
    if (c->in_free || err->code == KC_ECANCELLED)
        return;
    if (err->code == KC_OK || err->http_status > 0) {
        /* any answer, even 401, proves the link alive */
        if (c->link_dead)
            link_back(c);
        else if (!fresh)
            health_arm(c, quiet_due(c));
        return;
    }
    if (err->code != KC_ETRANSPORT && err->code != KC_ETIMEDOUT) {
        /* failed here, not on the link (credentials, memory): proves nothing */
        if (!c->link_dead && !fresh)
            health_arm(c, kc_client_now(c) + ms_ns(c->opts.health_check_ms));
        return;
    }
    if (c->link_dead || fresh) {
        kc_log(c, 3, "health probe of %s: still no answer: %s", c->cfg->server,
               err->message ? err->message : "");
        return; /* the next turn probes again */
    }
    found_dead(c);
}

/* fresh: on a connection of its own (while the link is dead); else on the
 * shared connections the streams use. */
static void send_probe(kc_client *c, int fresh)
{
    kc_request_spec spec = {.method = "GET",
                            .path = "/healthz",
                            .accept = "*/*",
                            .max_attempts = 1,
                            .timeout_ms = c->opts.health_timeout_ms,
                            .no_rate_limit = 1,
                            .fresh_connection = fresh};
    kc_error err = KC_ERROR_INIT;
    kc_request *r = NULL;
    if (kc_request_send(c, &spec, on_probe, fresh ? (void *)c : NULL, &r, &err) == KC_OK) {
        if (fresh)
            c->dead_probes++;
        else
            c->probe = r;
    }
    kc_error_clear(&err);
}

/* One turn while the link is dead: look for the server's answer. */
static void dead_tick(kc_client *c, uint64_t now)
{
    if (c->last_rx_ns > c->dead_ns) { /* another request got an answer */
        link_back(c);
        return;
    }
    if (c->streams_active <= 0 && !c->listeners)
        return; /* nobody waits for the link; the next stream restarts the check */
    if (c->dead_probes < KC_MAX_DEAD_PROBES)
        send_probe(c, 1);
    health_arm(c, now + ms_ns(dead_probe_period_ms(c)));
}

static void health_tick(kc_client *c, void *ud)
{
    (void)ud;
    c->health_timer = NULL; /* freed by the loop after this callback */
    if (c->in_free)
        return;
    uint64_t now = kc_client_now(c);
    if (c->link_dead) {
        dead_tick(c, now);
        return;
    }
    if (c->streams_active <= 0 || c->probe)
        return; /* idle (the next stream re-arms), or on_probe re-arms */
    uint64_t due = quiet_due(c);
    if (now < due) { /* something arrived since: wait from there */
        health_arm(c, due);
        return;
    }
    send_probe(c, 0);
    if (!c->probe) /* could not send (out of memory): try again soon */
        health_arm(c, now + ms_ns(dead_probe_period_ms(c)));
}

void kc_client_stream_started(kc_client *c)
{
    uint64_t now = kc_client_now(c);
    if (c->streams_active++ == 0)
        c->quiet_from_ns = now;
    if (c->opts.health_check_ms > 0 && !c->health_timer && !c->probe)
        health_arm(c, c->link_dead ? now : quiet_due(c));
}

void kc_client_stream_ended(kc_client *c) { c->streams_active--; }

void kc_client_count(kc_client *c, const char *method, long status)
{
    char code[8];
    if (status > 0 && status < 1000)
        snprintf(code, sizeof(code), "%d", (int)status);
    else
        snprintf(code, sizeof(code), "<error>");
    for (size_t i = 0; i < c->ncounts; i++) {
        if (strcmp(c->counts[i].method, method) == 0 && strcmp(c->counts[i].code, code) == 0) {
            c->counts[i].count++;
            return;
        }
    }
    if (c->ncounts == KC_MAX_COUNT_KEYS)
        return;
    kc_count_entry *e = &c->counts[c->ncounts++];
    snprintf(e->method, sizeof(e->method), "%s", method);
    snprintf(e->code, sizeof(e->code), "%s", code);
    e->count = 1;
}

void kc_client_each_request_count(const kc_client *c,
                                  void (*cb)(const char *, const char *, uint64_t, void *),
                                  void *ud)
{
    for (size_t i = 0; i < c->ncounts; i++)
        cb(c->counts[i].method, c->counts[i].code, c->counts[i].count, ud);
}

/* Timers of a client freed while its loop lives on must never fire. */
static void cancel_client_timers(kc_client *c)
{
    kc_timer_heap *h = &c->loop->timers;
    for (size_t i = 0; i < h->len; i++)
        if (h->items[i]->client == c)
            h->items[i]->cancelled = 1;
}

void kc_client_free(kc_client *c)
{
    if (!c)
        return;
    c->in_free = 1;
    if (c->health_timer)
        kc_loop_timer_remove(c->loop, c->health_timer);
    c->health_timer = NULL;
    if (c->loop) {
        kc_request_cancel_all(c);
        kc_request_complete_client(c->loop, c);
        cancel_client_timers(c);
        /* Freed from inside a callback: the request whose callback runs,
         * and those that ended inside a stream callback (still in curl's
         * hands), need the client until the loop has let them go. */
        if (c->nrequests > 0) {
            kc_log(c, 3, "client freed inside a callback: %d request(s) end after it",
                   c->nrequests);
            c->opts.log = NULL; /* the owner's log state may go with the client */
            c->freed = 1;
            return;
        }
    }
    kc_client_destroy(c);
}

void kc_client_destroy(kc_client *c)
{
    if (c->discovery_free)
        c->discovery_free(c->discovery);
    for (int i = 0; i < c->nheaders; i++) {
        curl_slist_free_all(c->headers[i].list);
        free(c->headers[i].accept);
        free(c->headers[i].content_type);
        if (c->headers[i].token)
            kc_free_secret(c->headers[i].token, strlen(c->headers[i].token));
    }
    if (c->loop) /* (the loop may stay a moment longer than its clients: loop_run_once) */
        grow_host_budget(c->loop, -c->opts.max_connections);
    loop_release(c->loop);
    free(c->base_url);
    free(c->connect_to);
    free(c->user_agent);
    free(c);
}
