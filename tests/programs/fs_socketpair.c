/* socketpair(AF_UNIX, SOCK_STREAM): bytes both ways, send/recv and sendmsg/recvmsg with
 * iovecs, MSG_DONTWAIT, shutdown (EOF for the peer, EPIPE with and without SIGPIPE),
 * close of the peer, poll and epoll readiness (POLLIN, POLLOUT, POLLRDHUP, POLLHUP), a
 * blocking read woken by another process, socket options and names, fstat, errors. */
#define _GNU_SOURCE
#include "proc_util.h"
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int s) {
    (void)s;
    sigpipes++;
}

static short revents(int fd, short events) {
    struct pollfd p = {.fd = fd, .events = events};
    return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

int main(void) {
    proc_init();
    set_handler(SIGPIPE, on_sigpipe, 0);
    int sv[2];
    PRINT_RES("socketpair(AF_INET)", socketpair(AF_INET, SOCK_STREAM, 0, sv));
    PRINT_RES("socketpair(AF_UNIX, bad flags)", socketpair(AF_UNIX, SOCK_STREAM | 0x100000, 0, sv));
    PRINT_RES("socketpair(AF_UNIX, protocol 7)", socketpair(AF_UNIX, SOCK_STREAM, 7, sv));
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    CHECK((fcntl(sv[0], F_GETFD) & FD_CLOEXEC) != 0, "SOCK_CLOEXEC");
    struct stat st;
    CHECK(fstat(sv[0], &st) == 0 && S_ISSOCK(st.st_mode), "fstat: a socket");
    PRINT_RES("lseek", lseek(sv[0], 0, SEEK_SET));

    /* Both ways, plain read/write and send/recv. */
    char buf[64] = {0};
    CHECK(write(sv[0], "ping", 4) == 4, "write one way");
    CHECK(read(sv[1], buf, sizeof buf) == 4 && memcmp(buf, "ping", 4) == 0, "read it");
    CHECK(send(sv[1], "pong!", 5, 0) == 5, "send the other way");
    CHECK(recv(sv[0], buf, sizeof buf, 0) == 5 && memcmp(buf, "pong!", 5) == 0, "recv it");
    PRINT_RES("recv MSG_DONTWAIT with nothing there", recv(sv[0], buf, sizeof buf, MSG_DONTWAIT));
    PRINT_RES("send to a pipe", send(1, "x", 1, 0));

    /* sendmsg/recvmsg with two iovecs. */
    struct iovec out[2] = {{"ab", 2}, {"cde", 3}};
    struct msghdr m = {.msg_iov = out, .msg_iovlen = 2};
    CHECK(sendmsg(sv[0], &m, 0) == 5, "sendmsg of two iovecs");
    char x[2], y[8] = {0};
    struct iovec in[2] = {{x, 2}, {y, sizeof y}};
    struct msghdr r = {.msg_iov = in, .msg_iovlen = 2, .msg_flags = 123};
    CHECK(recvmsg(sv[1], &r, 0) == 5 && memcmp(x, "ab", 2) == 0 && memcmp(y, "cde", 3) == 0,
          "recvmsg into two iovecs");
    CHECK(r.msg_flags == 0, "recvmsg clears msg_flags");

    /* Options and names. */
    int v = -1;
    socklen_t len = sizeof v;
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &len) == 0 && v == SOCK_STREAM, "SO_TYPE");
    len = sizeof v;
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &v, &len) == 0 && v == 0, "SO_ERROR");
    len = sizeof v;
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &len) == 0 && v == AF_UNIX, "SO_DOMAIN");
    PRINT_RES("getsockopt on a pipe", getsockopt(1, SOL_SOCKET, SO_TYPE, &v, &len));
    struct sockaddr_un sa;
    len = sizeof sa;
    CHECK(getsockname(sv[0], (struct sockaddr *)&sa, &len) == 0 && len == sizeof(sa_family_t) &&
              sa.sun_family == AF_UNIX,
          "getsockname: unnamed");
    len = sizeof sa;
    CHECK(getpeername(sv[0], (struct sockaddr *)&sa, &len) == 0 && len == sizeof(sa_family_t),
          "getpeername: unnamed");

    /* Readiness. */
    CHECK(revents(sv[0], POLLIN | POLLOUT) == POLLOUT, "idle: writable only");
    write(sv[1], "z", 1);
    CHECK(revents(sv[0], POLLIN | POLLOUT) == (POLLIN | POLLOUT), "data: readable");
    read(sv[0], buf, 1);

    /* shutdown(SHUT_WR): the peer reads EOF and sees POLLRDHUP; writing fails with EPIPE. */
    CHECK(shutdown(sv[0], SHUT_WR) == 0, "shutdown SHUT_WR");
    CHECK(read(sv[1], buf, sizeof buf) == 0, "the peer reads EOF");
    CHECK((revents(sv[1], POLLIN | POLLRDHUP) & (POLLIN | POLLRDHUP)) == (POLLIN | POLLRDHUP),
          "the peer sees POLLRDHUP");
    sigpipes = 0;
    PRINT_RES("write after SHUT_WR", write(sv[0], "q", 1));
    CHECK(sigpipes == 1, "with SIGPIPE");
    PRINT_RES("send MSG_NOSIGNAL after SHUT_WR", send(sv[0], "q", 1, MSG_NOSIGNAL));
    CHECK(sigpipes == 1, "MSG_NOSIGNAL: no SIGPIPE");
    CHECK(write(sv[1], "still", 5) == 5, "the other direction still works");
    CHECK(read(sv[0], buf, sizeof buf) == 5, "and reads");
    PRINT_RES("shutdown bad how", shutdown(sv[0], 9));
    PRINT_RES("shutdown of a pipe", shutdown(1, SHUT_RD));
    close(sv[0]);
    close(sv[1]);

    /* The peer closes: EOF, POLLHUP; a blocking read is woken by another process. */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = 5};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &e) == 0, "epoll_ctl ADD of a socket");
    pid_t c = xfork();
    if (c == 0) {
        close(sv[0]);
        msleep(50);
        write(sv[1], "from child", 10);
        _exit(0);
    }
    close(sv[1]);
    memset(buf, 0, sizeof buf);
    CHECK(read(sv[0], buf, sizeof buf) == 10 && strcmp(buf, "from child") == 0,
          "a blocking read woken by the child");
    xwait(c);
    struct epoll_event got;
    CHECK(epoll_wait(ep, &got, 1, 1000) == 1 && got.data.u64 == 5 &&
              (got.events & (EPOLLIN | EPOLLRDHUP)) == (EPOLLIN | EPOLLRDHUP),
          "epoll: the peer's close");
    CHECK(read(sv[0], buf, sizeof buf) == 0, "EOF after the peer closed");
    CHECK((revents(sv[0], POLLIN) & POLLHUP) != 0, "POLLHUP after the peer closed");
    sigpipes = 0;
    PRINT_RES("write to a closed peer", write(sv[0], "x", 1));
    CHECK(sigpipes == 1, "with SIGPIPE");
    close(sv[0]);
    close(ep);
    return check_summary();
}
