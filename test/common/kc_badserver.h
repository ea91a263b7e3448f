/* kc_badserver.h - drive test/bad-server from a C test: start it, make
 * configs that trust its CA, read its /stats, stop it.  Call start and stop
 * outside the forked test cases (from main), so every case shares one
 * server. */
#ifndef KC_BADSERVER_H
#define KC_BADSERVER_H

#include <curl/curl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kc_test.h"
#include "util.h" /* kc_strbuf */

#define KCT_BAD_TOKEN "bad-input-token-4f0c2a"

typedef struct kct_badserver {
    pid_t pid;
    int port;
    char dir[256];     /* ca.crt and port live here */
    char ca_file[300]; /* dir/ca.crt */
} kct_badserver;

/* Start test/bad-server (built on first use) requiring KCT_BAD_TOKEN. */
static inline void kct_badserver_start(kct_badserver *b)
{
    const char *src = getenv("KC_SOURCE_DIR");
    if (!src) {
        fprintf(stderr, "KC_SOURCE_DIR not set: run through ctest\n");
        exit(1);
    }
    snprintf(b->dir, sizeof(b->dir), "/tmp/kct-badserver-XXXXXX");
    if (!mkdtemp(b->dir))
        abort();
    snprintf(b->ca_file, sizeof(b->ca_file), "%s/ca.crt", b->dir);
    char exe[512], port_file[300];
    snprintf(exe, sizeof(exe), "%s/test/bad-server", src);
    snprintf(port_file, sizeof(port_file), "%s/port", b->dir);
    b->pid = fork();
    if (b->pid == 0) {
        execl(exe, exe, "--dir", b->dir, "--token", KCT_BAD_TOKEN, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1200; i++) { /* up to 120 s: the first run builds it */
        FILE *f = fopen(port_file, "r");
        if (f) {
            int ok = fscanf(f, "%d", &b->port) == 1;
            fclose(f);
            if (ok)
                return;
        }
        if (waitpid(b->pid, NULL, WNOHANG) == b->pid)
            break;
        usleep(100000);
    }
    fprintf(stderr, "bad-server did not start\n");
    exit(1);
}

static inline void kct_badserver_stop(kct_badserver *b)
{
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        waitpid(b->pid, NULL, 0);
    }
    b->pid = 0;
    char p[320];
    snprintf(p, sizeof(p), "%s/port", b->dir);
    unlink(p);
    unlink(b->ca_file);
    rmdir(b->dir);
}

/* A kubeconfig (text, caller frees) for the server: its CA, the token, and
 * `extra` appended to the cluster mapping (e.g. ", tls-server-name: x"). */
static inline char *kct_badserver_kubeconfig(const kct_badserver *b, const char *ca_file,
                                             const char *token, const char *extra)
{
    char *yaml = NULL;
    if (asprintf(&yaml,
                 "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                 "clusters: [{name: bad, cluster: {server: 'https://127.0.0.1:%d'%s%s%s%s}}]\n"
                 "users: [{name: u, user: {token: '%s'}}]\n"
                 "contexts: [{name: c, context: {cluster: bad, user: u}}]\n",
                 b->port, ca_file ? ", certificate-authority: '" : "", ca_file ? ca_file : "",
                 ca_file ? "'" : "", extra ? extra : "", token ? token : KCT_BAD_TOKEN) < 0)
        abort();
    return yaml;
}

/* A config that trusts the server's CA and carries the right token. */
static inline kc_config *kct_badserver_config(const kct_badserver *b)
{
    char *yaml = kct_badserver_kubeconfig(b, b->ca_file, NULL, NULL);
    kc_config *cfg = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_config_from_buffer(yaml, strlen(yaml), "bad-server", NULL, NULL, &cfg, &err), &err);
    free(yaml);
    return cfg;
}

static size_t kct_badserver_collect(char *p, size_t sz, size_t n, void *ud)
{
    kc_strbuf_append((kc_strbuf *)ud, p, sz * n);
    return sz * n;
}

/* GET /stats with a plain blocking curl handle (not kclient: the thing
 * under test must not grade itself).  Caller frees with cJSON_Delete. */
static inline cJSON *kct_badserver_stats(const kct_badserver *b)
{
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/stats", b->port);
    kc_strbuf sb;
    kc_strbuf_init(&sb);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_CAINFO, b->ca_file);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, kct_badserver_collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &sb);
    ck_assert_int_eq(curl_easy_perform(e), CURLE_OK);
    curl_easy_cleanup(e);
    cJSON *j = cJSON_ParseWithLength(sb.data ? sb.data : "", sb.len);
    kc_strbuf_free(&sb);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* /stats hits[key]: requests for a mode ("truncated", "noline-watch"). */
static inline int kct_badserver_hits(const kct_badserver *b, const char *key)
{
    cJSON *j = kct_badserver_stats(b);
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "hits"), key);
    int n = cJSON_IsNumber(v) ? v->valueint : 0;
    cJSON_Delete(j);
    return n;
}

#endif
