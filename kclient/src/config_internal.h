/* config_internal.h - the resolved configuration the transport reads.
 * Not installed.  config.c fills it; transport.c consumes it. */
#ifndef KCLIENT_CONFIG_INTERNAL_H
#define KCLIENT_CONFIG_INTERNAL_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "kclient/config.h"

typedef struct kc_exec_config {
    char *command;      /* resolved path or bare name looked up in PATH */
    char **args;        /* NULL-terminated */
    char **env;         /* "NAME=value" entries added to the environment, NULL-terminated */
    char *api_version;  /* client.authentication.k8s.io/v1 (v1beta1 accepted) */
    int provide_cluster_info;
    char *install_hint;
} kc_exec_config;

/* Credentials as used for one request: borrowed pointers valid until the next
 * kc_config_credentials call on the same config. */
typedef struct kc_credentials {
    const char *token;          /* bearer token or NULL */
    const char *cert_pem;       /* client certificate PEM or NULL */
    size_t cert_pem_len;
    const char *key_pem;        /* client key PEM or NULL */
    size_t key_pem_len;
    const char *username;       /* basic auth or NULL */
    const char *password;
} kc_credentials;

struct kc_config {
    char *origin;          /* file(s) the config came from, for messages */
    char *warnings;        /* problems worth a warning, one per line (no trailing
                              newline), or NULL: kubeconfig files readable by others */
    char *context_name;
    char *cluster_name;
    char *user_name;
    char *server;          /* https://host:port[/path], no trailing slash */
    char *namespace_;      /* never NULL: "default" when unset */
    char *tls_server_name; /* or NULL */
    char *proxy_url;       /* or NULL */
    int insecure_skip_tls_verify;
    char *ca_pem;          /* CA bundle PEM bytes (from file or -data) or NULL = system store */
    size_t ca_pem_len;

    /* auth: at most one of token / token_file / exec is the bearer source */
    char *token;
    char *token_file;
    char *cert_pem;
    size_t cert_pem_len;
    char *key_pem;
    size_t key_pem_len;
    char *username;
    char *password;
    kc_exec_config *exec;

    /* caches */
    char *file_token;         /* last content read from token_file */
    struct timespec file_token_mtime;
    off_t file_token_size;    /* with the mtime: re-read when either changes */
    time_t file_token_checked;
    char *exec_token;         /* last exec credential */
    char *exec_cert_pem;
    size_t exec_cert_pem_len;
    char *exec_key_pem;
    size_t exec_key_pem_len;
    time_t exec_expiry;       /* 0 = no expiry given */
    int exec_valid;
};

/* Current credentials.  force_refresh re-runs the exec plugin / re-reads the
 * token file (after a 401).  Errors are KC_EAUTH with a message free of
 * secrets. */
kc_code kc_config_credentials(kc_config *cfg, int force_refresh, kc_credentials *out,
                              kc_error *err);

/* True when a 401 may be cured by refreshing (exec plugin or token file). */
int kc_config_can_refresh(const kc_config *cfg);

#endif
