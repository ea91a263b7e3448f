/* rest.c - blocking REST helpers: a thin layer that sends one request
 * through the async core and drives the loop until it is done. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

#define KC_MAX_PARAMS 16
#define KC_DEFAULT_PAGE 500

typedef struct sync_wait {
    int done;
    kc_error err;
    char *body;
    size_t len;
} sync_wait;

static void sync_done(kc_client *c, const kc_response *resp, const kc_error *err, void *ud)
{
    (void)c;
    sync_wait *w = ud;
    w->done = 1;
    if (kc_error_copy(&w->err, err) != KC_OK)
        w->err.code = KC_ENOMEM;
    if (err->code == KC_OK) {
        w->body = kc_strndup0(resp->body, resp->body_len);
        w->len = resp->body_len;
        if (!w->body)
            kc_error_set(&w->err, KC_ENOMEM, "out of memory");
    }
}

/* Send spec and wait.  On KC_OK *body_out (if not NULL) gets the body. */
kc_code kc_send_sync(kc_client *c, const kc_request_spec *spec, char **body_out, size_t *len_out,
                     kc_error *err)
{
    sync_wait w = {0, KC_ERROR_INIT, NULL, 0};
    kc_code rc = kc_request_send(c, spec, sync_done, &w, NULL, err);
    if (rc != KC_OK)
        return rc;
    while (!w.done)
        kc_client_run_once(c, 1000);
    rc = w.err.code;
    if (rc != KC_OK) {
        if (err) {
            kc_error_clear(err);
            *err = w.err;
        } else {
            kc_error_clear(&w.err);
        }
        free(w.body);
        return rc;
    }
    kc_error_clear(&w.err);
    if (body_out)
        *body_out = w.body;
    else
        free(w.body);
    if (len_out)
        *len_out = w.len;
    return KC_OK;
}

/* A 2xx body that is not the JSON object the caller wants: fail naming the
 * request (as kc_error_format shows it) and quoting the start of the body,
 * made printable, so that an HTML page from a proxy is recognisable. */
static kc_code decode_fail(kc_error *err, const kc_request_spec *spec, const char *what,
                           const char *body, size_t len)
{
    char start[41];
    size_t n = 0;
    for (; n < len && n < sizeof(start) - 1; n++)
        start[n] = (char)((unsigned char)body[n] < 0x20 || (unsigned char)body[n] >= 0x7f ? '.' : body[n]);
    start[n] = '\0';
    if (len)
        kc_error_set(err, KC_EDECODE, "%s (%zu bytes: \"%s%s\")", what, len, start,
                     len > n ? "..." : "");
    else
        kc_error_set(err, KC_EDECODE, "%s", what);
    if (err) {
        err->method = strdup(spec->method);
        err->path = spec->path ? strdup(spec->path) : kc_ref_path(&spec->ref);
    }
    return KC_EDECODE;
}

static kc_code send_json(kc_client *c, const kc_request_spec *spec, cJSON **out, kc_error *err)
{
    char *body = NULL;
    size_t len = 0;
    if (out)
        *out = NULL;
    kc_code rc = kc_send_sync(c, spec, &body, &len, err);
    if (rc != KC_OK)
        return rc;
    if (out) {
        *out = len ? cJSON_ParseWithLength(body, len) : NULL;
        if (!len)
            rc = decode_fail(err, spec, "empty response body, expected a JSON object", body, len);
        else if (!*out)
            rc = decode_fail(err, spec, "response is not valid JSON", body, len);
        else if (!cJSON_IsObject(*out))
            rc = decode_fail(err, spec, "response is JSON but not an object", body, len);
        if (rc != KC_OK) {
            cJSON_Delete(*out);
            *out = NULL;
        }
    }
    free(body);
    return rc;
}

typedef struct params {
    kc_param p[KC_MAX_PARAMS];
    size_t n;
    char limit_buf[32];
} params;

static void param(params *ps, const char *name, const char *value)
{
    if (value && *value && ps->n < KC_MAX_PARAMS)
        ps->p[ps->n++] = (kc_param){name, value};
}

static void write_params(params *ps, const kc_write_opts *o, int is_apply)
{
    if (!o)
        return;
    param(ps, "fieldManager", o->field_manager);
    if (o->force && is_apply)
        param(ps, "force", "true");
    if (o->dry_run)
        param(ps, "dryRun", "All");
    param(ps, "fieldValidation", o->field_validation);
}

kc_code kc_get(kc_client *c, const kc_ref *ref, cJSON **out, kc_error *err)
{
    kc_request_spec spec = {.method = "GET", .ref = *ref};
    return send_json(c, &spec, out, err);
}

static void list_params(params *ps, const kc_list_opts *o)
{
    if (!o)
        return;
    param(ps, "labelSelector", o->label_selector);
    param(ps, "fieldSelector", o->field_selector);
    if (o->limit > 0) {
        snprintf(ps->limit_buf, sizeof(ps->limit_buf), "%ld", o->limit);
        param(ps, "limit", ps->limit_buf);
    }
    param(ps, "continue", o->continue_token);
    param(ps, "resourceVersion", o->resource_version);
    param(ps, "resourceVersionMatch", o->resource_version_match);
}

kc_code kc_list(kc_client *c, const kc_ref *ref, const kc_list_opts *opts, cJSON **out,
                kc_error *err)
{
    params ps = {0};
    list_params(&ps, opts);
    kc_request_spec spec = {.method = "GET", .ref = *ref, .params = ps.p, .nparams = ps.n};
    return send_json(c, &spec, out, err);
}

static const char *continue_of(const cJSON *page)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(page, "metadata");
    const cJSON *cont = cJSON_GetObjectItemCaseSensitive(meta, "continue");
    return cJSON_IsString(cont) && *cont->valuestring ? cont->valuestring : NULL;
}

static char *resource_version_of(const cJSON *page)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(page, "metadata");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    return cJSON_IsString(rv) ? strdup(rv->valuestring) : NULL;
}

/* Hand every item of a page to cb.  Returns 1 when cb asked to stop. */
static int each_item(const cJSON *page, kc_item_cb cb, void *ud)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(page, "items")) {
        if (cb(item, ud) != 0)
            return 1;
    }
    return 0;
}

kc_code kc_list_each(kc_client *c, const kc_ref *ref, const kc_list_opts *opts, kc_item_cb cb,
                     void *ud, char **resource_version_out, kc_error *err)
{
    kc_list_opts o = opts ? *opts : (kc_list_opts){0};
    if (o.limit <= 0)
        o.limit = KC_DEFAULT_PAGE;
    char *cont = o.continue_token ? strdup(o.continue_token) : NULL;
    if (resource_version_out)
        *resource_version_out = NULL;
    for (;;) {
        cJSON *page = NULL;
        o.continue_token = cont;
        kc_code rc = kc_list(c, ref, &o, &page, err);
        free(cont);
        cont = NULL;
        if (rc != KC_OK)
            return rc;
        int stop = each_item(page, cb, ud);
        const char *next = continue_of(page);
        if (!stop && !next && resource_version_out)
            *resource_version_out = resource_version_of(page);
        cont = next && !stop ? strdup(next) : NULL;
        cJSON_Delete(page);
        if (stop)
            return kc_error_set(err, KC_ECANCELLED, "list stopped by the caller");
        if (!cont)
            return KC_OK;
        /* later pages follow the continue token's own snapshot */
        o.resource_version = NULL;
        o.resource_version_match = NULL;
    }
}

static kc_code write_object(kc_client *c, const char *method, const kc_ref *ref,
                            const char *ctype, const char *body, size_t len,
                            const kc_write_opts *opts, int is_apply, cJSON **out, kc_error *err)
{
    params ps = {0};
    write_params(&ps, opts, is_apply);
    kc_request_spec spec = {.method = method,
                            .ref = *ref,
                            .params = ps.p,
                            .nparams = ps.n,
                            .content_type = ctype,
                            .body = body,
                            .body_len = len,
                            .idempotent = (opts && opts->idempotent) || is_apply};
    return send_json(c, &spec, out, err);
}

static kc_code write_json(kc_client *c, const char *method, const kc_ref *ref, const cJSON *obj,
                          const char *ctype, const kc_write_opts *opts, int is_apply,
                          cJSON **out, kc_error *err)
{
    if (out)
        *out = NULL;
    if (!obj)
        return kc_error_set(err, KC_EINVAL, "%s: no object given", method);
    char *body = cJSON_PrintUnformatted(obj);
    if (!body)
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    kc_code rc = write_object(c, method, ref, ctype, body, strlen(body), opts, is_apply, out, err);
    free(body);
    return rc;
}

kc_code kc_create(kc_client *c, const kc_ref *ref, const cJSON *obj, const kc_write_opts *opts,
                  cJSON **out, kc_error *err)
{
    return write_json(c, "POST", ref, obj, "application/json", opts, 0, out, err);
}

kc_code kc_update(kc_client *c, const kc_ref *ref, const cJSON *obj, const kc_write_opts *opts,
                  cJSON **out, kc_error *err)
{
    return write_json(c, "PUT", ref, obj, "application/json", opts, 0, out, err);
}

kc_code kc_patch(kc_client *c, const kc_ref *ref, kc_patch_type type, const char *patch,
                 size_t len, const kc_write_opts *opts, cJSON **out, kc_error *err)
{
    if (out)
        *out = NULL;
    if (!patch)
        return kc_error_set(err, KC_EINVAL, "PATCH: no patch given");
    if (type == KC_PATCH_APPLY && (!opts || !opts->field_manager || !*opts->field_manager))
        return kc_error_set(err, KC_EINVAL, "server-side apply needs a field manager");
    return write_object(c, "PATCH", ref, kc_patch_content_type(type), patch, len, opts,
                        type == KC_PATCH_APPLY, out, err);
}

kc_code kc_apply(kc_client *c, const kc_ref *ref, const cJSON *obj, const kc_write_opts *opts,
                 cJSON **out, kc_error *err)
{
    if (!opts || !opts->field_manager || !*opts->field_manager) {
        if (out)
            *out = NULL;
        return kc_error_set(err, KC_EINVAL, "server-side apply needs a field manager");
    }
    return write_json(c, "PATCH", ref, obj, kc_patch_content_type(KC_PATCH_APPLY), opts, 1, out,
                      err);
}

static cJSON *delete_body(const kc_delete_opts *o)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "kind", "DeleteOptions");
    cJSON_AddStringToObject(b, "apiVersion", "v1");
    if (o->propagation_policy)
        cJSON_AddStringToObject(b, "propagationPolicy", o->propagation_policy);
    if (o->grace_period_seconds >= 0)
        cJSON_AddNumberToObject(b, "gracePeriodSeconds", (double)o->grace_period_seconds);
    if (o->precondition_uid || o->precondition_resource_version) {
        cJSON *pre = cJSON_AddObjectToObject(b, "preconditions");
        if (o->precondition_uid)
            cJSON_AddStringToObject(pre, "uid", o->precondition_uid);
        if (o->precondition_resource_version)
            cJSON_AddStringToObject(pre, "resourceVersion", o->precondition_resource_version);
    }
    if (o->dry_run)
        cJSON_AddItemToObject(b, "dryRun", cJSON_CreateStringArray((const char *[]){"All"}, 1));
    return b;
}

kc_code kc_delete(kc_client *c, const kc_ref *ref, const kc_delete_opts *opts, cJSON **out,
                  kc_error *err)
{
    kc_delete_opts o = opts ? *opts : (kc_delete_opts)KC_DELETE_OPTS_INIT;
    cJSON *body = delete_body(&o);
    kc_code rc = write_json(c, "DELETE", ref, body, "application/json", NULL, 0, out, err);
    cJSON_Delete(body);
    return rc;
}

kc_code kc_get_raw(kc_client *c, const char *path, char **body_out, size_t *len_out,
                   kc_error *err)
{
    kc_request_spec spec = {.method = "GET", .path = path, .accept = "*/*"};
    if (body_out)
        *body_out = NULL;
    return kc_send_sync(c, &spec, body_out, len_out, err);
}
