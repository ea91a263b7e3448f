/* isolated.c - transfers on connections of their own (fresh_connection).
 *
 * curl caps connections per host for a whole multi handle
 * (CURLMOPT_MAX_HOST_CONNECTIONS), and a transfer that finds the cap
 * reached waits in curl's pending queue - without its timeout running -
 * until another transfer gives a connection back.  A readiness probe must
 * not wait there behind requests that hang on a dead link, so requests
 * with fresh_connection go to a second multi handle of the loop without a
 * per-host cap.  It is driven through curl's socket interface (its sockets
 * are polled together with the main multi's, in one curl_multi_poll) and
 * holds only short-lived connections, one per request. */
#include <stdlib.h>

#include "client_internal.h"

static int on_socket(CURL *e, curl_socket_t s, int what, void *ud, void *socketp)
{
    (void)e;
    (void)socketp;
    kc_loop *l = ud;
    unsigned i = 0;
    while (i < l->nside && l->side_fds[i].fd != s)
        i++;
    if (what == CURL_POLL_REMOVE) {
        if (i < l->nside)
            l->side_fds[i] = l->side_fds[--l->nside];
        return 0;
    }
    if (i == l->nside) {
        if (l->nside == l->side_cap) {
            unsigned cap = l->side_cap ? l->side_cap * 2 : 8;
            struct curl_waitfd *fds = realloc(l->side_fds, cap * sizeof(*fds));
            if (!fds)
                return 0; /* not polled: the attempt's deadline ends it */
            l->side_fds = fds;
            l->side_cap = cap;
        }
        l->side_fds[l->nside++].fd = s;
    }
    l->side_fds[i].events = (short)(((what & CURL_POLL_IN) ? CURL_WAIT_POLLIN : 0) |
                                    ((what & CURL_POLL_OUT) ? CURL_WAIT_POLLOUT : 0));
    l->side_fds[i].revents = 0;
    return 0;
}

static CURLM *side_multi(kc_loop *l)
{
    if (l->side)
        return l->side;
    CURLM *m = curl_multi_init();
    if (!m)
        return NULL;
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, l);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0L); /* no cap */
    l->side = m;
    return m;
}

CURLMcode kc_isolated_add(kc_loop *l, CURL *e)
{
    CURLM *m = side_multi(l);
    return m ? curl_multi_add_handle(m, e) : CURLM_OUT_OF_MEMORY;
}

long kc_isolated_timeout(kc_loop *l)
{
    long ms = -1;
    if (l->side)
        curl_multi_timeout(l->side, &ms);
    return ms;
}

void kc_isolated_prepare_poll(kc_loop *l)
{
    for (unsigned i = 0; i < l->nside; i++)
        l->side_fds[i].revents = 0;
}

static int ready_mask(const struct curl_waitfd *w)
{
    return ((w->revents & CURL_WAIT_POLLIN) ? CURL_CSELECT_IN : 0) |
           ((w->revents & CURL_WAIT_POLLOUT) ? CURL_CSELECT_OUT : 0);
}

void kc_isolated_run(kc_loop *l)
{
    if (!l->side)
        return;
    int running = 0;
    /* socket_action may add or remove sockets (on_socket): take one ready
     * socket at a time and look again */
    for (;;) {
        unsigned i = 0;
        while (i < l->nside && !ready_mask(&l->side_fds[i]))
            i++;
        if (i == l->nside)
            break;
        curl_socket_t fd = l->side_fds[i].fd;
        int mask = ready_mask(&l->side_fds[i]);
        l->side_fds[i].revents = 0;
        curl_multi_socket_action(l->side, fd, mask, &running);
    }
    if (kc_isolated_timeout(l) == 0)
        curl_multi_socket_action(l->side, CURL_SOCKET_TIMEOUT, 0, &running);
    kc_loop_read_messages(l->side);
}

void kc_isolated_free(kc_loop *l)
{
    if (l->side)
        curl_multi_cleanup(l->side);
    free(l->side_fds);
    l->side = NULL;
    l->side_fds = NULL;
    l->nside = l->side_cap = 0;
}
