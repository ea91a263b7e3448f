/* util.h - small internal helpers: growable strings, files, base64. */
#ifndef KCLIENT_UTIL_H
#define KCLIENT_UTIL_H

#include <stdarg.h>
#include <stddef.h>

typedef struct kc_strbuf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    int failed; /* an allocation failed; data is unusable */
} kc_strbuf;

void kc_strbuf_init(kc_strbuf *sb);
void kc_strbuf_free(kc_strbuf *sb);
int kc_strbuf_append(kc_strbuf *sb, const char *s, size_t n);
int kc_strbuf_appends(kc_strbuf *sb, const char *s);
int kc_strbuf_appendf(kc_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the buffer to the caller (NULL on failure) and reset sb. */
char *kc_strbuf_take(kc_strbuf *sb);

char *kc_vasprintf(const char *fmt, va_list ap);
char *kc_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *kc_strdup_or_null(const char *s);
char *kc_strndup0(const char *s, size_t n);

/* A server's Retry-After (header or details.retryAfterSeconds) made safe to
 * turn into a delay: NaN -> -1 (none), negative -> 0, above a day -> a day
 * (a larger or infinite value would overflow the nanosecond conversion). */
#define KC_RETRY_AFTER_MAX_SECONDS 86400.0
double kc_retry_after_clamp(double secs);

/* The standard reason phrase of an HTTP status ("Too Many Requests"). */
const char *kc_http_reason(long status);

/* Read a whole file.  Returns 0 and a NUL-terminated buffer, or -1 with errno. */
int kc_read_file(const char *path, char **out, size_t *len_out);

/* Decode standard base64 (whitespace ignored).  Returns 0 or -1 when invalid. */
int kc_base64_decode(const char *in, size_t len, char **out, size_t *out_len);

/* Percent-escape for a path segment or a query component (RFC 3986 unreserved kept). */
int kc_url_escape(kc_strbuf *sb, const char *s);

/* The path of a group version, segments escaped as kc_ref_path does them:
 * /apis/group/version, or /api/version when group is NULL or "" (url.c).
 * New string (caller frees), or NULL when version is NULL or "". */
char *kc_group_version_path(const char *group, const char *version);

/* Whether s[0, len) may go into an HTTP header line as it is: no byte below
 * 0x20 (CR and LF would end the line and start another; NUL would cut it)
 * and no DEL.  For bearer tokens, which come from files and plugins. */
int kc_header_value_ok(const char *s, size_t len);

/* Overwrite then free secret material. */
void kc_free_secret(char *p, size_t len);

#endif
