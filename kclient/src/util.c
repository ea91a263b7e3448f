/* util.c - small internal helpers. */
#include "util.h"

#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

void kc_strbuf_init(kc_strbuf *sb) { memset(sb, 0, sizeof(*sb)); }

void kc_strbuf_free(kc_strbuf *sb)
{
    free(sb->data);
    kc_strbuf_init(sb);
}

static int strbuf_reserve(kc_strbuf *sb, size_t extra)
{
    if (sb->failed)
        return -1;
    if (sb->len + extra + 1 <= sb->cap)
        return 0;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < sb->len + extra + 1)
        cap *= 2;
    char *p = realloc(sb->data, cap);
    if (!p) {
        sb->failed = 1;
        return -1;
    }
    sb->data = p;
    sb->cap = cap;
    return 0;
}

int kc_strbuf_append(kc_strbuf *sb, const char *s, size_t n)
{
    if (strbuf_reserve(sb, n) != 0)
        return -1;
    if (n)
        memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
    return 0;
}

int kc_strbuf_appends(kc_strbuf *sb, const char *s) { return kc_strbuf_append(sb, s, strlen(s)); }

int kc_strbuf_appendf(kc_strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = kc_vasprintf(fmt, ap);
    va_end(ap);
    if (!s) {
        sb->failed = 1;
        return -1;
    }
    int rc = kc_strbuf_appends(sb, s);
    free(s);
    return rc;
}

char *kc_strbuf_take(kc_strbuf *sb)
{
    char *p = NULL;
    if (!sb->failed)
        p = sb->data ? sb->data : strdup("");
    else
        free(sb->data);
    kc_strbuf_init(sb);
    return p;
}

char *kc_vasprintf(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        return NULL;
    return s;
}

char *kc_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = kc_vasprintf(fmt, ap);
    va_end(ap);
    return s;
}

double kc_retry_after_clamp(double secs)
{
    if (isnan(secs))
        return -1.0;
    if (secs < 0)
        return 0.0;
    return secs > KC_RETRY_AFTER_MAX_SECONDS ? KC_RETRY_AFTER_MAX_SECONDS : secs;
}

char *kc_strdup_or_null(const char *s) { return s ? strdup(s) : NULL; }

char *kc_strndup0(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

const char *kc_http_reason(long status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status >= 500 ? "Server Error" : status >= 400 ? "Client Error" : "";
    }
}

int kc_read_file(const char *path, char **out, size_t *len_out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    kc_strbuf sb;
    kc_strbuf_init(&sb);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (kc_strbuf_append(&sb, buf, n) != 0) {
            (void)fclose(f); /* read only */
            kc_strbuf_free(&sb);
            errno = ENOMEM;
            return -1;
        }
    }
    int failed = ferror(f);
    (void)fclose(f); /* read only: ferror above is what matters */
    if (failed) {
        kc_strbuf_free(&sb);
        errno = EIO;
        return -1;
    }
    if (len_out)
        *len_out = sb.len;
    *out = kc_strbuf_take(&sb);
    return *out ? 0 : -1;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

int kc_base64_decode(const char *in, size_t len, char **out, size_t *out_len)
{
    *out = malloc(len / 4 * 3 + 4);
    if (!*out)
        return -1;
    unsigned char *o = (unsigned char *)*out;
    size_t n = 0, pad = 0, quad = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad)
            goto bad;
        acc = (acc << 6) | (unsigned)v;
        if (++quad == 4) {
            o[n++] = (unsigned char)(acc >> 16);
            o[n++] = (unsigned char)(acc >> 8);
            o[n++] = (unsigned char)acc;
            quad = 0;
            acc = 0;
        }
    }
    if (quad == 1 || pad > 2)
        goto bad;
    if (quad == 2)
        o[n++] = (unsigned char)(acc >> 4);
    else if (quad == 3) {
        o[n++] = (unsigned char)(acc >> 10);
        o[n++] = (unsigned char)(acc >> 2);
    }
    o[n] = '\0';
    *out_len = n;
    return 0;
bad:
    free(*out);
    *out = NULL;
    return -1;
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int kc_url_escape(kc_strbuf *sb, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char *run = p; /* copy runs of safe bytes at once */
        while (*p && unreserved(*p))
            p++;
        if (p > run && kc_strbuf_append(sb, (const char *)run, (size_t)(p - run)) != 0)
            return -1;
        if (!*p)
            break;
        char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (kc_strbuf_append(sb, e, 3) != 0)
            return -1;
        p++;
    }
    return 0;
}

int kc_header_value_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

void kc_free_secret(char *p, size_t len)
{
    if (!p)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}
