/* kclient/kclient.h - the whole public face of kclient.
 *
 *   config.h     kubeconfig and in-cluster configuration
 *   client.h     the client and its event loop
 *   request.h    generic REST (get, list, create, update, patch, apply, delete)
 *   discovery.h  resource name resolution
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

#endif
