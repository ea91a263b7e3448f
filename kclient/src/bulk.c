/* bulk.c - PatchStatusAll: a bounded, rate-limited, retrying, adaptive
 * stream of status patches on the client's loop.  See kclient/bulk.h. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "kclient/bulk.h"

#define DEFAULT_CONCURRENCY 64
#define DEFAULT_ATTEMPTS 10
#define LIST_PAGE "500"
#define HIST_SUB_BITS 5
#define HIST_BUCKETS (64 << HIST_SUB_BITS)

typedef struct bulk_item {
    struct kc_bulk *bulk;
    char *namespace_;
    char *name;
    char *body;
    size_t body_len;
    int attempts;
    long http_status; /* of the last answer */
    uint64_t first_send_ns;
    kc_request *req;
    uint64_t timer_id;
    kc_error last;
    struct bulk_item *prev, *next;
} bulk_item;

/* Items from a label/field selector: one list page at a time. */
typedef struct list_source {
    cJSON *page;
    kc_request *req; /* the page being fetched */
    const cJSON *cursor;
    char *cont;
    int started, fetching, finished;
} list_source;

struct kc_bulk {
    kc_client *client;
    kc_bulk_options o;
    char *s_group, *s_version, *s_resource, *s_namespace, *s_sub, *s_kind, *s_patch,
        *s_manager, *s_label, *s_field;
    char *apply_rest;     /* common apply patch minus apiVersion/kind/metadata, inner JSON */
    int idempotent;
    int limit;            /* adaptive concurrency limit */
    int successes_in_window;
    uint64_t last_halving_ns;
    int active;           /* items taken and not yet reported */
    bulk_item *items;     /* the active items */
    kc_token_bucket bucket;
    kc_backoff backoff;
    uint64_t rng;
    list_source list;
    int input_exhausted, cancelled, done, in_pump;
    kc_error input_error;
    uint64_t start_ns, end_ns, deadline_timer;
    kc_bulk_summary sum;
    uint32_t hist[HIST_BUCKETS];
};

const char *kc_bulk_outcome_name(kc_bulk_outcome o)
{
    static const char *names[] = {"ok", "conflict", "not-found", "forbidden", "invalid",
                                  "throttled-out", "server-error", "transport-error",
                                  "cancelled"};
    return o < KC_BULK_OUTCOME_COUNT ? names[o] : "unknown";
}

static void pump(kc_bulk *b);
static void send_item(bulk_item *it);

/* --- latency histogram: log buckets, ~3% resolution, constant memory --- */

static unsigned hist_index(uint64_t us)
{
    if (us < (1u << HIST_SUB_BITS))
        return (unsigned)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us);
    unsigned sub = (unsigned)(us >> (e - HIST_SUB_BITS)) & ((1u << HIST_SUB_BITS) - 1);
    unsigned idx = ((e - HIST_SUB_BITS + 1) << HIST_SUB_BITS) + sub;
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

static double hist_value_ms(unsigned idx)
{
    if (idx < (1u << HIST_SUB_BITS))
        return idx / 1000.0;
    unsigned e = (idx >> HIST_SUB_BITS) + HIST_SUB_BITS - 1;
    unsigned sub = idx & ((1u << HIST_SUB_BITS) - 1);
    uint64_t us = ((uint64_t)((1u << HIST_SUB_BITS) | sub)) << (e - HIST_SUB_BITS);
    return (double)us / 1000.0;
}

static double hist_quantile(const kc_bulk *b, double q, uint64_t n)
{
    if (n == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)(n - 1)) + 1, seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += b->hist[i];
        if (seen >= want)
            return hist_value_ms(i);
    }
    return hist_value_ms(HIST_BUCKETS - 1);
}

/* --- items --- */

static void item_free(bulk_item *it)
{
    free(it->namespace_);
    free(it->name);
    free(it->body);
    kc_error_clear(&it->last);
    free(it);
}

static void link_item(kc_bulk *b, bulk_item *it)
{
    it->next = b->items;
    if (b->items)
        b->items->prev = it;
    b->items = it;
    b->active++;
}

static void unlink_item(kc_bulk *b, bulk_item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        b->items = it->next;
    if (it->next)
        it->next->prev = it->prev;
    b->active--;
}

static void check_done(kc_bulk *b)
{
    if (b->done || b->active > 0 || !b->input_exhausted || b->list.fetching)
        return;
    b->done = 1;
    b->end_ns = kc_client_now(b->client);
    if (b->deadline_timer)
        kc_client_timer_cancel(b->client, b->deadline_timer);
    b->deadline_timer = 0;
    if (b->o.on_done)
        b->o.on_done(b, b->o.done_ud);
}

static void report(kc_bulk *b, const char *ns, const char *name, kc_bulk_outcome outcome,
                   const kc_error *err, int attempts, uint64_t first_send_ns, long status)
{
    uint64_t now = kc_client_now(b->client);
    uint64_t lat = first_send_ns ? now - first_send_ns : 0;
    kc_bulk_result r = {ns, name, outcome, err && err->http_status ? err->http_status : status,
                        err, attempts, lat};
    static const kc_error ok = KC_ERROR_INIT;
    if (!r.error)
        r.error = &ok;
    b->sum.total++;
    b->sum.counts[outcome]++;
    if (first_send_ns) {
        b->hist[hist_index(lat / 1000)]++;
        if ((double)lat / 1e6 > b->sum.max_ms)
            b->sum.max_ms = (double)lat / 1e6;
    }
    if (b->o.on_result)
        b->o.on_result(b->o.result_ud, &r);
}

/* Report an active item and let the next one in.  Unlinked before it is
 * reported: on_result may call kc_bulk_cancel, which must not find it. */
static void finish_item(bulk_item *it, kc_bulk_outcome outcome, const kc_error *err)
{
    kc_bulk *b = it->bulk;
    if (it->timer_id)
        kc_client_timer_cancel(b->client, it->timer_id);
    unlink_item(b, it);
    report(b, it->namespace_, it->name, outcome, err, it->attempts, it->first_send_ns,
           it->http_status);
    item_free(it);
    pump(b);
    check_done(b);
}

/* --- adaptive concurrency (AIMD) --- */

static void on_throttled(kc_bulk *b)
{
    b->sum.throttled++;
    if (b->o.adaptive < 0)
        return;
    uint64_t now = kc_client_now(b->client);
    /* one halving per 100 ms: a burst of 429s is one signal */
    if (now - b->last_halving_ns < 100000000ull)
        return;
    b->last_halving_ns = now;
    b->limit = b->limit > 1 ? b->limit / 2 : 1;
    b->successes_in_window = 0;
    if (b->limit < b->sum.min_concurrency)
        b->sum.min_concurrency = b->limit;
    kc_log(b->client, 4, "bulk: 429 from the server, concurrency now %d", b->limit);
}

static void on_success(kc_bulk *b)
{
    if (b->o.adaptive < 0 || b->limit >= b->o.concurrency)
        return;
    if (++b->successes_in_window >= b->limit) {
        b->limit++;
        b->successes_in_window = 0;
    }
}

/* --- classifying an answer --- */

static kc_bulk_outcome outcome_of(const kc_error *err)
{
    switch (err->code) {
    case KC_OK: return KC_BULK_OK;
    case KC_ECANCELLED: return KC_BULK_CANCELLED;
    case KC_ETRANSPORT:
    case KC_ETIMEDOUT:
    case KC_EAUTH: return KC_BULK_TRANSPORT_ERROR;
    case KC_EHTTP: break;
    default: return KC_BULK_TRANSPORT_ERROR;
    }
    long s = err->http_status;
    if (s == 409) return KC_BULK_CONFLICT;
    if (s == 404) return KC_BULK_NOT_FOUND;
    if (s == 401 || s == 403) return KC_BULK_FORBIDDEN;
    if (s == 429) return KC_BULK_THROTTLED_OUT;
    if (s >= 500) return KC_BULK_SERVER_ERROR;
    return KC_BULK_INVALID;
}

static int retryable(const kc_bulk *b, const bulk_item *it, const kc_error *err)
{
    if (b->cancelled || it->attempts >= b->o.max_attempts)
        return 0;
    if (err->code == KC_ETRANSPORT || err->code == KC_ETIMEDOUT)
        return b->idempotent;
    if (err->code != KC_EHTTP)
        return 0;
    long s = err->http_status;
    if (s == 429)
        return 1; /* rejected before processing: safe for every patch type */
    if (s == 409)
        return !kc_error_is_field_conflict(err) && b->idempotent;
    return s >= 500 && (b->idempotent || (s == 503 && err->retry_after >= 0));
}

static void on_retry_timer(kc_client *c, void *ud)
{
    (void)c;
    bulk_item *it = ud;
    it->timer_id = 0;
    send_item(it);
}

static void schedule_retry(bulk_item *it, const kc_error *err)
{
    kc_bulk *b = it->bulk;
    uint64_t delay = err->retry_after >= 0
                         ? (uint64_t)(err->retry_after * 1e9)
                         : kc_backoff_delay(&b->backoff, (unsigned)(it->attempts - 1), &b->rng);
    b->sum.retries++;
    it->timer_id = kc_client_timer_at(b->client, kc_client_now(b->client) + delay,
                                      on_retry_timer, it);
    if (!it->timer_id)
        finish_item(it, outcome_of(err), err);
}

static void on_answer(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    bulk_item *it = ud;
    kc_bulk *b = it->bulk;
    it->req = NULL;
    it->http_status = resp->status;
    kc_error_copy(&it->last, err);
    if (err->code == KC_EHTTP && err->http_status == 429)
        on_throttled(b);
    if (err->code == KC_OK) {
        on_success(b);
        finish_item(it, KC_BULK_OK, NULL);
    } else if (retryable(b, it, err)) {
        schedule_retry(it, err);
    } else {
        finish_item(it, outcome_of(err), &it->last);
    }
}

/* --- sending --- */

static void send_now(kc_client *c, void *ud)
{
    bulk_item *it = ud;
    kc_bulk *b = it->bulk;
    it->timer_id = 0;
    kc_param ps[3];
    size_t n = 0;
    if (b->s_manager)
        ps[n++] = (kc_param){"fieldManager", b->s_manager};
    if (b->o.force && b->o.type == KC_PATCH_APPLY)
        ps[n++] = (kc_param){"force", "true"};
    if (b->o.dry_run)
        ps[n++] = (kc_param){"dryRun", "All"};
    kc_request_spec spec = {.method = "PATCH",
                            .ref = {b->s_group, b->s_version, b->s_resource, it->namespace_,
                                    it->name, b->s_sub},
                            .params = ps,
                            .nparams = n,
                            .content_type = kc_patch_content_type(b->o.type),
                            .body = it->body,
                            .body_len = it->body_len,
                            .idempotent = b->idempotent,
                            .max_attempts = 1, /* retries are ours: we must see every 429 */
                            .timeout_ms = b->o.request_timeout_ms,
                            .no_rate_limit = 1};
    kc_error err = KC_ERROR_INIT;
    it->attempts++;
    b->sum.requests++;
    if (!it->first_send_ns)
        it->first_send_ns = kc_client_now(c);
    if (kc_request_send(c, &spec, on_answer, it, &it->req, &err) != KC_OK)
        finish_item(it, KC_BULK_INVALID, &err);
    kc_error_clear(&err);
}

static void send_item(bulk_item *it)
{
    kc_bulk *b = it->bulk;
    if (b->cancelled) {
        kc_error e = KC_ERROR_INIT;
        kc_error_set(&e, KC_ECANCELLED, "cancelled before it was written");
        finish_item(it, KC_BULK_CANCELLED, &e);
        kc_error_clear(&e);
        return;
    }
    uint64_t wait = b->o.qps > 0 ? kc_token_bucket_reserve(&b->bucket, kc_client_now(b->client))
                                 : 0;
    if (wait == 0) {
        send_now(b->client, it);
        return;
    }
    it->timer_id = kc_client_timer_at(b->client, kc_client_now(b->client) + wait, send_now, it);
}

/* --- bodies --- */

static char *json_quote(const char *s)
{
    cJSON *str = cJSON_CreateString(s);
    char *q = str ? cJSON_PrintUnformatted(str) : NULL;
    cJSON_Delete(str);
    return q;
}

/* {"apiVersion":..,"kind":..,"metadata":{"name":..,"namespace":..},<rest>} */
static char *apply_body(kc_bulk *b, const char *ns, const char *name, const char *rest)
{
    char *qn = json_quote(name), *qns = ns ? json_quote(ns) : NULL;
    kc_strbuf sb;
    kc_strbuf_init(&sb);
    if (*b->s_group)
        kc_strbuf_appendf(&sb, "{\"apiVersion\":\"%s/%s\"", b->s_group, b->s_version);
    else
        kc_strbuf_appendf(&sb, "{\"apiVersion\":\"%s\"", b->s_version);
    kc_strbuf_appendf(&sb, ",\"kind\":\"%s\",\"metadata\":{\"name\":%s", b->s_kind, qn ? qn : "\"\"");
    if (qns)
        kc_strbuf_appendf(&sb, ",\"namespace\":%s", qns);
    kc_strbuf_appends(&sb, "}");
    if (rest && *rest) {
        kc_strbuf_appends(&sb, ",");
        kc_strbuf_appends(&sb, rest);
    }
    kc_strbuf_appends(&sb, "}");
    free(qn);
    free(qns);
    return kc_strbuf_take(&sb);
}

/* The fields of an apply patch other than apiVersion/kind/metadata, as the
 * inner text of a JSON object (no braces), or NULL when patch is not an object. */
static char *apply_rest_of(const char *patch, size_t len, const char **kind_out, char **kind_buf)
{
    cJSON *p = cJSON_ParseWithLength(patch, len);
    if (!cJSON_IsObject(p)) {
        cJSON_Delete(p);
        return NULL;
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(p, "kind");
    if (kind_buf && cJSON_IsString(k) && !*kind_out) {
        *kind_buf = strdup(k->valuestring);
        *kind_out = *kind_buf;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(p, "apiVersion");
    cJSON_DeleteItemFromObjectCaseSensitive(p, "kind");
    cJSON_DeleteItemFromObjectCaseSensitive(p, "metadata");
    char *txt = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    if (!txt)
        return NULL;
    size_t n = strlen(txt);
    memmove(txt, txt + 1, n - 2); /* drop the braces */
    txt[n - 2] = '\0';
    return txt;
}

/* Build the body for one item; sets *problem when the item cannot be used. */
static char *item_body(kc_bulk *b, const kc_bulk_item *in, const char *ns, size_t *len,
                       const char **problem)
{
    char *body = NULL;
    *problem = NULL;
    if (b->o.type != KC_PATCH_APPLY) {
        const char *p = in->patch ? in->patch : b->s_patch;
        size_t n = in->patch ? in->patch_len : b->o.patch_len;
        body = p ? kc_strndup0(p, n) : NULL;
        if (!p)
            *problem = "no patch for this item and no common patch";
    } else if (in->patch) {
        const char *kind_unused = b->s_kind;
        char *rest = apply_rest_of(in->patch, in->patch_len, &kind_unused, NULL);
        if (!rest)
            *problem = "the item's patch is not a JSON object";
        else
            body = apply_body(b, ns, in->name, rest);
        free(rest);
    } else if (b->apply_rest) {
        body = apply_body(b, ns, in->name, b->apply_rest);
    } else {
        *problem = "no patch for this item and no common patch";
    }
    *len = body ? strlen(body) : 0;
    return body;
}

/* --- input --- */

static void on_page(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    kc_bulk *b = ud;
    list_source *ls = &b->list;
    ls->fetching = 0;
    ls->req = NULL;
    free(ls->cont);
    ls->cont = NULL;
    if (err->code != KC_OK) {
        kc_error_copy(&b->input_error, err);
        b->sum.input_failed = 1;
        ls->finished = 1;
        b->input_exhausted = 1;
    } else {
        cJSON_Delete(ls->page);
        ls->page = cJSON_ParseWithLength(resp->body, resp->body_len);
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(ls->page, "items");
        ls->cursor = items ? items->child : NULL;
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(ls->page, "metadata");
        const cJSON *cont = cJSON_GetObjectItemCaseSensitive(md, "continue");
        if (cJSON_IsString(cont) && *cont->valuestring)
            ls->cont = strdup(cont->valuestring);
        else
            ls->finished = 1;
    }
    pump(b);
    check_done(b);
}

static void fetch_page(kc_bulk *b)
{
    list_source *ls = &b->list;
    kc_param ps[4];
    size_t n = 0;
    ps[n++] = (kc_param){"limit", LIST_PAGE};
    if (b->s_label)
        ps[n++] = (kc_param){"labelSelector", b->s_label};
    if (b->s_field)
        ps[n++] = (kc_param){"fieldSelector", b->s_field};
    if (ls->cont)
        ps[n++] = (kc_param){"continue", ls->cont};
    kc_request_spec spec = {.method = "GET",
                            .ref = {b->s_group, b->s_version, b->s_resource, b->s_namespace,
                                    NULL, NULL},
                            .params = ps,
                            .nparams = n};
    ls->started = ls->fetching = 1;
    kc_error err = KC_ERROR_INIT;
    if (kc_request_send(b->client, &spec, on_page, b, &ls->req, &err) != KC_OK) {
        ls->fetching = 0;
        ls->finished = 1;
        b->input_exhausted = 1;
        b->sum.input_failed = 1;
        kc_error_copy(&b->input_error, &err);
    }
    kc_error_clear(&err);
}

static const char *meta_str(const cJSON *obj, const char *key)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* 1 = an item, 0 = none right now (a page is on its way), -1 = exhausted. */
static int pull_from_list(kc_bulk *b, kc_bulk_item *item)
{
    list_source *ls = &b->list;
    if (ls->cursor) {
        const cJSON *obj = ls->cursor;
        ls->cursor = obj->next;
        memset(item, 0, sizeof(*item));
        item->namespace_ = meta_str(obj, "namespace");
        item->name = meta_str(obj, "name");
        return 1;
    }
    if (ls->fetching)
        return 0;
    if (ls->finished)
        return -1;
    /* also after a cancel: the rest of the matching objects are listed (no
     * writes) so that each gets its result, none is dropped unseen */
    fetch_page(b);
    return ls->fetching ? 0 : -1;
}

static int pull(kc_bulk *b, kc_bulk_item *item)
{
    if (b->input_exhausted)
        return -1;
    if (!b->o.next)
        return pull_from_list(b, item);
    memset(item, 0, sizeof(*item));
    kc_error err = KC_ERROR_INIT;
    int rc = b->o.next(b->o.next_ud, item, &err);
    if (rc < 0) {
        b->sum.input_failed = 1;
        if (!err.code)
            kc_error_set(&err, KC_EINVAL, "the item source failed");
        kc_error_copy(&b->input_error, &err);
    }
    kc_error_clear(&err);
    return rc > 0 ? 1 : -1;
}

/* Take one input item: either an active item to send, or a result at once. */
static void take(kc_bulk *b, const kc_bulk_item *in)
{
    const char *ns = in->namespace_ ? in->namespace_ : b->s_namespace;
    kc_error e = KC_ERROR_INIT;
    const char *problem = in->input_error;
    if (!problem && (!in->name || !*in->name))
        problem = "item has no name";
    size_t len = 0;
    char *body = problem ? NULL : item_body(b, in, ns, &len, &problem);
    if (problem || b->cancelled) {
        kc_error_set(&e, problem ? KC_EINVAL : KC_ECANCELLED, "%s",
                     problem ? problem : "cancelled before it was written");
        report(b, ns, in->name, problem ? KC_BULK_INVALID : KC_BULK_CANCELLED, &e, 0, 0, 0);
        kc_error_clear(&e);
        free(body);
        return;
    }
    bulk_item *it = calloc(1, sizeof(*it));
    if (!it || !body) {
        free(it);
        free(body);
        kc_error_set(&e, KC_ENOMEM, "out of memory");
        report(b, ns, in->name, KC_BULK_INVALID, &e, 0, 0, 0);
        kc_error_clear(&e);
        return;
    }
    it->bulk = b;
    it->namespace_ = kc_strdup_or_null(ns);
    it->name = strdup(in->name);
    it->body = body;
    it->body_len = len;
    link_item(b, it);
    send_item(it);
}

static void pump(kc_bulk *b)
{
    if (b->in_pump) /* finish_item -> pump from inside take(): the outer loop continues */
        return;
    b->in_pump = 1;
    while (!b->input_exhausted && b->active < b->limit) {
        kc_bulk_item in;
        int rc = pull(b, &in);
        if (rc == 0)
            break;
        if (rc < 0) {
            if (b->o.next || b->list.finished)
                b->input_exhausted = 1;
            break;
        }
        take(b, &in);
    }
    b->in_pump = 0;
}

/* --- lifecycle --- */

static void on_deadline(kc_client *c, void *ud)
{
    (void)c;
    kc_bulk *b = ud;
    b->deadline_timer = 0;
    kc_log(c, 1, "bulk: deadline of %ld ms passed, cancelling the rest", b->o.deadline_ms);
    kc_bulk_cancel(b);
}

static int copy_strings(kc_bulk *b, const kc_bulk_options *o)
{
    b->s_group = strdup(o->target.group ? o->target.group : "");
    b->s_version = kc_strdup_or_null(o->target.version);
    b->s_resource = kc_strdup_or_null(o->target.resource);
    b->s_namespace = kc_strdup_or_null(o->target.namespace_);
    b->s_sub = strdup(o->subresource ? o->subresource : "status");
    b->s_kind = kc_strdup_or_null(o->kind);
    b->s_patch = o->patch ? kc_strndup0(o->patch, o->patch_len) : NULL;
    b->s_manager = kc_strdup_or_null(o->field_manager);
    b->s_label = kc_strdup_or_null(o->label_selector);
    b->s_field = kc_strdup_or_null(o->field_selector);
    return b->s_group && b->s_sub && (!o->patch || b->s_patch);
}

static kc_code validate(const kc_bulk_options *o, kc_error *err)
{
    if (!o->target.version || !o->target.resource)
        return kc_error_set(err, KC_EINVAL, "bulk: target needs version and resource");
    if (o->type == KC_PATCH_APPLY && (!o->field_manager || !*o->field_manager))
        return kc_error_set(err, KC_EINVAL, "bulk: server-side apply needs a field manager");
    if (o->force && o->type != KC_PATCH_APPLY)
        return kc_error_set(err, KC_EINVAL, "bulk: force is only for server-side apply");
    if (o->patch && o->type != KC_PATCH_JSON) {
        cJSON *p = cJSON_ParseWithLength(o->patch, o->patch_len);
        int ok = cJSON_IsObject(p);
        cJSON_Delete(p);
        if (!ok)
            return kc_error_set(err, KC_EINVAL, "bulk: the patch is not a JSON object");
    }
    return KC_OK;
}

static void set_defaults(kc_bulk_options *o)
{
    if (o->concurrency <= 0)
        o->concurrency = DEFAULT_CONCURRENCY;
    if (o->max_attempts <= 0)
        o->max_attempts = DEFAULT_ATTEMPTS;
    if (o->burst <= 0)
        o->burst = o->concurrency;
    if (o->backoff_initial_ms <= 0)
        o->backoff_initial_ms = 100;
    if (o->backoff_max_ms <= 0)
        o->backoff_max_ms = 10000;
}

kc_code kc_bulk_start(kc_client *c, const kc_bulk_options *opts, kc_bulk **out, kc_error *err)
{
    *out = NULL;
    kc_code rc = validate(opts, err);
    if (rc != KC_OK)
        return rc;
    kc_bulk *b = calloc(1, sizeof(*b));
    if (!b)
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    b->client = c;
    b->o = *opts;
    set_defaults(&b->o);
    char *kind_buf = NULL;
    const char *kind = opts->kind;
    if (!copy_strings(b, opts))
        goto oom;
    if (b->o.type == KC_PATCH_APPLY && b->s_patch) {
        b->apply_rest = apply_rest_of(b->s_patch, b->o.patch_len, &kind, &kind_buf);
        if (!b->s_kind && kind) {
            b->s_kind = strdup(kind);
        }
        free(kind_buf);
    }
    if (b->o.type == KC_PATCH_APPLY && !b->s_kind) {
        kc_bulk_free(b);
        return kc_error_set(err, KC_EINVAL, "bulk: apply needs the kind (option or patch)");
    }
    b->idempotent = b->o.type == KC_PATCH_APPLY || b->o.type == KC_PATCH_MERGE;
    b->limit = b->o.concurrency;
    b->sum.min_concurrency = b->limit;
    b->start_ns = kc_client_now(c);
    b->rng = b->start_ns ^ (uint64_t)(uintptr_t)b;
    b->backoff = (kc_backoff){(uint64_t)b->o.backoff_initial_ms * 1000000ull,
                              (uint64_t)b->o.backoff_max_ms * 1000000ull, 2.0, 0.5};
    kc_token_bucket_init(&b->bucket, b->o.qps, b->o.burst, b->start_ns);
    kc_error_init(&b->input_error);
    if (b->o.deadline_ms > 0)
        b->deadline_timer = kc_client_timer(c, b->o.deadline_ms, on_deadline, b);
    *out = b;
    pump(b);
    check_done(b);
    return KC_OK;
oom:
    kc_bulk_free(b);
    return kc_error_set(err, KC_ENOMEM, "out of memory");
}

/* b comes from a successful kc_bulk_start; the analyzer assumes that
 * kc_error_set (error.c, out of its sight) may return KC_OK. */
int kc_bulk_done(const kc_bulk *b) { return b->done; } // NOLINT(clang-analyzer-core.NullDereference)

/* Report everything the iterator still holds as cancelled: nothing dropped. */
static void drain_input(kc_bulk *b)
{
    kc_bulk_item in;
    while (!b->input_exhausted) {
        int rc = pull(b, &in);
        if (rc == 0)
            break; /* a page of the list is on its way: on_page reports its items */
        if (rc < 0) {
            b->input_exhausted = 1;
            break;
        }
        take(b, &in);
    }
}

void kc_bulk_cancel(kc_bulk *b)
{
    if (!b || b->cancelled || b->done)
        return;
    b->cancelled = 1;
    b->in_pump = 1; /* no new sends while we tear down */
    drain_input(b);
    kc_error e = KC_ERROR_INIT;
    kc_error_set(&e, KC_ECANCELLED, "cancelled before it was written");
    for (bulk_item *it = b->items, *next; it; it = next) {
        next = it->next;
        if (it->req)
            kc_request_cancel(it->req); /* its answer reports it */
        else
            finish_item(it, KC_BULK_CANCELLED, &e);
    }
    kc_error_clear(&e);
    b->in_pump = 0;
    check_done(b);
}

void kc_bulk_get_summary(const kc_bulk *b, kc_bulk_summary *out)
{
    *out = b->sum;
    uint64_t end = b->done ? b->end_ns : kc_client_now(b->client);
    out->elapsed_s = (double)(end - b->start_ns) / 1e9;
    out->items_per_s = out->elapsed_s > 0 ? (double)out->total / out->elapsed_s : 0;
    uint64_t timed = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        timed += b->hist[i];
    out->p50_ms = hist_quantile(b, 0.50, timed);
    out->p99_ms = hist_quantile(b, 0.99, timed);
}

const kc_error *kc_bulk_input_error(const kc_bulk *b) { return &b->input_error; }

void kc_bulk_free(kc_bulk *b)
{
    if (!b)
        return;
    if (!b->done && b->client)
        kc_bulk_cancel(b);
    /* cancelled requests report through the loop, and so do the list's last
     * pages: run it until they have */
    while ((b->items || b->list.fetching) && b->client)
        kc_client_run_once(b->client, 100);
    if (b->deadline_timer)
        kc_client_timer_cancel(b->client, b->deadline_timer);
    cJSON_Delete(b->list.page);
    free(b->list.cont);
    free(b->s_group);
    free(b->s_version);
    free(b->s_resource);
    free(b->s_namespace);
    free(b->s_sub);
    free(b->s_kind);
    free(b->s_patch);
    free(b->s_manager);
    free(b->s_label);
    free(b->s_field);
    free(b->apply_rest);
    kc_error_clear(&b->input_error);
    free(b);
}

kc_code kc_patch_status_all(kc_client *c, const kc_bulk_options *opts, kc_bulk_summary *summary,
                            kc_error *err)
{
    kc_bulk *b = NULL;
    kc_code rc = kc_bulk_start(c, opts, &b, err);
    if (rc != KC_OK)
        return rc;
    while (!kc_bulk_done(b))
        kc_client_run_once(c, 1000);
    kc_bulk_summary s;
    kc_bulk_get_summary(b, &s);
    if (summary)
        *summary = s;
    if (s.input_failed)
        rc = kc_error_copy(err, &b->input_error) == KC_OK ? b->input_error.code : KC_ENOMEM;
    else if (s.counts[KC_BULK_OK] != s.total)
        rc = kc_error_set(err, KC_EHTTP, "%llu of %llu items failed",
                          (unsigned long long)(s.total - s.counts[KC_BULK_OK]),
                          (unsigned long long)s.total);
    kc_bulk_free(b);
    return rc;
}
