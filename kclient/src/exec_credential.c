/* exec_credential.c - running a client-go credential plugin.
 *
 * The plugin gets stdin from /dev/null (we are never interactive), stdout
 * and stderr on pipes read with poll() under one deadline, default signal
 * dispositions and an empty signal mask whatever the host program set. */
#include "exec_credential.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "util.h"

extern char **environ;

/* Only the first line of stderr is reported; no need to keep more. */
#define KC_EXEC_MAX_STDERR 4096
/* Longest stderr line or install hint quoted in a message. */
#define KC_EXEC_MAX_QUOTE 300

void kc_exec_result_clear(kc_exec_result *r)
{
    if (r->token)
        kc_free_secret(r->token, strlen(r->token));
    kc_free_secret(r->cert_pem, r->cert_pem_len);
    kc_free_secret(r->key_pem, r->key_pem_len);
    memset(r, 0, sizeof(*r));
}

static void free_strv(char **v, int secret)
{
    for (size_t i = 0; v && v[i]; i++) {
        if (secret)
            kc_free_secret(v[i], strlen(v[i]));
        else
            free(v[i]);
    }
    free(v);
}

void kc_exec_config_free(kc_exec_config *e)
{
    if (!e)
        return;
    free(e->command);
    free_strv(e->args, 1); /* "--token=..." happens */
    free_strv(e->env, 1);
    free(e->api_version);
    free(e->install_hint);
    free(e);
}

/* ---- RFC 3339 ---- */

static int take_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

static int take_char(const char **p, const char *allowed)
{
    if (!**p || !strchr(allowed, **p))
        return -1;
    (*p)++;
    return 0;
}

/* "Z", "z" or "+hh:mm" / "-hh:mm" into seconds east of UTC. */
static int take_offset(const char **p, long *offset)
{
    *offset = 0;
    if (take_char(p, "Zz") == 0)
        return 0;
    int sign = **p == '-' ? -1 : 1, hh, mm;
    if (take_char(p, "+-") || take_digits(p, 2, &hh) || take_char(p, ":") ||
        take_digits(p, 2, &mm) || hh > 23 || mm > 59)
        return -1;
    *offset = sign * (hh * 3600L + mm * 60L);
    return 0;
}

/* Days in month mon (1-12) of year y, proleptic Gregorian. */
static int month_days(int y, int mon)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return mon == 2 && leap ? 29 : days[mon - 1];
}

int kc_rfc3339_parse(const char *s, time_t *out)
{
    const char *p = s;
    struct tm tm = {0};
    if (take_digits(&p, 4, &tm.tm_year) || take_char(&p, "-") || take_digits(&p, 2, &tm.tm_mon) ||
        take_char(&p, "-") || take_digits(&p, 2, &tm.tm_mday) || take_char(&p, "Tt") ||
        take_digits(&p, 2, &tm.tm_hour) || take_char(&p, ":") || take_digits(&p, 2, &tm.tm_min) ||
        take_char(&p, ":") || take_digits(&p, 2, &tm.tm_sec))
        return -1;
    /* a day past its month's end (2024-02-30) is no date (RFC 3339 5.7, as
     * Go's time.Parse): timegm would quietly roll it into the next month */
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > month_days(tm.tm_year, tm.tm_mon) || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return -1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++; /* sub-second precision does not matter for expiry */
    }
    long offset;
    if (take_offset(&p, &offset) || *p)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = timegm(&tm) - offset;
    return 0;
}

/* ---- KUBERNETES_EXEC_INFO ---- */

static char *base64_encode(const char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)len);
    return out;
}

/* spec.cluster as client-go fills it with provideClusterInfo. */
static void add_cluster_info(cJSON *spec, const kc_config *cfg)
{
    cJSON *cl = cJSON_AddObjectToObject(spec, "cluster");
    cJSON_AddStringToObject(cl, "server", cfg->server ? cfg->server : "");
    if (cfg->tls_server_name)
        cJSON_AddStringToObject(cl, "tls-server-name", cfg->tls_server_name);
    if (cfg->insecure_skip_tls_verify)
        cJSON_AddBoolToObject(cl, "insecure-skip-tls-verify", 1);
    if (cfg->proxy_url)
        cJSON_AddStringToObject(cl, "proxy-url", cfg->proxy_url);
    if (cfg->ca_pem) {
        char *b64 = base64_encode(cfg->ca_pem, cfg->ca_pem_len);
        if (b64)
            cJSON_AddStringToObject(cl, "certificate-authority-data", b64);
        free(b64);
    }
}

char *kc_exec_info_json(const kc_config *cfg)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "apiVersion", cfg->exec->api_version);
    cJSON_AddStringToObject(root, "kind", "ExecCredential");
    cJSON *spec = cJSON_AddObjectToObject(root, "spec");
    cJSON_AddBoolToObject(spec, "interactive", 0);
    if (cfg->exec->provide_cluster_info)
        add_cluster_info(spec, cfg);
    char *s = spec ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

/* ---- parsing the answer ---- */

void kc_json_cleanse(cJSON *node)
{
    for (; node; node = node->next) {
        if (node->valuestring)
            OPENSSL_cleanse(node->valuestring, strlen(node->valuestring));
        kc_json_cleanse(node->child);
    }
}

static const char *status_string(const cJSON *status, const char *key, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(status, key);
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsString(v)) {
        *bad = 1;
        return NULL;
    }
    return v->valuestring[0] ? v->valuestring : NULL;
}

static const char *check_header(const cJSON *root, const char *api_version)
{
    if (!cJSON_IsObject(root))
        return "output is not a JSON object";
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "apiVersion");
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "ExecCredential") != 0)
        return "kind is not ExecCredential";
    if (!cJSON_IsString(ver) || strcmp(ver->valuestring, api_version) != 0)
        return "apiVersion differs from the one configured in exec.apiVersion";
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "status")))
        return "no status";
    return NULL;
}

static const char *fill_result(const cJSON *status, kc_exec_result *out)
{
    int bad = 0;
    const char *token = status_string(status, "token", &bad);
    const char *cert = status_string(status, "clientCertificateData", &bad);
    const char *key = status_string(status, "clientKeyData", &bad);
    const char *exp = status_string(status, "expirationTimestamp", &bad);
    if (bad)
        return "a status field is not a string";
    if (!cert != !key)
        return "clientCertificateData and clientKeyData must be set together";
    if (!token && !cert)
        return "status has neither token nor clientCertificateData";
    if (exp && kc_rfc3339_parse(exp, &out->expiry) != 0)
        return "expirationTimestamp is not an RFC 3339 time";
    if (token && !kc_header_value_ok(token, strlen(token)))
        return "token holds a control character (CR, LF, ...), which would break the "
               "Authorization header";
    out->token = kc_strdup_or_null(token);
    out->cert_pem = kc_strdup_or_null(cert);
    out->key_pem = kc_strdup_or_null(key);
    out->cert_pem_len = cert ? strlen(cert) : 0;
    out->key_pem_len = key ? strlen(key) : 0;
    if ((token && !out->token) || (cert && (!out->cert_pem || !out->key_pem)))
        return "out of memory";
    return NULL;
}

kc_code kc_exec_parse(const char *api_version, const char *json, size_t len, kc_exec_result *out,
                      const char **problem)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = cJSON_ParseWithLength(json, len);
    *problem = check_header(root, api_version);
    if (!*problem)
        *problem = fill_result(cJSON_GetObjectItemCaseSensitive(root, "status"), out);
    kc_json_cleanse(root);
    cJSON_Delete(root);
    if (!*problem)
        return KC_OK;
    kc_exec_result_clear(out);
    return KC_EAUTH;
}

/* ---- running the plugin ---- */

typedef struct plugin_run {
    pid_t pid;
    int out_fd, err_fd;
    kc_strbuf out, err;
    int too_big, timed_out;
    int status; /* from waitpid */
    struct timespec deadline;
} plugin_run;

static int env_name_matches(const char *entry, const char *name_eq)
{
    size_t n = strcspn(name_eq, "=") + 1; /* compare "NAME=" */
    return strncmp(entry, name_eq, n) == 0;
}

static int overridden(const char *entry, char *const *env, const char *info)
{
    if (env_name_matches(entry, info))
        return 1;
    for (size_t i = 0; env && env[i]; i++)
        if (env_name_matches(entry, env[i]))
            return 1;
    return 0;
}

/* The host environment, minus what the exec stanza sets, plus it.  The
 * array is owned; its strings are borrowed. */
static char **build_env(const kc_exec_config *e, char *info)
{
    size_t n = 0, extra = 0;
    while (environ && environ[n])
        n++;
    while (e->env && e->env[extra])
        extra++;
    char **v = calloc(n + extra + 2, sizeof(char *));
    if (!v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; environ && i < n; i++)
        if (!overridden(environ[i], e->env, info))
            v[k++] = environ[i];
    for (size_t i = 0; e->env && i < extra; i++)
        v[k++] = e->env[i];
    v[k++] = info;
    return v;
}

static char **build_argv(const kc_exec_config *e)
{
    size_t n = 0;
    while (e->args && e->args[n])
        n++;
    char **v = calloc(n + 2, sizeof(char *));
    if (!v)
        return NULL;
    v[0] = e->command;
    for (size_t i = 0; i < n; i++)
        v[i + 1] = e->args[i];
    return v;
}

static void close_pipe(int p[2])
{
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
}

static void spawn_attrs(posix_spawn_file_actions_t *fa, posix_spawnattr_t *at, int out_w,
                        int err_w)
{
    posix_spawn_file_actions_init(fa);
    posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(fa, out_w, 1);
    posix_spawn_file_actions_adddup2(fa, err_w, 2);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_init(at);
    posix_spawnattr_setsigmask(at, &none);
    posix_spawnattr_setsigdefault(at, &all);
    posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

/* Start the plugin.  Returns 0 or an errno value (ENOENT: not found). */
static int spawn_plugin(const kc_exec_config *e, char **envp, plugin_run *r)
{
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    char **argv = build_argv(e);
    if (!argv || pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        int saved = argv ? errno : ENOMEM;
        free(argv);
        close_pipe(out);
        close_pipe(errp);
        return saved;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    spawn_attrs(&fa, &at, out[1], errp[1]);
    int rc = posix_spawnp(&r->pid, e->command, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(argv);
    close(out[1]);
    close(errp[1]);
    if (rc != 0) {
        close(out[0]);
        close(errp[0]);
        return rc;
    }
    r->out_fd = out[0];
    r->err_fd = errp[0];
    return 0;
}

/* Whether cmd names something we may execute: a path directly, a bare
 * name through $PATH, as posix_spawnp will search.  Checked first because
 * not every posix_spawnp reports a failed exec (some exit 127 instead). */
static int command_exists(const char *cmd)
{
    if (strchr(cmd, '/'))
        return access(cmd, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    for (const char *p = path;; p++) {
        size_t n = strcspn(p, ":");
        char *full = n ? kc_asprintf("%.*s/%s", (int)n, p, cmd) : kc_asprintf("./%s", cmd);
        int ok = full && access(full, X_OK) == 0;
        free(full);
        if (ok)
            return 1;
        p += n;
        if (!*p)
            return 0;
    }
}

static long ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (deadline->tv_sec - now.tv_sec) * 1000L + (deadline->tv_nsec - now.tv_nsec) / 1000000L;
}

/* Read what is there on *fd into sb (at most cap bytes kept); closes *fd
 * and sets it to -1 at EOF.  Returns 1 when more than cap arrived. */
static int drain(int *fd, kc_strbuf *sb, size_t cap)
{
    char buf[8192];
    ssize_t n = read(*fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return 0;
    }
    size_t room = sb->len < cap ? cap - sb->len : 0;
    kc_strbuf_append(sb, buf, (size_t)n < room ? (size_t)n : room);
    return (size_t)n > room;
}

/* Collect stdout and stderr until both close, the deadline passes or
 * stdout grows past its cap. */
static void pump(plugin_run *r)
{
    while (r->out_fd >= 0 || r->err_fd >= 0) {
        long left = ms_left(&r->deadline);
        if (left <= 0) {
            r->timed_out = 1;
            return;
        }
        struct pollfd p[2] = {{r->out_fd, POLLIN, 0}, {r->err_fd, POLLIN, 0}};
        if (poll(p, 2, (int)left) < 0 && errno != EINTR)
            return;
        if (p[0].revents && drain(&r->out_fd, &r->out, (size_t)KC_EXEC_MAX_OUTPUT)) {
            r->too_big = 1;
            return;
        }
        if (p[1].revents)
            drain(&r->err_fd, &r->err, KC_EXEC_MAX_STDERR); /* the rest is dropped */
    }
}

/* Reap the plugin; kill it when it overstayed or overflowed. */
static void reap(plugin_run *r)
{
    for (;;) {
        pid_t w = waitpid(r->pid, &r->status, (r->timed_out || r->too_big) ? 0 : WNOHANG);
        if (w == r->pid || (w < 0 && errno != EINTR))
            return;
        if (w == 0 && ms_left(&r->deadline) <= 0) {
            r->timed_out = 1;
            kill(r->pid, SIGKILL);
            continue;
        }
        if (w == 0) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

static void finish(plugin_run *r)
{
    if (r->timed_out || r->too_big)
        kill(r->pid, SIGKILL);
    reap(r);
    if (r->out_fd >= 0)
        close(r->out_fd);
    if (r->err_fd >= 0)
        close(r->err_fd);
}

/* One printable line from text (the first non-blank one), for messages. */
static char *one_line(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len && (text[i] == '\n' || text[i] == '\r' || text[i] == ' ' || text[i] == '\t'))
        i++;
    size_t end = i;
    while (end < len && text[end] != '\n' && text[end] != '\r' && end - i < KC_EXEC_MAX_QUOTE)
        end++;
    char *s = kc_strndup0(text + i, end - i);
    for (char *c = s; c && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    return s;
}

/* Flatten a multi-line install hint into one line. */
static char *flat_hint(const char *hint)
{
    char *s = kc_strndup0(hint, strnlen(hint, KC_EXEC_MAX_QUOTE));
    for (char *c = s; c && *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    return s;
}

static kc_code plugin_error(const kc_config *cfg, kc_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static kc_code plugin_error(const kc_config *cfg, kc_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = kc_vasprintf(fmt, ap);
    va_end(ap);
    if (cfg->user_name)
        kc_error_set(err, KC_EAUTH, "user \"%s\": exec plugin \"%s\": %s", cfg->user_name,
                     cfg->exec->command, what ? what : "failed");
    else
        kc_error_set(err, KC_EAUTH, "exec plugin \"%s\": %s", cfg->exec->command,
                     what ? what : "failed");
    free(what);
    return KC_EAUTH;
}

static kc_code spawn_error(const kc_config *cfg, int e, kc_error *err)
{
    if (e != ENOENT)
        return plugin_error(cfg, err, "cannot run: %s", strerror(e));
    if (!cfg->exec->install_hint)
        return plugin_error(cfg, err, "executable not found");
    char *hint = flat_hint(cfg->exec->install_hint);
    plugin_error(cfg, err, "executable not found; %s", hint ? hint : "");
    free(hint);
    return KC_EAUTH;
}

static kc_code exit_error(const kc_config *cfg, const plugin_run *r, kc_error *err)
{
    char *line = one_line(r->err.data ? r->err.data : "", r->err.len);
    const char *sep = line && *line ? ": " : "";
    if (WIFSIGNALED(r->status))
        plugin_error(cfg, err, "killed by signal %d%s%s", WTERMSIG(r->status), sep,
                     line ? line : "");
    else
        plugin_error(cfg, err, "exit code %d%s%s", WEXITSTATUS(r->status), sep,
                     line ? line : "");
    free(line);
    return KC_EAUTH;
}

static kc_code judge(const kc_config *cfg, const plugin_run *r, int timeout_ms,
                     kc_exec_result *out, kc_error *err)
{
    if (r->timed_out)
        return plugin_error(cfg, err, "no answer within %d ms; killed", timeout_ms);
    if (r->too_big)
        return plugin_error(cfg, err, "wrote more than %d bytes to stdout", KC_EXEC_MAX_OUTPUT);
    if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0)
        return exit_error(cfg, r, err);
    if (r->out.failed)
        return kc_error_set(err, KC_ENOMEM, "out of memory");
    const char *problem = NULL;
    if (kc_exec_parse(cfg->exec->api_version, r->out.data ? r->out.data : "", r->out.len, out,
                      &problem) != KC_OK)
        return plugin_error(cfg, err, "invalid ExecCredential: %s", problem);
    return KC_OK;
}

static kc_code run_with_env(const kc_config *cfg, char **envp, int timeout_ms,
                            kc_exec_result *out, kc_error *err)
{
    plugin_run r = {.out_fd = -1, .err_fd = -1};
    kc_strbuf_init(&r.out);
    kc_strbuf_init(&r.err);
    int e = command_exists(cfg->exec->command) ? spawn_plugin(cfg->exec, envp, &r) : ENOENT;
    if (e != 0)
        return spawn_error(cfg, e, err);
    clock_gettime(CLOCK_MONOTONIC, &r.deadline);
    r.deadline.tv_sec += timeout_ms / 1000;
    r.deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (r.deadline.tv_nsec >= 1000000000L) {
        r.deadline.tv_sec++;
        r.deadline.tv_nsec -= 1000000000L;
    }
    pump(&r);
    finish(&r);
    kc_code rc = judge(cfg, &r, timeout_ms, out, err);
    kc_free_secret(r.out.data, r.out.cap);
    kc_strbuf_free(&r.err);
    return rc;
}

kc_code kc_exec_run(const kc_config *cfg, int timeout_ms, kc_exec_result *out, kc_error *err)
{
    memset(out, 0, sizeof(*out));
    char *info_json = kc_exec_info_json(cfg);
    char *info = info_json ? kc_asprintf("KUBERNETES_EXEC_INFO=%s", info_json) : NULL;
    char **envp = info ? build_env(cfg->exec, info) : NULL;
    kc_code rc = envp ? run_with_env(cfg, envp, timeout_ms, out, err)
                      : kc_error_set(err, KC_ENOMEM, "out of memory");
    free(envp);
    free(info);
    free(info_json);
    return rc;
}
