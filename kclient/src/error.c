/* error.c - the error value: parsing Status bodies and rendering one line. */
#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kclient/error.h"
#include "util.h"

/* A non-Status body (plain text, HTML) becomes the message, cut here. */
#define KC_MAX_PLAIN_MESSAGE 512

void kc_error_init(kc_error *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof(*err));
    err->retry_after = -1.0;
}

void kc_error_clear(kc_error *err)
{
    if (!err)
        return;
    free(err->reason);
    free(err->message);
    for (size_t i = 0; i < err->ncauses; i++) {
        free(err->causes[i].reason);
        free(err->causes[i].message);
        free(err->causes[i].field);
    }
    free(err->causes);
    free(err->method);
    free(err->path);
    free(err->name);
    kc_error_init(err);
}

kc_code kc_error_copy(kc_error *dst, const kc_error *src)
{
    kc_error_clear(dst);
    dst->code = src->code;
    dst->http_status = src->http_status;
    dst->retry_after = src->retry_after;
    dst->attempts = src->attempts;
    dst->reason = kc_strdup_or_null(src->reason);
    dst->message = kc_strdup_or_null(src->message);
    dst->method = kc_strdup_or_null(src->method);
    dst->path = kc_strdup_or_null(src->path);
    dst->name = kc_strdup_or_null(src->name);
    if (src->ncauses) {
        dst->causes = calloc(src->ncauses, sizeof(kc_cause));
        if (!dst->causes)
            return KC_ENOMEM;
        dst->ncauses = src->ncauses;
        for (size_t i = 0; i < src->ncauses; i++) {
            dst->causes[i].reason = kc_strdup_or_null(src->causes[i].reason);
            dst->causes[i].message = kc_strdup_or_null(src->causes[i].message);
            dst->causes[i].field = kc_strdup_or_null(src->causes[i].field);
        }
    }
    return KC_OK;
}

const char *kc_strerror(kc_code code)
{
    switch (code) {
    case KC_OK: return "ok";
    case KC_EINVAL: return "invalid argument";
    case KC_ENOMEM: return "out of memory";
    case KC_ECONFIG: return "configuration error";
    case KC_ETRANSPORT: return "transport error";
    case KC_EHTTP: return "HTTP error";
    case KC_EDECODE: return "unexpected response";
    case KC_ECANCELLED: return "cancelled";
    case KC_ETIMEDOUT: return "timed out";
    case KC_ENOTFOUND: return "not found";
    case KC_EAUTH: return "credentials error";
    case KC_EIO: return "I/O error";
    case KC_ESHUTDOWN: return "shutting down";
    }
    return "unknown error";
}

kc_code kc_error_set(kc_error *err, kc_code code, const char *fmt, ...)
{
    if (!err)
        return code;
    kc_error_clear(err);
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    err->message = kc_vasprintf(fmt, ap);
    va_end(ap);
    return code;
}

int kc_error_is_field_conflict(const kc_error *err)
{
    if (!err || err->http_status != 409)
        return 0;
    for (size_t i = 0; i < err->ncauses; i++)
        if (err->causes[i].reason && strcmp(err->causes[i].reason, "FieldManagerConflict") == 0)
            return 1;
    return 0;
}

int kc_error_is_not_found(const kc_error *err)
{
    return err && err->code == KC_EHTTP && err->http_status == 404 && err->name && *err->name;
}

static char *json_string_dup(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && v->valuestring ? strdup(v->valuestring) : NULL;
}

static kc_code parse_causes(kc_error *err, const cJSON *details)
{
    const cJSON *causes = cJSON_GetObjectItemCaseSensitive(details, "causes");
    int n = cJSON_GetArraySize(causes);
    if (!cJSON_IsArray(causes) || n <= 0)
        return KC_OK;
    err->causes = calloc((size_t)n, sizeof(kc_cause));
    if (!err->causes)
        return KC_ENOMEM;
    const cJSON *c;
    cJSON_ArrayForEach(c, causes) {
        kc_cause *dst = &err->causes[err->ncauses++];
        dst->reason = json_string_dup(c, "reason");
        dst->message = json_string_dup(c, "message");
        dst->field = json_string_dup(c, "field");
    }
    return KC_OK;
}

/* Keep only printable text of a non-Status body, on one line. */
static char *plain_message(const char *body, size_t len)
{
    if (len > KC_MAX_PLAIN_MESSAGE)
        len = KC_MAX_PLAIN_MESSAGE;
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)body[i];
        out[n++] = (char)((ch < 0x20 || ch == 0x7f) ? ' ' : ch);
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    return out;
}

kc_code kc_error_from_status(kc_error *err, long http_status, const char *body, size_t len)
{
    double keep_retry = err->retry_after;
    kc_error_clear(err);
    err->code = KC_EHTTP;
    err->http_status = http_status;
    err->retry_after = keep_retry;
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") == 0) {
        err->reason = json_string_dup(root, "reason");
        err->message = json_string_dup(root, "message");
        const cJSON *details = cJSON_GetObjectItemCaseSensitive(root, "details");
        err->name = json_string_dup(details, "name");
        const cJSON *ra = cJSON_GetObjectItemCaseSensitive(details, "retryAfterSeconds");
        if (cJSON_IsNumber(ra) && ra->valuedouble > 0 && err->retry_after < 0)
            err->retry_after = kc_retry_after_clamp(ra->valuedouble);
        if (parse_causes(err, details) != KC_OK) {
            cJSON_Delete(root);
            return KC_ENOMEM;
        }
    } else if (body && len) {
        err->message = plain_message(body, len);
    }
    cJSON_Delete(root);
    if (!err->reason)
        err->reason = kc_strdup_or_null(kc_http_reason(http_status));
    return KC_OK;
}

size_t kc_error_format(const kc_error *err, char *buf, size_t len)
{
    kc_strbuf sb;
    kc_strbuf_init(&sb);
    if (err->method || err->path)
        kc_strbuf_appendf(&sb, "%s %s: ", err->method ? err->method : "",
                          err->path ? err->path : "");
    if (err->http_status)
        kc_strbuf_appendf(&sb, "HTTP %ld %s", err->http_status, err->reason ? err->reason : "");
    else
        kc_strbuf_appendf(&sb, "%s", kc_strerror(err->code));
    if (err->message && *err->message)
        kc_strbuf_appendf(&sb, ": %s", err->message);
    for (size_t i = 0; i < err->ncauses; i++) {
        const kc_cause *c = &err->causes[i];
        kc_strbuf_appendf(&sb, "%s%s%s%s", i == 0 ? " [" : "; ", c->reason ? c->reason : "",
                          c->field ? " " : "", c->field ? c->field : "");
        if (i + 1 == err->ncauses)
            kc_strbuf_appendf(&sb, "]");
    }
    if (err->retry_after >= 0)
        kc_strbuf_appendf(&sb, " (retry after %gs)", err->retry_after);
    if (err->attempts > 1)
        kc_strbuf_appendf(&sb, " (after %d attempts)", err->attempts);
    size_t need = sb.len;
    if (buf && len) {
        size_t n = need < len - 1 ? need : len - 1;
        if (sb.data)
            memcpy(buf, sb.data, n);
        buf[n] = '\0';
    }
    kc_strbuf_free(&sb);
    return need;
}
