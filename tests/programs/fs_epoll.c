/* epoll and eventfd: the calls and their errors; level-triggered, edge-triggered and
 * one-shot interests on pipes and eventfds; timeouts; a wait woken by another process;
 * a registration that lives as long as its open file description (dup keeps it, closing
 * the last descriptor drops it); an epoll inside poll(); eventfd counters, semaphores,
 * EAGAIN and the 8-byte rule. */
#include "proc_util.h"
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <poll.h>

static int ep;

static int wait_n(int timeout_ms, struct epoll_event *ev, int max) {
    int n;
    do {
        n = epoll_wait(ep, ev, max, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n;
}

static void add(int fd, unsigned events, unsigned long data) {
    struct epoll_event e = {.events = events, .data.u64 = data};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0)
        printf("epoll_ctl ADD %d: %s\n", fd, proc_errname(errno));
}

static void errors(void) {
    struct epoll_event e = {.events = EPOLLIN};
    PRINT_RES("epoll_create(0)", epoll_create(0));
    PRINT_RES("epoll_create1(bad flag)", epoll_create1(1));
    PRINT_RES("epoll_ctl on a non-epoll fd", epoll_ctl(0, EPOLL_CTL_ADD, 1, &e));
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    PRINT_RES("epoll_ctl of a closed fd", epoll_ctl(ep, EPOLL_CTL_ADD, 999, &e));
    PRINT_RES("epoll_ctl of itself", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &e));
    PRINT_RES("epoll_ctl bad op", epoll_ctl(ep, 7, p[0], &e));
    PRINT_RES("EPOLL_CTL_MOD of an unregistered fd", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e));
    PRINT_RES("EPOLL_CTL_DEL of an unregistered fd", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], &e));
    PRINT_RES("EPOLL_CTL_ADD", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e));
    PRINT_RES("EPOLL_CTL_ADD again", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e));
    PRINT_RES("EPOLL_CTL_DEL", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    int f = open("/tmp/fs_epoll.regular", O_CREAT | O_RDWR | O_TRUNC, 0644);
    PRINT_RES("EPOLL_CTL_ADD of a regular file", epoll_ctl(ep, EPOLL_CTL_ADD, f, &e));
    close(f);
    unlink("/tmp/fs_epoll.regular");
    struct epoll_event out[1];
    PRINT_RES("epoll_wait maxevents 0", epoll_wait(ep, out, 0, 0));
    PRINT_RES("epoll_wait on a pipe", epoll_wait(p[0], out, 1, 0));
    PRINT_RES("epoll_wait nothing ready, timeout 0", epoll_wait(ep, out, 1, 0));
    char b[8];
    PRINT_RES("read of an epoll fd", read(ep, b, sizeof b));
    close(p[0]);
    close(p[1]);
}

static void level_edge_oneshot(void) {
    int lt[2], et[2], os[2];
    CHECK(pipe(lt) == 0 && pipe(et) == 0 && pipe(os) == 0, "pipes");
    add(lt[0], EPOLLIN, 1);
    add(et[0], EPOLLIN | EPOLLET, 2);
    add(os[0], EPOLLIN | EPOLLONESHOT, 3);
    add(lt[1], EPOLLOUT, 4);
    struct epoll_event ev[8];
    int n = wait_n(0, ev, 8);
    CHECK(n == 1 && ev[0].data.u64 == 4 && ev[0].events == EPOLLOUT, "only the write end is ready");
    write(lt[1], "x", 1);
    write(et[1], "x", 1);
    write(os[1], "x", 1);
    n = wait_n(0, ev, 8);
    unsigned long seen = 0;
    for (int i = 0; i < n; i++)
        seen |= 1ul << ev[i].data.u64;
    CHECK(n == 4 && seen == 0x1e, "all four report");
    /* Nothing read: level-triggered reports again, edge-triggered and one-shot do not. */
    n = wait_n(0, ev, 8);
    seen = 0;
    for (int i = 0; i < n; i++)
        seen |= 1ul << ev[i].data.u64;
    CHECK(seen == ((1ul << 1) | (1ul << 4)), "level-triggered again, edge and one-shot quiet");
    /* More data: the edge-triggered one reports once more; the one-shot stays quiet. */
    write(et[1], "y", 1);
    write(os[1], "y", 1);
    n = wait_n(0, ev, 8);
    seen = 0;
    for (int i = 0; i < n; i++)
        seen |= 1ul << ev[i].data.u64;
    CHECK(seen & (1ul << 2), "edge-triggered reports new data");
    CHECK(!(seen & (1ul << 3)), "one-shot stays disabled");
    struct epoll_event e = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 3};
    CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, os[0], &e) == 0, "EPOLL_CTL_MOD re-arms");
    n = wait_n(0, ev, 8);
    seen = 0;
    for (int i = 0; i < n; i++)
        seen |= 1ul << ev[i].data.u64;
    CHECK(seen & (1ul << 3), "the re-armed one-shot reports");
    /* maxevents bounds the result. */
    n = wait_n(0, ev, 1);
    CHECK(n == 1, "maxevents 1 gives one event");
    /* The last writer gone: EPOLLHUP, asked for or not. */
    close(lt[1]);
    char buf[4];
    read(lt[0], buf, sizeof buf);
    n = wait_n(0, ev, 8);
    int hup = 0;
    for (int i = 0; i < n; i++)
        if (ev[i].data.u64 == 1 && (ev[i].events & EPOLLHUP))
            hup = 1;
    CHECK(hup, "EPOLLHUP when the writers are gone");
    close(lt[0]);
    close(et[0]);
    close(et[1]);
    close(os[0]);
    close(os[1]);
    n = wait_n(0, ev, 8);
    CHECK(n == 0, "closing the files drops their registrations");
}

static void lifetime(void) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    add(p[0], EPOLLIN, 7);
    int d = dup(p[0]);
    close(p[0]);
    write(p[1], "z", 1);
    struct epoll_event ev[2];
    int n = wait_n(0, ev, 2);
    CHECK(n == 1 && ev[0].data.u64 == 7, "a dup keeps the registration of a closed fd");
    close(d);
    n = wait_n(0, ev, 2);
    CHECK(n == 0, "closing the last descriptor drops it");
    close(p[1]);
}

static void timeouts_and_wakeups(void) {
    struct epoll_event ev[2];
    long long t0 = now_ns();
    int n = wait_n(30, ev, 2);
    long long ms = (now_ns() - t0) / 1000000;
    CHECK(n == 0 && ms >= 29, "a 30 ms timeout with nothing ready");
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    add(p[0], EPOLLIN, 9);
    pid_t c = xfork();
    if (c == 0) {
        msleep(50);
        write(p[1], "w", 1);
        _exit(0);
    }
    n = wait_n(-1, ev, 2);
    CHECK(n == 1 && ev[0].data.u64 == 9, "a blocked wait wakes when another process writes");
    xwait(c);
    /* epoll_pwait with a mask: a blocked signal does not interrupt. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    char b;
    read(p[0], &b, 1);
    n = epoll_pwait(ep, ev, 2, 0, &block);
    CHECK(n == 0, "epoll_pwait with nothing ready");
    struct epoll_event e = {0};
    epoll_ctl(ep, EPOLL_CTL_DEL, p[0], &e);
    close(p[0]);
    close(p[1]);
}

static void eventfds(void) {
    int e = eventfd(3, EFD_NONBLOCK);
    CHECK(e >= 0, "eventfd");
    uint64_t v = 0;
    PRINT_RES("read 4 bytes", read(e, &v, 4));
    PRINT_RES("read", read(e, &v, 8));
    printf("value %llu\n", (unsigned long long)v);
    PRINT_RES("read of zero, nonblocking", read(e, &v, 8));
    v = 5;
    PRINT_RES("write 5", write(e, &v, 8));
    v = 2;
    PRINT_RES("write 2", write(e, &v, 8));
    v = UINT64_MAX;
    PRINT_RES("write UINT64_MAX", write(e, &v, 8));
    v = UINT64_MAX - 1;
    PRINT_RES("write past the maximum", write(e, &v, 8));
    uint64_t two[2] = {0, 0};
    PRINT_RES("read into 16 bytes", read(e, two, sizeof two));
    printf("value %llu\n", (unsigned long long)two[0]);
    PRINT_RES("lseek", lseek(e, 0, SEEK_SET));
    close(e);

    int s = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
    PRINT_RES("semaphore read", read(s, &v, 8));
    printf("value %llu\n", (unsigned long long)v);
    PRINT_RES("semaphore read", read(s, &v, 8));
    PRINT_RES("semaphore read, empty", read(s, &v, 8));
    CHECK((fcntl(s, F_GETFD) & FD_CLOEXEC) != 0, "EFD_CLOEXEC");
    PRINT_RES("eventfd bad flags", eventfd(0, 0x1234));

    /* Blocking: a child's write wakes a blocked read; epoll sees the counter. */
    int b = eventfd(0, 0);
    add(b, EPOLLIN, 11);
    struct epoll_event ev[2];
    CHECK(wait_n(0, ev, 2) == 0, "an empty eventfd is not readable");
    pid_t c = xfork();
    if (c == 0) {
        msleep(30);
        uint64_t one = 40;
        write(b, &one, 8);
        _exit(0);
    }
    v = 0;
    long r = read(b, &v, 8);
    CHECK(r == 8 && v == 40, "a blocked eventfd read wakes with the child's value");
    xwait(c);
    v = 1;
    write(b, &v, 8);
    CHECK(wait_n(0, ev, 2) == 1 && ev[0].data.u64 == 11 && ev[0].events == EPOLLIN,
          "epoll reports the eventfd");
    struct pollfd pfd = {.fd = ep, .events = POLLIN};
    CHECK(poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN), "poll() sees the epoll fd readable");
    close(b);
    close(s);
}

int main(void) {
    proc_init();
    ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1");
    CHECK((fcntl(ep, F_GETFD) & FD_CLOEXEC) != 0, "EPOLL_CLOEXEC");
    errors();
    level_edge_oneshot();
    lifetime();
    timeouts_and_wakeups();
    eventfds();
    return check_summary();
}
