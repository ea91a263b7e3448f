/* ratelimit.c - token bucket and exponential backoff (pure arithmetic). */
#include "kclient/ratelimit.h"

#include <math.h>
#include <time.h>

#define NS_PER_S 1e9

void kc_token_bucket_init(kc_token_bucket *tb, double qps, double burst, uint64_t now_ns)
{
    tb->qps = qps;
    tb->burst = burst < 1 ? 1 : burst;
    tb->tokens = tb->burst;
    tb->last_ns = now_ns;
}

static void refill(kc_token_bucket *tb, uint64_t now_ns)
{
    if (now_ns <= tb->last_ns)
        return;
    tb->tokens += (double)(now_ns - tb->last_ns) / NS_PER_S * tb->qps;
    if (tb->tokens > tb->burst)
        tb->tokens = tb->burst;
    tb->last_ns = now_ns;
}

uint64_t kc_token_bucket_reserve(kc_token_bucket *tb, uint64_t now_ns)
{
    if (tb->qps <= 0)
        return 0;
    refill(tb, now_ns);
    tb->tokens -= 1.0;
    if (tb->tokens >= 0)
        return 0;
    return (uint64_t)ceil(-tb->tokens / tb->qps * NS_PER_S);
}

int kc_token_bucket_try(kc_token_bucket *tb, uint64_t now_ns)
{
    if (tb->qps <= 0)
        return 1;
    refill(tb, now_ns);
    if (tb->tokens < 1.0)
        return 0;
    tb->tokens -= 1.0;
    return 1;
}

void kc_token_bucket_set_rate(kc_token_bucket *tb, double qps, double burst, uint64_t now_ns)
{
    refill(tb, now_ns);
    tb->qps = qps;
    tb->burst = burst < 1 ? 1 : burst;
    if (tb->tokens > tb->burst)
        tb->tokens = tb->burst;
}

uint64_t kc_rand64(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

double kc_rand_unit(uint64_t *state) { return (double)(kc_rand64(state) >> 11) / 9007199254740992.0; }

uint64_t kc_backoff_delay(const kc_backoff *b, unsigned attempt, uint64_t *rng)
{
    double factor = b->factor > 1 ? b->factor : 2.0;
    double d = (double)b->initial_ns * pow(factor, (double)attempt);
    if (b->max_ns && d > (double)b->max_ns)
        d = (double)b->max_ns;
    if (b->jitter > 0 && rng)
        d *= 1.0 + b->jitter * kc_rand_unit(rng);
    return d > 1.8e19 ? (uint64_t)1.8e19 : (uint64_t)d;
}

uint64_t kc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
