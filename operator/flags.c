/* operator/flags.c - flags from the environment and the command line (see
 * flags.h).
 *
 * argv is walked twice: once to check its shape (unknown flags, missing
 * values, --help) before anything else, so --help works even when the
 * environment holds a bad value; then, after the environment is applied,
 * again to apply its values on top.
 */
#include "flags.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ENV_PREFIX "KCO_"
#define NS_PER_S 1000000000ull

typedef struct parser {
    const kco_flag *flags;
    size_t n;
    int argc;
    char **argv;
    const char *program;
    FILE *err;
} parser;

static int fail(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(FILE *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", err);
    vfprintf(err, fmt, ap);
    fputc('\n', err);
    va_end(ap);
    return -1;
}

static void env_name(const char *name, char *buf, size_t len)
{
    size_t i = snprintf(buf, len, "%s", ENV_PREFIX);
    for (; *name && i + 1 < len; name++)
        buf[i++] = (char)(*name == '-' ? '_' : toupper((unsigned char)*name));
    buf[i < len ? i : len - 1] = 0;
}

/* --- values --- */

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "t", "true", "yes", "y", "on"};
    static const char *const no[] = {"0", "f", "false", "no", "n", "off"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return 0;
        }
    }
    return -1;
}

static int parse_long(const char *s, long *out)
{
    /* strtol would skip leading blanks and accept "" as 0 */
    if (!*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* digits[.digits], at least one digit.  The fraction is kept as an integer
 * numerator and a power-of-ten scale so that "4.35s" is exact, as in Go. */
static int scan_number(const char **p, uint64_t *whole, double *frac, double *scale)
{
    const char *s = *p;
    int digits = 0;
    uint64_t w = 0;
    for (; isdigit((unsigned char)*s); s++, digits++) {
        if (w > (UINT64_MAX - 9) / 10)
            return -1;
        w = w * 10 + (uint64_t)(*s - '0');
    }
    double f = 0, sc = 1;
    if (*s == '.') {
        for (s++; isdigit((unsigned char)*s); s++, digits++) {
            if (sc >= 1e18)
                continue; /* further digits are far below a nanosecond */
            f = f * 10 + (*s - '0');
            sc *= 10;
        }
    }
    if (!digits)
        return -1;
    *p = s;
    *whole = w;
    *frac = f;
    *scale = sc;
    return 0;
}

/* The unit at *p, advancing past it; 0 when there is none. */
static uint64_t scan_unit(const char **p)
{
    static const struct { const char *name; uint64_t ns; } units[] = {
        {"ns", 1}, {"us", 1000}, {"\xc2\xb5s", 1000}, {"\xce\xbcs", 1000},
        {"ms", 1000000}, {"s", NS_PER_S}, {"m", 60 * NS_PER_S}, {"h", 3600 * NS_PER_S},
    };
    /* "ms" comes before "m": the first match is the longest */
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t len = strlen(units[i].name);
        if (strncmp(*p, units[i].name, len) == 0) {
            *p += len;
            return units[i].ns;
        }
    }
    return 0;
}

/* Add w.frac units to *total (ns), refusing to pass INT64_MAX like Go. */
static int add_component(uint64_t *total, uint64_t w, double frac, double scale, uint64_t unit)
{
    if (w > (uint64_t)INT64_MAX / unit)
        return -1;
    uint64_t v = w * unit + (uint64_t)(frac * ((double)unit / scale));
    if (v > (uint64_t)INT64_MAX - *total)
        return -1;
    *total += v;
    return 0;
}

int kco_parse_duration_ms(const char *s, long *ms)
{
    if (!s)
        return -1;
    int neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    uint64_t total = 0;
    int first = 1;
    do {
        uint64_t w;
        double frac, scale;
        if (scan_number(&s, &w, &frac, &scale) < 0)
            return -1;
        uint64_t unit = scan_unit(&s);
        if (!unit && !(first && !*s)) /* only a lone number may omit it: seconds */
            return -1;
        if (add_component(&total, w, frac, scale, unit ? unit : NS_PER_S) < 0)
            return -1;
        first = 0;
    } while (*s);
    long v = (long)(total / 1000000);
    *ms = neg ? -v : v;
    return 0;
}

/* Store text in f's target.  where names the source for the error line. */
static int set_value(const kco_flag *f, const char *text, const char *where, FILE *err)
{
    int rc = 0;
    const char *want = "";
    switch (f->type) {
    case KCO_FLAG_STRING:
        *(const char **)f->target = text;
        return 0;
    case KCO_FLAG_INT:
        rc = parse_long(text, f->target), want = "an integer";
        break;
    case KCO_FLAG_BOOL:
        rc = parse_bool(text, f->target), want = "true or false";
        break;
    case KCO_FLAG_DURATION_MS:
        rc = kco_parse_duration_ms(text, f->target), want = "a duration such as 500ms, 10s, 1m30s";
        break;
    }
    if (rc < 0)
        return fail(err, "invalid value \"%s\" for %s: want %s", text, where, want);
    return 0;
}

static int apply_defaults(const parser *p)
{
    char where[256];
    for (size_t i = 0; i < p->n; i++) {
        const kco_flag *f = &p->flags[i];
        snprintf(where, sizeof(where), "the default of --%s", f->name);
        if (f->def) {
            if (set_value(f, f->def, where, p->err) < 0)
                return -1;
        } else if (f->type == KCO_FLAG_STRING) {
            *(const char **)f->target = NULL;
        } else if (f->type == KCO_FLAG_BOOL) {
            *(int *)f->target = 0;
        } else {
            *(long *)f->target = 0;
        }
    }
    return 0;
}

static int apply_env(const parser *p)
{
    char env[256], where[300];
    for (size_t i = 0; i < p->n; i++) {
        env_name(p->flags[i].name, env, sizeof(env));
        const char *v = getenv(env);
        snprintf(where, sizeof(where), "%s (environment)", env);
        if (v && set_value(&p->flags[i], v, where, p->err) < 0)
            return -1;
    }
    return 0;
}

/* --- the command line --- */

static const kco_flag *find_flag(const parser *p, const char *name, size_t len)
{
    for (size_t i = 0; i < p->n; i++)
        if (strlen(p->flags[i].name) == len && strncmp(p->flags[i].name, name, len) == 0)
            return &p->flags[i];
    return NULL;
}

static int is_help(const char *name, size_t len)
{
    return (len == 1 && name[0] == 'h') || (len == 4 && strncmp(name, "help", 4) == 0);
}

/* Walk argv.  With apply == 0 only the shape is checked and 1 is returned
 * at --help; with apply == 1 values are stored. */
static int walk_argv(const parser *p, int apply)
{
    for (int i = 1; i < p->argc; i++) {
        const char *a = p->argv[i];
        if (strcmp(a, "--") == 0) {
            if (i + 1 < p->argc)
                return fail(p->err, "unexpected argument \"%s\"", p->argv[i + 1]);
            break;
        }
        if (a[0] != '-' || !a[1])
            return fail(p->err, "unexpected argument \"%s\" (flags start with --)", a);
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const kco_flag *f = find_flag(p, name, len);
        if (!f && is_help(name, len))
            return apply ? 0 : 1;
        if (!f)
            return fail(p->err, "unknown flag --%.*s (see %s --help)", (int)len, name,
                        p->program);
        const char *val = eq ? eq + 1 : f->type == KCO_FLAG_BOOL ? "true" : NULL;
        if (!val && i + 1 >= p->argc)
            return fail(p->err, "flag --%s needs a value", f->name);
        if (!val)
            val = p->argv[++i];
        char where[256];
        snprintf(where, sizeof(where), "--%s", f->name);
        if (apply && set_value(f, val, where, p->err) < 0)
            return -1;
    }
    return 0;
}

static const char *type_hint(kco_flag_type t)
{
    return t == KCO_FLAG_STRING ? " string"
           : t == KCO_FLAG_INT ? " int"
           : t == KCO_FLAG_DURATION_MS ? " duration"
                                        : "";
}

static void usage(const parser *p, const char *description, FILE *out)
{
    char env[256];
    fprintf(out, "Usage: %s [flags]\n\n", p->program);
    if (description && *description)
        fprintf(out, "%s\n\n", description);
    fputs("Every flag can also be set by its environment variable; the command line wins.\n\n"
          "Flags:\n",
          out);
    for (size_t i = 0; i < p->n; i++) {
        const kco_flag *f = &p->flags[i];
        env_name(f->name, env, sizeof(env));
        fprintf(out, "  --%s%s\n        %s (", f->name, type_hint(f->type), f->help ? f->help : "");
        if (f->type == KCO_FLAG_STRING && f->def)
            fprintf(out, "default \"%s\"; ", f->def);
        else if (f->type != KCO_FLAG_STRING)
            fprintf(out, "default %s; ", f->def ? f->def : f->type == KCO_FLAG_BOOL ? "false" : "0");
        fprintf(out, "env %s)\n", env);
    }
    fputs("  -h, --help\n        Print this help and exit.\n", out);
}

int kco_flags_parse(const kco_flag *flags, size_t n, int argc, char **argv, const char *program,
                    const char *description, FILE *out, FILE *err)
{
    parser p = {flags, n, argc, argv, program ? program : "program", err ? err : stderr};
    if (apply_defaults(&p) < 0)
        return -1;
    int rc = walk_argv(&p, 0);
    if (rc == 1)
        usage(&p, description, out ? out : stdout);
    if (rc != 0)
        return rc;
    if (apply_env(&p) < 0)
        return -1;
    return walk_argv(&p, 1);
}
