/* bench_watch_decode: watch events decoded per CPU-second by kc_watch_decoder.
 *
 *   bench_watch_decode [--file STREAM | --generate N] [--size BYTES] [--chunk BYTES]
 *                      [--min-cpu SECONDS] [--cpu K] [--write FILE]
 *
 * The stream is either a recorded watch body (--file: what
 * `curl .../podgroups?watch=1` received, one JSON event per line) or N
 * generated PodGroup events of --size bytes each (default 1024), alternating
 * ADDED and MODIFIED, shaped like what kube-apiserver sends (managedFields
 * and all).  The whole stream is in memory; it is fed to a fresh decoder in
 * --chunk pieces (default 16384, libcurl's write size) and every event is
 * pulled with kc_watch_decoder_next, again and again until --min-cpu
 * seconds (default 2) of this thread's CPU time are spent.  --cpu K pins the
 * thread to core K.  --write FILE saves the generated stream (for the
 * client-go decoder on the same bytes).  Prints one JSON line. */

#include <cJSON.h>
#include <getopt.h>
#include <kclient/watch.h>
#include <sched.h>

#include "bench_util.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

/* One PodGroup event line as kube-apiserver writes it, padded to size bytes
 * (newline included) with an annotation. */
static int event_line(char *out, size_t cap, long i, size_t size)
{
    const char *type = i % 2 ? "MODIFIED" : "ADDED";
    long obj = i / 2;
    char pad[8192];
    size_t padlen = 0;
    int len = 0;
    for (int pass = 0; pass < 2; pass++) {
        memset(pad, 'x', padlen);
        pad[padlen] = '\0';
        len = snprintf(
            out, cap,
            "{\"type\":\"%s\",\"object\":{\"apiVersion\":\"scheduling.x-k8s.io/v1alpha1\","
            "\"kind\":\"PodGroup\",\"metadata\":{\"annotations\":{\"bench.kclient.io/pad\":\"%s\"},"
            "\"creationTimestamp\":\"2026-01-01T00:00:00Z\",\"generation\":1,"
            "\"labels\":{\"app\":\"kclient-bench\",\"batch\":\"b%ld\"},"
            "\"managedFields\":[{\"apiVersion\":\"scheduling.x-k8s.io/v1alpha1\","
            "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{\"f:annotations\":{\".\":{},"
            "\"f:bench.kclient.io/pad\":{}},\"f:labels\":{\".\":{},\"f:app\":{},\"f:batch\":{}}},"
            "\"f:spec\":{\".\":{},\"f:minMember\":{},\"f:minResources\":{\".\":{},\"f:cpu\":{},"
            "\"f:memory\":{}},\"f:scheduleTimeoutSeconds\":{}}},\"manager\":\"kclient\","
            "\"operation\":\"Update\",\"time\":\"2026-01-01T00:00:00Z\"}],"
            "\"name\":\"pg-%ld\",\"namespace\":\"bench\",\"resourceVersion\":\"%ld\","
            "\"uid\":\"0b6c1e52-%04lx-4d7e-9a53-%012lx\"},"
            "\"spec\":{\"minMember\":%ld,\"minResources\":{\"cpu\":\"4\",\"memory\":\"8Gi\"},"
            "\"scheduleTimeoutSeconds\":60}%s}}\n",
            type, pad, obj % 10, obj, 1000 + i, (unsigned long)(obj & 0xffff), (unsigned long)obj,
            obj % 7 + 1, i % 2 ? ",\"status\":{\"phase\":\"Running\",\"running\":3}" : "");
        if (pass == 0) {
            size_t want = size > (size_t)len ? size - (size_t)len : 0;
            padlen = want < sizeof(pad) - 1 ? want : sizeof(pad) - 1;
        }
    }
    return len;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_watch_decode [--file STREAM | --generate N] [--size BYTES] [--chunk BYTES]\n"
                    "                          [--min-cpu SECONDS] [--cpu K] [--write FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *file = NULL, *write_to = NULL;
    long generate = 0, size = 1024, chunk = 16384, cpu = -1;
    double min_cpu = 2.0;
    static const struct option longopts[] = {
        {"file", required_argument, 0, 'f'},    {"generate", required_argument, 0, 'g'},
        {"size", required_argument, 0, 's'},    {"chunk", required_argument, 0, 'c'},
        {"min-cpu", required_argument, 0, 'm'}, {"cpu", required_argument, 0, 'p'},
        {"write", required_argument, 0, 'w'},   {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f': file = optarg; break;
        case 'g': generate = bench_parse_long("--generate", optarg); break;
        case 's': size = bench_parse_long("--size", optarg); break;
        case 'c': chunk = bench_parse_long("--chunk", optarg); break;
        case 'm': min_cpu = atof(optarg); break;
        case 'p': cpu = atol(optarg); break;
        case 'w': write_to = optarg; break;
        default: usage();
        }
    }
    if (optind != argc || (!file == !generate))
        usage();
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0)
            perror("sched_setaffinity");
    }
    size_t len = 0;
    char *stream;
    if (file) {
        stream = read_file(file, &len);
    } else {
        size_t cap = (size_t)generate * ((size_t)size + 1024);
        stream = malloc(cap);
        for (long i = 0; i < generate; i++)
            len += (size_t)event_line(stream + len, cap - len, i, (size_t)size);
        if (write_to) {
            FILE *f = fopen(write_to, "wb");
            if (!f || fwrite(stream, 1, len, f) != len || fclose(f) != 0) {
                perror(write_to);
                return 2;
            }
        }
    }

    kc_error err = KC_ERROR_INIT;
    kc_watch_event ev = KC_WATCH_EVENT_INIT;
    long events_per_pass = -1, passes = 0, bad = 0;
    long by_type[6] = {0};
    double c0 = bench_thread_cpu_s(), w0 = bench_now_s(), c1;
    do {
        kc_watch_decoder *d = kc_watch_decoder_new(0);
        long events = 0;
        int rc;
        for (size_t off = 0; off < len; off += (size_t)chunk) {
            size_t n = len - off < (size_t)chunk ? len - off : (size_t)chunk;
            if (kc_watch_decoder_feed(d, stream + off, n, &err) != KC_OK) {
                fprintf(stderr, "feed: %s\n", err.message);
                return 1;
            }
            while ((rc = kc_watch_decoder_next(d, &ev, &err)) != 0) {
                if (rc < 0) {
                    bad++;
                    continue;
                }
                events++;
                if (passes == 0)
                    by_type[ev.type < 6 ? ev.type : 0]++;
            }
        }
        kc_watch_decoder_finish(d, &err);
        while ((rc = kc_watch_decoder_next(d, &ev, &err)) != 0)
            if (rc > 0)
                events++;
        kc_watch_decoder_free(d);
        if (events_per_pass < 0)
            events_per_pass = events;
        passes++;
        c1 = bench_thread_cpu_s();
    } while (c1 - c0 < min_cpu);
    double wall = bench_now_s() - w0;
    kc_watch_event_clear(&ev);
    kc_error_clear(&err);
    double cpu_s = c1 - c0;
    double events = (double)events_per_pass * (double)passes;
    bench_usage u = bench_usage_self();
    printf("{\"client\":\"kclient-decoder\",\"stream_bytes\":%zu,\"events_per_pass\":%ld,"
           "\"added\":%ld,\"modified\":%ld,\"bad_lines\":%ld,\"avg_event_bytes\":%.0f,"
           "\"passes\":%ld,\"cpu_s\":%.3f,\"wall_s\":%.3f,\"events_per_cpu_s\":%.0f,"
           "\"mib_per_cpu_s\":%.1f,\"maxrss_kib\":%ld}\n",
           len, events_per_pass, by_type[KC_WATCH_ADDED], by_type[KC_WATCH_MODIFIED], bad,
           events_per_pass ? (double)len / (double)events_per_pass : 0.0, passes, cpu_s, wall,
           events / cpu_s, (double)len * (double)passes / cpu_s / 1048576.0, u.maxrss_kib);
    free(stream);
    return 0;
}
