/* fuzz_rfc3339.c - RFC 3339 timestamps (kc_rfc3339_parse,
 * kclient/src/exec_credential.c: the expirationTimestamp of an
 * ExecCredential), checked against a grammar and arithmetic of its own.
 *
 * Input: the text (up to the first NUL, as the parser gets a C string).
 * Properties: the text is accepted exactly when it is an RFC 3339
 * date-time (section 5.6: YYYY-MM-DD, "T" or "t", hh:mm:ss, optional
 * fraction ".d+", "Z", "z" or +hh:mm / -hh:mm; month 01-12, the day within
 * its month (leap years), hour 00-23, minute 00-59, second 00-60); then
 * the time is days * 86400 + hh * 3600 + mm * 60 + ss - offset, counted
 * from 1970-01-01 by the proleptic Gregorian calendar (not by timegm), the
 * fraction does not change it, and printing it back as UTC parses to the
 * same time.  A day past its month's end (2024-02-30) is refused: it was
 * once read as the next month's (regress-day-of-month). */
#include <time.h>

#include "exec_credential.h"
#include "fuzz.h"

typedef struct parsed {
    int ok;
    long long secs;
} parsed;

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int month_days(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Days from 1970-01-01 to y-m-d (Howard Hinnant's days_from_civil). */
static long long days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static parsed model(const char *s)
{
    parsed r = {0};
    size_t n = strlen(s);
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    if (n < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return r;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return r;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    int sign = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        sign = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2, &oh) && p[3] == ':' &&
               digits(p + 4, 2, &om)) {
        sign = *p == '-' ? -1 : 1;
    } else {
        return r;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
        return r;
    r.secs = days_from_civil(y, mo, d) * 86400 + h * 3600LL + mi * 60LL + sec -
             sign * (oh * 3600LL + om * 60LL);
    r.ok = d <= month_days(y, mo);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = fuzz_copy(data, size, 1);
    parsed want = model(s);
    time_t got = 0;
    int rc = kc_rfc3339_parse(s, &got);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if ((rc == 0) != want.ok) {
        fprintf(stderr, "\"%s\": %s, expected %s\n", s, rc == 0 ? "accepted" : "refused",
                want.ok ? "accepted" : "refused");
        FUZZ_CHECK(!"kc_rfc3339_parse judged a timestamp wrongly");
    }
    if (rc == 0) {
        if ((long long)got != want.secs) {
            fprintf(stderr, "\"%s\": %lld, expected %lld\n", s, (long long)got, want.secs);
            FUZZ_CHECK(!"kc_rfc3339_parse misread a timestamp");
        }
        struct tm tm;
        char back[64];
        FUZZ_CHECK(gmtime_r(&got, &tm) != NULL);
        if (tm.tm_year >= -1900 && tm.tm_year <= 9999 - 1900) {
            snprintf(back, sizeof(back), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
            time_t again = 0;
            FUZZ_CHECK(kc_rfc3339_parse(back, &again) == 0 && again == got);
        }
    }
    free(s);
    return 0;
}
