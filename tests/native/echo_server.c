/* A small native echo server for netmem's heaptrack and LeakSanitizer tests (tests/core/test_native.py).
 *
 *   echo_server PORT leak|clean [BYTES]
 *
 * One thread, poll(): each line a client sends is echoed back. In "leak" mode every accepted connection makes a
 * session record in remember_session() that is never freed (BYTES, default 2000): the leak the tests find by name.
 * In "clean" mode the same record is freed when the connection closes. SIGTERM ends the server with exit(0), as
 * a well-behaved server does, so heaptrack's preload library and LeakSanitizer see a normal exit.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 1024

struct session {
    int fd;
    size_t size;
    char *scratch;
};

static volatile sig_atomic_t stopping = 0;
static struct session *kept[1];  /* the leak's records are reachable from nowhere once overwritten */

static void on_term(int sig) { (void)sig; stopping = 1; }

static struct session *remember_session(int fd, size_t bytes) {
    struct session *s = malloc(sizeof *s);
    s->fd = fd;
    s->size = bytes;
    s->scratch = malloc(bytes);
    memset(s->scratch, 1, bytes);  /* touched, so the pages count in RSS */
    return s;
}

static void forget_session(struct session *s) {
    free(s->scratch);
    free(s);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT leak|clean [BYTES]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    int leak = strcmp(argv[2], "leak") == 0;
    size_t bytes = argc > 3 ? (size_t)atol(argv[3]) : 2000;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 128) != 0) {
        perror("bind/listen");
        return 1;
    }
    printf("listening on 127.0.0.1:%d (%s)\n", port, leak ? "leak" : "clean");
    fflush(stdout);

    struct pollfd fds[MAX_CLIENTS + 1];
    struct session *sessions[MAX_CLIENTS + 1];
    int n = 1;
    fds[0].fd = lfd;
    fds[0].events = POLLIN;
    char buf[4096];
    while (!stopping) {
        if (poll(fds, n, 200) < 0)
            continue;  /* EINTR: SIGTERM */
        if ((fds[0].revents & POLLIN) && n <= MAX_CLIENTS) {
            int cfd = accept(lfd, NULL, NULL);
            if (cfd >= 0) {
                fds[n].fd = cfd;
                fds[n].events = POLLIN;
                fds[n].revents = 0;
                sessions[n] = remember_session(cfd, bytes);
                n++;
            }
        }
        for (int i = 1; i < n; i++) {
            if (!fds[i].revents)
                continue;
            ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got > 0 && write(fds[i].fd, buf, (size_t)got) == got)
                continue;
            close(fds[i].fd);
            if (leak)
                kept[0] = sessions[i];  /* dropped on the next close: lost */
            else
                forget_session(sessions[i]);
            fds[i] = fds[n - 1];
            sessions[i] = sessions[n - 1];
            n--;
            i--;
        }
    }
    for (int i = 1; i < n; i++) {
        close(fds[i].fd);
        forget_session(sessions[i]);
    }
    close(lfd);
    return 0;
}
