/* bench_curl_multi: the bare-libcurl peer of bench_patch_kclient.
 *
 *   bench_curl_multi --server https://127.0.0.1:PORT (--cacert FILE | --insecure)
 *                    [--token-file FILE] -n NS [--prefix pg-] [--patch JSON]
 *                    [--names M] [--label TEXT] N C
 *
 * The least a C client can do to send the same N status merge patches: one
 * curl multi handle, C easy handles configured once and reused (only the URL
 * changes), HTTP/2 multiplexing (PIPEWAIT), C transfers in flight, response
 * bodies counted and dropped.  No JSON, no retries, no rate limiter, no
 * per-request allocation beyond the URL.  Prints the same JSON line as
 * bench_patch_kclient. */

#include <curl/curl.h>
#include <getopt.h>

#include "bench_util.h"

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    *(size_t *)ud += size * nmemb;
    return size * nmemb;
}

static char *read_token(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return strdup(buf);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_curl_multi --server URL (--cacert FILE | --insecure) [--token-file FILE]\n"
                    "                        -n NS [--prefix P] [--patch JSON] [--names M] [--label T] N C\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *server = NULL, *cacert = NULL, *token_file = NULL, *ns = NULL;
    const char *prefix = "pg-", *label = "curl-multi";
    const char *patch = "{\"status\":{\"phase\":\"Running\",\"running\":1}}";
    int insecure = 0;
    long names = 0;
    static const struct option longopts[] = {
        {"server", required_argument, 0, 's'},     {"cacert", required_argument, 0, 'c'},
        {"insecure", no_argument, 0, 'i'},         {"token-file", required_argument, 0, 't'},
        {"namespace", required_argument, 0, 'n'},  {"prefix", required_argument, 0, 'p'},
        {"patch", required_argument, 0, 'P'},      {"names", required_argument, 0, 'm'},
        {"label", required_argument, 0, 'l'},      {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "n:", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': server = optarg; break;
        case 'c': cacert = optarg; break;
        case 'i': insecure = 1; break;
        case 't': token_file = optarg; break;
        case 'n': ns = optarg; break;
        case 'p': prefix = optarg; break;
        case 'P': patch = optarg; break;
        case 'm': names = bench_parse_long("--names", optarg); break;
        case 'l': label = optarg; break;
        default: usage();
        }
    }
    if (argc - optind != 2 || !server || !ns || (!cacert && !insecure))
        usage();
    long n = bench_parse_long("N", argv[optind]);
    long conc = bench_parse_long("C", argv[optind + 1]);
    if (conc > n)
        conc = n;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "Content-Type: application/merge-patch+json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (token_file) {
        char *tok = read_token(token_file);
        char *h = NULL;
        if (asprintf(&h, "Authorization: Bearer %s", tok) < 0)
            abort();
        hdrs = curl_slist_append(hdrs, h);
        free(h);
        free(tok);
    }
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 4L); /* as kclient */
    curl_multi_setopt(m, CURLMOPT_MAX_CONCURRENT_STREAMS, 100L);

    size_t patch_len = strlen(patch), body_bytes = 0;
    CURL **h = calloc((size_t)conc, sizeof(*h));
    char **urls = calloc((size_t)conc, sizeof(*urls));
    for (long i = 0; i < conc; i++) {
        CURL *e = h[i] = curl_easy_init();
        urls[i] = malloc(strlen(server) + strlen(ns) + strlen(prefix) + 128);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, patch);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)patch_len);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &body_bytes);
        curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)urls[i]);
        if (insecure) {
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        } else {
            curl_easy_setopt(e, CURLOPT_CAINFO, cacert);
        }
    }

    long next = 0, done = 0, ok = 0, failed = 0, by_class[6] = {0};
    char first_error[256] = "";
    double t0 = bench_now_s();
    for (long i = 0; i < conc; i++) {
        sprintf(urls[i], "%s/apis/scheduling.x-k8s.io/v1alpha1/namespaces/%s/podgroups/%s%ld/status",
                server, ns, prefix, names ? next % names : next);
        next++;
        curl_easy_setopt(h[i], CURLOPT_URL, urls[i]);
        curl_multi_add_handle(m, h[i]);
    }
    while (done < n) {
        int running = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            long status = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
            done++;
            if (msg->data.result == CURLE_OK && status >= 200 && status < 300)
                ok++;
            else {
                failed++;
                if (!first_error[0])
                    snprintf(first_error, sizeof(first_error), "HTTP %ld, curl: %s", status,
                             curl_easy_strerror(msg->data.result));
            }
            long cls = status / 100;
            by_class[cls >= 1 && cls <= 5 ? cls : 0]++;
            curl_multi_remove_handle(m, e);
            if (next < n) {
                char *url = NULL;
                curl_easy_getinfo(e, CURLINFO_PRIVATE, &url);
                sprintf(url, "%s/apis/scheduling.x-k8s.io/v1alpha1/namespaces/%s/podgroups/%s%ld/status",
                        server, ns, prefix, names ? next % names : next);
                next++;
                curl_easy_setopt(e, CURLOPT_URL, url);
                curl_multi_add_handle(m, e);
            }
        }
        if (done < n)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    double wall = bench_now_s() - t0;
    bench_mem mem = bench_mem_now(); /* with the client still alive */
    bench_smaps_report("bench_curl_multi");
    for (long i = 0; i < conc; i++) {
        curl_easy_cleanup(h[i]);
        free(urls[i]);
    }
    free(h);
    free(urls);
    curl_multi_cleanup(m);
    curl_slist_free_all(hdrs);
    curl_global_cleanup();
    bench_usage u = bench_usage_self();
    if (first_error[0])
        fprintf(stderr, "bench_curl_multi: %ld failed, first: %s\n", failed, first_error);
    printf("{\"client\":\"%s\",\"n\":%ld,\"concurrency\":%ld,\"ok\":%ld,\"failed\":%ld,"
           "\"http_2xx\":%ld,\"http_4xx\":%ld,\"http_5xx\":%ld,\"requests\":%ld,"
           "\"wall_s\":%.4f,\"cpu_s\":%.4f,\"user_s\":%.4f,\"sys_s\":%.4f,\"maxrss_kib\":%ld,\"rss_kib\":%ld,\"anon_kib\":%ld,"
           "\"body_bytes\":%zu}\n",
           label, n, conc, ok, failed, by_class[2], by_class[4], by_class[5], done, wall, u.cpu_s,
           u.user_s, u.sys_s, u.maxrss_kib, mem.rss_kib, mem.anon_kib, body_bytes);
    return 0;
}
