/* client_internal.h - the client, its loop and the request state machine.
 * Not installed. */
#ifndef KCLIENT_CLIENT_INTERNAL_H
#define KCLIENT_CLIENT_INTERNAL_H

#include <curl/curl.h>
#include <stdint.h>

#include "config_internal.h"
#include "kclient/client.h"
#include "kclient/ratelimit.h"
#include "kclient/request.h"
#include "util.h"

typedef struct kc_timer {
    uint64_t due_ns;
    uint64_t id;
    kc_client *client; /* passed to cb */
    kc_timer_cb cb;
    void *ud;
    int cancelled;
    size_t pos; /* index in the heap, kept by the heap */
} kc_timer;

typedef struct kc_timer_heap {
    kc_timer **items;
    size_t len, cap;
    uint64_t next_id;
} kc_timer_heap;

typedef enum kc_req_state {
    KC_REQ_WAITING, /* waiting for backoff or the token bucket */
    KC_REQ_ACTIVE,  /* in the curl multi */
    KC_REQ_DONE
} kc_req_state;

struct kc_request {
    kc_client *client;
    kc_req_state state;
    char *method;
    char *url;
    char *path;          /* for messages: path without the server */
    char *accept;
    char *content_type;
    char *body;
    size_t body_len;
    int idempotent;
    int max_attempts;
    long timeout_ms;
    int no_rate_limit;
    int fresh_connection;       /* own connection, on the loop's side multi */
    int (*on_data)(const char *buf, size_t len, void *ud);
    void (*on_open)(long http_status, void *ud);
    void *stream_ud;
    kc_done_cb cb;
    void *ud;

    CURL *easy;
    CURLM *multi;               /* the multi the easy handle is in while ACTIVE */
    kc_timer *deadline;         /* end of the attempt's timeout_ms, or NULL */
    uint64_t attempt_ns;        /* when the current attempt was handed to curl */
    struct curl_slist *headers;
    int headers_owned;          /* 0: a list shared from the client's header cache */
    kc_strbuf resp_body;
    char *resp_content_type;
    char *pf_flow_schema;
    char *pf_priority_level;
    double retry_after_header; /* < 0 when absent */
    long http_status;
    int streamed;              /* data was handed to on_data */
    int too_large;
    int cancelled;
    int in_curl_callback;       /* inside on_header/on_body: defer removal */
    int detached;               /* done while still in its multi (ended inside a
                                   stream callback): removed at the loop's next
                                   safe point (kc_request_reap) */
    int counted_stream;
    int aborted_by_stream;
    int refreshed_auth;
    int attempts;
    uint64_t start_ns;
    uint64_t timer_id;
    char curl_errbuf[CURL_ERROR_SIZE];
    kc_error outcome;             /* set when done, handed to the callback */
    struct kc_request *next_done; /* completion queue */
    struct kc_request *live_prev, *live_next; /* every request not yet freed */
};

/* A socket of the main multi and the client whose transfer opened it. */
typedef struct kc_socket {
    curl_socket_t fd;
    unsigned owner;
} kc_socket;

/* The loop: one curl multi, the timers and the completion queue, shared by
 * every client made with share_loop. */
typedef struct kc_loop {
    CURLM *multi;
    kc_timer_heap timers;
    struct kc_request *done_head, *done_tail;
    struct kc_request *live_head; /* every request not yet freed, all clients */
    struct kc_request *zombies;   /* done and reported, still in a multi (detached) */
    kc_socket *sockets;           /* the main multi's open sockets (sockets.c) */
    size_t nsockets, sockets_cap;
    unsigned next_client_id;
    int in_stream_cb;             /* inside an on_open/on_data: curl forbids removing
                                     transfers, so nothing is removed now */
    int pending;
    int refs;
    long host_budget;             /* CURLMOPT_MAX_HOST_CONNECTIONS: the clients' budgets summed */
    /* fresh_connection transfers (isolated.c): a second multi without a
     * per-host limit, driven by socket events from the same poll */
    CURLM *side;
    struct curl_waitfd *side_fds; /* the side multi's sockets, kept by its socket callback */
    unsigned nside, side_cap;
    CURL *easy_pool[64];          /* finished handles, reset and reused: no init per request */
    int npool;
    int easy_reuse;               /* handles reused: 0 not decided yet, 1 yes, -1 no (transport.c) */
    uint64_t (*clock)(void *ud);
    void *clock_ud;
} kc_loop;

#define KC_MAX_COUNT_KEYS 64
#define KC_HEADER_CACHE 8

/* Header lists are read-only to curl once set: requests with the same
 * Accept, Content-Type and credentials share one list. */
typedef struct kc_header_set {
    char *accept, *content_type, *token;
    struct curl_slist *list;
} kc_header_set;

typedef struct kc_count_entry {
    char method[8];
    char code[8];
    uint64_t count;
} kc_count_entry;

struct kc_client {
    kc_config *cfg;
    kc_client_options opts;
    kc_loop *loop;
    unsigned id;           /* on the loop: owner of the sockets it opens (sockets.c) */
    char *base_url;        /* server, or https://tls-server-name:port when set */
    char *connect_to;      /* CURLOPT_CONNECT_TO entry when tls-server-name is set */
    struct curl_slist connect_to_list; /* one-entry list pointing at connect_to */
    char *user_agent;
    kc_token_bucket bucket;
    kc_backoff backoff;
    uint64_t rng;
    kc_client_stats stats;
    kc_count_entry counts[KC_MAX_COUNT_KEYS];
    size_t ncounts;
    void *discovery;       /* discovery cache, owned by discovery.c */
    void (*discovery_free)(void *);
    int in_free;
    int nrequests;         /* live requests of this client (request.c) */
    int freed;             /* kc_client_free ran while requests of it were still
                              inside their own callbacks: the last one frees it */
    /* dead-link detection for long-lived streams (client.c) */
    int streams_active;
    uint64_t last_rx_ns;      /* last byte from the server, any request (transport.c) */
    uint64_t quiet_from_ns;   /* streams (re)started: the quiet period counts from here at the earliest */
    kc_timer *health_timer;   /* the health check's next turn, or NULL */
    struct kc_request *probe; /* the probe on the shared connections, in flight */
    int dead_probes;          /* probes on fresh connections in flight while the link is dead */
    int link_dead;            /* found dead, no answer from the server since */
    uint64_t dead_ns;         /* when it was found dead */
    uint64_t link_back_ns;    /* when the server last answered again after a dead link */
    uint64_t dead_links;
    struct kc_link_listener *listeners, *listener_next;
    kc_header_set headers[KC_HEADER_CACHE];
    int nheaders;
};

/* The client's sockets (sockets.c): curl opens and closes the main multi's
 * sockets through the loop, which records the client that opened each. */
void kc_sockets_attach(kc_client *c, CURL *e);
/* Shut down (not close: curl owns them) every socket c opened; curl then
 * drops those connections instead of reusing them.  Returns how many. */
int kc_sockets_shutdown_client(kc_client *c);
/* After the multi is cleaned up (which closes the last sockets). */
void kc_sockets_free(kc_loop *l);

/* Free what kc_client_free deferred: called by request.c when the last
 * request of a freed client is gone. */
void kc_client_destroy(kc_client *c);

/* Timer heap (client.c).  kc_loop_timer_add returns the timer itself, valid
 * until it has run (it is freed after its callback) or kc_loop_timer_remove
 * took it out (O(log n), unlike the lazy kc_client_timer_cancel). */
kc_timer *kc_loop_timer_add(kc_client *c, uint64_t due_ns, kc_timer_cb cb, void *ud);
void kc_loop_timer_remove(kc_loop *l, kc_timer *t);

/* Isolated transfers (isolated.c): requests with fresh_connection run on
 * the loop's side multi, made on first use, so that they never wait behind
 * the per-host connection budget the other transfers hold. */
CURLMcode kc_isolated_add(kc_loop *l, CURL *e);
/* Milliseconds until the side multi needs to run (-1 = no need). */
long kc_isolated_timeout(kc_loop *l);
/* Sockets to poll for it: l->side_fds[0 .. l->nside), revents cleared. */
void kc_isolated_prepare_poll(kc_loop *l);
/* Act on what the poll found and on due timeouts; finished transfers go to
 * kc_request_on_transfer_done. */
void kc_isolated_run(kc_loop *l);
void kc_isolated_free(kc_loop *l);
/* Read the multi's finished transfers (client.c). */
void kc_loop_read_messages(CURLM *multi);


/* Transport (transport.c): prepare the easy handle for one attempt. */
kc_code kc_transport_prepare(kc_client *c, kc_request *r, kc_error *err);
/* Classify a finished transfer into an error (KC_OK for 2xx). */
void kc_transport_result(kc_request *r, CURLcode rc, kc_error *err);
/* A request is done with its easy handle e (not in any multi): kept in the
 * loop's pool for the next request, or cleaned up. */
void kc_transport_release_easy(kc_loop *l, CURL *e);

/* Request engine (request.c). */
void kc_request_on_transfer_done(kc_request *r, CURLcode rc);
void kc_request_complete_queue(kc_loop *loop);
void kc_request_complete_client(kc_loop *loop, kc_client *c);
void kc_request_cancel_all(kc_client *c);
/* Remove the detached requests from their multi and free them: called by
 * the loop where curl allows it (outside every curl callback). */
void kc_request_reap(kc_loop *l);
uint64_t kc_client_timer_at(kc_client *c, uint64_t due_ns, kc_timer_cb cb, void *ud);

/* Send and drive the loop until done (rest.c). */
kc_code kc_send_sync(kc_client *c, const kc_request_spec *spec, char **body_out, size_t *len_out,
                     kc_error *err);

/* Health check (client.c). */
void kc_client_stream_started(kc_client *c);
void kc_client_stream_ended(kc_client *c);

/* Told when the server answers again after the health check found the link
 * dead (watches reconnect, informers relist at once instead of sitting out
 * the backoff the outage earned them).  Embedded in its owner; on_back runs
 * from the loop and may send requests, start or stop listeners. */
typedef struct kc_link_listener {
    void (*on_back)(kc_client *c, void *ud);
    void *ud;
    struct kc_link_listener *prev, *next;
    int listening;
} kc_link_listener;
void kc_client_link_listen(kc_client *c, kc_link_listener *l);
void kc_client_link_unlisten(kc_client *c, kc_link_listener *l); /* not listening: no-op */

void kc_client_count(kc_client *c, const char *method, long status);

#endif
