/* kclient/request.h - generic REST over any group/version/resource.
 *
 * Objects are cJSON trees.  Ownership: objects passed in are borrowed (read
 * during the call, never kept); objects returned through an `out` pointer
 * are new and the caller frees them with cJSON_Delete.  On failure *out is
 * set to NULL.  A 2xx answer whose body is not a JSON object (an HTML page
 * from a proxy, an array, nothing) fails with KC_EDECODE; the error names
 * the request (method, path) and quotes the start of the body.  A body over
 * max_response_bytes fails with KC_EDECODE too; neither is retried.
 */
#ifndef KCLIENT_REQUEST_H
#define KCLIENT_REQUEST_H

#include <stddef.h>

#include "client.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

/* Where an object or collection lives.  Strings are borrowed. */
typedef struct kc_ref {
    const char *group;       /* NULL or "" for the core group (/api/v1) */
    const char *version;     /* "v1", "v1alpha1" */
    const char *resource;    /* plural: "configmaps", "podgroups" */
    const char *namespace_;  /* NULL: cluster-scoped, or all namespaces for a list */
    const char *name;        /* NULL: the collection */
    const char *subresource; /* NULL, "status", "scale", ... */
} kc_ref;

/* A query parameter; name and value are escaped by kclient. */
typedef struct kc_param {
    const char *name;
    const char *value;
} kc_param;

typedef enum kc_patch_type {
    KC_PATCH_APPLY = 0,  /* server-side apply, application/apply-patch+yaml (JSON is valid YAML) */
    KC_PATCH_MERGE,      /* RFC 7386 JSON merge patch, application/merge-patch+json */
    KC_PATCH_JSON,       /* RFC 6902 JSON patch, application/json-patch+json */
    KC_PATCH_STRATEGIC   /* strategic merge patch; built-in types only (a CRD answers 415) */
} kc_patch_type;

/* Content-Type for a patch type. */
const char *kc_patch_content_type(kc_patch_type t);

/* The API path of ref: /api/v1/namespaces/ns/configmaps/name/status.
 * Path segments are percent-escaped.  Returns a new string (caller frees)
 * or NULL when ref lacks version or resource (or name with a subresource). */
char *kc_ref_path(const kc_ref *ref);

/* server + path + "?" + escaped params.  New string, caller frees. */
char *kc_url_build(const char *server, const char *path, const kc_param *params, size_t nparams);

/* --- async core --- */

typedef struct kc_request_spec {
    const char *method;        /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    kc_ref ref;                /* used when path is NULL */
    const char *path;          /* raw path ("/version", "/apis"), overrides ref */
    const kc_param *params;    /* query parameters (copied) */
    size_t nparams;
    const char *accept;        /* NULL = application/json */
    const char *content_type;  /* for body */
    const char *body;          /* copied at send; may be NULL */
    size_t body_len;
    int idempotent;            /* safe to repeat after a connection failure or 5xx */
    int max_attempts;          /* 0 = client default; 1 = no retries */
    /* Per attempt, including any wait for a connection; 0 = the client's
     * request_timeout_ms; < 0 = none.  An attempt that runs out ends with
     * KC_ETIMEDOUT within timeout_ms + 5 ms (plus however late the loop is
     * run), the message naming the step not done in time, e.g.
     *   no answer from https://10.0.0.1:6443 within 1000 ms (waiting for a
     *   connection: all 4 connections to the server busy or still being set up)
     * or "(TCP connection not established)", "(TLS handshake not completed)",
     * "(request sent, waiting for the response)"; it is then retried only as
     * the retry rules (client.h) and max_attempts allow. */
    long timeout_ms;
    /* Streaming (watches): body bytes go to on_data as they arrive instead
     * of being buffered, for 2xx responses only; returning non-zero aborts
     * the transfer (done with KC_ECANCELLED).  Streaming requests are never
     * retried by the transport once data has been delivered. */
    int (*on_data)(const char *buf, size_t len, void *ud);
    /* Called when the response headers of a 2xx streaming reply arrived. */
    void (*on_open)(long http_status, void *ud);
    void *stream_ud;
    /* Do not pass through the token bucket (watches: as client-go). */
    int no_rate_limit;
    /* Send on a connection of its own: opened for this request, closed after
     * it, shared with no other transfer and outside the client's
     * max_connections, so the request never waits behind connections other
     * requests hold (curl would queue it until one is given back) and the
     * health check's reset leaves it alone.  What a readiness probe wants:
     * its answer says whether the server is reachable now, whatever hangs
     * on the client's other connections: on a black-holed link it fails
     * after timeout_ms, on a refused or reset one at once (KC_ETRANSPORT,
     * e.g. "Failed to connect to 10.0.0.1 port 6443 after 0 ms: Connection
     * refused", "Recv failure: Connection reset by peer").  Costs a TCP and TLS handshake
     * (2 to 5 ms against a local kube-apiserver, against 0 to 1 ms on a
     * warm shared connection).  0 = share the client's connections
     * (default). */
    int fresh_connection;
} kc_request_spec;

/* What came back.  Everything is borrowed and valid only during the callback. */
typedef struct kc_response {
    long status;                    /* HTTP status, 0 if none */
    const char *body;               /* NUL-terminated, body_len bytes (empty when streamed) */
    size_t body_len;
    const char *content_type;       /* or NULL */
    const char *pf_flow_schema;     /* X-Kubernetes-PF-FlowSchema-UID or NULL */
    const char *pf_priority_level;  /* X-Kubernetes-PF-PriorityLevel-UID or NULL */
    int attempts;                   /* how many times it was sent */
    uint64_t latency_ns;            /* from send to completion, waits included */
} kc_response;

/* Completion callback.  Exactly once per request.  err->code is KC_OK for a
 * 2xx answer; otherwise err describes the failure (KC_EHTTP with the parsed
 * Status, KC_ETRANSPORT, KC_ECANCELLED, KC_ETIMEDOUT).  resp is never NULL
 * (status 0 when there was no response).  The request handle is freed after
 * the callback returns. */
typedef void (*kc_done_cb)(kc_client *c, const kc_response *resp, const kc_error *err, void *ud);

/* Start a request.  Returns KC_OK and (when out is not NULL) a handle valid
 * until the callback has run; or an error, in which case cb is never
 * called. */
kc_code kc_request_send(kc_client *c, const kc_request_spec *spec, kc_done_cb cb, void *ud,
                        kc_request **out, kc_error *err);

/* Cancel a pending request: its callback runs with KC_ECANCELLED, from the
 * next loop iteration.  Safe from inside any callback. */
void kc_request_cancel(kc_request *req);

/* --- blocking helpers --- */

typedef struct kc_list_opts {
    const char *label_selector;
    const char *field_selector;
    long limit;                      /* page size; 0 = no limit param (kc_list_each uses 500) */
    const char *continue_token;      /* from a previous page's metadata.continue */
    const char *resource_version;
    const char *resource_version_match; /* "NotOlderThan", "Exact" */
} kc_list_opts;

typedef struct kc_write_opts {
    const char *field_manager; /* required for apply; optional elsewhere */
    int force;                 /* apply only: take ownership of conflicting fields */
    int dry_run;               /* dryRun=All: validate on the server, persist nothing */
    int idempotent;            /* retry after connection failures (apply is always) */
    const char *field_validation; /* "Strict", "Warn", "Ignore" or NULL */
} kc_write_opts;

typedef struct kc_delete_opts {
    const char *propagation_policy;   /* "Background", "Foreground", "Orphan" or NULL */
    const char *precondition_uid;     /* or NULL */
    const char *precondition_resource_version; /* or NULL */
    long grace_period_seconds;        /* < 0 = unset (use KC_DELETE_OPTS_INIT) */
    int dry_run;
} kc_delete_opts;
#define KC_DELETE_OPTS_INIT {NULL, NULL, NULL, -1, 0}

/* GET one object. */
kc_code kc_get(kc_client *c, const kc_ref *ref, struct cJSON **out, kc_error *err);

/* GET one page of a list (ref.name NULL).  The page's metadata.continue says
 * whether more follow. */
kc_code kc_list(kc_client *c, const kc_ref *ref, const kc_list_opts *opts, struct cJSON **out,
                kc_error *err);

/* Every item of a list, page after page (opts->limit or 500 per page).
 * item is borrowed for the duration of the call; return non-zero from cb to
 * stop early (then KC_ECANCELLED).  *resource_version_out (may be NULL)
 * receives the list's resourceVersion, caller frees. */
typedef int (*kc_item_cb)(const struct cJSON *item, void *ud);
kc_code kc_list_each(kc_client *c, const kc_ref *ref, const kc_list_opts *opts, kc_item_cb cb,
                     void *ud, char **resource_version_out, kc_error *err);

/* POST obj to the collection ref (ref.name NULL). */
kc_code kc_create(kc_client *c, const kc_ref *ref, const struct cJSON *obj,
                  const kc_write_opts *opts, struct cJSON **out, kc_error *err);

/* PUT obj.  metadata.resourceVersion in obj, when present, is the
 * precondition: a stale one gives HTTP 409 Conflict. */
kc_code kc_update(kc_client *c, const kc_ref *ref, const struct cJSON *obj,
                  const kc_write_opts *opts, struct cJSON **out, kc_error *err);

/* PATCH with a body of the given type (JSON or YAML text, len bytes). */
kc_code kc_patch(kc_client *c, const kc_ref *ref, kc_patch_type type, const char *patch,
                 size_t len, const kc_write_opts *opts, struct cJSON **out, kc_error *err);

/* Server-side apply of obj (must carry apiVersion, kind, metadata.name).
 * opts->field_manager is required. */
kc_code kc_apply(kc_client *c, const kc_ref *ref, const struct cJSON *obj,
                 const kc_write_opts *opts, struct cJSON **out, kc_error *err);

/* DELETE.  out (may be NULL) receives the server's answer (the object, or a
 * Status). */
kc_code kc_delete(kc_client *c, const kc_ref *ref, const kc_delete_opts *opts,
                  struct cJSON **out, kc_error *err);

/* GET a raw path (e.g. "/version", "/readyz").  *body_out (may be NULL)
 * receives the body, caller frees. */
kc_code kc_get_raw(kc_client *c, const char *path, char **body_out, size_t *len_out,
                   kc_error *err);

#ifdef __cplusplus
}
#endif
#endif
