/* kclient/config.h - where the cluster is and who we are.
 *
 * Loads kubeconfig the way kubectl does (explicit file, else $KUBECONFIG with
 * several files merged by kubectl's rules, else ~/.kube/config), or the
 * in-cluster service-account configuration.  The result is an immutable
 * kc_config (apart from credential caches guarded inside) that any number of
 * clients may share from one thread.
 *
 * Merging rules ($KUBECONFIG=a:b:c), as kubectl: for every named cluster,
 * user and context the first file that defines the name wins; the first file
 * that sets current-context wins; relative paths (certificate-authority,
 * client-certificate, client-key, tokenFile, exec command) are resolved
 * against the directory of the file that defined the entry.  Empty entries
 * and missing files in the list are skipped; an explicit --kubeconfig file
 * that is missing is an error.
 *
 * Errors name the file, the entry and the problem, e.g.
 *   kubeconfig /home/a/.kube/config: user "dev": client-key-data: invalid base64
 * and never contain token, password or key material.
 *
 * A bearer token goes into the Authorization header as it is, so one with a
 * control character (CR, LF, NUL, any byte below 0x20, DEL) is refused
 * wherever it comes from, naming its source and never the token: the
 * kubeconfig's token or tokenFile and the in-cluster token file fail the
 * load (KC_ECONFIG), a rotated token file or an exec plugin's answer fails
 * kc_config_credentials (KC_EAUTH).
 */
#ifndef KCLIENT_CONFIG_H
#define KCLIENT_CONFIG_H

#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kc_config kc_config;

/* Overrides, all optional (NULL = not set), matching kubectl's flags. */
typedef struct kc_config_options {
    const char *kubeconfig; /* --kubeconfig: one file, no merging; NULL = $KUBECONFIG / ~/.kube/config */
    const char *context;    /* --context: instead of current-context */
    const char *cluster;    /* --cluster: instead of the context's cluster */
    const char *user;       /* --user: instead of the context's user */
    const char *namespace_; /* -n: instead of the context's namespace */
    const char *server;     /* --server: instead of the cluster's server */
} kc_config_options;

/* Load kubeconfig following kubectl's rules (see above).  opts may be NULL.
 * On success *out is a new config the caller frees with kc_config_free. */
kc_code kc_config_load(const kc_config_options *opts, kc_config **out, kc_error *err);

/* Parse one kubeconfig document from memory.  origin names it in errors
 * (e.g. the file path, or "secret ns/name key kubeconfig"; NULL =
 * "<buffer>") and base_dir resolves relative paths (NULL = cwd).
 * Pure apart from reading the files the document refers to (CA, cert, key,
 * tokenFile), which happens here so that errors surface at load time.
 * A program, not a person at a shell, chose opts here, so errors suggest no
 * command-line flag; a text that is no kubeconfig at all says so:
 *   kubeconfig secret ns/x key kubeconfig: no current-context, and the program
 *   loading it names no context (contexts: "a", "b"): set current-context
 *   kubeconfig secret ns/x key kubeconfig: not a kubeconfig: expected a mapping
 *   at the top level, found a string
 * (kc_config_load, for command lines, speaks of --context and --server as
 * kubectl does). */
kc_code kc_config_from_buffer(const char *yaml, size_t len, const char *origin,
                              const char *base_dir, const kc_config_options *opts,
                              kc_config **out, kc_error *err);

/* In-cluster configuration: token, ca.crt and namespace from sa_dir
 * (NULL = /var/run/secrets/kubernetes.io/serviceaccount), server from
 * KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.  The token file is
 * re-read when it changes, as kubelet rotates it. */
kc_code kc_config_in_cluster(const char *sa_dir, kc_config **out, kc_error *err);

/* In-cluster when KUBERNETES_SERVICE_HOST is set, opts->kubeconfig is NULL
 * and $KUBECONFIG is unset; else kc_config_load.  What controllers usually
 * want. */
kc_code kc_config_auto(const kc_config_options *opts, kc_config **out, kc_error *err);

/* Accessors.  Returned strings belong to cfg and live as long as it. */
const char *kc_config_server(const kc_config *cfg);      /* "https://127.0.0.1:6443" */
const char *kc_config_namespace(const kc_config *cfg);   /* context namespace or "default" */
const char *kc_config_context(const kc_config *cfg);     /* context name, "in-cluster" */
int kc_config_insecure(const kc_config *cfg);             /* insecure-skip-tls-verify set */

/* Warnings found while loading, one per line (no trailing newline), or NULL
 * when there are none.  Today: a kubeconfig file that group or others may
 * access (mode & 077), e.g.
 *   kubeconfig /home/a/.kube/config is readable by group or others (mode 0644); chmod 600 it
 * Only files are checked (not kc_config_from_buffer, not in-cluster).
 * kc_client_new logs each line at level 1; programs that log less should
 * show them themselves, as kubectl-patch_status does.  Borrowed from cfg. */
const char *kc_config_warnings(const kc_config *cfg);

void kc_config_free(kc_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
