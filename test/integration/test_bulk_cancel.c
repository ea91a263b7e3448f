/* Integration: kc_bulk_cancel in the middle of a PatchStatusAll run, on the
 * real kube-apiserver.  bulk.h promises: "cancel ... report[s] every
 * remaining item as cancelled, so nothing is dropped silently";
 * kc_bulk_cancel: "in-flight requests are cancelled, every item not yet
 * written is reported KC_BULK_CANCELLED.  Safe from callbacks."
 *
 * Checked: the cancel really lands mid-run (results before it, requests in
 * flight at that moment, items not yet taken); every item gets exactly one
 * result; outcomes are ok or cancelled and say so; the run is done soon
 * after; and against the server afterwards: every item reported ok is
 * written, no item that was never sent (attempts 0) is written, and at most
 * the requests in flight at the cancel were written while reported
 * cancelled. */
#include <inttypes.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "kc_test.h"
#include "kclient/bulk.h"

static const char *GROUP = "scheduling.x-k8s.io";
#define MANAGER "kclient-bulk-cancel-test"
#define MAXN 1000

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- objects --- */

typedef struct created {
    int done, failed;
} created;

static void on_created(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    (void)r;
    created *x = ud;
    x->done++;
    if (err->code != KC_OK)
        x->failed++;
}

static void create_podgroups(kc_client *c, const char *ns, int n, const char *label)
{
    created x = {0, 0};
    kc_error err = KC_ERROR_INIT;
    for (int i = 0; i < n; i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"scheduling.x-k8s.io/v1alpha1\",\"kind\":\"PodGroup\","
                 "\"metadata\":{\"name\":\"pg-%d\",\"labels\":{\"batch\":\"%s\"}},"
                 "\"spec\":{\"minMember\":1}}",
                 i, label);
        kc_request_spec spec = {.method = "POST",
                                .ref = {GROUP, "v1alpha1", "podgroups", ns, NULL, NULL},
                                .content_type = "application/json",
                                .body = body,
                                .body_len = strlen(body)};
        KCT_OK(kc_request_send(c, &spec, on_created, &x, NULL, &err), &err);
    }
    kc_client_run(c, 120000);
    ck_assert_int_eq(x.done, n);
    ck_assert_int_eq(x.failed, 0);
}

/* --- the run --- */

typedef struct run {
    kc_bulk *b;
    int n;               /* items in the input */
    int cancel_after;    /* results before the cancel */
    int results;
    int reports[MAXN];   /* results per item */
    kc_bulk_outcome outcome[MAXN];
    int attempts[MAXN];
    int after_cancel[MAXN]; /* reported after kc_bulk_cancel was called */
    int unknown;         /* results for names not in the input */
    int cancelled_called;
    int bad_cancel_msg;  /* a cancelled result whose error does not say so */
    char cancel_msg[256];      /* of a cancelled item never sent */
    char sent_cancel_msg[256]; /* of a cancelled item that was in flight */
    uint64_t cancel_ms, done_ms;
    kc_bulk_summary at_cancel, final;
    long attempts_reported; /* sum of attempts over results so far */
    long inflight_at_cancel;
    int results_at_cancel;
    int done_calls, results_after_done;
    int from_callback;   /* cancel from inside on_result (else from the loop, between runs) */
    int next_i;          /* iterator position */
    int taken_at_cancel; /* items the iterator had handed out */
    char names[MAXN][16];
} run;

static int index_of(const char *name)
{
    int i;
    char tail;
    if (!name || sscanf(name, "pg-%d%c", &i, &tail) != 1 || i < 0 || i >= MAXN)
        return -1;
    return i;
}

static void do_cancel(run *x)
{
    kc_bulk_get_summary(x->b, &x->at_cancel);
    x->results_at_cancel = x->results;
    x->inflight_at_cancel = (long)x->at_cancel.requests - x->attempts_reported;
    x->taken_at_cancel = x->next_i;
    x->cancel_ms = mono_ms();
    x->cancelled_called = 1;
    kc_bulk_cancel(x->b);
}

static void on_result(void *ud, const kc_bulk_result *r)
{
    run *x = ud;
    if (x->done_calls)
        x->results_after_done++;
    int i = index_of(r->name);
    if (i < 0 || i >= x->n) {
        x->unknown++;
        return;
    }
    x->results++;
    x->reports[i]++;
    x->outcome[i] = r->outcome;
    x->attempts[i] = r->attempts;
    x->attempts_reported += r->attempts;
    x->after_cancel[i] = x->cancelled_called;
    if (r->outcome == KC_BULK_CANCELLED) {
        if (r->error->code != KC_ECANCELLED || !r->error->message ||
            !strstr(r->error->message, "cancel"))
            x->bad_cancel_msg++;
        else if (r->attempts == 0 && !x->cancel_msg[0])
            snprintf(x->cancel_msg, sizeof(x->cancel_msg), "%s", r->error->message);
        else if (r->attempts > 0 && !x->sent_cancel_msg[0])
            snprintf(x->sent_cancel_msg, sizeof(x->sent_cancel_msg), "%s", r->error->message);
    }
    if (x->from_callback && x->results == x->cancel_after && !x->cancelled_called)
        do_cancel(x); /* from inside a result callback, as bulk.h allows */
}

static void on_done(kc_bulk *b, void *ud)
{
    (void)b;
    run *x = ud;
    x->done_calls++;
    x->done_ms = mono_ms();
}

static int next_item(void *ud, kc_bulk_item *item, kc_error *err)
{
    (void)err;
    run *x = ud;
    if (x->next_i >= x->n)
        return 0;
    item->name = x->names[x->next_i++];
    return 1;
}

/* What the server holds: status.phase Running written by our manager. */
typedef struct written {
    int n;
    int is_written[MAXN];
} written;

static int check_item(const cJSON *item, void *ud)
{
    written *w = ud;
    int i = index_of(kct_str(item, "metadata.name"));
    if (i < 0)
        return 0;
    w->n++;
    const char *phase = kct_str(item, "status.phase");
    int managed = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(cJSON_GetObjectItem(item, "metadata"), "managedFields")) {
        const char *m = kct_str(e, "manager"), *sub = kct_str(e, "subresource");
        if (m && !strcmp(m, MANAGER) && sub && !strcmp(sub, "status"))
            managed = 1;
    }
    w->is_written[i] = phase && !strcmp(phase, "Running") && managed;
    return 0;
}

static void start_run(kc_client *c, run *x, const char *ns, const char *selector)
{
    static const char patch[] = "{\"status\":{\"phase\":\"Running\",\"running\":1}}";
    kc_bulk_options o = {.target = {GROUP, "v1alpha1", "podgroups", ns, NULL, NULL},
                         .kind = "PodGroup",
                         .type = KC_PATCH_APPLY,
                         .patch = patch,
                         .patch_len = strlen(patch),
                         .field_manager = MANAGER,
                         .force = 1,
                         .concurrency = 24, /* ~24 requests in flight at any moment */
                         .on_result = on_result,
                         .result_ud = x,
                         .on_done = on_done,
                         .done_ud = x};
    if (selector) {
        o.label_selector = selector;
    } else {
        o.next = next_item;
        o.next_ud = x;
    }
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_bulk_start(c, &o, &x->b, &err), &err);
}

/* Run until done (1) or 30 s (0); cancel from the loop once enough results
 * are in, unless the callback does it.  No assertions: it also runs in a
 * child process. */
static int drive(kc_client *c, run *x)
{
    uint64_t end = mono_ms() + 30000;
    while (!kc_bulk_done(x->b) && mono_ms() < end) {
        kc_client_run_once(c, 5);
        if (!x->from_callback && !x->cancelled_called && x->results >= x->cancel_after)
            do_cancel(x); /* as a program's main loop would, e.g. after SIGINT */
    }
    if (!kc_bulk_done(x->b))
        return 0;
    /* a little longer: nothing may be reported after the end */
    uint64_t quiet = mono_ms() + 300;
    while (mono_ms() < quiet)
        kc_client_run_once(c, 20);
    kc_bulk_get_summary(x->b, &x->final);
    return 1;
}

/* The common checks; n is the number of items the input holds. */
static void check(kc_client *c, run *x, const char *ns, const char *what)
{
    kc_bulk_summary sum = x->final;
    written w = {0};
    kc_error err = KC_ERROR_INIT;
    kc_ref coll = {GROUP, "v1alpha1", "podgroups", ns, NULL, NULL};
    kc_list_opts lo = {.limit = 500};
    KCT_OK(kc_list_each(c, &coll, &lo, check_item, &w, NULL, &err), &err);

    int ok = 0, cancelled = 0, other = 0, missing = 0, twice = 0, ok_unwritten = 0;
    int never_sent_written = 0, cancelled_written = 0, cancelled_sent = 0, ok_after = 0;
    for (int i = 0; i < x->n; i++) {
        if (x->reports[i] == 0) {
            missing++;
            continue;
        }
        if (x->reports[i] > 1)
            twice++;
        if (x->outcome[i] == KC_BULK_OK) {
            ok++;
            ok_after += x->after_cancel[i];
            if (!w.is_written[i])
                ok_unwritten++;
        } else if (x->outcome[i] == KC_BULK_CANCELLED) {
            cancelled++;
            cancelled_sent += x->attempts[i] > 0;
            if (x->attempts[i] == 0 && w.is_written[i])
                never_sent_written++;
            if (w.is_written[i])
                cancelled_written++;
        } else {
            other++;
        }
    }
    fprintf(stderr,
            "%s: %d items; cancel after %d results, %" PRIu64 " ms before done; at the cancel: "
            "%llu requests sent, %ld in flight, %d items taken from the input; results: %d "
            "(%d items without one, %d with more than one, %d for unknown names), %d ok "
            "(%d reported after the cancel), %d cancelled (%d of them sent, %d written by the "
            "server anyway), %d other; summary total %llu ok %llu cancelled %llu; on_done %d; "
            "server: %d objects, ok but not written %d, never sent but written %d; "
            "cancel message \"%s\" (never sent), \"%s\" (in flight)\n",
            what, x->n, x->results_at_cancel, x->done_ms - x->cancel_ms,
            (unsigned long long)x->at_cancel.requests, x->inflight_at_cancel, x->taken_at_cancel,
            x->results, missing, twice, x->unknown, ok, ok_after, cancelled, cancelled_sent,
            cancelled_written, other, (unsigned long long)sum.total,
            (unsigned long long)sum.counts[KC_BULK_OK],
            (unsigned long long)sum.counts[KC_BULK_CANCELLED], x->done_calls, w.n, ok_unwritten,
            never_sent_written, x->cancel_msg, x->sent_cancel_msg);

    /* preconditions: the cancel happened mid-run */
    ck_assert_msg(x->cancelled_called, "the run ended before the cancel: it proves nothing");
    ck_assert_int_gt(x->inflight_at_cancel, 0);
    ck_assert_int_eq(w.n, x->n);
    /* every item exactly once */
    ck_assert_msg(twice == 0, "%d items reported more than once", twice);
    ck_assert_msg(x->unknown == 0, "%d results for names not in the input", x->unknown);
    ck_assert_msg(missing == 0, "%d of %d items never reported: dropped silently", missing, x->n);
    ck_assert_int_eq(x->results, x->n);
    ck_assert_uint_eq(sum.total, (uint64_t)x->n);
    ck_assert_uint_eq(sum.counts[KC_BULK_OK], (uint64_t)ok);
    ck_assert_uint_eq(sum.counts[KC_BULK_CANCELLED], (uint64_t)cancelled);
    ck_assert_int_eq(other, 0);
    ck_assert_int_gt(cancelled, 0);
    ck_assert_msg(x->bad_cancel_msg == 0, "%d cancelled results do not say so", x->bad_cancel_msg);
    ck_assert_int_eq(x->done_calls, 1);
    ck_assert_int_eq(x->results_after_done, 0);
    ck_assert_msg(x->done_ms - x->cancel_ms < 2000, "done %" PRIu64 " ms after the cancel",
                  x->done_ms - x->cancel_ms);
    /* against the server */
    ck_assert_msg(ok_unwritten == 0, "%d items reported ok that the server does not hold",
                  ok_unwritten);
    ck_assert_msg(never_sent_written == 0, "%d items never sent (attempts 0) are written",
                  never_sent_written);
    ck_assert_msg(cancelled_written <= x->inflight_at_cancel,
                  "%d cancelled items written, more than the %ld requests in flight at the "
                  "cancel",
                  cancelled_written, x->inflight_at_cancel);
}

/* Items from an iterator: cancel after 150 of 600 results, from inside the
 * result callback. */
START_TEST(cancel_mid_run_iterator)
{
    enum { N = 600 };
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client_options co = {.qps = -1};
    kc_client *c = kct_client(cfg, &co);
    char *ns = kct_namespace(c, "bulkcancel");
    create_podgroups(c, ns, N, "cancel");
    run *x = calloc(1, sizeof(*x));
    x->n = N;
    x->cancel_after = 150;
    for (int i = 0; i < N; i++)
        snprintf(x->names[i], sizeof(x->names[i]), "pg-%d", i);
    start_run(c, x, ns, NULL);
    ck_assert_msg(drive(c, x), "bulk run not done 30 s after start");
    ck_assert_int_lt(x->taken_at_cancel, N); /* items still in the input at the cancel */
    check(c, x, ns, "iterator, cancel from the loop");
    kc_bulk_free(x->b);
    free(x);
    kc_client_free(c);
    kc_config_free(cfg);
    free(ns);
}
END_TEST

/* Items from a label selector, listed 500 a page (bulk.c): 600 objects are
 * two pages; cancel after 50 results, while the first page is being
 * written and the second is not listed yet.  The 600 objects the selector
 * matches are the run's items: each must have a result. */
START_TEST(cancel_mid_run_selector)
{
    enum { N = 600 };
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client_options co = {.qps = -1};
    kc_client *c = kct_client(cfg, &co);
    char *ns = kct_namespace(c, "bulkcancelsel");
    create_podgroups(c, ns, N, "cancelsel");
    run *x = calloc(1, sizeof(*x));
    x->n = N;
    x->cancel_after = 50;
    start_run(c, x, ns, "batch=cancelsel");
    ck_assert_msg(drive(c, x), "bulk run not done 30 s after start");
    check(c, x, ns, "selector, cancel from the loop");
    kc_bulk_free(x->b);
    free(x);
    kc_client_free(c);
    kc_config_free(cfg);
    free(ns);
}
END_TEST

/* kc_bulk_cancel from inside the on_result callback - "Safe from callbacks,
 * on_result too", bulk.h.  It used to free the item whose result was being
 * delivered (finish_item -> report -> on_result -> kc_bulk_cancel ->
 * finish_item on the same item), and the outer finish_item then unlinked
 * and freed it again: a crash or heap corruption.  The run happens in a
 * child process so that a crash is reported as such, with the rest of the
 * checks on what the child saw when it survives. */
START_TEST(cancel_from_result_callback)
{
    enum { N = 600 };
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client_options co = {.qps = -1};
    kc_client *c = kct_client(cfg, &co);
    char *ns = kct_namespace(c, "bulkcancelcb");
    create_podgroups(c, ns, N, "cancelcb");
    run *x = mmap(NULL, sizeof(*x), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(x, MAP_FAILED);
    memset(x, 0, sizeof(*x));
    x->n = N;
    x->cancel_after = 150;
    x->from_callback = 1;
    for (int i = 0; i < N; i++)
        snprintf(x->names[i], sizeof(x->names[i]), "pg-%d", i);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        kc_client *cc = NULL;
        kc_error err = KC_ERROR_INIT;
        if (kc_client_new(cfg, &co, &cc, &err) != KC_OK)
            _exit(3);
        start_run(cc, x, ns, NULL);
        int done = drive(cc, x);
        kc_bulk_free(x->b);
        kc_client_free(cc);
        _exit(done ? 0 : 2);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        ck_abort_msg("kc_bulk_cancel called from the on_result callback (bulk.h: \"Safe from "
                     "callbacks\") killed the process with signal %d (%s) after %d results: "
                     "use after free in bulk.c (finish_item -> report -> on_result -> "
                     "kc_bulk_cancel -> finish_item frees the item being reported)",
                     WTERMSIG(st), strsignal(WTERMSIG(st)), x->results);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status %d", st);
    check(c, x, ns, "iterator, cancel from the result callback");
    munmap(x, sizeof(*x));
    kc_client_free(c);
    kc_config_free(cfg);
    free(ns);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bulk_cancel");
    TCase *tc = tcase_create("bulk_cancel");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, cancel_mid_run_iterator);
    tcase_add_test(tc, cancel_mid_run_selector);
    tcase_add_test(tc, cancel_from_result_callback);
    suite_add_tcase(s, tc);
    return kct_run_suite(s);
}
