/* kclient/error.h - error codes and the error value.
 *
 * Every kclient call returns a kc_code (KC_OK is 0, failures are negative).
 * The detail lives in a kc_error the caller owns: HTTP status, the
 * Kubernetes Status reason, message and causes, Retry-After, or the
 * transport error when there was no response at all.
 *
 * Ownership: a kc_error is caller storage.  Initialise it with
 * KC_ERROR_INIT (or kc_error_init), pass it to any number of calls (each
 * failing call overwrites it), and release what it holds with
 * kc_error_clear.  Secrets (tokens, keys) never appear in an error.
 */
#ifndef KCLIENT_ERROR_H
#define KCLIENT_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kc_code {
    KC_OK = 0,
    KC_EINVAL = -1,      /* a bad argument from the caller */
    KC_ENOMEM = -2,      /* allocation failed */
    KC_ECONFIG = -3,     /* kubeconfig / in-cluster configuration problem */
    KC_ETRANSPORT = -4,  /* no HTTP response: DNS, connect, TLS, reset */
    KC_EHTTP = -5,       /* the server answered with a non-2xx status */
    KC_EDECODE = -6,     /* a response body was not what was expected */
    KC_ECANCELLED = -7,  /* cancelled by the caller */
    KC_ETIMEDOUT = -8,   /* a deadline passed */
    KC_ENOTFOUND = -9,   /* discovery does not know the resource */
    KC_EAUTH = -10,      /* credentials could not be obtained (exec plugin, token file) */
    KC_EIO = -11,        /* a local file could not be read */
    KC_ESHUTDOWN = -12   /* the object is shutting down */
} kc_code;

/* One entry of Status.details.causes. */
typedef struct kc_cause {
    char *reason;  /* e.g. "FieldManagerConflict", "FieldValueRequired" */
    char *message; /* e.g. "conflict with \"A\" with subresource \"status\"" */
    char *field;   /* e.g. ".status.phase" */
} kc_cause;

typedef struct kc_error {
    kc_code code;
    long http_status;   /* 0 when there was no response */
    char *reason;       /* Status.reason ("Conflict", "NotFound", ...) or NULL */
    char *message;      /* Status.message, or a description of the problem */
    kc_cause *causes;   /* Status.details.causes, ncauses entries */
    size_t ncauses;
    double retry_after; /* seconds from Retry-After or details.retryAfterSeconds, at most a
                         * day; <0 if none */
    char *method;       /* request method and path the error belongs to, or NULL */
    char *path;
    int attempts;       /* how many times the request was sent (0 when never) */
    char *name;         /* Status.details.name: the object the answer is about, or NULL */
} kc_error;

#define KC_ERROR_INIT {KC_OK, 0, NULL, NULL, NULL, 0, -1.0, NULL, NULL, 0, NULL}

/* Set *err to the empty state.  Does not free anything. */
void kc_error_init(kc_error *err);

/* Free what err holds and reset it to the empty state.  NULL is allowed. */
void kc_error_clear(kc_error *err);

/* Deep-copy src into dst (dst is cleared first).  Returns KC_ENOMEM on failure. */
kc_code kc_error_copy(kc_error *dst, const kc_error *src);

/* A static English name for a code, e.g. "HTTP error".  Never NULL. */
const char *kc_strerror(kc_code code);

/* Render err as one line a person understands, e.g.
 *   PATCH /apis/x/v1/namespaces/a/pgs/b/status: HTTP 409 Conflict: Apply failed
 *   with 1 conflict ... [FieldManagerConflict .status.phase]
 * Writes at most len bytes including the NUL into buf; returns the length the
 * full line needs (like snprintf). */
size_t kc_error_format(const kc_error *err, char *buf, size_t len);

/* True when the error is a server-side apply conflict: HTTP 409 with at least
 * one FieldManagerConflict cause. */
int kc_error_is_field_conflict(const kc_error *err);

/* True when the server says the named object does not exist: HTTP 404 with a
 * Status naming it (details.name).  A 404 that names no object - the
 * resource itself is not served, as while a restarting apiserver has not yet
 * installed its CustomResourceDefinitions ("404 page not found") - is not
 * "gone": do not conclude from it that a delete already happened. */
int kc_error_is_not_found(const kc_error *err);

/* Parse a Kubernetes Status object (JSON text of len bytes) into err, with the
 * given HTTP status.  A body that is not a Status (plain text from API Priority
 * and Fairness, an HTML proxy page) becomes the message, trimmed to a sane
 * length.  Pure: no I/O.  Returns KC_OK or KC_ENOMEM. */
kc_code kc_error_from_status(kc_error *err, long http_status, const char *body, size_t len);

/* Set err to code with a printf-style message.  Internal helper, public so
 * that layers built on kclient report errors the same way. */
kc_code kc_error_set(kc_error *err, kc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
