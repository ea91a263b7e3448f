/* kclient/discovery.h - map names people type to group/version/resource.
 *
 * Resolves "pg", "podgroups", "podgroup", "PodGroup",
 * "podgroups.scheduling.x-k8s.io" and "podgroups.v1alpha1.scheduling.x-k8s.io"
 * the way kubectl does, from the server's discovery documents.  The answer is
 * cached in the client; a name that is not found refreshes the cache once
 * (a CRD may have appeared) before failing with KC_ENOTFOUND.  A short name
 * matches whole ("pg,pgs" names nothing).  The group and version names of
 * the server's documents go into request paths percent-escaped; entries
 * without a version or resource name, and group versions named "", "." or
 * "..", are skipped.
 */
#ifndef KCLIENT_DISCOVERY_H
#define KCLIENT_DISCOVERY_H

#include "client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A resolved resource.  Strings are owned by the struct: release with
 * kc_resource_info_clear. */
typedef struct kc_resource_info {
    char *group;    /* "" for core */
    char *version;  /* preferred version, or the one named */
    char *resource; /* plural */
    char *kind;
    int namespaced;
    int has_status; /* a status subresource exists */
} kc_resource_info;

/* Resolve name (see above).  For KC_ENOTFOUND the error message lists close
 * candidates when there are any. */
kc_code kc_discovery_resolve(kc_client *c, const char *name, kc_resource_info *out,
                             kc_error *err);

/* Forget the cached discovery documents. */
void kc_discovery_invalidate(kc_client *c);

void kc_resource_info_clear(kc_resource_info *info);

#ifdef __cplusplus
}
#endif
#endif
