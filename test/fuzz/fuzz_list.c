/* fuzz_list.c - list pages (items, metadata.continue, metadata.resourceVersion)
 * as the two list readers take them: kc_list_each (kclient/src/rest.c,
 * page after page) and the informer's list (kclient/src/informer.c,
 * on_page: store, kind filled in, managedFields stripped), both through
 * real requests to the local server of fuzz_http.h.
 *
 * Input: byte 0 flags (bits 0-3: kc_list_each's callback stops after that
 * many items, 0 = never), then up to 8 list pages separated by NUL bytes,
 * served in order to the list requests; after them a last page (no
 * continue, resourceVersion "999", no items).  Watch requests (the
 * informer's, once synced) get an empty stream.
 * Properties, kc_list_each: the callback sees exactly the items of the
 * pages in order (printed alike), a page that is not a JSON object fails
 * with KC_EDECODE, stopping gives KC_ECANCELLED and no further request, the
 * resourceVersion returned is the last page's; every request asks for
 * limit=500, the first one carries resourceVersion=7 and
 * resourceVersionMatch=NotOlderThan, each later one exactly the previous
 * page's continue token and no resourceVersion.
 * Informer: a page that is not a JSON object fails that list (as
 * kc_list_each's), which starts over after a backoff (the client's clock is
 * moved past it) with the pages after it: the store keeps what it held
 * (regress-informer-garbage-page: such a page once ended the list as its
 * last, synced, dropped every object not yet seen and watched from "now").
 * Once synced, the store holds exactly the objects with a name that the
 * list that completed saw (keyed namespace/name; a repeated object
 * replaces the stored one unless both carry the same resourceVersion, also
 * across lists), each as listed without metadata.managedFields, with the
 * list's kind (its kind minus "List") and apiVersion "v1" filled in when
 * missing; the informer asked for exactly the pages the model read; its
 * watch starts at the resourceVersion of the completed list's last page. */
#include <cJSON.h>
#include <time.h>

#include "fuzz_http.h"

#define MAX_PAGES 8

static const char last_page[] =
    "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"999\"},"
    "\"items\":[]}";

typedef struct input {
    fuzz_part pages[MAX_PAGES];
    size_t npages;
    unsigned served; /* list requests answered in this phase */
} input;

static char *respond(unsigned index, const char *target, size_t *len, void *ud)
{
    (void)index;
    input *in = ud;
    if (strstr(target, "watch="))
        return fuzz_http_json(200, "", 0, len);
    unsigned k = in->served++;
    if (k < in->npages)
        return fuzz_http_json(200, in->pages[k].p, in->pages[k].n, len);
    return fuzz_http_json(200, last_page, sizeof(last_page) - 1, len);
}

/* Page k of the input as served (the last page after them). */
static cJSON *page_json(const input *in, size_t k, int *is_object)
{
    cJSON *page = k < in->npages ? (in->pages[k].n ? cJSON_ParseWithLength(
                                                         (const char *)in->pages[k].p,
                                                         in->pages[k].n)
                                                   : NULL)
                                 : cJSON_Parse(last_page);
    *is_object = cJSON_IsObject(page);
    return page;
}

static const char *meta_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *continue_of(const cJSON *page)
{
    const char *c = meta_str(page, "continue");
    return c && *c ? c : NULL;
}

/* ---- kc_list_each ---- */

typedef struct each_state {
    const input *in;
    cJSON *want; /* the items expected, in order (a JSON array) */
    int seen, stop_after;
} each_state;

static int on_item(const cJSON *item, void *ud)
{
    each_state *s = ud;
    const cJSON *want = cJSON_GetArrayItem(s->want, s->seen);
    if (!want || !fuzz_same_json(item, want)) {
        char *got = cJSON_PrintUnformatted(item), *exp = want ? cJSON_PrintUnformatted(want) : NULL;
        fprintf(stderr, "item %d: %s\nexpected: %s\n", s->seen, got ? got : "?",
                exp ? exp : "(none)");
        FUZZ_CHECK(!"kc_list_each passed an item that is not the next one listed");
    }
    s->seen++;
    return s->stop_after && s->seen == s->stop_after;
}

static void check_targets(unsigned requests, char **tokens)
{
    FUZZ_CHECK(fuzz_http_count() == requests);
    for (unsigned i = 0; i < requests; i++) {
        char *t = fuzz_http_target(i);
        FUZZ_CHECK(t && !strncmp(t, "/api/v1/namespaces/ns/configmaps?", 33));
        char *limit = fuzz_http_query(t, "limit"), *cont = fuzz_http_query(t, "continue");
        char *rv = fuzz_http_query(t, "resourceVersion");
        char *match = fuzz_http_query(t, "resourceVersionMatch");
        FUZZ_CHECK(limit && !strcmp(limit, "500"));
        if (i == 0) {
            FUZZ_CHECK(!cont && rv && !strcmp(rv, "7") && match && !strcmp(match, "NotOlderThan"));
        } else {
            if (!cont || strcmp(cont, tokens[i - 1])) {
                fprintf(stderr, "request %u: continue=%s, expected %s\n", i, cont ? cont : "-",
                        tokens[i - 1]);
                FUZZ_CHECK(!"the continue token was not passed on as given");
            }
            FUZZ_CHECK(!rv && !match);
        }
        free(limit), free(cont), free(rv), free(match), free(t);
    }
}

static void run_list_each(kc_client *c, input *in, int stop_after)
{
    /* the model: walk the pages as served */
    cJSON *want = cJSON_CreateArray();
    char *tokens[MAX_PAGES + 1] = {0}, *want_rv = NULL;
    kc_code want_rc = KC_OK;
    unsigned requests = 0;
    int count = 0, stopped = 0;
    for (size_t k = 0; k <= in->npages; k++) {
        int ok;
        cJSON *page = page_json(in, k, &ok);
        requests++;
        if (!ok) {
            want_rc = KC_EDECODE;
            cJSON_Delete(page);
            break;
        }
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(page, "items")) {
            if (stopped)
                break;
            cJSON_AddItemToArray(want, cJSON_Duplicate(item, 1));
            if (stop_after && ++count == stop_after)
                stopped = 1;
        }
        const char *next = continue_of(page);
        if (stopped) {
            want_rc = KC_ECANCELLED;
        } else if (!next) {
            const char *rv = meta_str(page, "resourceVersion");
            want_rv = rv ? strdup(rv) : NULL;
        } else {
            tokens[k] = strdup(next);
        }
        cJSON_Delete(page);
        if (stopped || !next)
            break;
    }
    in->served = 0;
    fuzz_http_begin(respond, in);
    each_state s = {in, want, 0, stop_after};
    kc_ref ref = {"", "v1", "configmaps", "ns", NULL, NULL};
    kc_list_opts o = {.resource_version = "7", .resource_version_match = "NotOlderThan"};
    char *rv = NULL;
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_list_each(c, &ref, &o, on_item, &s, &rv, &err);
    fuzz_http_end();
    if (rc != want_rc) {
        fprintf(stderr, "kc_list_each: %d (%s), expected %d\n", rc, err.message ? err.message : "",
                want_rc);
        FUZZ_CHECK(!"kc_list_each's outcome differs from the pages'");
    }
    FUZZ_CHECK(s.seen == cJSON_GetArraySize(want));
    FUZZ_CHECK(rc == KC_OK ? (!rv == !want_rv && (!rv || !strcmp(rv, want_rv))) : !rv);
    FUZZ_CHECK(rc == KC_OK || err.message);
    check_targets(requests, tokens);
    for (size_t k = 0; k <= MAX_PAGES; k++)
        free(tokens[k]);
    free(want_rv);
    free(rv);
    kc_error_clear(&err);
    cJSON_Delete(want);
}

/* ---- the informer ---- */

static char *key_of(const cJSON *obj)
{
    const char *ns = meta_str(obj, "namespace"), *name = meta_str(obj, "name");
    char *key = NULL;
    if (asprintf(&key, "%s%s%s", ns && *ns ? ns : "", ns && *ns ? "/" : "", name) < 0)
        abort();
    return key;
}

/* One object listed into the store as upsert() does it, marked seen. */
static void model_upsert(cJSON *store, cJSON *seen, const cJSON *item, const char *list_kind)
{
    cJSON *obj = cJSON_Duplicate(item, 1);
    if (!cJSON_GetObjectItemCaseSensitive(obj, "kind") && list_kind)
        cJSON_AddStringToObject(obj, "kind", list_kind);
    if (!cJSON_GetObjectItemCaseSensitive(obj, "apiVersion"))
        cJSON_AddStringToObject(obj, "apiVersion", "v1");
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
                                            "managedFields");
    char *key = key_of(obj);
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(store, key);
    const char *old_rv = meta_str(old, "resourceVersion"), *rv = meta_str(obj, "resourceVersion");
    if (old && old_rv && rv && !strcmp(old_rv, rv))
        cJSON_Delete(obj); /* unchanged: the first stays */
    else if (old)
        cJSON_ReplaceItemInObjectCaseSensitive(store, key, obj);
    else
        cJSON_AddItemToObject(store, key, obj);
    if (!cJSON_GetObjectItemCaseSensitive(seen, key))
        cJSON_AddTrueToObject(seen, key);
    free(key);
}

/* The store expected once synced: objects keyed by namespace/name.  Lists
 * run over the pages as served; one that meets a page that is not a JSON
 * object fails, and the next starts with the page after it.  *requests is
 * set to the list requests made, *rv to the completed list's
 * resourceVersion (or NULL). */
static cJSON *model_store(const input *in, unsigned *requests, char **rv)
{
    cJSON *store = cJSON_CreateObject();
    char *list_kind = NULL;
    size_t k = 0;
    *rv = NULL;
    for (int done = 0; !done;) { /* one list */
        cJSON *seen = cJSON_CreateObject();
        for (;;) {
            int ok;
            cJSON *page = page_json(in, k++, &ok);
            if (!ok) {
                cJSON_Delete(page);
                break; /* failed: the store stays as it is */
            }
            const cJSON *kind = cJSON_GetObjectItemCaseSensitive(page, "kind");
            size_t n = cJSON_IsString(kind) ? strlen(kind->valuestring) : 0;
            if (!list_kind && n > 4 && !strcmp(kind->valuestring + n - 4, "List"))
                list_kind = strndup(kind->valuestring, n - 4);
            const cJSON *item;
            cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(page, "items")) {
                if (cJSON_IsObject(item) && meta_str(item, "name"))
                    model_upsert(store, seen, item, list_kind);
            }
            if (!continue_of(page)) { /* the last page: what the list did not see is gone */
                const char *v = meta_str(page, "resourceVersion");
                *rv = v ? strdup(v) : NULL;
                for (cJSON *o = store->child, *next; o; o = next) {
                    next = o->next;
                    if (!cJSON_GetObjectItemCaseSensitive(seen, o->string))
                        cJSON_Delete(cJSON_DetachItemViaPointer(store, o));
                }
                done = 1;
                cJSON_Delete(page);
                break;
            }
            cJSON_Delete(page);
        }
        cJSON_Delete(seen);
    }
    *requests = (unsigned)k;
    free(list_kind);
    return store;
}

static int count_cb(const cJSON *obj, void *ud)
{
    (void)obj;
    (*(size_t *)ud)++;
    return 0;
}

static void run_informer(kc_client *c, input *in)
{
    unsigned want_requests;
    char *want_rv;
    cJSON *want = model_store(in, &want_requests, &want_rv);
    in->served = 0;
    fuzz_http_begin(respond, in);
    kc_informer_options o = {.ref = {"", "v1", "configmaps", "ns", NULL, NULL}};
    kc_informer *inf = NULL;
    kc_error err = KC_ERROR_INIT;
    FUZZ_CHECK(kc_informer_start(c, &o, &inf, &err) == KC_OK);
    /* every page is a 2xx answer: the list ends within npages + 1 requests */
    time_t until = time(NULL) + 20;
    while (!kc_informer_has_synced(inf) && time(NULL) < until) {
        /* not synced and no request in flight: a failed list waits out its
         * backoff (up to a minute); move the clock past it */
        if (kc_client_run_once(c, 100) == 0 && !kc_informer_has_synced(inf))
            fuzz_http_skip_ns(61000000000ull);
    }
    FUZZ_CHECK(kc_informer_has_synced(inf));
    size_t n = 0;
    kc_informer_each(inf, count_cb, &n);
    FUZZ_CHECK(n == kc_informer_len(inf));
    if (kc_informer_len(inf) != (size_t)cJSON_GetArraySize(want)) {
        fprintf(stderr, "informer holds %zu objects, expected %d\n", kc_informer_len(inf),
                cJSON_GetArraySize(want));
        FUZZ_CHECK(!"the informer's store differs from the list");
    }
    const cJSON *obj;
    cJSON_ArrayForEach(obj, want) {
        const char *ns = meta_str(obj, "namespace"), *name = meta_str(obj, "name");
        cJSON *got = kc_informer_get(inf, ns, name);
        if (!got || !fuzz_same_json(got, obj)) {
            char *g = got ? cJSON_PrintUnformatted(got) : NULL, *w = cJSON_PrintUnformatted(obj);
            fprintf(stderr, "stored %s: %s\nexpected: %s\n", obj->string, g ? g : "(none)", w);
            free(g), free(w);
            FUZZ_CHECK(!"the informer stored an object other than the one listed");
        }
        const char *rv = kc_informer_get_resource_version(inf, ns, name);
        const char *obj_rv = meta_str(obj, "resourceVersion");
        FUZZ_CHECK(!rv == !obj_rv && (!rv || !strcmp(rv, obj_rv)));
        cJSON_Delete(got);
    }
    /* the watch, if it has asked yet, starts where the list ended */
    for (unsigned i = 0; i < fuzz_http_count(); i++) {
        char *t = fuzz_http_target(i);
        if (t && strstr(t, "watch=")) {
            char *rv = fuzz_http_query(t, "resourceVersion");
            if (want_rv && *want_rv && (!rv || strcmp(rv, want_rv))) {
                fprintf(stderr, "watch from resourceVersion %s, the list ended at %s\n",
                        rv ? rv : "(none)", want_rv);
                FUZZ_CHECK(!"the watch does not start where the list ended");
            }
            free(rv);
            free(t);
            break;
        }
        free(t);
    }
    kc_informer_stop(inf);
    kc_client_run(c, 5000);
    fuzz_http_end();
    /* (read after fuzz_http_end: the server threads count under its lock) */
    if (in->served != want_requests) {
        fprintf(stderr, "informer: %u list requests, expected %u\n", in->served, want_requests);
        FUZZ_CHECK(!"the informer listed other pages than the model");
    }
    kc_error_clear(&err);
    cJSON_Delete(want);
    free(want_rv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    kc_client *c = fuzz_http_client();
    input in = {0};
    in.npages = fuzz_split(data + 1, size - 1, in.pages, MAX_PAGES);
    run_list_each(c, &in, data[0] & 15);
    run_informer(c, &in);
    return 0;
}
