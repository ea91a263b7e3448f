/* Unit tests for the operator's support modules: operator/log.c (text and
 * JSON lines, escaping, levels, the kclient adapter), operator/flags.c
 * (defaults, environment, command line, durations, --help, errors) and
 * operator/httpd.c (probes and metrics over real HTTP with libcurl, stall
 * detection, the Prometheus text builder). */
#include <check.h>
#include <cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "flags.h"
#include "httpd.h"
#include "kclient/client.h"
#include "log.h"

/* --- helpers --- */

/* Everything written to f so far, as a string (caller frees). */
static char *read_all(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    char *s = calloc(1, (size_t)n + 1);
    rewind(f);
    ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* "2026-11-26T11:00:00.123Z " at the start of a text line. */
static void assert_ts(const char *line)
{
    int y, mo, d, h, mi, s, ms;
    char z;
    ck_assert_int_eq(sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z), 8);
    ck_assert_int_eq(z, 'Z');
    ck_assert(y >= 2024 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31);
    ck_assert_int_eq(line[10], 'T');
    ck_assert_int_eq(line[23], 'Z');
}

/* --- logger --- */

START_TEST(log_text_line)
{
    FILE *f = tmpfile();
    kco_logger *l = kco_logger_new(f, KCO_LOG_TEXT, 0);
    kco_log(l, 2, "reconciled", "name", "web", "note", "with spaces", (const char *)NULL);
    char *s = read_all(f);
    assert_ts(s);
    ck_assert_str_eq(s + 24, " INFO  reconciled name=web note=\"with spaces\"\n");
    free(s);
    kco_logger_free(l);
    fclose(f);
}
END_TEST

START_TEST(log_text_escaping)
{
    FILE *f = tmpfile();
    kco_logger *l = kco_logger_new(f, KCO_LOG_TEXT, 0);
    kco_log(l, 0, "two\nlines", "q", "say \"hi\"\nbye", "empty", "", "nil", (const char *)NULL,
            "eq", "a=b", "path", "C:\\x", (const char *)NULL);
    kco_log(l, 1, "careful", (const char *)NULL);
    char *s = read_all(f);
    ck_assert_int_eq(count_lines(s), 2); /* escaped newlines keep one line per call */
    const char *want = " ERROR two\\nlines q=\"say \\\"hi\\\"\\nbye\" empty=\"\" nil=<nil> "
                       "eq=\"a=b\" path=\"C:\\\\x\"\n";
    ck_assert_msg(strncmp(s + 24, want, strlen(want)) == 0, "got %s", s + 24);
    char *second = strchr(s, '\n') + 1;
    assert_ts(second);
    ck_assert_str_eq(second + 24, " WARN  careful\n");
    free(s);
    kco_logger_free(l);
    fclose(f);
}
END_TEST

START_TEST(log_json_lines)
{
    FILE *f = tmpfile();
    kco_logger *l = kco_logger_new(f, KCO_LOG_JSON, 5);
    const char *msg = "quote \" backslash \\ newline \n tab \t end";
    kco_log(l, 1, msg, "k", "v\"\n", "none", (const char *)NULL, (const char *)NULL);
    kco_log(l, 4, "detail", (const char *)NULL);
    char *s = read_all(f);
    ck_assert_int_eq(count_lines(s), 2);
    char *nl = strchr(s, '\n');
    *nl = 0;
    cJSON *o = cJSON_Parse(s);
    ck_assert_ptr_nonnull(o);
    assert_ts(cJSON_GetObjectItem(o, "ts")->valuestring);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "level")->valuestring, "warning");
    ck_assert_str_eq(cJSON_GetObjectItem(o, "msg")->valuestring, msg);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "k")->valuestring, "v\"\n");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "none")));
    ck_assert_ptr_null(cJSON_GetObjectItem(o, "v")); /* only debug lines carry v */
    ck_assert(strncmp(s, "{\"ts\":", 6) == 0);
    cJSON_Delete(o);
    o = cJSON_Parse(nl + 1);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "level")->valuestring, "debug");
    ck_assert_int_eq(cJSON_GetObjectItem(o, "v")->valueint, 4);
    cJSON_Delete(o);
    free(s);
    kco_logger_free(l);
    fclose(f);
}
END_TEST

/* Lines written at levels 0..9 with verbosity v. */
static int lines_at_verbosity(int v)
{
    FILE *f = tmpfile();
    kco_logger *l = kco_logger_new(f, KCO_LOG_TEXT, v);
    for (int level = 0; level <= 9; level++)
        kco_logf(l, level, "level %d", level);
    char *s = read_all(f);
    int n = count_lines(s);
    free(s);
    kco_logger_free(l);
    fclose(f);
    return n;
}

START_TEST(log_levels_filtered)
{
    ck_assert_int_eq(lines_at_verbosity(0), 3);  /* error, warning, info */
    ck_assert_int_eq(lines_at_verbosity(-3), 3); /* never below info */
    ck_assert_int_eq(lines_at_verbosity(1), 4);
    ck_assert_int_eq(lines_at_verbosity(4), 7);
    ck_assert_int_eq(lines_at_verbosity(7), 10);
    kco_logger *l = kco_logger_new(stderr, KCO_LOG_TEXT, 2);
    ck_assert(kco_log_enabled(l, 4));
    ck_assert(!kco_log_enabled(l, 5));
    ck_assert(!kco_log_enabled(NULL, 0));
    kco_logger_free(l);
    kco_log(NULL, 0, "nowhere", (const char *)NULL); /* a NULL logger is a no-op */
}
END_TEST

START_TEST(log_printf_message)
{
    FILE *f = tmpfile();
    kco_logger *l = kco_logger_new(f, KCO_LOG_TEXT, 1);
    kco_logf(l, 3, "synced %d of %s", 7, "10");
    char *s = read_all(f);
    ck_assert_str_eq(s + 24, " DEBUG synced 7 of 10\n");
    free(s);
    kco_logger_free(l);
    fclose(f);
}
END_TEST

START_TEST(log_kclient_adapter)
{
    FILE *f = tmpfile();
    kco_logger *l = kco_logger_new(f, KCO_LOG_TEXT, 0);
    /* the adapter has kclient's log callback type */
    kc_client_options o = {.log = kco_kclient_log, .log_ud = l, .verbosity = 2};
    o.log(o.log_ud, 1, "warning: no answer from https://h:6443 within 5000 ms");
    o.log(o.log_ud, 0, "error: boom");
    o.log(o.log_ud, 2, "warning: stays (info keeps its text)");
    o.log(o.log_ud, 3, "debug filtered at -v=0");
    char *s = read_all(f);
    ck_assert_int_eq(count_lines(s), 3);
    ck_assert_ptr_nonnull(strstr(s, " WARN  no answer from https://h:6443 within 5000 ms logger=kclient\n"));
    ck_assert_ptr_nonnull(strstr(s, " ERROR boom logger=kclient\n"));
    ck_assert_ptr_nonnull(strstr(s, " INFO  warning: stays (info keeps its text) logger=kclient\n"));
    free(s);
    kco_logger_free(l);
    fclose(f);
}
END_TEST

static void *log_many(void *ud)
{
    for (int i = 0; i < 500; i++)
        kco_log(ud, 2, "from a thread", "i", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", (const char *)NULL);
    return NULL;
}

START_TEST(log_threads_do_not_interleave)
{
    FILE *f = tmpfile();
    kco_logger *l = kco_logger_new(f, KCO_LOG_JSON, 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, log_many, l);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *s = read_all(f);
    ck_assert_int_eq(count_lines(s), 2000);
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        ck_assert_ptr_nonnull(o);
        cJSON_Delete(o);
    }
    free(s);
    kco_logger_free(l);
    fclose(f);
}
END_TEST

/* --- flags --- */

typedef struct opts {
    const char *metrics_addr;
    long workers;
    int leader;
    long resync_ms;
    const char *kubeconfig;
} opts;

static const char *const ENV_NAMES[] = {"KCO_METRICS_BIND_ADDRESS", "KCO_WORKERS",
                                        "KCO_LEADER_ELECT", "KCO_RESYNC_PERIOD", "KCO_KUBECONFIG"};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(ENV_NAMES) / sizeof(ENV_NAMES[0]); i++)
        unsetenv(ENV_NAMES[i]);
}

/* Parse args (NULL-terminated, without the program name) into o; out and
 * err receive what was printed (caller frees). */
static int parse(opts *o, const char *const *args, char **out, char **err)
{
    kco_flag flags[] = {
        {"metrics-bind-address", KCO_FLAG_STRING, &o->metrics_addr, ":8080", "Serve /metrics here."},
        {"workers", KCO_FLAG_INT, &o->workers, "4", "Concurrent reconciles."},
        {"leader-elect", KCO_FLAG_BOOL, &o->leader, "false", "Take a Lease before acting."},
        {"resync-period", KCO_FLAG_DURATION_MS, &o->resync_ms, "10m", "Full relist period."},
        {"kubeconfig", KCO_FLAG_STRING, &o->kubeconfig, NULL, "Path to a kubeconfig."},
    };
    char *argv[32] = {"kclient-operator"};
    int argc = 1;
    for (; args && args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    size_t olen, elen;
    FILE *fo = open_memstream(out, &olen), *fe = open_memstream(err, &elen);
    int rc = kco_flags_parse(flags, sizeof(flags) / sizeof(flags[0]), argc, argv,
                             "kclient-operator", "Runs the federation controllers.", fo, fe);
    fclose(fo);
    fclose(fe);
    return rc;
}

/* parse and expect success with nothing printed */
static void parse_ok(opts *o, const char *const *args)
{
    char *out, *err;
    ck_assert_int_eq(parse(o, args, &out, &err), 0);
    ck_assert_str_eq(out, "");
    ck_assert_str_eq(err, "");
    free(out);
    free(err);
}

/* parse and expect -1 with an error line containing want */
static void parse_fails(const char *const *args, const char *want)
{
    opts o;
    char *out, *err;
    ck_assert_int_eq(parse(&o, args, &out, &err), -1);
    ck_assert_msg(strncmp(err, "error: ", 7) == 0 && strstr(err, want), "err: %s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
}

START_TEST(flags_defaults)
{
    opts o = {.kubeconfig = "junk"};
    parse_ok(&o, NULL);
    ck_assert_str_eq(o.metrics_addr, ":8080");
    ck_assert_int_eq(o.workers, 4);
    ck_assert_int_eq(o.leader, 0);
    ck_assert_int_eq(o.resync_ms, 600000);
    ck_assert_ptr_null(o.kubeconfig);
}
END_TEST

START_TEST(flags_env_overrides_default)
{
    setenv("KCO_METRICS_BIND_ADDRESS", "127.0.0.1:9000", 1);
    setenv("KCO_WORKERS", "8", 1);
    setenv("KCO_LEADER_ELECT", "TRUE", 1);
    setenv("KCO_RESYNC_PERIOD", "1m30s", 1);
    setenv("KCO_KUBECONFIG", "/etc/kube/config", 1);
    opts o;
    parse_ok(&o, NULL);
    ck_assert_str_eq(o.metrics_addr, "127.0.0.1:9000");
    ck_assert_int_eq(o.workers, 8);
    ck_assert_int_eq(o.leader, 1);
    ck_assert_int_eq(o.resync_ms, 90000);
    ck_assert_str_eq(o.kubeconfig, "/etc/kube/config");
}
END_TEST

START_TEST(flags_argv_overrides_env)
{
    setenv("KCO_WORKERS", "8", 1);
    setenv("KCO_LEADER_ELECT", "true", 1);
    setenv("KCO_RESYNC_PERIOD", "1s", 1);
    setenv("KCO_METRICS_BIND_ADDRESS", ":1", 1);
    opts o;
    const char *args[] = {"--workers=16", "--leader-elect=false", "--resync-period", "250ms",
                          "-metrics-bind-address", ":2", "--kubeconfig=", NULL};
    parse_ok(&o, args);
    ck_assert_int_eq(o.workers, 16);
    ck_assert_int_eq(o.leader, 0);
    ck_assert_int_eq(o.resync_ms, 250);
    ck_assert_str_eq(o.metrics_addr, ":2");
    ck_assert_str_eq(o.kubeconfig, "");
}
END_TEST

START_TEST(flags_each_type_and_last_wins)
{
    opts o;
    const char *args[] = {"--workers", "-3", "--workers=12", "--resync-period=45", "--kubeconfig",
                          "/k with space", "--", NULL};
    parse_ok(&o, args);
    ck_assert_int_eq(o.workers, 12);
    ck_assert_int_eq(o.resync_ms, 45000); /* plain seconds */
    ck_assert_str_eq(o.kubeconfig, "/k with space");
}
END_TEST

START_TEST(flags_bool_forms)
{
    static const struct { const char *arg; int want; } cases[] = {
        {"--leader-elect", 1},       {"--leader-elect=true", 1}, {"--leader-elect=1", 1},
        {"--leader-elect=yes", 1},   {"-leader-elect", 1},       {"--leader-elect=false", 0},
        {"--leader-elect=0", 0},     {"--leader-elect=off", 0},  {"--leader-elect=False", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        opts o;
        const char *args[] = {cases[i].arg, NULL};
        parse_ok(&o, args);
        ck_assert_msg(o.leader == cases[i].want, "%s", cases[i].arg);
    }
    /* like Go, a bool never takes the next argument */
    const char *args[] = {"--leader-elect", "false", NULL};
    parse_fails(args, "unexpected argument \"false\"");
    const char *bad[] = {"--leader-elect=maybe", NULL};
    parse_fails(bad, "invalid value \"maybe\" for --leader-elect");
}
END_TEST

START_TEST(flags_durations)
{
    static const struct { const char *s; long ms; } ok[] = {
        {"500ms", 500},       {"10s", 10000},   {"1m30s", 90000},  {"1.5h", 5400000},
        {"30", 30000},        {"0.5", 500},     {"0", 0},          {"-2s", -2000},
        {"+3ms", 3},          {"4.35s", 4350},  {"1us", 0},        {"1h2m3s4ms", 3723004},
        {"2000000ns", 2},     {"1\xc2\xb5s", 0}, {".5s", 500},     {"1.s", 1000},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        long ms = -12345;
        ck_assert_msg(kco_parse_duration_ms(ok[i].s, &ms) == 0, "%s", ok[i].s);
        ck_assert_msg(ms == ok[i].ms, "%s: %ld", ok[i].s, ms);
    }
    static const char *const bad[] = {"", "s", "10x", "1m30", "abc", "-", "1..5s", "5 s",
                                      "3000000h", "inf", "0x10s", NULL};
    for (int i = 0; bad[i]; i++) {
        long ms = 0;
        ck_assert_msg(kco_parse_duration_ms(bad[i], &ms) == -1, "%s", bad[i]);
    }
    ck_assert_int_eq(kco_parse_duration_ms(NULL, &(long){0}), -1);
}
END_TEST

START_TEST(flags_help_lists_env_names)
{
    setenv("KCO_WORKERS", "not a number", 1); /* --help still works */
    opts o;
    char *out, *err;
    const char *args[] = {"--workers=2", "--help", NULL};
    ck_assert_int_eq(parse(&o, args, &out, &err), 1);
    ck_assert_str_eq(err, "");
    static const char *const want[] = {
        "Usage: kclient-operator [flags]",
        "Runs the federation controllers.",
        "--metrics-bind-address string",
        "Serve /metrics here. (default \":8080\"; env KCO_METRICS_BIND_ADDRESS)",
        "--workers int",
        "(default 4; env KCO_WORKERS)",
        "--leader-elect\n",
        "(default false; env KCO_LEADER_ELECT)",
        "--resync-period duration",
        "(default 10m; env KCO_RESYNC_PERIOD)",
        "Path to a kubeconfig. (env KCO_KUBECONFIG)",
        "-h, --help",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(out, want[i]), "missing %s in:\n%s", want[i], out);
    free(out);
    free(err);
    const char *h[] = {"-h", NULL};
    ck_assert_int_eq(parse(&o, h, &out, &err), 1);
    free(out);
    free(err);
}
END_TEST

START_TEST(flags_errors_name_the_source)
{
    const char *unknown[] = {"--wrokers=3", NULL};
    parse_fails(unknown, "unknown flag --wrokers");
    const char *positional[] = {"run", NULL};
    parse_fails(positional, "unexpected argument \"run\"");
    const char *missing[] = {"--workers", NULL};
    parse_fails(missing, "flag --workers needs a value");
    const char *bad_int[] = {"--workers=abc", NULL};
    parse_fails(bad_int, "invalid value \"abc\" for --workers: want an integer");
    const char *huge[] = {"--workers=99999999999999999999", NULL};
    parse_fails(huge, "for --workers");
    const char *blank[] = {"--workers= 3", NULL};
    parse_fails(blank, "for --workers");
    const char *bad_dur[] = {"--resync-period", "10 minutes", NULL};
    parse_fails(bad_dur, "invalid value \"10 minutes\" for --resync-period: want a duration");

    setenv("KCO_WORKERS", "many", 1);
    parse_fails(NULL, "invalid value \"many\" for KCO_WORKERS (environment)");
    clear_env();
    setenv("KCO_RESYNC_PERIOD", "1y", 1);
    parse_fails(NULL, "for KCO_RESYNC_PERIOD (environment)");
    /* a bad environment value is reported even if argv would override it:
     * the operator should not start with a broken Deployment spec */
    const char *over[] = {"--resync-period=1s", NULL};
    parse_fails(over, "KCO_RESYNC_PERIOD");
}
END_TEST

START_TEST(flags_bad_default_is_reported)
{
    long n;
    kco_flag f[] = {{"qps", KCO_FLAG_INT, &n, "fast", "x"}};
    char *argv[] = {"p"};
    char *err;
    size_t len;
    FILE *fe = open_memstream(&err, &len);
    ck_assert_int_eq(kco_flags_parse(f, 1, 1, argv, "p", NULL, stdout, fe), -1);
    fclose(fe);
    ck_assert_ptr_nonnull(strstr(err, "the default of --qps"));
    free(err);
}
END_TEST

/* --- httpd, through libcurl --- */

typedef struct resp {
    long code;
    char *body;
    size_t len;
    char ctype[128];
    char allow[64];
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    r->body = realloc(r->body, r->len + sz * n + 1);
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = 0;
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    if (sz * n > 6 && strncasecmp(p, "Allow:", 6) == 0)
        sscanf(p + 6, " %63[^\r\n]", r->allow);
    return sz * n;
}

/* method path on 127.0.0.1:port (or host); body is never NULL. */
static resp fetch_host(const char *method, const char *host, int port, const char *path)
{
    resp r = {.body = calloc(1, 1)};
    char url[256];
    snprintf(url, sizeof(url), "http://%s:%d%s", host, port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "a=1");
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c);
    ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.code);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r.ctype, sizeof(r.ctype), "%s", ct ? ct : "");
    curl_easy_cleanup(c);
    return r;
}

static resp fetch(const char *method, int port, const char *path)
{
    return fetch_host(method, "127.0.0.1", port, path);
}

/* GET path and check status and body exactly. */
static void expect(int port, const char *path, long code, const char *body)
{
    resp r = fetch("GET", port, path);
    ck_assert_msg(r.code == code, "GET %s: %ld %s", path, r.code, r.body);
    ck_assert_str_eq(r.body, body);
    free(r.body);
}

static kco_httpd *start_local(void)
{
    char err[256];
    kco_httpd *h = kco_httpd_start("127.0.0.1:0", err, sizeof(err));
    ck_assert_msg(h != NULL, "start: %s", err);
    ck_assert_int_gt(kco_httpd_port(h), 0);
    return h;
}

START_TEST(httpd_before_and_after_publish)
{
    kco_httpd *h = start_local();
    int port = kco_httpd_port(h);
    expect(port, "/healthz", 200, "ok");
    expect(port, "/readyz", 500, "not ready: no state published yet");
    expect(port, "/metrics", 200, "");

    kco_httpd_publish(h, 1, "loop ok", 0, "informers not synced: memberclusters", "up 1\n");
    expect(port, "/readyz", 500, "informers not synced: memberclusters");
    expect(port, "/readyz?verbose", 500, "informers not synced: memberclusters");
    expect(port, "/healthz", 200, "ok");
    expect(port, "/healthz?verbose", 200, "ok\nloop ok");

    kco_httpd_publish(h, 1, NULL, 1, "leader: yes", "up 1\n");
    expect(port, "/readyz", 200, "ok");
    expect(port, "/readyz?verbose=1", 200, "ok\nleader: yes");
    expect(port, "/healthz?verbose", 200, "ok"); /* no detail to add */

    kco_httpd_publish(h, 0, "lease lost", 0, "", NULL);
    expect(port, "/healthz", 500, "lease lost");
    expect(port, "/readyz", 500, "not ready");
    expect(port, "/metrics", 200, "");
    kco_httpd_stop(h);
}
END_TEST

START_TEST(httpd_metrics_content)
{
    kco_httpd *h = start_local();
    int port = kco_httpd_port(h);
    const char *text = "# HELP up Whether the operator is up.\n# TYPE up gauge\nup 1\n";
    kco_httpd_publish(h, 1, "", 1, "", text);
    resp r = fetch("GET", port, "/metrics");
    ck_assert_int_eq(r.code, 200);
    ck_assert_str_eq(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    ck_assert_str_eq(r.body, text);
    free(r.body);
    r = fetch("HEAD", port, "/metrics");
    ck_assert_int_eq(r.code, 200);
    ck_assert_str_eq(r.body, "");
    ck_assert_str_eq(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    free(r.body);
    r = fetch("GET", port, "/healthz");
    ck_assert_str_eq(r.ctype, "text/plain; charset=utf-8");
    free(r.body);
    kco_httpd_stop(h);
}
END_TEST

START_TEST(httpd_404_and_405)
{
    kco_httpd *h = start_local();
    int port = kco_httpd_port(h);
    expect(port, "/", 404, "not found");
    expect(port, "/healthz/extra", 404, "not found");
    expect(port, "/metricsz", 404, "not found");
    static const char *const methods[] = {"POST", "PUT", "DELETE"};
    for (int i = 0; i < 3; i++) {
        resp r = fetch(methods[i], port, "/healthz");
        ck_assert_msg(r.code == 405, "%s: %ld", methods[i], r.code);
        ck_assert_str_eq(r.allow, "GET, HEAD");
        free(r.body);
    }
    /* the connection is still good after a refused POST with a body */
    expect(port, "/healthz", 200, "ok");
    kco_httpd_stop(h);
}
END_TEST

START_TEST(httpd_stall_detection)
{
    kco_httpd *h = start_local();
    int port = kco_httpd_port(h);
    /* wide margins: a request under valgrind can take tens of ms */
    kco_httpd_set_stall_ms(h, 500);
    kco_httpd_publish(h, 1, "", 1, "", "");
    expect(port, "/healthz", 200, "ok");
    usleep(800 * 1000);
    resp r = fetch("GET", port, "/healthz");
    ck_assert_int_eq(r.code, 500);
    ck_assert_msg(strncmp(r.body, "main loop stalled for ", 22) == 0, "%s", r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "s (limit 0.5s)"));
    free(r.body);
    r = fetch("GET", port, "/readyz"); /* stale readiness is not trusted either */
    ck_assert_int_eq(r.code, 500);
    free(r.body);
    expect(port, "/metrics", 200, ""); /* metrics stay available to show why */

    kco_httpd_publish(h, 1, "", 1, "", "");
    expect(port, "/healthz", 200, "ok");
    kco_httpd_set_stall_ms(h, 0); /* off */
    usleep(600 * 1000);
    expect(port, "/healthz", 200, "ok");
    kco_httpd_stop(h);
}
END_TEST

START_TEST(httpd_start_errors)
{
    char err[256];
    static const char *const bad[] = {"nonsense", "8080", "host:", "host:99999", ":-1",
                                      "::1:80", "[::1]80", "h:8x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        ck_assert_ptr_null(kco_httpd_start(bad[i], err, sizeof(err)));
        ck_assert_msg(strstr(err, "bad listen address"), "%s: %s", bad[i], err);
    }
    kco_httpd *h = start_local();
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", kco_httpd_port(h));
    ck_assert_ptr_null(kco_httpd_start(addr, err, sizeof(err)));
    ck_assert_msg(strstr(err, "cannot listen on 127.0.0.1:"), "%s", err);
    ck_assert_ptr_null(kco_httpd_start("no-such-host.invalid:80", err, sizeof(err)));
    ck_assert_msg(strstr(err, "cannot resolve no-such-host.invalid"), "%s", err);
    ck_assert_ptr_null(kco_httpd_start(addr, NULL, 0)); /* no errbuf is fine */
    kco_httpd_stop(h);
    kco_httpd_stop(NULL);
}
END_TEST

START_TEST(httpd_all_interfaces_and_two_servers)
{
    char err[256];
    kco_httpd *any = kco_httpd_start(":0", err, sizeof(err));
    ck_assert_msg(any != NULL, "%s", err);
    kco_httpd *local = start_local();
    ck_assert_int_ne(kco_httpd_port(any), kco_httpd_port(local));
    kco_httpd_publish(any, 1, "", 1, "", "a 1\n");
    kco_httpd_publish(local, 1, "", 0, "b", "b 1\n");
    expect(kco_httpd_port(any), "/metrics", 200, "a 1\n");
    expect(kco_httpd_port(local), "/metrics", 200, "b 1\n");
    expect(kco_httpd_port(local), "/readyz", 500, "b");
    kco_httpd_stop(any);
    kco_httpd_stop(local);
}
END_TEST

START_TEST(httpd_localhost_name)
{
    char err[256];
    kco_httpd *h = kco_httpd_start("localhost:0", err, sizeof(err));
    ck_assert_msg(h != NULL, "%s", err);
    resp r = fetch_host("GET", "localhost", kco_httpd_port(h), "/healthz");
    ck_assert_int_eq(r.code, 200);
    free(r.body);
    kco_httpd_stop(h);
}
END_TEST

typedef struct publisher {
    kco_httpd *h;
    atomic_int stop;
} publisher;

#define SNAP_A "a 1\na 2\na 3\n"
#define SNAP_B "b 1\n"

static void *publish_loop(void *ud)
{
    publisher *p = ud;
    /* far faster than a real main loop, but yielding: under valgrind, which
     * runs one thread at a time, a tight loop would starve the server */
    for (int i = 0; !atomic_load(&p->stop); i++) {
        kco_httpd_publish(p->h, 1, "", i & 1, "", i & 1 ? SNAP_A : SNAP_B);
        usleep(100);
    }
    return NULL;
}

START_TEST(httpd_snapshot_is_consistent_under_publishing)
{
    publisher p = {start_local(), 0};
    kco_httpd_publish(p.h, 1, "", 1, "", SNAP_B);
    pthread_t t;
    pthread_create(&t, NULL, publish_loop, &p);
    for (int i = 0; i < 50; i++) {
        resp r = fetch("GET", kco_httpd_port(p.h), "/metrics");
        ck_assert_int_eq(r.code, 200);
        ck_assert_msg(!strcmp(r.body, SNAP_A) || !strcmp(r.body, SNAP_B), "%s", r.body);
        free(r.body);
    }
    atomic_store(&p.stop, 1);
    pthread_join(t, NULL);
    kco_httpd_stop(p.h);
}
END_TEST

/* --- Prometheus text builder --- */

START_TEST(metrics_help_once_and_samples)
{
    kco_metrics *m = kco_metrics_new();
    ck_assert_str_eq(kco_metrics_text(m), "");
    for (int i = 0; i < 3; i++) {
        kco_metrics_help(m, "kco_reconcile_total", "counter", "Reconciles by result.");
        kco_metrics_sample(m, "kco_reconcile_total", i ? "controller=\"fpg\"" : NULL, i);
    }
    kco_metrics_help(m, "kco_up", "gauge", "Line one\nback\\slash \"quoted\"");
    kco_metrics_sample(m, "kco_up", "", 1);
    ck_assert_str_eq(kco_metrics_text(m),
                     "# HELP kco_reconcile_total Reconciles by result.\n"
                     "# TYPE kco_reconcile_total counter\n"
                     "kco_reconcile_total 0\n"
                     "kco_reconcile_total{controller=\"fpg\"} 1\n"
                     "kco_reconcile_total{controller=\"fpg\"} 2\n"
                     "# HELP kco_up Line one\\nback\\\\slash \"quoted\"\n"
                     "# TYPE kco_up gauge\n"
                     "kco_up 1\n");
    kco_metrics_free(m);
    kco_metrics_free(NULL);
}
END_TEST

START_TEST(metrics_escaping)
{
    char *e = kco_metrics_escape("a\\b\"c\nd");
    ck_assert_str_eq(e, "a\\\\b\\\"c\\nd");
    free(e);
    e = kco_metrics_escape("");
    ck_assert_str_eq(e, "");
    free(e);

    kco_metrics *m = kco_metrics_new();
    kco_metrics_sample_kv(m, "kco_errors_total", 3, "controller", "fpg", "reason",
                          "said \"no\"\n", (const char *)NULL);
    kco_metrics_sample_kv(m, "kco_members", 2, (const char *)NULL);
    ck_assert_str_eq(kco_metrics_text(m),
                     "kco_errors_total{controller=\"fpg\",reason=\"said \\\"no\\\"\\n\"} 3\n"
                     "kco_members 2\n");
    kco_metrics_free(m);
}
END_TEST

START_TEST(metrics_values)
{
    static const struct { double v; const char *text; } cases[] = {
        {0, "0"}, {42, "42"}, {0.1, "0.1"}, {-1.5, "-1.5"}, {1e21, "1e+21"},
        {123456789012345678.0, "1.2345678901234568e+17"}, {1.0 / 3, "0.33333333333333331"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kco_metrics *m = kco_metrics_new();
        kco_metrics_sample(m, "x", NULL, cases[i].v);
        char want[64];
        snprintf(want, sizeof(want), "x %s\n", cases[i].text);
        ck_assert_str_eq(kco_metrics_text(m), want);
        kco_metrics_free(m);
    }
    kco_metrics *m = kco_metrics_new();
    kco_metrics_sample(m, "n", NULL, NAN);
    kco_metrics_sample(m, "p", NULL, INFINITY);
    kco_metrics_sample(m, "q", NULL, -INFINITY);
    ck_assert_str_eq(kco_metrics_text(m), "n NaN\np +Inf\nq -Inf\n");
    kco_metrics_free(m);
}
END_TEST

START_TEST(metrics_grow_large)
{
    kco_metrics *m = kco_metrics_new();
    kco_metrics_help(m, "series", "gauge", "Many series.");
    char labels[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(labels, sizeof(labels), "i=\"%d\"", i);
        kco_metrics_sample(m, "series", labels, i);
    }
    const char *t = kco_metrics_text(m);
    ck_assert_int_eq(count_lines(t), 5002);
    ck_assert_ptr_nonnull(strstr(t, "series{i=\"4999\"} 4999\n"));
    kco_metrics_free(m);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("operator_support");

    TCase *log = tcase_create("log");
    tcase_add_test(log, log_text_line);
    tcase_add_test(log, log_text_escaping);
    tcase_add_test(log, log_json_lines);
    tcase_add_test(log, log_levels_filtered);
    tcase_add_test(log, log_printf_message);
    tcase_add_test(log, log_kclient_adapter);
    tcase_add_test(log, log_threads_do_not_interleave);
    suite_add_tcase(s, log);

    TCase *flags = tcase_create("flags");
    tcase_add_checked_fixture(flags, clear_env, clear_env);
    tcase_add_test(flags, flags_defaults);
    tcase_add_test(flags, flags_env_overrides_default);
    tcase_add_test(flags, flags_argv_overrides_env);
    tcase_add_test(flags, flags_each_type_and_last_wins);
    tcase_add_test(flags, flags_bool_forms);
    tcase_add_test(flags, flags_durations);
    tcase_add_test(flags, flags_help_lists_env_names);
    tcase_add_test(flags, flags_errors_name_the_source);
    tcase_add_test(flags, flags_bad_default_is_reported);
    suite_add_tcase(s, flags);

    TCase *httpd = tcase_create("httpd");
    tcase_set_timeout(httpd, 30);
    tcase_add_test(httpd, httpd_before_and_after_publish);
    tcase_add_test(httpd, httpd_metrics_content);
    tcase_add_test(httpd, httpd_404_and_405);
    tcase_add_test(httpd, httpd_stall_detection);
    tcase_add_test(httpd, httpd_start_errors);
    tcase_add_test(httpd, httpd_all_interfaces_and_two_servers);
    tcase_add_test(httpd, httpd_localhost_name);
    tcase_add_test(httpd, httpd_snapshot_is_consistent_under_publishing);
    suite_add_tcase(s, httpd);

    TCase *metrics = tcase_create("metrics");
    tcase_add_test(metrics, metrics_help_once_and_samples);
    tcase_add_test(metrics, metrics_escaping);
    tcase_add_test(metrics, metrics_values);
    tcase_add_test(metrics, metrics_grow_large);
    suite_add_tcase(s, metrics);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
