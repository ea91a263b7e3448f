/* kclient/ratelimit.h - token bucket and exponential backoff.
 *
 * Pure arithmetic on a caller-supplied monotonic clock (nanoseconds), so the
 * behaviour can be tested with an injected clock and no sleeping.
 */
#ifndef KCLIENT_RATELIMIT_H
#define KCLIENT_RATELIMIT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A token bucket: holds up to burst tokens, refilled at qps tokens/second.
 * Plain struct so it can live inside other objects; treat fields as private. */
typedef struct kc_token_bucket {
    double qps;
    double burst;
    double tokens;   /* may go negative: reservations made ahead of time */
    uint64_t last_ns;
} kc_token_bucket;

/* Start full (burst tokens available) at now_ns.  qps <= 0 disables limiting:
 * every reservation is granted at once. */
void kc_token_bucket_init(kc_token_bucket *tb, double qps, double burst, uint64_t now_ns);

/* Take one token.  Returns how many nanoseconds the caller must wait before
 * acting (0 = act now).  The token is reserved even when a wait is returned,
 * like golang.org/x/time/rate's Reserve: callers that wait exactly that long
 * together never exceed the rate. */
uint64_t kc_token_bucket_reserve(kc_token_bucket *tb, uint64_t now_ns);

/* Take a token only if one is available now.  Returns 1 when taken. */
int kc_token_bucket_try(kc_token_bucket *tb, uint64_t now_ns);

/* Change the rate, keeping the tokens earned so far. */
void kc_token_bucket_set_rate(kc_token_bucket *tb, double qps, double burst, uint64_t now_ns);

/* Exponential backoff with jitter: delay(n) = min(initial * factor^n, max),
 * then multiplied by a random factor in [1, 1 + jitter).  n counts from 0. */
typedef struct kc_backoff {
    uint64_t initial_ns;
    uint64_t max_ns;
    double factor; /* <= 1 means 2 */
    double jitter; /* 0 = none */
} kc_backoff;

uint64_t kc_backoff_delay(const kc_backoff *b, unsigned attempt, uint64_t *rng);

/* xorshift64* step: a per-object random source (no global state).
 * *state must be non-zero; returns a uniformly distributed 64-bit value. */
uint64_t kc_rand64(uint64_t *state);

/* Uniform double in [0, 1). */
double kc_rand_unit(uint64_t *state);

/* CLOCK_MONOTONIC in nanoseconds: the default clock. */
uint64_t kc_now_ns(void);

#ifdef __cplusplus
}
#endif
#endif
