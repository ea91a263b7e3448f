/* sockets.c - which client opened which of the loop's sockets, so that the
 * connections of a client whose link was found dead can be ended at once.
 *
 * A black-holed connection looks alive to curl: it stays in the multi's
 * connection cache and new transfers would be multiplexed onto it.  curl
 * has no call to close one connection, but it checks an idle connection
 * before reusing it and drops it when the socket reads end-of-file.  So
 * curl opens and closes every socket of the main multi through us
 * (CURLOPT_OPENSOCKETFUNCTION / CLOSESOCKETFUNCTION); on a dead link the
 * client's sockets are shut down (not closed: curl still owns them), its
 * transfers fail over, and the next transfers make new connections and
 * share them as usual. */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_internal.h"

/* Called while c's transfer connects: c is alive. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    kc_client *c = clientp;
    kc_loop *l = c->loop;
    (void)purpose;
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    if (fd == CURL_SOCKET_BAD)
        return fd;
    if (l->nsockets == l->sockets_cap) {
        size_t cap = l->sockets_cap ? l->sockets_cap * 2 : 16;
        kc_socket *s = realloc(l->sockets, cap * sizeof(*s));
        if (!s)
            return fd; /* untracked: on a dead link it waits for curl's own timeouts */
        l->sockets = s;
        l->sockets_cap = cap;
    }
    l->sockets[l->nsockets++] = (kc_socket){fd, c->id};
    return fd;
}

/* Called whenever curl closes a connection, possibly after the client that
 * opened it is gone: the loop lives until its multi is cleaned up. */
static int close_socket(void *clientp, curl_socket_t fd)
{
    kc_loop *l = clientp;
    for (size_t i = 0; i < l->nsockets; i++) {
        if (l->sockets[i].fd == fd) {
            l->sockets[i] = l->sockets[--l->nsockets];
            break;
        }
    }
    return close(fd);
}

void kc_sockets_attach(kc_client *c, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, c);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, c->loop);
}

int kc_sockets_shutdown_client(kc_client *c)
{
    kc_loop *l = c->loop;
    int n = 0;
    for (size_t i = 0; i < l->nsockets; i++) {
        if (l->sockets[i].owner == c->id) {
            shutdown(l->sockets[i].fd, SHUT_RDWR);
            n++;
        }
    }
    return n;
}

void kc_sockets_free(kc_loop *l)
{
    free(l->sockets);
    l->sockets = NULL;
    l->nsockets = l->sockets_cap = 0;
}
