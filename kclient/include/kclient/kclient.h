/* kclient/kclient.h - the whole public face of kclient.
 *
 *   config.h     kubeconfig and in-cluster configuration
 *   client.h     the client and its event loop
 *   request.h    generic REST (get, list, create, update, patch, apply, delete)
 *   discovery.h  resource name resolution
 *   watch.h      watch streams (and their pure decoder)
 *   informer.h   list-then-watch caches with indexers and handlers
 *   workqueue.h  rate-limited, de-duplicating work queue
 *   lease.h      leader election on a coordination.k8s.io Lease
 *   bulk.h       PatchStatusAll: many status patches at once
 *   yaml.h       YAML (and JSON) documents to cJSON
 *   ratelimit.h  token bucket and backoff
 *   error.h      error codes and the error value
 */
#ifndef KCLIENT_KCLIENT_H
#define KCLIENT_KCLIENT_H

#include "error.h"
#include "config.h"
#include "ratelimit.h"
#include "client.h"
#include "request.h"
#include "discovery.h"
#include "watch.h"
#include "workqueue.h"
#include "informer.h"
#include "lease.h"
#include "controller.h"
#include "bulk.h"
#include "yaml.h"

#endif
