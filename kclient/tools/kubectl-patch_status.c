#define _GNU_SOURCE
/* kubectl-patch_status: bulk status patches from the command line, as a
 * kubectl plugin (`kubectl patch-status ...`).  Uses only kclient's public
 * headers.  Exit 0 when every item succeeded, 1 when any failed, 2 for usage
 * or configuration errors. */
#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <kclient/bulk.h>
#include <kclient/kclient.h>
#include <kclient/yaml.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "items.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2

static const char *USAGE =
    "Patch the status of many objects at once: parallel, rate-limited, retrying.\n"
    "\n"
    "Usage:\n"
    "  kubectl patch-status RESOURCE[.VERSION.GROUP] [NAME ...] [-n NS | -A] [-l SELECTOR]\n"
    "      (--patch JSON|YAML | --patch-file FILE | --items FILE.jsonl | --items -) [flags]\n"
    "\n"
    "Examples:\n"
    "  # (PodGroups named fully: where Volcano's is installed too, \"pg\" means Volcano's)\n"
    "\n"
    "  # Mark three PodGroups Running (server-side apply, the default)\n"
    "  kubectl patch-status podgroups.scheduling.x-k8s.io a b c -n team1 \\\n"
    "      --patch '{\"status\":{\"phase\":\"Running\"}}'\n"
    "\n"
    "  # Every PodGroup labelled app=train, as a merge patch, 200 in flight\n"
    "  kubectl patch-status podgroups.scheduling.x-k8s.io -A -l app=train --type merge \\\n"
    "      --patch '{\"status\":{\"phase\":\"Pending\"}}' --concurrency 200\n"
    "\n"
    "  # One patch per object from a JSON-lines stream, results as JSON lines\n"
    "  generate | kubectl patch-status podgroups.scheduling.x-k8s.io --items - -o json\n"
    "  #   each line: {\"namespace\":\"ns\",\"name\":\"pg1\",\"patch\":{\"status\":{...}}}\n"
    "\n"
    "Flags:\n"
    "  -n, --namespace NS          namespace (default: the context's)\n"
    "  -A, --all-namespaces        with -l: select across all namespaces\n"
    "  -l, --selector SELECTOR     label selector: list, then patch every match\n"
    "      --field-selector SEL    field selector, like -l\n"
    "      --patch PATCH           the patch for every object (JSON or YAML)\n"
    "      --patch-file FILE       read the patch from FILE\n"
    "      --items FILE|-          JSON lines {\"namespace\",\"name\",\"patch\"}, one object each\n"
    "      --on-bad-line MODE      skip (report the line as invalid, go on; default) or abort\n"
    "      --type TYPE             apply (default), merge or json\n"
    "      --field-manager NAME    field manager (default kubectl-patch-status)\n"
    "      --force-conflicts       apply: take over fields other managers own\n"
    "      --subresource NAME      default status\n"
    "      --concurrency N         requests in flight at most (default 64)\n"
    "      --qps Q                 client-side rate limit, requests/s (default 0: none)\n"
    "      --burst B               token bucket size (default: concurrency)\n"
    "      --max-retries R         retries per object (default 9)\n"
    "      --timeout DURATION      deadline for the whole run, e.g. 30s, 5m (default none)\n"
    "      --dry-run=server        validate every patch on the server, persist nothing\n"
    "  -o, --output FORMAT         summary (default) or json (one result per line)\n"
    "      --kubeconfig FILE       kubeconfig file (default $KUBECONFIG, ~/.kube/config)\n"
    "      --context NAME          kubeconfig context\n"
    "  -v, --v LEVEL               log verbosity (0-9)\n"
    "  -h, --help                  this help\n"
    "\n"
    "Exit status: 0 all patched, 1 some failed, 2 usage or configuration error.\n";

typedef struct cli {
    const char *resource;
    char **names;
    int nnames;
    const char *namespace_;
    int all_namespaces;
    const char *selector, *field_selector;
    const char *patch_text, *patch_file, *items_path;
    int abort_on_bad_line;
    const char *type_name;
    const char *field_manager;
    int force;
    const char *subresource;
    int concurrency, burst, max_retries, dry_run, json_output, verbosity;
    double qps;
    long timeout_ms;
    const char *kubeconfig, *context;
} cli;

typedef struct run_state {
    cli *opts;
    FILE *items;
    long line_no;
    char *line;
    size_t line_cap;
    kps_item item; /* the current --items line, decoded */
    char *problem;
    int next_name;
    int progress;
    uint64_t done, failed;
    uint64_t last_progress_ns;
    kc_bulk *bulk;
    kc_client *client;
} run_state;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nSee 'kubectl patch-status --help'.\n");
    va_end(ap);
    return EXIT_USAGE;
}

static int fail_error(const char *what, const kc_error *err, int code)
{
    char line[2048];
    kc_error_format(err, line, sizeof(line));
    fprintf(stderr, "error: %s: %s\n", what, line);
    return code;
}

/* Go-style durations: 500ms, 30s, 5m, 1h30m, or plain seconds. */
static long parse_duration_ms(const char *s)
{
    double total = 0;
    const char *p = s;
    if (!*p)
        return -1;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || v < 0)
            return -1;
        p = end;
        if (!strncmp(p, "ms", 2)) { total += v; p += 2; }
        else if (*p == 's') { total += v * 1000; p++; }
        else if (*p == 'm') { total += v * 60000; p++; }
        else if (*p == 'h') { total += v * 3600000; p++; }
        else if (!*p) total += v * 1000;
        else return -1;
    }
    return (long)total;
}

static int parse_int(const char *flag, const char *v, int min, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || end == v || n < min || n > 1000000)
        return usage_error("%s: \"%s\" is not a whole number >= %d", flag, v, min);
    *out = (int)n;
    return 0;
}

enum { OPT_FIELD_SELECTOR = 256, OPT_PATCH, OPT_PATCH_FILE, OPT_ITEMS, OPT_BAD_LINE, OPT_TYPE,
       OPT_MANAGER, OPT_FORCE, OPT_SUB, OPT_CONC, OPT_QPS, OPT_BURST, OPT_RETRIES, OPT_TIMEOUT,
       OPT_DRY, OPT_KUBECONFIG, OPT_CONTEXT };

static const struct option LONG_OPTS[] = {
    {"namespace", required_argument, 0, 'n'}, {"all-namespaces", no_argument, 0, 'A'},
    {"selector", required_argument, 0, 'l'}, {"field-selector", required_argument, 0, OPT_FIELD_SELECTOR},
    {"patch", required_argument, 0, OPT_PATCH}, {"patch-file", required_argument, 0, OPT_PATCH_FILE},
    {"items", required_argument, 0, OPT_ITEMS}, {"on-bad-line", required_argument, 0, OPT_BAD_LINE},
    {"type", required_argument, 0, OPT_TYPE}, {"field-manager", required_argument, 0, OPT_MANAGER},
    {"force-conflicts", no_argument, 0, OPT_FORCE}, {"subresource", required_argument, 0, OPT_SUB},
    {"concurrency", required_argument, 0, OPT_CONC}, {"qps", required_argument, 0, OPT_QPS},
    {"burst", required_argument, 0, OPT_BURST}, {"max-retries", required_argument, 0, OPT_RETRIES},
    {"timeout", required_argument, 0, OPT_TIMEOUT}, {"dry-run", required_argument, 0, OPT_DRY},
    {"output", required_argument, 0, 'o'}, {"kubeconfig", required_argument, 0, OPT_KUBECONFIG},
    {"context", required_argument, 0, OPT_CONTEXT}, {"v", required_argument, 0, 'v'},
    {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};

static int parse_option(cli *c, int opt, const char *arg)
{
    char *end;
    switch (opt) {
    case 'n': c->namespace_ = arg; return 0;
    case 'A': c->all_namespaces = 1; return 0;
    case 'l': c->selector = arg; return 0;
    case OPT_FIELD_SELECTOR: c->field_selector = arg; return 0;
    case OPT_PATCH: c->patch_text = arg; return 0;
    case OPT_PATCH_FILE: c->patch_file = arg; return 0;
    case OPT_ITEMS: c->items_path = arg; return 0;
    case OPT_BAD_LINE:
        if (strcmp(arg, "skip") && strcmp(arg, "abort"))
            return usage_error("--on-bad-line must be skip or abort, not \"%s\"", arg);
        c->abort_on_bad_line = !strcmp(arg, "abort");
        return 0;
    case OPT_TYPE: c->type_name = arg; return 0;
    case OPT_MANAGER: c->field_manager = arg; return 0;
    case OPT_FORCE: c->force = 1; return 0;
    case OPT_SUB: c->subresource = arg; return 0;
    case OPT_CONC: return parse_int("--concurrency", arg, 1, &c->concurrency);
    case OPT_BURST: return parse_int("--burst", arg, 1, &c->burst);
    case OPT_RETRIES: return parse_int("--max-retries", arg, 0, &c->max_retries);
    case 'v': return parse_int("-v", arg, 0, &c->verbosity);
    case OPT_QPS:
        c->qps = strtod(arg, &end);
        return *end || c->qps < 0 ? usage_error("--qps: \"%s\" is not a rate >= 0", arg) : 0;
    case OPT_TIMEOUT:
        c->timeout_ms = parse_duration_ms(arg);
        return c->timeout_ms < 0 ? usage_error("--timeout: \"%s\" is not a duration (30s, 5m)", arg) : 0;
    case OPT_DRY:
        if (!strcmp(arg, "server")) c->dry_run = 1;
        else if (strcmp(arg, "none"))
            return usage_error("--dry-run must be server or none (client is not supported), not \"%s\"", arg);
        return 0;
    case 'o':
        if (strcmp(arg, "summary") && strcmp(arg, "json"))
            return usage_error("-o must be summary or json, not \"%s\"", arg);
        c->json_output = !strcmp(arg, "json");
        return 0;
    case OPT_KUBECONFIG: c->kubeconfig = arg; return 0;
    case OPT_CONTEXT: c->context = arg; return 0;
    case 'h': fputs(USAGE, stdout); exit(0);
    default: return usage_error("unknown flag");
    }
}

static int check_combinations(cli *c)
{
    int sources = !!c->patch_text + !!c->patch_file + !!c->items_path;
    if (!c->resource)
        return usage_error("you must specify the type of resource to patch");
    if (sources != 1)
        return usage_error("give exactly one of --patch, --patch-file or --items");
    if (c->items_path && (c->nnames || c->selector || c->field_selector))
        return usage_error("--items names the objects itself: no NAME or -l with it");
    if (!c->items_path && !c->nnames && !c->selector && !c->field_selector)
        return usage_error("name the objects: NAME ..., -l SELECTOR, --field-selector, or --items");
    if (c->nnames && (c->selector || c->field_selector))
        return usage_error("give NAMEs or a selector, not both");
    if (c->all_namespaces && c->nnames)
        return usage_error("a resource cannot be retrieved by name across all namespaces");
    if (c->type_name && strcmp(c->type_name, "apply") && strcmp(c->type_name, "merge") &&
        strcmp(c->type_name, "json"))
        return usage_error("--type must be apply, merge or json, not \"%s\" (strategic merge "
                           "does not work on custom resources)", c->type_name);
    if (c->force && c->type_name && strcmp(c->type_name, "apply"))
        return usage_error("--force-conflicts only applies to --type apply");
    return 0;
}

static int parse_args(cli *c, int argc, char **argv)
{
    int opt, rc;
    c->field_manager = "kubectl-patch-status";
    c->concurrency = 64;
    c->max_retries = 9;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "n:Al:o:v:h", LONG_OPTS, NULL)) != -1) {
        if (opt == '?')
            return usage_error("unknown or incomplete flag \"%s\"", argv[optind - 1]);
        if ((rc = parse_option(c, opt, optarg)) != 0)
            return rc;
    }
    if (optind < argc)
        c->resource = argv[optind++];
    c->names = argv + optind;
    c->nnames = argc - optind;
    return check_combinations(c);
}

static kc_patch_type patch_type(const cli *c)
{
    if (!c->type_name || !strcmp(c->type_name, "apply"))
        return KC_PATCH_APPLY;
    return !strcmp(c->type_name, "merge") ? KC_PATCH_MERGE : KC_PATCH_JSON;
}

/* The common patch as compact JSON, validated before any request. */
static int load_patch(const cli *c, char **out)
{
    char *text = NULL;
    size_t len = 0;
    const char *origin = "--patch";
    if (c->patch_file) {
        FILE *f = fopen(c->patch_file, "rb");
        if (!f)
            return usage_error("--patch-file %s: %s", c->patch_file, strerror(errno));
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
            char *t = realloc(text, len + n + 1);
            if (!t) { (void)fclose(f); free(text); return usage_error("out of memory"); }
            text = t;
            memcpy(text + len, buf, n);
            len += n;
        }
        (void)fclose(f); /* read only: nothing was lost */
        origin = c->patch_file;
    } else {
        /* patch_text is set: check_combinations wants exactly one source */
        text = strdup(c->patch_text); // NOLINT(clang-analyzer-core.NonNullParamChecker)
        if (!text)
            return usage_error("out of memory");
        len = strlen(text);
    }
    cJSON *doc = NULL;
    kc_error err = KC_ERROR_INIT;
    kc_code rc = kc_yaml_parse(text ? text : "", len, origin, &doc, &err);
    free(text);
    if (rc != KC_OK) {
        int r = fail_error("the patch is neither JSON nor YAML", &err, EXIT_USAGE);
        kc_error_clear(&err);
        return r;
    }
    int want_array = patch_type(c) == KC_PATCH_JSON;
    if (want_array ? !cJSON_IsArray(doc) : !cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return usage_error("%s: the patch must be a JSON %s for --type %s", origin,
                           want_array ? "array (RFC 6902)" : "object",
                           c->type_name ? c->type_name : "apply");
    }
    *out = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return 0;
}

/* --- item sources --- */

static int next_name(void *ud, kc_bulk_item *item, kc_error *err)
{
    (void)err;
    run_state *s = ud;
    if (s->next_name >= s->opts->nnames)
        return 0;
    item->name = s->opts->names[s->next_name++];
    return 1;
}

static void clear_item_strings(run_state *s)
{
    kps_item_clear(&s->item);
    free(s->problem);
    s->problem = NULL;
}

static int next_line_item(void *ud, kc_bulk_item *item, kc_error *err)
{
    run_state *s = ud;
    clear_item_strings(s);
    ssize_t n;
    while ((n = getline(&s->line, &s->line_cap, s->items)) >= 0) {
        s->line_no++;
        if (kps_items_blank(s->line, (size_t)n))
            continue;
        if (kps_items_decode(s->line, (size_t)n, patch_type(s->opts) == KC_PATCH_JSON,
                             &s->item) == 0) {
            item->name = s->item.name;
            item->namespace_ = s->item.namespace_;
            item->patch = s->item.patch;
            item->patch_len = s->item.patch ? strlen(s->item.patch) : 0;
            return 1;
        }
        const char *problem = s->item.problem ? s->item.problem : "out of memory";
        if (s->opts->abort_on_bad_line) {
            kc_error_set(err, KC_EINVAL, "%s line %ld: %s", s->opts->items_path, s->line_no, problem);
            return -1;
        }
        if (asprintf(&s->problem, "%s line %ld: %s", s->opts->items_path, s->line_no, problem) < 0)
            s->problem = NULL;
        item->name = s->item.name ? s->item.name : "";
        item->namespace_ = s->item.namespace_;
        item->input_error = s->problem ? s->problem : "bad input line";
        return 1;
    }
    if (ferror(s->items)) {
        kc_error_set(err, KC_EIO, "%s: read failed: %s", s->opts->items_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* --- output --- */

static void print_json_result(const kc_bulk_result *r)
{
    cJSON *o = cJSON_CreateObject();
    if (r->namespace_)
        cJSON_AddStringToObject(o, "namespace", r->namespace_);
    cJSON_AddStringToObject(o, "name", r->name ? r->name : "");
    cJSON_AddStringToObject(o, "outcome", kc_bulk_outcome_name(r->outcome));
    cJSON_AddNumberToObject(o, "status", (double)r->http_status);
    if (r->error->reason)
        cJSON_AddStringToObject(o, "reason", r->error->reason);
    if (r->error->message)
        cJSON_AddStringToObject(o, "message", r->error->message);
    if (r->error->ncauses) {
        cJSON *causes = cJSON_AddArrayToObject(o, "causes");
        for (size_t i = 0; i < r->error->ncauses; i++) {
            cJSON *cz = cJSON_CreateObject();
            const kc_cause *k = &r->error->causes[i];
            if (k->reason) cJSON_AddStringToObject(cz, "reason", k->reason);
            if (k->field) cJSON_AddStringToObject(cz, "field", k->field);
            if (k->message) cJSON_AddStringToObject(cz, "message", k->message);
            cJSON_AddItemToArray(causes, cz);
        }
    }
    cJSON_AddNumberToObject(o, "attempts", r->attempts);
    /* NOLINTNEXTLINE(bugprone-integer-division): cut to whole microseconds on purpose */
    cJSON_AddNumberToObject(o, "latencyMs", (double)(r->latency_ns / 1000) / 1000.0);
    char *line = cJSON_PrintUnformatted(o);
    puts(line);
    free(line);
    cJSON_Delete(o);
}

static void print_failure(const kc_bulk_result *r)
{
    char line[2048];
    kc_error_format(r->error, line, sizeof(line));
    fprintf(stderr, "%s%s%s: %s: %s\n", r->namespace_ ? r->namespace_ : "",
            r->namespace_ ? "/" : "", r->name ? r->name : "", kc_bulk_outcome_name(r->outcome),
            line);
}

static void draw_progress(run_state *s, int final)
{
    kc_bulk_summary sum;
    kc_bulk_get_summary(s->bulk, &sum);
    uint64_t total = s->opts->nnames ? (uint64_t)s->opts->nnames : 0;
    char bar[32] = "";
    if (total) {
        int filled = (int)(20 * sum.total / total);
        for (int i = 0; i < 20; i++)
            bar[i] = i < filled ? '=' : ' ';
        bar[20] = '\0';
    }
    double eta = total && sum.items_per_s > 0 ? (double)(total - sum.total) / sum.items_per_s : 0;
    fprintf(stderr, "\r%s%s%s %llu done, %llu failed, %.0f/s%s%.0fs  ", total ? "[" : "", bar,
            total ? "]" : "", (unsigned long long)sum.total, (unsigned long long)s->failed,
            sum.items_per_s, total ? ", ETA " : "", total ? eta : 0);
    if (final)
        fputc('\n', stderr);
}

static void on_result(void *ud, const kc_bulk_result *r)
{
    run_state *s = ud;
    s->done++;
    if (r->outcome != KC_BULK_OK)
        s->failed++;
    if (s->progress && r->outcome != KC_BULK_OK)
        fputc('\n', stderr);
    if (s->opts->json_output)
        print_json_result(r);
    else if (r->outcome != KC_BULK_OK)
        print_failure(r);
}

static void on_tick(kc_client *c, void *ud)
{
    run_state *s = ud;
    if (interrupted) {
        interrupted = 0;
        fprintf(stderr, "\ninterrupted: cancelling the rest\n");
        kc_bulk_cancel(s->bulk);
    }
    if (s->progress && !kc_bulk_done(s->bulk))
        draw_progress(s, 0);
    if (!kc_bulk_done(s->bulk))
        kc_client_timer(c, 200, on_tick, s);
}

static void print_summary(const cli *c, const kc_resource_info *ri, const kc_bulk_summary *sum)
{
    FILE *out = c->json_output ? stderr : stdout;
    fprintf(out, "%s %llu of %llu %s%s%s/%s in %.2fs (%.0f items/s)%s\n",
            c->dry_run ? "checked (dry run)" : "patched",
            (unsigned long long)sum->counts[KC_BULK_OK], (unsigned long long)sum->total,
            ri->resource, *ri->group ? "." : "", ri->group, c->subresource ? c->subresource : "status",
            sum->elapsed_s, sum->items_per_s, sum->input_failed ? " (input stopped early)" : "");
    for (int i = 0; i < KC_BULK_OUTCOME_COUNT; i++)
        if (sum->counts[i])
            fprintf(out, "  %-16s %llu\n", kc_bulk_outcome_name((kc_bulk_outcome)i),
                    (unsigned long long)sum->counts[i]);
    fprintf(out, "latency p50 %.1fms p99 %.1fms max %.1fms; %llu requests, %llu retries, %llu "
                 "answered 429, concurrency low %d\n",
            sum->p50_ms, sum->p99_ms, sum->max_ms, (unsigned long long)sum->requests,
            (unsigned long long)sum->retries, (unsigned long long)sum->throttled,
            sum->min_concurrency);
}

static void log_stderr(void *ud, int level, const char *line)
{
    (void)ud;
    fprintf(stderr, "kclient[%d]: %s\n", level, line);
}

/* Like kubectl, warnings show at every verbosity (e.g. a kubeconfig that
 * others can read). */
static void print_config_warnings(const kc_config *cfg)
{
    const char *w = kc_config_warnings(cfg);
    while (w && *w) {
        size_t n = strcspn(w, "\n");
        fprintf(stderr, "warning: %.*s\n", (int)n, w);
        w += n + (w[n] == '\n');
    }
}

static int open_items(cli *c, run_state *s)
{
    if (!strcmp(c->items_path, "-")) {
        s->items = stdin;
        c->items_path = "stdin";
        return 0;
    }
    s->items = fopen(c->items_path, "r");
    if (!s->items)
        return usage_error("--items %s: %s", c->items_path, strerror(errno));
    return 0;
}

static int run(cli *c, kc_client *client, const kc_resource_info *ri, const char *ns, char *patch)
{
    run_state s = {.opts = c, .client = client, .progress = isatty(2)};
    if (c->items_path && open_items(c, &s) != 0)
        return EXIT_USAGE;
    kc_bulk_options bo = {
        .target = {ri->group, ri->version, ri->resource, ns, NULL, NULL},
        .subresource = c->subresource, .kind = ri->kind, .type = patch_type(c),
        .patch = patch, .patch_len = patch ? strlen(patch) : 0,
        .field_manager = c->field_manager, .force = c->force, .dry_run = c->dry_run,
        .concurrency = c->concurrency, .qps = c->qps, .burst = c->burst,
        .max_attempts = c->max_retries + 1, .deadline_ms = c->timeout_ms,
        .label_selector = c->selector, .field_selector = c->field_selector,
        .on_result = on_result, .result_ud = &s};
    if (c->items_path) {
        bo.next = next_line_item;
        bo.next_ud = &s;
    } else if (c->nnames) {
        bo.next = next_name;
        bo.next_ud = &s;
    }
    kc_error err = KC_ERROR_INIT;
    if (kc_bulk_start(client, &bo, &s.bulk, &err) != KC_OK)
        return fail_error("cannot start", &err, EXIT_USAGE);
    kc_client_timer(client, 200, on_tick, &s);
    while (!kc_bulk_done(s.bulk))
        kc_client_run_once(client, 200);
    kc_bulk_summary sum;
    kc_bulk_get_summary(s.bulk, &sum);
    if (s.progress)
        draw_progress(&s, 1);
    print_summary(c, ri, &sum);
    int rc = sum.counts[KC_BULK_OK] == sum.total && !sum.input_failed ? 0 : EXIT_FAILED;
    if (sum.input_failed)
        fail_error("input", kc_bulk_input_error(s.bulk), 0);
    kc_bulk_free(s.bulk);
    kc_client_run(client, 1000); /* let the tick timer go */
    clear_item_strings(&s);
    free(s.line);
    if (s.items && s.items != stdin)
        (void)fclose(s.items); /* read only */
    return rc;
}

int main(int argc, char **argv)
{
    cli c = {0};
    int rc = parse_args(&c, argc, argv);
    if (rc)
        return rc;
    char *patch = NULL;
    if (!c.items_path && (rc = load_patch(&c, &patch)) != 0)
        return rc;
    (void)signal(SIGINT, on_signal); /* fails only for an invalid signal number */
    (void)signal(SIGTERM, on_signal);
    kc_config_options co = {.kubeconfig = c.kubeconfig, .context = c.context, .namespace_ = c.namespace_};
    kc_config *cfg = NULL;
    kc_client *client = NULL;
    kc_error err = KC_ERROR_INIT;
    kc_client_options copts = {.qps = -1, .log = log_stderr, .verbosity = c.verbosity};
    if (kc_config_load(&co, &cfg, &err) != KC_OK)
        rc = fail_error("configuration", &err, EXIT_USAGE);
    else if (c.verbosity < 1) /* from -v 1 on the client logs them */
        print_config_warnings(cfg);
    if (!rc && kc_client_new(cfg, &copts, &client, &err) != KC_OK)
        rc = fail_error("client", &err, EXIT_USAGE);
    kc_resource_info ri = {0};
    if (!rc && kc_discovery_resolve(client, c.resource, &ri, &err) != KC_OK)
        rc = fail_error("resource", &err, EXIT_USAGE);
    if (!rc && !ri.has_status && !c.subresource)
        fprintf(stderr, "warning: %s has no status subresource: the server may refuse\n", ri.resource);
    if (!rc) {
        const char *ns = !ri.namespaced || c.all_namespaces ? NULL : kc_config_namespace(cfg);
        rc = run(&c, client, &ri, ns, patch);
    }
    kc_resource_info_clear(&ri);
    kc_error_clear(&err);
    kc_client_free(client);
    kc_config_free(cfg);
    free(patch);
    return rc;
}
