/* fuzz_headers.c - response headers as the library reads them: curl's
 * header callback in kclient/src/transport.c (Retry-After as seconds or an
 * HTTP date, Content-Type, X-Kubernetes-PF-FlowSchema-UID and
 * -PriorityLevel-UID; a new status line starts over) through a real request
 * (kc_request_send) to the local server of fuzz_http.h.  The parsers there
 * are static in a file this directory does not own, so they are reached the
 * way a server reaches them.  Warning headers are sent too: the library
 * does not read them (today nothing to check but that they do no harm).
 *
 * Input: byte 0 picks the status (200, 201, 429, 503, 500, 404, 409, 410,
 * 504), byte 1 flags (bit 0: the Status body carries
 * details.retryAfterSeconds 7), the rest header lines separated by '\n'
 * (a trailing '\r' dropped; blank lines and the framing headers
 * Content-Length, Transfer-Encoding, Connection, Keep-Alive are left out so
 * the response stays well-framed).
 * Properties: err.retry_after is -1 or within [0, 86400] (the documented
 * clamp, error.h) and never NaN; with plain header lines it equals what the
 * last Retry-After line says: delta-seconds (strtod, clamped; a negative
 * one, malformed, is ignored), an HTTP date
 * (seconds from now, clamped, within 2 s), else none, and then the body's
 * retryAfterSeconds; Content-Type and the PF headers come back as the last
 * line of each said, trimmed; the HTTP status and the outcome code match,
 * also when a line curl takes for the end of the head ("\r\r\n") ends it
 * early (regress-end-of-head: on_header once missed it and read status 0).
 * The input's first line goes first in the head, folded or not, on an easy
 * handle that has seen a transfer before: libcurl < 8.1.0 reads freed
 * memory there when the handle is reused (curl#11101), which transport.c
 * avoids by not reusing handles on those versions; AddressSanitizer is
 * the check (regress-curl-folded-first). */
#include <cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <strings.h>
#include <time.h>

#include "fuzz_http.h"

static const int statuses[] = {200, 201, 429, 503, 500, 404, 409, 410, 504};

typedef struct input {
    int status;
    int body_ra;
    fuzz_buf headers; /* "Name: value\r\n" lines sent */
    int plain;        /* no folded, NUL-holding or CR-holding line: the model applies */
    int nul;          /* a line holds a NUL (curl 7.88 then ends the head there) */
    int warm_up;      /* a request before (the process's first input; see below) */
    /* the model: what the library should have read */
    int ra_kind;      /* 0: no Retry-After, 1: delta-seconds, 2: not a number */
    double ra_secs;   /* the delta-seconds as given (may be negative, NaN, inf) */
    int ra_neg;       /* ... written with a leading '-' */
    char *ra_date;    /* the value that is not a number (an HTTP date?) */
    char *ctype, *flow, *prio;
} input;

static char *respond(unsigned index, const char *target, size_t *len, void *ud)
{
    (void)target;
    const input *in = ud;
    if (index == 0 && in->warm_up) /* a plain answer, so the next one reuses an easy handle */
        return fuzz_http_response(200, "application/json", "X-A: 1\r\n", 9, "{}", 2, len);
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                     "\"message\":\"fuzz\",\"reason\":\"TooManyRequests\",\"code\":%d%s}",
                     in->status, in->body_ra ? ",\"details\":{\"retryAfterSeconds\":7}" : "");
    if (in->status < 300)
        n = snprintf(body, sizeof(body), "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\"}");
    /* no Content-Type of ours: the input's lines say it, or nothing does */
    return fuzz_http_response(in->status, NULL, in->headers.p ? in->headers.p : "",
                              in->headers.n, body, (size_t)n, len);
}

static int framing(const char *line, size_t n)
{
    static const char *const names[] = {"content-length", "transfer-encoding", "connection",
                                        "keep-alive"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t k = strlen(names[i]);
        if (n >= k && strncasecmp(line, names[i], k) == 0) {
            const char *p = line + k;
            while (p < line + n && (*p == ' ' || *p == '\t'))
                p++;
            if (p == line + n || *p == ':')
                return 1;
        }
    }
    return 0;
}

/* The value of "Name: value" (name case-insensitive, the colon right after
 * it), trimmed as RFC 9110 says (leading SP/HTAB, trailing white space). */
static char *value_of(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return NULL;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    return fuzz_copy((const uint8_t *)v, (size_t)(end - v), 1);
}

static void set(char **slot, char *v)
{
    free(*slot);
    *slot = v;
}

/* One header line of the input into the response and the model. */
static void add_line(input *in, const char *line, size_t n)
{
    if (n && line[n - 1] == '\r')
        n--;
    if (n == 0 || framing(line, n))
        return;
    fuzz_buf_add(&in->headers, line, n);
    fuzz_buf_add(&in->headers, "\r\n", 2);
    if (memchr(line, '\0', n) || memchr(line, '\r', n) || line[0] == ' ' || line[0] == '\t')
        in->plain = 0;
    if (memchr(line, '\0', n))
        in->nul = 1;
    char *v;
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) { /* a new response: start over */
        in->ra_kind = 0;
        set(&in->ra_date, NULL);
        set(&in->ctype, NULL);
        set(&in->flow, NULL);
        set(&in->prio, NULL);
    } else if ((v = value_of(line, n, "Retry-After"))) {
        char *end;
        double d = strtod(v, &end);
        if (end != v && *end == '\0') {
            in->ra_kind = 1;
            in->ra_secs = d;
            in->ra_neg = *v == '-';
            set(&in->ra_date, NULL);
            free(v);
        } else {
            in->ra_kind = 2;
            set(&in->ra_date, v);
        }
    } else if ((v = value_of(line, n, "Content-Type"))) {
        set(&in->ctype, v);
    } else if ((v = value_of(line, n, "X-Kubernetes-PF-FlowSchema-UID"))) {
        set(&in->flow, v);
    } else if ((v = value_of(line, n, "X-Kubernetes-PF-PriorityLevel-UID"))) {
        set(&in->prio, v);
    }
}

static double clamp(double s) { return isnan(s) ? -1 : s < 0 ? 0 : s > 86400 ? 86400 : s; }

typedef struct result {
    int done;
    long status;
    kc_error err;
    char *ctype, *flow, *prio;
} result;

static void on_done(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    result *r = ud;
    r->done = 1;
    r->status = resp->status;
    FUZZ_CHECK(kc_error_copy(&r->err, err) == KC_OK);
    r->ctype = resp->content_type ? strdup(resp->content_type) : NULL;
    r->flow = resp->pf_flow_schema ? strdup(resp->pf_flow_schema) : NULL;
    r->prio = resp->pf_priority_level ? strdup(resp->pf_priority_level) : NULL;
}

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static void check(const input *in, const result *r, time_t before, time_t after)
{
    double ra = r->err.retry_after;
    FUZZ_CHECK(!isnan(ra));
    FUZZ_CHECK(ra == -1 || (ra >= 0 && ra <= 86400));
    if ((r->err.code != KC_OK && r->err.code != KC_EHTTP) || in->nul)
        return; /* curl refused the response, or took a NUL for the end of the head */
    if (r->status != in->status)
        fprintf(stderr, "status %ld, sent %d; outcome %d %s\n", r->status, in->status, r->err.code,
                r->err.message ? r->err.message : "");
    FUZZ_CHECK(r->status == in->status);
    if (in->status < 300) {
        FUZZ_CHECK(r->err.code == KC_OK);
    } else {
        FUZZ_CHECK(r->err.code == KC_EHTTP && r->err.http_status == in->status);
    }
    if (!in->plain)
        return;
    if (!same(r->ctype, in->ctype) || !same(r->flow, in->flow) || !same(r->prio, in->prio)) {
        fprintf(stderr, "Content-Type %s / %s, FlowSchema %s / %s, PriorityLevel %s / %s\n",
                r->ctype ? r->ctype : "-", in->ctype ? in->ctype : "-", r->flow ? r->flow : "-",
                in->flow ? in->flow : "-", r->prio ? r->prio : "-", in->prio ? in->prio : "-");
        FUZZ_CHECK(!"a header read back differs from the one sent");
    }
    if (in->status < 300)
        return;
    double want = -1;
    if (in->ra_kind == 1 && !in->ra_neg && !(in->ra_secs < 0))
        want = clamp(in->ra_secs);
    if (in->ra_kind == 2) {
        time_t when = curl_getdate(in->ra_date, NULL);
        if (when >= 0) {
            double lo = clamp(difftime(when, after)) - 1, hi = clamp(difftime(when, before)) + 1;
            if (ra < lo || ra > hi) {
                fprintf(stderr, "Retry-After \"%s\": %g, expected within [%g, %g]\n",
                        in->ra_date, ra, lo, hi);
                FUZZ_CHECK(!"Retry-After date misread");
            }
            return;
        }
    }
    if (want < 0 && in->body_ra)
        want = 7;
    if (ra != want) {
        fprintf(stderr, "Retry-After: %g, expected %g\n", ra, want);
        FUZZ_CHECK(!"Retry-After misread");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 16384)
        return 0;
    kc_client *c = fuzz_http_client();
    input in = {.status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))],
                .body_ra = data[1] & 1,
                .plain = 1};
    /* libcurl < 8.1.0 (7.88 in Debian 12) keeps a pointer to the last
     * header of an easy handle's previous transfer (headers.c prevhead,
     * curl#11101, fixed by curl#11103): a folded line first in the head of a
     * later transfer on the same handle is a use-after-free inside curl.
     * Later inputs follow earlier ones on the same client; the first input
     * of a process sends a request before, so that one input reproduces. */
    static int inputs;
    in.warm_up = inputs++ == 0;
    const char *text = (const char *)data + 2;
    size_t n = size - 2;
    for (size_t start = 0; start < n;) {
        const char *nl = memchr(text + start, '\n', n - start);
        size_t end = nl ? (size_t)(nl - text) : n;
        add_line(&in, text + start, end - start);
        start = end + 1;
    }
    fuzz_http_begin(respond, &in);
    result r = {0, 0, KC_ERROR_INIT, NULL, NULL, NULL};
    kc_request_spec spec = {.method = "GET", .path = "/api/v1/namespaces/ns/configmaps/x",
                            .max_attempts = 1};
    kc_error err = KC_ERROR_INIT;
    time_t before = time(NULL);
    if (in.warm_up) {
        result w = {0, 0, KC_ERROR_INIT, NULL, NULL, NULL};
        FUZZ_CHECK(kc_request_send(c, &spec, on_done, &w, NULL, &err) == KC_OK);
        while (!w.done)
            kc_client_run_once(c, 1000);
        kc_error_clear(&w.err);
        free(w.ctype), free(w.flow), free(w.prio);
    }
    FUZZ_CHECK(kc_request_send(c, &spec, on_done, &r, NULL, &err) == KC_OK);
    while (!r.done)
        kc_client_run_once(c, 1000);
    time_t after = time(NULL);
    fuzz_http_end();
    check(&in, &r, before, after);
    kc_error_clear(&r.err);
    kc_error_clear(&err);
    free(r.ctype);
    free(r.flow);
    free(r.prio);
    free(in.headers.p);
    free(in.ra_date);
    free(in.ctype);
    free(in.flow);
    free(in.prio);
    return 0;
}
