/* kc_proxy.h - drive test/fault-proxy from a C test: start it in front of
 * a local control plane, switch modes, stop it. */
#ifndef KC_PROXY_H
#define KC_PROXY_H

#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "kc_test.h"

typedef struct kct_proxy {
    pid_t pid;
    int listen_port;
    int control_port;
    char port_file[256];
} kct_proxy;

static inline int kct_cluster_port(const char *env)
{
    char *p = kct_path(kct_dir(env), "port");
    FILE *f = fopen(p, "r");
    int port = 0;
    ck_assert_msg(f && fscanf(f, "%d", &port) == 1, "cannot read %s", p);
    fclose(f);
    free(p);
    return port;
}

static inline void kct_proxy_start(kct_proxy *px, int upstream_port)
{
    const char *src = getenv("KC_SOURCE_DIR");
    ck_assert_msg(src != NULL, "KC_SOURCE_DIR not set");
    snprintf(px->port_file, sizeof(px->port_file), "/tmp/kct-proxy-%d-%ld.ports", (int)getpid(),
             (long)time(NULL));
    unlink(px->port_file);
    char upstream[64], exe[512];
    snprintf(upstream, sizeof(upstream), "127.0.0.1:%d", upstream_port);
    snprintf(exe, sizeof(exe), "%s/test/fault-proxy", src);
    px->pid = fork();
    if (px->pid == 0) {
        execl(exe, exe, "--listen", "127.0.0.1:0", "--upstream", upstream, "--control",
              "127.0.0.1:0", "--port-file", px->port_file, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) { /* up to 60 s: the first run builds it */
        FILE *f = fopen(px->port_file, "r");
        if (f) {
            int ok = fscanf(f, "listen=%d\ncontrol=%d", &px->listen_port, &px->control_port) == 2;
            fclose(f);
            if (ok)
                return;
        }
        usleep(100000);
    }
    ck_abort_msg("fault proxy did not start");
}

/* GET http://127.0.0.1:control/<what> with a plain blocking curl handle. */
static inline void kct_proxy_ctl(const kct_proxy *px, const char *what)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", px->control_port, what);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fwrite);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, stderr);
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    ck_assert_msg(rc == CURLE_OK && status == 200, "proxy control %s failed", what);
}

static size_t kct_collect(char *p, size_t sz, size_t n, void *ud)
{
    strncat((char *)ud, p, sz * n < 4000 ? sz * n : 4000);
    return sz * n;
}

/* total_conns from /status: connections the proxy has accepted so far. */
static inline int kct_proxy_total_conns(const kct_proxy *px)
{
    char url[128], body[8192] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/status", px->control_port);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, kct_collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
    ck_assert_int_eq(curl_easy_perform(e), CURLE_OK);
    curl_easy_cleanup(e);
    cJSON *j = cJSON_Parse(body);
    int n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "total_conns"));
    cJSON_Delete(j);
    return n;
}

/* --- additions: one stalled connection, connection counts --- */

typedef struct kct_buf {
    char *data;
    size_t len;
} kct_buf;

static size_t kct_buf_collect(char *p, size_t sz, size_t n, void *ud)
{
    kct_buf *b = ud;
    char *d = realloc(b->data, b->len + sz * n + 1);
    if (!d)
        return 0;
    memcpy(d + b->len, p, sz * n);
    b->len += sz * n;
    d[b->len] = '\0';
    b->data = d;
    return sz * n;
}

/* GET http://127.0.0.1:control/<what> and parse the JSON answer (caller
 * frees).  Fails the test on an error or a status other than 200. */
static inline cJSON *kct_proxy_json(const kct_proxy *px, const char *what)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", px->control_port, what);
    kct_buf b = {NULL, 0};
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, kct_buf_collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    ck_assert_msg(rc == CURLE_OK && status == 200, "proxy control %s failed: HTTP %ld %s", what,
                  status, b.data ? b.data : "");
    cJSON *j = cJSON_Parse(b.data ? b.data : "");
    ck_assert_msg(j != NULL, "proxy control %s: not JSON: %s", what, b.data ? b.data : "");
    free(b.data);
    return j;
}

/* One number of /status: "active_conns", "total_conns", "peak_active_conns",
 * "stalled_conns" (open now), "stalls_total" (ever), "closed_conns",
 * "upstream_closed", "cuts". */
static inline long kct_proxy_stat(const kct_proxy *px, const char *field)
{
    cJSON *j = kct_proxy_json(px, "status");
    const cJSON *v = cJSON_GetObjectItem(j, field);
    ck_assert_msg(cJSON_IsNumber(v), "proxy status has no %s", field);
    long n = (long)v->valuedouble;
    cJSON_Delete(j);
    return n;
}

static inline void kct_proxy_stop(kct_proxy *px)
{
    if (px->pid > 0) {
        kill(px->pid, SIGTERM);
        waitpid(px->pid, NULL, 0);
    }
    unlink(px->port_file);
    px->pid = 0;
}

/* A config like the cluster's `file` kubeconfig, but through the proxy. */
static inline kc_config *kct_config_via_proxy(const char *env, const char *file,
                                              const kct_proxy *px)
{
    char *path = kct_path(kct_dir(env), file);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *text = calloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    char from[64], to[64];
    snprintf(from, sizeof(from), "https://127.0.0.1:%d", kct_cluster_port(env));
    snprintf(to, sizeof(to), "https://127.0.0.1:%d", px->listen_port);
    char *at = strstr(text, from);
    ck_assert_msg(at != NULL, "server %s not in %s", from, path);
    size_t out_len = n + strlen(to);
    char *out = calloc(1, out_len + 1);
    size_t head = (size_t)(at - text);
    memcpy(out, text, head);
    strcpy(out + head, to);
    strcat(out, at + strlen(from));
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", kct_dir(env));
    KCT_OK(kc_config_from_buffer(out, strlen(out), path, dir, NULL, &cfg, &err), &err);
    free(text);
    free(out);
    free(path);
    return cfg;
}

#endif
