/* operator/log.h - structured log lines with levels, as text or JSON.
 *
 * One line per call, written whole under a mutex: the HTTP server's thread
 * and the main loop may log at the same time without interleaving.
 *
 * Levels follow klog and kclient: 0 error, 1 warning, 2 info, 3..9 debug.
 * Errors, warnings and info are always written; debug level d is written
 * when d <= verbosity + 2 (so -v=1 adds level 3, -v=7 adds up to 9).
 *
 *   text: 2026-11-26T11:00:00.123Z INFO  message key=value key2="with spaces"
 *   json: {"ts":"2026-11-26T11:00:00.123Z","level":"info","msg":"message","key":"value"}
 *
 * Debug lines say DEBUG / "debug" and, in JSON, carry "v":d as well.
 */
#ifndef KCO_LOG_H
#define KCO_LOG_H

#include <stdio.h>

typedef enum { KCO_LOG_TEXT, KCO_LOG_JSON } kco_log_format;

typedef struct kco_logger kco_logger;

/* A logger writing to out (borrowed: the caller keeps it open and closes it
 * after kco_logger_free).  verbosity < 0 counts as 0.  NULL on allocation
 * failure. */
kco_logger *kco_logger_new(FILE *out, kco_log_format fmt, int verbosity);

/* NULL is allowed.  Does not close out. */
void kco_logger_free(kco_logger *l);

/* 1 when a line at level would be written: lets callers skip costly
 * formatting of debug detail.  kclient filters on its own side too, so give
 * kc_client_options.verbosity = verbosity + 2 to let its debug lines through. */
int kco_log_enabled(const kco_logger *l, int level);

/* Write msg with key, value pairs: the variadic arguments are const char *
 * key, value, key, value, ... ended by a NULL key.  A NULL value is written
 * as null (JSON) or <nil> (text).  l may be NULL (nothing is written).
 * The compiler checks that the list ends with NULL. */
void kco_log(kco_logger *l, int level, const char *msg, ...) __attribute__((sentinel));

/* Write a printf-formatted message with no keys. */
void kco_logf(kco_logger *l, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Adapter for kc_client_options: .log = kco_kclient_log, .log_ud = the
 * logger.  Lines get logger=kclient, and a leading "warning: " or "error: "
 * is dropped since the level column already says it. */
void kco_kclient_log(void *ud, int level, const char *line);

#endif
