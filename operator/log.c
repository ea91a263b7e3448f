/* operator/log.c - structured log lines (see log.h).
 *
 * Each line is formatted into memory first and written with one fputs under
 * the logger's mutex, so lines from the HTTP thread never interleave with the
 * main loop's.  A line that cannot be formatted (out of memory) is dropped:
 * logging has nowhere to report its own failure.
 */
#include "log.h"

#include <cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct kco_logger {
    FILE *out;
    kco_log_format fmt;
    int verbosity;
    pthread_mutex_t mu;
};

kco_logger *kco_logger_new(FILE *out, kco_log_format fmt, int verbosity)
{
    kco_logger *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->out = out;
    l->fmt = fmt;
    l->verbosity = verbosity < 0 ? 0 : verbosity;
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

void kco_logger_free(kco_logger *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int kco_log_enabled(const kco_logger *l, int level)
{
    return l && level <= l->verbosity + 2;
}

/* RFC 3339 UTC with milliseconds: sortable, and what log pipelines parse. */
static void format_ts(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static const char *level_name(int level, int upper)
{
    static const char *const lower[] = {"error", "warning", "info", "debug"};
    static const char *const caps[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    int i = level < 0 ? 0 : level > 3 ? 3 : level;
    return upper ? caps[i] : lower[i];
}

/* --- text --- */

/* Escape control characters, and, inside quotes, the quote and backslash,
 * so one call is always one physical line. */
static void put_escaped(FILE *f, const char *s, int quoted)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\r')
            fputs("\\r", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else if (quoted && (*p == '"' || *p == '\\'))
            fprintf(f, "\\%c", *p);
        else
            fputc(*p, f);
    }
}

/* Values that would not read back as one key=value token get quoted. */
static int needs_quotes(const char *s)
{
    if (!*s)
        return 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
            return 1;
    return 0;
}

static void put_text_value(FILE *f, const char *v)
{
    if (!v) {
        fputs("<nil>", f);
        return;
    }
    int q = needs_quotes(v);
    if (q)
        fputc('"', f);
    put_escaped(f, v, q);
    if (q)
        fputc('"', f);
}

static void format_text(FILE *f, const char *ts, int level, const char *msg, va_list *kv)
{
    fprintf(f, "%s %-5s ", ts, level_name(level, 1));
    put_escaped(f, msg ? msg : "", 0);
    for (const char *k; kv && (k = va_arg(*kv, const char *));) {
        const char *v = va_arg(*kv, const char *);
        fprintf(f, " %s=", k);
        put_text_value(f, v);
    }
    fputc('\n', f);
}

/* --- JSON: cJSON does the escaping --- */

static int format_json(FILE *f, const char *ts, int level, const char *msg, va_list *kv)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return -1;
    cJSON_AddStringToObject(o, "ts", ts);
    cJSON_AddStringToObject(o, "level", level_name(level, 0));
    if (level > 2)
        cJSON_AddNumberToObject(o, "v", level);
    cJSON_AddStringToObject(o, "msg", msg ? msg : "");
    for (const char *k; kv && (k = va_arg(*kv, const char *));) {
        const char *v = va_arg(*kv, const char *);
        if (v)
            cJSON_AddStringToObject(o, k, v);
        else
            cJSON_AddNullToObject(o, k);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return -1;
    fputs(s, f);
    fputc('\n', f);
    free(s);
    return 0;
}

/* Format the whole line in memory, then write it in one locked call.
 * kv is NULL when there are no key/value pairs. */
static void emit(kco_logger *l, int level, const char *msg, va_list *kv)
{
    char ts[40];
    format_ts(ts, sizeof(ts));
    char *line = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&line, &len);
    if (!mem)
        return;
    int rc = 0;
    if (l->fmt == KCO_LOG_JSON)
        rc = format_json(mem, ts, level, msg, kv);
    else
        format_text(mem, ts, level, msg, kv);
    if (fclose(mem) == 0 && rc == 0 && line) {
        pthread_mutex_lock(&l->mu);
        fputs(line, l->out);
        (void)fflush(l->out); /* a log line that cannot be written has nowhere to go */
        pthread_mutex_unlock(&l->mu);
    }
    free(line);
}

void kco_log(kco_logger *l, int level, const char *msg, ...)
{
    if (!kco_log_enabled(l, level))
        return;
    va_list ap;
    va_start(ap, msg);
    emit(l, level, msg, &ap);
    va_end(ap);
}

void kco_logf(kco_logger *l, int level, const char *fmt, ...)
{
    if (!kco_log_enabled(l, level))
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    emit(l, level, msg, NULL);
    free(msg);
}

static const char *strip_prefix(const char *line, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(line, prefix, n) == 0 ? line + n : line;
}

void kco_kclient_log(void *ud, int level, const char *line)
{
    if (!line)
        return;
    if (level == 0)
        line = strip_prefix(line, "error: ");
    else if (level == 1)
        line = strip_prefix(line, "warning: ");
    kco_log(ud, level, line, "logger", "kclient", (const char *)NULL);
}
