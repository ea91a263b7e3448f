/* Integration: Retry-After.  client.h: a request that meets 429 (or 503)
 * "is sent again after Retry-After (header, or the Status's
 * details.retryAfterSeconds) or else exponential backoff with jitter";
 * error.h: retry_after is "at most a day; <0 if none"; docs/reliability.md:
 * "Retry-After (header and retryAfterSeconds: NaN ignored, capped at a
 * day)"; README: 503 is retried (any method) only "with Retry-After".
 *
 *  - On the real kube-apiserver (the throttled fixture: a user outside
 *    system:masters against an in-flight limit of 1 draws API Priority and
 *    Fairness 429s): every retry after a 429 waits at least the delay the
 *    server asked for, measured on the wall clock from the 429 to the end of
 *    the next attempt; the delay is one APF sends (whole seconds, >= 1, read
 *    by the test's own libcurl handle from real 429s of the same storm), not
 *    the client's own backoff.  APF raises its Retry-After under sustained
 *    drops and remembers it per priority level (1, 2, 4 ... 32 s; seen
 *    here: 1 to 12 s after a few storms), so the storm runs as a fresh
 *    ServiceAccount in a priority level of its own, made for the run (one
 *    seat, a queue of 20), and lasts at most 20 s: other suites' storms on
 *    the same fixture cannot stretch its waits.
 *  - Values a real server does not send, from test/bad-server (which times
 *    every arrival itself, so the wait is measured on the server's side):
 *    seconds and an HTTP date honoured; NaN and garbage ignored (the
 *    default backoff); huge values and infinity clamped to a day, in the
 *    header and in details.retryAfterSeconds; 503 + Retry-After retries a
 *    POST, 503 + a NaN Retry-After does not. */
#include <inttypes.h>
#include <math.h>
#include <time.h>

#include "kc_badserver.h"
#include "kc_proxy.h" /* kct_cluster_port */
#include "kc_sa.h"

static kct_badserver bs;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ====================================================================
 * bad-server: what a real server cannot be made to send
 * ==================================================================== */

#define BACKOFF_MS 300 /* backoff_initial_ms: first retry after 300..450 ms (jitter 0.5) */

typedef struct outcome {
    int done;
    kc_error err;
    int attempts;
    long status;
    uint64_t sent_ms, ms;
    char line[1024];
} outcome;

static void on_done(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    outcome *o = ud;
    o->done = 1;
    o->attempts = r->attempts;
    o->status = r->status;
    o->ms = mono_ms() - o->sent_ms;
    kc_error_copy(&o->err, err);
    kc_error_format(err, o->line, sizeof(o->line));
}

static kc_client *bad_client(kc_config **cfg, int max_attempts)
{
    *cfg = kct_badserver_config(&bs);
    kc_client_options o = {.qps = -1,
                           .max_attempts = max_attempts,
                           .backoff_initial_ms = BACKOFF_MS,
                           .backoff_max_ms = 30000};
    return kct_client(*cfg, &o);
}

/* Send METHOD /api/v1/namespaces/retryafter/configmaps/NAME?params and
 * drive the loop until done or wait_ms passed. */
static kc_request *send_ra(kc_client *c, const char *method, const char *name,
                           const kc_param *params, size_t nparams, outcome *o)
{
    static const char body[] = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{}}";
    kc_request_spec spec = {.method = method,
                            .ref = {NULL, "v1", "configmaps", "retryafter", name, NULL},
                            .params = params,
                            .nparams = nparams,
                            .timeout_ms = 10000};
    char path[256];
    if (strcmp(method, "POST") == 0) { /* a create, at a path naming the record */
        snprintf(path, sizeof(path), "/api/v1/namespaces/retryafter/configmaps/%s", name);
        spec.path = path;
        spec.content_type = "application/json";
        spec.body = body;
        spec.body_len = strlen(body);
    }
    kc_error err = KC_ERROR_INIT;
    kc_error_init(&o->err);
    o->done = 0;
    o->sent_ms = mono_ms();
    kc_request *req = NULL;
    KCT_OK(kc_request_send(c, &spec, on_done, o, &req, &err), &err);
    return req;
}

static void wait_done(kc_client *c, outcome *o, long wait_ms)
{
    uint64_t end = mono_ms() + (uint64_t)wait_ms;
    while (!o->done && mono_ms() < end)
        kc_client_run_once(c, 20);
}

/* The server's record for NAME: arrival times (ms) and what it sent. */
typedef struct record {
    int n;
    double at_ms[16];
    char sent[16][160];
    char method[16][8];
} record;

static record server_record(const char *name)
{
    record r = {0};
    cJSON *j = kct_badserver_stats(&bs);
    const cJSON *rec = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "retryAfter"), name);
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(rec, "arrivalsMs")) {
        if (r.n < 16)
            r.at_ms[r.n++] = v->valuedouble;
    }
    int i = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(rec, "sent")) {
        if (i < 16)
            snprintf(r.sent[i++], sizeof(r.sent[0]), "%s", v->valuestring);
    }
    i = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(rec, "methods")) {
        if (i < 16)
            snprintf(r.method[i++], sizeof(r.method[0]), "%s", v->valuestring);
    }
    cJSON_Delete(j);
    return r;
}

static char *unique(const char *what)
{
    static int n;
    char *s = NULL;
    if (asprintf(&s, "%s-%d-%d", what, (int)getpid(), ++n) < 0)
        abort();
    return s;
}

/* One 429 with the given Retry-After header, then 200: returns the
 * server-measured wait between the two arrivals (ms). */
static double retried_after(const char *ra_value, int with_header, const char *ras,
                            const char *status, const char *method, outcome *o, record *rec)
{
    kc_config *cfg;
    kc_client *c = bad_client(&cfg, 4);
    char *name = unique("ra");
    kc_param p[4];
    size_t n = 0;
    if (with_header)
        p[n++] = (kc_param){"ra", ra_value};
    if (ras) {
        p[n++] = (kc_param){"body", "status"};
        p[n++] = (kc_param){"ras", ras};
    }
    if (status)
        p[n++] = (kc_param){"status", status};
    send_ra(c, method, name, p, n, o);
    wait_done(c, o, 15000);
    *rec = server_record(name);
    double gap = rec->n >= 2 ? rec->at_ms[1] - rec->at_ms[0] : -1;
    fprintf(stderr, "%s %s: answers [%s | %s], %d arrival(s), waited %.1f ms; client: %d "
                    "attempt(s), %" PRIu64 " ms: %s\n",
            method, with_header ? ra_value : "(no header)", rec->sent[0], rec->sent[1], rec->n,
            gap, o->attempts, o->ms, o->line);
    ck_assert_msg(o->done, "request still pending after 15 s");
    kc_client_free(c);
    kc_config_free(cfg);
    free(name);
    return gap;
}

START_TEST(header_seconds_honoured)
{
    outcome o = {0};
    record r;
    double gap = retried_after("2", 1, NULL, NULL, "GET", &o, &r);
    ck_assert_str_eq(r.sent[0], "429 Retry-After=2"); /* the thing happened */
    ck_assert_msg(o.err.code == KC_OK && o.attempts == 2, "%s (%d attempts)", o.line, o.attempts);
    ck_assert_int_eq(r.n, 2);
    ck_assert_msg(gap >= 2000 && gap <= 3000, "Retry-After: 2 but the retry came after %.1f ms",
                  gap);
    kc_error_clear(&o.err);
}
END_TEST

START_TEST(http_date_honoured)
{
    /* an IMF-fixdate 3 s ahead (1 s resolution: 2 to 3 s from now) */
    char date[64];
    time_t when = time(NULL) + 3;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    outcome o = {0};
    record r;
    double gap = retried_after(date, 1, NULL, NULL, "GET", &o, &r);
    ck_assert_msg(o.err.code == KC_OK && o.attempts == 2, "%s (%d attempts)", o.line, o.attempts);
    ck_assert_msg(gap >= 1900 && gap <= 4200,
                  "Retry-After: %s (3 s ahead) but the retry came after %.1f ms", date, gap);
    kc_error_clear(&o.err);
}
END_TEST

/* Retry-After values that are not a delay: ignored, so the retry comes
 * after the default backoff (backoff_initial_ms 300, jitter 0.5: 300 to
 * 450 ms), neither at once nor never.  RFC 9110 10.2.3: delay-seconds is
 * 1*DIGIT, so "-5" is no delay either.
 * LIBRARY BUG (reported; case 5 fails on the current code): "-5" is taken
 * as 0 (kc_retry_after_clamp maps negatives to 0, right for an HTTP date in
 * the past, wrong for a malformed delay), so the client retries at once,
 * with no backoff, as often as max_attempts allows. */
static const char *not_a_delay[] = {"NaN", "nan", "garbage", "", "5garbage", "-5"};

START_TEST(garbage_ignored_default_backoff)
{
    const char *v = not_a_delay[_i];
    outcome o = {0};
    record r;
    double gap = retried_after(v, 1, NULL, NULL, "GET", &o, &r);
    char want[64];
    snprintf(want, sizeof(want), "429 Retry-After=%s", v);
    ck_assert_str_eq(r.sent[0], want);
    ck_assert_msg(o.err.code == KC_OK && o.attempts == 2, "%s (%d attempts)", o.line, o.attempts);
    ck_assert_msg(gap >= BACKOFF_MS && gap <= BACKOFF_MS * 1.5 + 400,
                  "Retry-After: \"%s\" is not a delay (RFC 9110: delay-seconds = 1*DIGIT) and "
                  "should be ignored (default backoff: %d..%d ms), but the retry came after "
                  "%.1f ms",
                  v, BACKOFF_MS, BACKOFF_MS * 3 / 2, gap);
    kc_error_clear(&o.err);
}
END_TEST

/* Huge values: clamped to a day (86400 s), never an overflow into "now". */
static const char *huge[] = {"1e12", "inf", "99999999999999999999999", "86401"};

START_TEST(huge_clamped_to_a_day)
{
    const char *v = huge[_i];
    kc_config *cfg;
    /* one attempt: the error carries the value the client would wait */
    kc_client *c = bad_client(&cfg, 1);
    char *name = unique("huge");
    kc_param p[] = {{"ra", v}};
    outcome o = {0};
    send_ra(c, "GET", name, p, 1, &o);
    wait_done(c, &o, 5000);
    fprintf(stderr, "Retry-After: %s -> retry_after %g: %s\n", v, o.err.retry_after, o.line);
    ck_assert_msg(o.done && o.err.http_status == 429, "%s", o.line);
    ck_assert_msg(o.err.retry_after == 86400.0, "Retry-After: %s gave retry_after %g, want 86400",
                  v, o.err.retry_after);
    ck_assert_msg(strstr(o.line, "retry after 86400s"), "%s", o.line);
    kc_error_clear(&o.err);
    kc_client_free(c);
    kc_config_free(cfg);
    free(name);

    /* with retries allowed the client waits (a day): still pending after
     * 1.5 s, one arrival only; cancel ends it */
    c = bad_client(&cfg, 4);
    name = unique("huge-wait");
    outcome w = {0};
    kc_request *req = send_ra(c, "GET", name, p, 1, &w);
    wait_done(c, &w, 1500);
    record r = server_record(name);
    ck_assert_msg(!w.done, "Retry-After: %s: the request ended after %" PRIu64 " ms: %s", v,
                  w.ms, w.line);
    ck_assert_int_eq(r.n, 1);
    kc_request_cancel(req);
    wait_done(c, &w, 2000);
    ck_assert(w.done && w.err.code == KC_ECANCELLED);
    kc_error_clear(&w.err);
    kc_client_free(c);
    kc_config_free(cfg);
    free(name);
}
END_TEST

/* details.retryAfterSeconds of a Status body, without the header. */
START_TEST(status_retry_after_seconds)
{
    outcome o = {0};
    record r;
    double gap = retried_after(NULL, 0, "2", NULL, "GET", &o, &r);
    ck_assert_str_eq(r.sent[0], "429 retryAfterSeconds=2");
    ck_assert_msg(o.err.code == KC_OK && o.attempts == 2, "%s", o.line);
    ck_assert_msg(gap >= 2000 && gap <= 3000,
                  "retryAfterSeconds 2 but the retry came after %.1f ms", gap);
    kc_error_clear(&o.err);

    /* 1e400 is infinity to a double: clamped to a day */
    kc_config *cfg;
    kc_client *c = bad_client(&cfg, 1);
    char *name = unique("ras-huge");
    kc_param p[] = {{"body", "status"}, {"ras", "1e400"}};
    outcome h = {0};
    send_ra(c, "GET", name, p, 2, &h);
    wait_done(c, &h, 5000);
    fprintf(stderr, "retryAfterSeconds 1e400 -> retry_after %g: %s\n", h.err.retry_after, h.line);
    ck_assert_msg(h.done && h.err.http_status == 429, "%s", h.line);
    ck_assert_msg(h.err.retry_after == 86400.0, "retryAfterSeconds 1e400 gave retry_after %g",
                  h.err.retry_after);
    kc_error_clear(&h.err);
    kc_client_free(c);
    kc_config_free(cfg);
    free(name);
}
END_TEST

/* 503 is retried for any method only "with Retry-After": a POST is retried
 * after Retry-After: 1, and not at all when the header is NaN (ignored). */
START_TEST(post_503_needs_a_valid_retry_after)
{
    outcome o = {0};
    record r;
    double gap = retried_after("1", 1, NULL, "503", "POST", &o, &r);
    ck_assert_str_eq(r.sent[0], "503 Retry-After=1");
    ck_assert_msg(o.err.code == KC_OK && o.attempts == 2 && r.n == 2, "%s (%d attempts)", o.line,
                  o.attempts);
    ck_assert_str_eq(r.method[1], "POST");
    ck_assert_msg(gap >= 1000 && gap <= 2000, "Retry-After: 1 but the retry came after %.1f ms",
                  gap);
    kc_error_clear(&o.err);

    outcome n = {0};
    retried_after("NaN", 1, NULL, "503", "POST", &n, &r);
    ck_assert_str_eq(r.sent[0], "503 Retry-After=NaN");
    ck_assert_msg(n.err.code == KC_EHTTP && n.err.http_status == 503 && n.attempts == 1 &&
                      r.n == 1,
                  "503 with Retry-After: NaN (no valid delay) retried a POST: %d attempts, %d "
                  "arrivals: %s",
                  n.attempts, r.n, n.line);
    ck_assert_msg(n.err.retry_after < 0, "NaN kept as retry_after %g", n.err.retry_after);
    kc_error_clear(&n.err);
}
END_TEST

/* A 429 to a POST whose body the server does not read (API Priority and
 * Fairness rejects before any handler reads it): Go's HTTP/2 server sends
 * the 429's headers and resets the stream.  "429 always" is retried (the
 * server did not process it).
 * LIBRARY BUG (reported; fails on the current code: some of the 200 POSTs):
 * the client reports "transfer closed with N bytes remaining to read (curl
 * 18)", a transport error, though it has the 429 - and a POST is not
 * retried after a transport error.  Same cause as big_post_401_refreshed
 * in test_token_rotation. */
START_TEST(big_post_429_retried)
{
    enum { TRIES = 200, SIZE = 2 << 20 };
    kc_config *cfg;
    kc_client *c = bad_client(&cfg, 4);
    char *body = malloc(SIZE + 1);
    memset(body, 'x', SIZE);
    static const char head[] = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{\"b\":\"";
    memcpy(body, head, sizeof(head) - 1);
    memcpy(body + SIZE - 3, "\"}}", 3);
    body[SIZE] = '\0';
    int ok = 0, transport_429 = 0, other = 0;
    char first[1200] = "";
    kc_param p[] = {{"ra", "0"}};
    for (int i = 0; i < TRIES; i++) {
        char *name = unique("bigpost");
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/namespaces/retryafter/configmaps/%s", name);
        kc_request_spec spec = {.method = "POST",
                                .path = path,
                                .params = p,
                                .nparams = 1,
                                .content_type = "application/json",
                                .body = body,
                                .body_len = SIZE};
        outcome o = {0};
        kc_error err = KC_ERROR_INIT;
        o.sent_ms = mono_ms();
        KCT_OK(kc_request_send(c, &spec, on_done, &o, NULL, &err), &err);
        wait_done(c, &o, 20000);
        ck_assert_msg(o.done, "POST still pending after 20 s");
        if (o.err.code == KC_OK && o.attempts == 2)
            ok++;
        else if (o.err.code == KC_ETRANSPORT && o.status == 429)
            transport_429++;
        else
            other++;
        if ((o.err.code != KC_OK || o.attempts != 2) && !first[0])
            snprintf(first, sizeof(first), "[HTTP %ld, %d attempt(s)] %s", o.status, o.attempts,
                     o.line);
        kc_error_clear(&o.err);
        free(name);
    }
    fprintf(stderr, "2 MiB POSTs answered 429 (Retry-After: 0): %d tries, %d retried and ok, %d "
                    "a 429 reported as a transport error, %d other%s%s\n",
            TRIES, ok, transport_429, other, first[0] ? "; first: " : "", first);
    ck_assert_msg(ok == TRIES,
                  "%d of %d POSTs answered 429 were not retried (%d reported a transport error "
                  "though the client had the 429: the server reset the stream after the "
                  "response headers, as it does for a body it will not read); first: %s",
                  TRIES - ok, TRIES, transport_429, first);
    free(body);
    kc_client_free(c);
    kc_config_free(cfg);
}
END_TEST

/* ====================================================================
 * the real kube-apiserver (throttled fixture)
 * ==================================================================== */

#define ENV "KC_TEST_CLUSTER_THROTTLED"
#define STORM 150
#define MAXPATHS STORM

/* From the client's log: per request path, the time of its last
 * "retrying ... in Xs after Too Many Requests" and X; the next completion
 * of that path ends the measured wait. */
typedef struct waits {
    char path[MAXPATHS][128];
    double retry_at[MAXPATHS]; /* 0 = none pending */
    double delay[MAXPATHS];
    int npaths;
    int retries_429, measured, short_waits, own_backoff, other_retries;
    double min_slack, min_delay, max_delay;
    char worst[256];
} waits;

static int path_index(waits *w, const char *path, size_t len)
{
    for (int i = 0; i < w->npaths; i++)
        if (strlen(w->path[i]) == len && !strncmp(w->path[i], path, len))
            return i;
    if (w->npaths == MAXPATHS || len >= sizeof(w->path[0]))
        return -1;
    memcpy(w->path[w->npaths], path, len);
    w->path[w->npaths][len] = '\0';
    return w->npaths++;
}

static void on_log(void *ud, int level, const char *line)
{
    waits *w = ud;
    double now = mono_s();
    (void)level;
    if (!strncmp(line, "retrying PATCH ", 15)) {
        /* retrying PATCH <path> in <X>s after <reason> (attempt n of m) */
        const char *path = line + 15, *sp = strchr(path, ' ');
        double secs;
        if (!sp || sscanf(sp, " in %lfs", &secs) != 1)
            return;
        if (!strstr(line, "after Too Many Requests")) {
            w->other_retries++;
            return;
        }
        int i = path_index(w, path, (size_t)(sp - path));
        if (i < 0)
            return;
        w->retries_429++;
        w->retry_at[i] = now;
        w->delay[i] = secs;
        if (secs < w->min_delay || w->min_delay == 0)
            w->min_delay = secs;
        if (secs > w->max_delay)
            w->max_delay = secs;
        /* APF sends whole seconds, at least 1 */
        if (secs < 1 || fabs(secs - round(secs)) > 1e-6)
            w->own_backoff++;
        return;
    }
    if (!strncmp(line, "PATCH ", 6) && strstr(line, " -> ")) {
        /* PATCH <path> -> <status> ... (attempt n) */
        const char *path = line + 6, *sp = strstr(path, " -> ");
        int i = path_index(w, path, (size_t)(sp - path));
        if (i < 0 || w->retry_at[i] == 0)
            return;
        double waited = now - w->retry_at[i];
        double slack = waited - w->delay[i];
        w->measured++;
        if (w->measured == 1 || slack < w->min_slack) {
            w->min_slack = slack;
            snprintf(w->worst, sizeof(w->worst), "%s: asked %.3fs, waited %.3fs", w->path[i],
                     w->delay[i], waited);
        }
        if (slack < -0.001)
            w->short_waits++;
        w->retry_at[i] = 0;
    }
}

typedef struct storm {
    int done, failed;
    kc_error first;
} storm;

static void storm_done(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    (void)r;
    storm *s = ud;
    s->done++;
    if (err->code != KC_OK && s->failed++ == 0)
        kc_error_copy(&s->first, err);
}

/* The test's own view of the server's 429s: plain libcurl handles (up to
 * RAW_PAR at once), as the same ServiceAccount, applying more objects during
 * the storm and reading the Retry-After of every 429 they get. */
#define RAW_PAR 8

typedef struct raw_one {
    CURL *e;
    char url[512];
    char retry_after[64];
} raw_one;

typedef struct raw {
    CURLM *m;
    raw_one one[RAW_PAR];
    struct curl_slist *hdrs;
    int sent, got_429, got_other;
    int values[64], nvalues;
    char ca[512];
    char auth[4096];
} raw;

static size_t raw_header(char *b, size_t sz, size_t n, void *ud)
{
    raw_one *r = ud;
    size_t len = sz * n;
    if (len > 12 && !strncasecmp(b, "retry-after:", 12)) {
        size_t k = len - 12 < sizeof(r->retry_after) - 1 ? len - 12 : sizeof(r->retry_after) - 1;
        memcpy(r->retry_after, b + 12, k);
        r->retry_after[k] = '\0';
    }
    return len;
}

static size_t raw_body(char *b, size_t sz, size_t n, void *ud)
{
    (void)b;
    (void)ud;
    return sz * n;
}

static int raw_active(const raw *r)
{
    int n = 0;
    for (int i = 0; i < RAW_PAR; i++)
        n += r->one[i].e != NULL;
    return n;
}

static void raw_fill(raw *r, const char *ns, int port)
{
    static const char body[] = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{\"a\":\"b\"}}";
    for (int i = 0; i < RAW_PAR; i++) {
        raw_one *o = &r->one[i];
        if (o->e)
            continue;
        snprintf(o->url, sizeof(o->url),
                 "https://127.0.0.1:%d/api/v1/namespaces/%s/configmaps/raw-%d?fieldManager=raw",
                 port, ns, r->sent % 50);
        o->retry_after[0] = '\0';
        o->e = curl_easy_init();
        curl_easy_setopt(o->e, CURLOPT_URL, o->url);
        curl_easy_setopt(o->e, CURLOPT_CAINFO, r->ca);
        curl_easy_setopt(o->e, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(o->e, CURLOPT_CUSTOMREQUEST, "PATCH");
        curl_easy_setopt(o->e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(o->e, CURLOPT_HTTPHEADER, r->hdrs);
        curl_easy_setopt(o->e, CURLOPT_HEADERFUNCTION, raw_header);
        curl_easy_setopt(o->e, CURLOPT_HEADERDATA, o);
        curl_easy_setopt(o->e, CURLOPT_WRITEFUNCTION, raw_body);
        curl_easy_setopt(o->e, CURLOPT_PRIVATE, (char *)o);
        curl_easy_setopt(o->e, CURLOPT_TIMEOUT_MS, 20000L);
        curl_multi_add_handle(r->m, o->e);
        r->sent++;
    }
}

static void raw_poll(raw *r)
{
    int running = 0;
    curl_multi_perform(r->m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(r->m, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        raw_one *o = NULL;
        long status = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&o);
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        if (status == 429) {
            r->got_429++;
            int v = 0;
            if (sscanf(o->retry_after, " %d", &v) == 1 && r->nvalues < 64)
                r->values[r->nvalues++] = v;
        } else {
            r->got_other++;
        }
        curl_multi_remove_handle(r->m, msg->easy_handle);
        curl_easy_cleanup(msg->easy_handle);
        o->e = NULL;
    }
}

/* Remove what earlier runs left (a failed run skips its clean-up). */
static void delete_apf(kc_client *admin, const char *prefix)
{
    static const char *kinds[] = {"flowschemas", "prioritylevelconfigurations"};
    for (int k = 0; k < 2; k++) {
        char path[256];
        snprintf(path, sizeof(path), "/apis/flowcontrol.apiserver.k8s.io/v1/%s", kinds[k]);
        cJSON *list = kct_send(admin, "GET", path, NULL);
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(list, "items")) {
            const char *name = kct_str(it, "metadata.name");
            if (!name || strncmp(name, prefix, strlen(prefix)) != 0)
                continue;
            char one[512];
            snprintf(one, sizeof(one), "%s/%s", path, name);
            cJSON_Delete(kct_send(admin, "DELETE", one, NULL));
        }
        cJSON_Delete(list);
    }
}

#define APF_PREFIX "kct-retry-after-"

/* A priority level of one seat and one queue of 20 for ns/sa only. */
static char *make_apf(kc_client *admin, const char *ns, const char *sa, const char *name)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"flowcontrol.apiserver.k8s.io/v1\",\"kind\":"
             "\"PriorityLevelConfiguration\",\"metadata\":{\"name\":\"%s\"},\"spec\":{\"type\":"
             "\"Limited\",\"limited\":{\"nominalConcurrencyShares\":100,\"lendablePercent\":0,"
             "\"borrowingLimitPercent\":0,\"limitResponse\":{\"type\":\"Queue\",\"queuing\":"
             "{\"queues\":1,\"handSize\":1,\"queueLengthLimit\":20}}}}}",
             name);
    cJSON *plc = kct_send(admin, "POST",
                          "/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations", body);
    char *uid = strdup(kct_str(plc, "metadata.uid"));
    cJSON_Delete(plc);
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"flowcontrol.apiserver.k8s.io/v1\",\"kind\":\"FlowSchema\","
             "\"metadata\":{\"name\":\"%s\"},\"spec\":{\"priorityLevelConfiguration\":{\"name\":"
             "\"%s\"},\"matchingPrecedence\":450,\"distinguisherMethod\":{\"type\":\"ByUser\"},"
             "\"rules\":[{\"subjects\":[{\"kind\":\"ServiceAccount\",\"serviceAccount\":"
             "{\"name\":\"%s\",\"namespace\":\"%s\"}}],\"resourceRules\":[{\"verbs\":[\"*\"],"
             "\"apiGroups\":[\"*\"],\"resources\":[\"*\"],\"namespaces\":[\"*\"],"
             "\"clusterScope\":true}],\"nonResourceRules\":[{\"verbs\":[\"*\"],"
             "\"nonResourceURLs\":[\"*\"]}]}]}}",
             name, name, sa, ns);
    cJSON_Delete(kct_send(admin, "POST", "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas",
                          body));
    return uid;
}

/* Wait until c's requests are classified into the priority level uid
 * (the APF configuration controller picks new objects up in a moment). */
static void wait_classified(kc_client *c, const char *ns, const char *uid)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", ns);
    uint64_t end = mono_ms() + 20000;
    char last[128] = "";
    while (mono_ms() < end) {
        kc_request_spec spec = {.method = "GET", .path = path};
        kct_sync sy = {0, KC_ERROR_INIT, NULL, NULL};
        kc_error err = KC_ERROR_INIT;
        KCT_OK(kc_request_send(c, &spec, kct_sync_done, &sy, NULL, &err), &err);
        while (!sy.done)
            kc_client_run_once(c, 50);
        snprintf(last, sizeof(last), "%s", sy.pf_priority_level ? sy.pf_priority_level : "");
        int in = sy.pf_priority_level && !strcmp(sy.pf_priority_level, uid);
        free(sy.pf_priority_level);
        cJSON_Delete(sy.body);
        kc_error_clear(&sy.err);
        if (in)
            return;
        usleep(100000);
    }
    ck_abort_msg("requests still classified into priority level %s, not %s, after 20 s", last,
                 uid);
}

START_TEST(apiserver_429_waits_at_least_retry_after)
{
    kc_config *admin_cfg = kct_config(ENV, "kubeconfig");
    kc_client *admin = kct_client(admin_cfg, NULL);
    delete_apf(admin, APF_PREFIX);
    char *ns = kct_namespace(admin, "retryafter");
    kct_sa_create(admin, ns, "storm", "edit");
    char apf_name[128];
    snprintf(apf_name, sizeof(apf_name), APF_PREFIX "%d", (int)getpid());
    char *level_uid = make_apf(admin, ns, "storm", apf_name);
    char *tok = kct_sa_token(admin, ns, "storm", NULL, NULL);
    kc_config *cfg = kct_config_token(ENV, tok);
    waits *w = calloc(1, sizeof(*w));
    /* no client-side limit: the server is the only brake */
    kc_client_options o = {.qps = -1, .max_attempts = 40, .log = on_log, .log_ud = w,
                           .verbosity = 6};
    kc_client *c = kct_client(cfg, &o);
    wait_classified(c, ns, level_uid);

    raw r = {0};
    r.m = curl_multi_init();
    snprintf(r.ca, sizeof(r.ca), "%s/ca.crt", kct_dir(ENV));
    snprintf(r.auth, sizeof(r.auth), "Authorization: Bearer %s", tok);
    r.hdrs = curl_slist_append(NULL, r.auth);
    r.hdrs = curl_slist_append(r.hdrs, "Content-Type: application/apply-patch+yaml");
    int port = kct_cluster_port(ENV);

    kc_error err = KC_ERROR_INIT;
    storm s = {0, 0, KC_ERROR_INIT};
    for (int i = 0; i < STORM; i++) {
        char body[256], name[32];
        snprintf(name, sizeof(name), "ra-%d", i);
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\"},"
                 "\"data\":{\"i\":\"%d\"}}",
                 name, i);
        kc_param p[] = {{"fieldManager", "retry-after-test"}};
        kc_request_spec spec = {.method = "PATCH",
                                .ref = {NULL, "v1", "configmaps", ns, name, NULL},
                                .params = p,
                                .nparams = 1,
                                .content_type = "application/apply-patch+yaml",
                                .body = body,
                                .body_len = strlen(body)};
        KCT_OK(kc_request_send(c, &spec, storm_done, &s, NULL, &err), &err);
    }
    uint64_t start = mono_ms(), end = start + 20000;
    while (s.done < STORM && mono_ms() < end) {
        kc_client_run_once(c, 5);
        if (r.nvalues < 16)
            raw_fill(&r, ns, port);
        raw_poll(&r);
    }
    while (raw_active(&r) && mono_ms() < end + 5000) {
        kc_client_run_once(c, 5);
        raw_poll(&r);
    }
    kc_client_stats st;
    kc_client_get_stats(c, &st);
    char vals[256] = "";
    for (int i = 0; i < r.nvalues; i++)
        snprintf(vals + strlen(vals), sizeof(vals) - strlen(vals), "%s%d", i ? "," : "",
                 r.values[i]);
    fprintf(stderr,
            "storm (its own priority level): %d of %d done in %" PRIu64 " ms, %d failed; %llu attempts, %llu answered 429, "
            "%llu retries; 429 retries logged %d (other retries %d), waits measured %d, chosen "
            "delays %.3f..%.3f s, not a server value %d, shorter than asked %d (closest: %s); "
            "raw probes: %d sent, %d got 429 with Retry-After [%s], %d other\n",
            s.done, STORM, mono_ms() - start, s.failed, (unsigned long long)st.requests,
            (unsigned long long)st.responses_429, (unsigned long long)st.retries, w->retries_429,
            w->other_retries, w->measured, w->min_delay, w->max_delay, w->own_backoff,
            w->short_waits, w->worst, r.sent, r.got_429, vals, r.got_other);

    /* preconditions: the server throttled, with Retry-After, and the client retried */
    ck_assert_msg(st.responses_429 > 0, "no 429 provoked: the test proves nothing");
    ck_assert_msg(r.nvalues > 0, "the test's own requests saw no 429 with Retry-After");
    for (int i = 0; i < r.nvalues; i++)
        ck_assert_int_ge(r.values[i], 1);
    ck_assert_int_gt(w->measured, 0);
    /* the behaviour (what is not done in 20 s is still waiting, fine) */
    if (s.failed)
        kct_fail_err("storm", &s.first);
    ck_assert_msg(w->own_backoff == 0,
                  "%d retries after a 429 waited a delay APF never sends (not whole seconds >= "
                  "1): Retry-After was not honoured",
                  w->own_backoff);
    ck_assert_msg(w->short_waits == 0, "%d retries came sooner than Retry-After allows (%s)",
                  w->short_waits, w->worst);
    ck_assert(w->min_delay >= 1.0);

    curl_slist_free_all(r.hdrs);
    curl_multi_cleanup(r.m);
    /* first: freeing c cancels what is still waiting, and that is logged to w
     * and reported to s */
    kc_client_free(c);
    kc_error_clear(&s.first);
    free(w);
    kc_config_free(cfg);
    delete_apf(admin, APF_PREFIX);
    free(level_uid);
    free(tok);
    kc_client_free(admin);
    kc_config_free(admin_cfg);
    free(ns);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    kct_badserver_start(&bs);
    Suite *s = suite_create("retry_after");
    TCase *tc = tcase_create("values");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, header_seconds_honoured);
    tcase_add_test(tc, http_date_honoured);
    tcase_add_loop_test(tc, garbage_ignored_default_backoff, 0,
                        (int)(sizeof(not_a_delay) / sizeof(not_a_delay[0])));
    tcase_add_loop_test(tc, huge_clamped_to_a_day, 0, (int)(sizeof(huge) / sizeof(huge[0])));
    tcase_add_test(tc, status_retry_after_seconds);
    tcase_add_test(tc, post_503_needs_a_valid_retry_after);
    tcase_add_test(tc, big_post_429_retried);
    suite_add_tcase(s, tc);
    TCase *api = tcase_create("apiserver");
    tcase_set_timeout(api, 120);
    tcase_add_test(api, apiserver_429_waits_at_least_retry_after);
    suite_add_tcase(s, api);
    int rc = kct_run_suite(s);
    kct_badserver_stop(&bs);
    return rc;
}
