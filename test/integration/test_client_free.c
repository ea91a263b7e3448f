/* Integration: kc_client_free called from inside callbacks, on the real
 * kube-apiserver.
 *
 * client.h promises: kc_client_free "may be called from inside a callback
 * on the loop, also one of c's own requests"; every other request's callback
 * runs with KC_ECANCELLED before it returns; "a stream whose on_open/on_data
 * is running gets its KC_ECANCELLED callback once that has returned"; "the
 * memory goes once the loop has let the last of them go, in that same turn
 * of the loop".  curl forbids removing a transfer from inside its callbacks
 * (before this was done right, freeing a client from a stream callback
 * crashed inside curl_multi_perform).  An operator drops a member cluster's client from wherever it
 * learns the member is gone; before this was promised, a request inside its
 * own callback outlived its client and ended on freed memory (the
 * operator's SIGSEGV in finish(), soak seed 251024).
 *
 * Every case runs under ASan and valgrind in scripts/reliability.sh, which
 * also find what is not freed: "the memory goes" is checked there. */
#include "kc_test.h"

#define WATCH_NS "/api/v1/namespaces?watch=true&timeoutSeconds=30"

typedef struct probe {
    kc_client *victim;   /* freed by the callback that fires first */
    int freed;           /* kc_client_free(victim) returned */
    int calls_after;     /* callbacks of the victim's requests after that */
    int self_cancelled;  /* the freeing stream's own KC_ECANCELLED callback */
    int cancelled_before;/* their KC_ECANCELLED callbacks before it returned */
    int data_calls;
} probe;

typedef struct req_ud {
    probe *p;
    int is_trigger; /* 1: frees the victim in its completion; 2: in its own stream */
    int done;
    kc_code code;
} req_ud;

static void free_victim(probe *p)
{
    if (p->freed)
        return;
    kc_client_free(p->victim);
    p->freed = 1;
}

static void on_done(kc_client *c, const kc_response *r, const kc_error *err, void *ud)
{
    (void)c;
    (void)r;
    req_ud *u = ud;
    u->done++;
    u->code = err->code;
    if (u->p->freed && u->is_trigger == 2 && err->code == KC_ECANCELLED) {
        u->p->self_cancelled++; /* the stream that freed its own client */
        return;
    }
    if (u->p->freed) {
        u->p->calls_after++;
        return;
    }
    if (u->is_trigger == 1) {
        free_victim(u->p);
        return;
    }
    if (u->p->victim && err->code == KC_ECANCELLED)
        u->p->cancelled_before++;
}

static int on_data_free(const char *buf, size_t len, void *ud)
{
    (void)buf;
    (void)len;
    req_ud *u = ud;
    u->p->data_calls++;
    if (u->p->freed)
        u->p->calls_after++;
    free_victim(u->p);
    return 0;
}

/* The hub's stream that frees the member: its own later bytes are fine. */
static int on_data_free_other(const char *buf, size_t len, void *ud)
{
    (void)buf;
    (void)len;
    free_victim(((req_ud *)ud)->p);
    return 0;
}

static void on_open_free(long status, void *ud)
{
    req_ud *u = ud;
    ck_assert_int_eq(status, 200);
    if (u->p->freed)
        u->p->calls_after++;
    free_victim(u->p);
}

static int on_data_quiet(const char *buf, size_t len, void *ud)
{
    (void)buf;
    (void)len;
    req_ud *u = ud;
    if (u->p->freed)
        u->p->calls_after++;
    return 0;
}

static void send_get(kc_client *c, const char *path, req_ud *u, int (*data)(const char *, size_t, void *),
                 void (*open)(long, void *))
{
    kc_request_spec spec = {.method = "GET",
                            .path = path,
                            .max_attempts = 1,
                            .on_data = data,
                            .on_open = open,
                            .stream_ud = u};
    kc_error err = KC_ERROR_INIT;
    if (kc_request_send(c, &spec, on_done, u, NULL, &err) != KC_OK)
        kct_fail_err(path, &err);
}

/* Run o's loop (the victim's, when shared) until the victim is freed, and a
 * little longer: whatever outlived the victim ends meanwhile. */
static void run_until_freed(kc_client *o, probe *p)
{
    for (int i = 0; i < 200 && !p->freed; i++)
        kc_client_run_once(o, 50);
    ck_assert_msg(p->freed, "the freeing callback never ran in 10 s");
    for (int i = 0; i < 20; i++)
        kc_client_run_once(o, 10);
}

/* A client alone on its loop, freed inside its own watch's on_data: the
 * last turn of the loop ends the watch and frees the loop too. */
START_TEST(free_self_in_on_data_alone)
{
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client *c = kct_client(cfg, NULL);
    probe p = {.victim = c};
    req_ud w = {&p, 2, 0, 0}, get = {&p, 0, 0, 0};
    send_get(c, WATCH_NS, &w, on_data_free, NULL);
    send_get(c, "/api/v1/namespaces/default", &get, NULL, NULL);
    for (int i = 0; i < 200 && !p.freed; i++)
        kc_client_run_once(c, 50); /* safe in the turn that frees c: the loop holds itself */
    ck_assert(p.freed);
    ck_assert_int_eq(p.data_calls, 1);
    ck_assert_int_eq(w.done, 1); /* the freeing stream: cancelled once its on_data returned */
    ck_assert_int_eq(p.self_cancelled, 1);
    ck_assert_int_le(get.done, 1);
    if (get.done) /* answered before the watch's first bytes, or cancelled by the free */
        ck_assert(get.code == KC_OK || get.code == KC_ECANCELLED);
    ck_assert_int_eq(p.calls_after, 0);
    kc_config_free(cfg); /* cfg may go once kc_client_free returned */
}
END_TEST

/* A member client on a hub's loop, freed inside its own watch's on_data
 * and on_open: the hub's loop goes on, the hub's requests still work. */
static void free_member_in_stream(int in_open)
{
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client *hub = kct_client(cfg, NULL);
    kc_client_options mo = {.share_loop = hub};
    kc_client *m = kct_client(cfg, &mo);
    probe p = {.victim = m}, hp = {0};
    req_ud w = {&p, 2, 0, 0}, other = {&p, 0, 0, 0}, hub_watch = {&hp, 0, 0, 0};
    send_get(hub, WATCH_NS, &hub_watch, on_data_quiet, NULL);
    send_get(m, WATCH_NS, &w, in_open ? on_data_quiet : on_data_free, in_open ? on_open_free : NULL);
    send_get(m, WATCH_NS, &other, on_data_quiet, NULL);
    run_until_freed(hub, &p);
    ck_assert_int_eq(w.done, 1);
    ck_assert_int_eq(p.self_cancelled, 1);
    ck_assert_int_eq(other.done, 1); /* cancelled by the free, before it returned */
    ck_assert_int_eq(other.code, KC_ECANCELLED);
    ck_assert_int_eq(p.cancelled_before, 1);
    ck_assert_int_eq(p.calls_after, 0);
    /* the hub goes on: a request of its own completes, its watch still runs */
    req_ud get = {&hp, 0, 0, 0};
    send_get(hub, "/api/v1/namespaces/default", &get, NULL, NULL);
    for (int i = 0; i < 200 && !get.done; i++)
        kc_client_run_once(hub, 50);
    ck_assert_int_eq(get.done, 1);
    ck_assert_int_eq(get.code, KC_OK);
    ck_assert_int_eq(hub_watch.done, 0);
    kc_client_free(hub);
    ck_assert_int_eq(hub_watch.done, 1);
    ck_assert_int_eq(hub_watch.code, KC_ECANCELLED);
    kc_config_free(cfg);
}

START_TEST(free_member_in_on_data) { free_member_in_stream(0); }
END_TEST

START_TEST(free_member_in_on_open) { free_member_in_stream(1); }
END_TEST

/* Freed inside the completion callback of one of its own requests, while
 * three more of its requests are pending: they are cancelled (their
 * callbacks run) before kc_client_free returns. */
START_TEST(free_self_in_completion)
{
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client *hub = kct_client(cfg, NULL);
    kc_client_options mo = {.share_loop = hub};
    kc_client *m = kct_client(cfg, &mo);
    probe p = {.victim = m};
    req_ud trig = {&p, 1, 0, 0}, w1 = {&p, 0, 0, 0}, w2 = {&p, 0, 0, 0}, w3 = {&p, 0, 0, 0};
    send_get(m, WATCH_NS, &w1, on_data_quiet, NULL);
    send_get(m, WATCH_NS, &w2, on_data_quiet, NULL);
    send_get(m, WATCH_NS, &w3, on_data_quiet, NULL);
    send_get(m, "/api/v1/namespaces/default", &trig, NULL, NULL);
    run_until_freed(hub, &p);
    ck_assert_int_eq(trig.done, 1);
    ck_assert_int_eq(trig.code, KC_OK);
    ck_assert_int_eq(p.cancelled_before, 3);
    ck_assert_int_eq(w1.done + w2.done + w3.done, 3);
    ck_assert_int_eq(p.calls_after, 0);
    kc_client_free(hub);
    kc_config_free(cfg);
}
END_TEST

/* One client freed inside another's stream callback (both on one loop):
 * the freed one's watch is cancelled before kc_client_free returns. */
START_TEST(free_other_in_on_data)
{
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client *hub = kct_client(cfg, NULL);
    kc_client_options mo = {.share_loop = hub};
    kc_client *m = kct_client(cfg, &mo);
    probe p = {.victim = m};
    req_ud mw = {&p, 0, 0, 0}, hw = {&p, 0, 0, 0};
    send_get(m, "/api/v1/namespaces?watch=true&timeoutSeconds=30&labelSelector=none-such%3Dx", &mw,
         on_data_quiet, NULL);
    for (int i = 0; i < 10; i++) /* the member's watch is open (it gets no events) */
        kc_client_run_once(hub, 20);
    send_get(hub, WATCH_NS, &hw, on_data_free_other, NULL);
    run_until_freed(hub, &p);
    ck_assert_int_eq(mw.done, 1);
    ck_assert_int_eq(mw.code, KC_ECANCELLED);
    ck_assert_int_eq(p.cancelled_before, 1);
    ck_assert_int_eq(p.calls_after, 0);
    ck_assert_int_eq(hw.done, 0); /* the hub's own watch goes on */
    kc_client_free(hub);
    ck_assert_int_eq(hw.done, 1); /* (counted in calls_after: p.freed is set) */
    kc_config_free(cfg);
}
END_TEST

/* kc_client_free(m) runs m's callbacks only: a hub request ended (here
 * cancelled) whose callback is still due runs at the loop's next turn, not
 * inside the member's free, where its owner is tearing the member down
 * (the operator's use-after-free of a MemberCluster finalizer request, soak
 * seed 336732). */
START_TEST(free_member_leaves_hub_callbacks_to_the_loop)
{
    kc_config *cfg = kct_config(NULL, "kubeconfig");
    kc_client *hub = kct_client(cfg, NULL);
    kc_client_options mo = {.share_loop = hub};
    kc_client *m = kct_client(cfg, &mo);
    probe p = {.victim = NULL};
    req_ud hu = {&p, 0, 0, 0}, mu = {&p, 0, 0, 0};
    kc_request_spec spec = {.method = "GET", .path = "/api/v1/namespaces/default", .max_attempts = 1};
    kc_request *hr = NULL;
    kc_error err = KC_ERROR_INIT;
    KCT_OK(kc_request_send(hub, &spec, on_done, &hu, &hr, &err), &err);
    send_get(m, WATCH_NS, &mu, on_data_quiet, NULL);
    kc_request_cancel(hr); /* ended: its callback waits for the loop */
    ck_assert_int_eq(hu.done, 0);
    kc_client_free(m);
    ck_assert_int_eq(mu.done, 1);
    ck_assert_int_eq(mu.code, KC_ECANCELLED);
    ck_assert_msg(hu.done == 0, "the hub's callback ran inside kc_client_free of the member");
    kc_client_run_once(hub, 0);
    ck_assert_int_eq(hu.done, 1);
    ck_assert_int_eq(hu.code, KC_ECANCELLED);
    kc_client_free(hub);
    kc_config_free(cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("client_free");
    TCase *tc = tcase_create("in_callbacks");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, free_self_in_on_data_alone);
    tcase_add_test(tc, free_member_in_on_data);
    tcase_add_test(tc, free_member_in_on_open);
    tcase_add_test(tc, free_self_in_completion);
    tcase_add_test(tc, free_other_in_on_data);
    tcase_add_test(tc, free_member_leaves_hub_callbacks_to_the_loop);
    suite_add_tcase(s, tc);
    return kct_run_suite(s);
}
