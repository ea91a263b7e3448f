/* operator/flags.h - command-line flags that can also be set from the
 * environment (handy in a Deployment: one env var instead of editing args).
 *
 * A flag named "metrics-bind-address" is --metrics-bind-address on the
 * command line and KCO_METRICS_BIND_ADDRESS in the environment.  Each target
 * gets its default first, then the environment's value, then the command
 * line's: the command line wins.
 */
#ifndef KCO_FLAGS_H
#define KCO_FLAGS_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    KCO_FLAG_STRING,      /* target: const char ** */
    KCO_FLAG_INT,         /* target: long * (decimal, range of long) */
    KCO_FLAG_BOOL,        /* target: int * (0 or 1) */
    KCO_FLAG_DURATION_MS  /* target: long * in milliseconds */
} kco_flag_type;

typedef struct kco_flag {
    const char *name;     /* lower-case words joined by '-' */
    kco_flag_type type;
    void *target;
    const char *def;      /* default as text (NULL: NULL string, 0, false, 0 ms) */
    const char *help;
} kco_flag;

/* Parse the environment, then argv[1..argc-1].
 *
 * Command line: --name=value or --name value (one dash works too, as in Go);
 * a bool is set by --name, or --name=true|false (also 1/0, yes/no, on/off);
 * "--" ends the flags.  Positional arguments are not accepted.
 * Durations take Go syntax ("500ms", "10s", "1m30s", "1.5h"; units ns us ms
 * s m h; a leading '-' allowed) or a plain number of seconds ("30", "0.5");
 * sub-millisecond remainders are dropped.
 *
 * String targets point into argv, the environment or def (nothing is
 * copied): they stay valid while those do.
 *
 * Returns 0 on success; 1 when --help (-h, -help) was given: the usage
 * (program, description, every flag with its default and env var) went to out
 * and the caller should exit 0; -1 on an unknown flag or a bad value: an
 * "error: ..." line naming the flag or env var went to err and the caller
 * should exit 2.  Every environment value must be valid, even one the
 * command line overrides: a broken Deployment should not start quietly.
 * out/err NULL mean stdout/stderr.  Targets may be partly set when -1 is
 * returned. */
int kco_flags_parse(const kco_flag *flags, size_t n, int argc, char **argv, const char *program,
                    const char *description, FILE *out, FILE *err);

/* Parse a duration as described above into *ms.  Returns 0, or -1 when s is
 * not a duration or does not fit a long. */
int kco_parse_duration_ms(const char *s, long *ms);

#endif
