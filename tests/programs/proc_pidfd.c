/* pidfds: pidfd_open and its errors, a pidfd becoming readable when its process ends
 * (poll and epoll), pidfd_send_signal, waitid(P_PIDFD), clone3(CLONE_PIDFD) and the
 * clone() flag conflict, pidfd_getfd. Raw syscall numbers (musl and older glibc lack the
 * wrappers). */
#include "proc_util.h"
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>

#define NR_pidfd_send_signal 424
#define NR_pidfd_open 434
#define NR_clone3 435
#define NR_pidfd_getfd 438
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif

struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static long pidfd_open(pid_t pid, unsigned flags) {
    return syscall(NR_pidfd_open, pid, flags);
}

static int readable(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

int main(void) {
    proc_init();
    long self = pidfd_open(getpid(), 0);
    CHECK(self >= 0, "pidfd_open of itself");
    CHECK((fcntl(self, F_GETFD) & FD_CLOEXEC) != 0, "a pidfd is close-on-exec");
    CHECK(!readable(self, 0), "a live process's pidfd is not readable");
    char b[8];
    PRINT_RES("read of a pidfd", read(self, b, sizeof b));
    PRINT_RES("pidfd_open bad flags", pidfd_open(getpid(), 1));
    PRINT_RES("pidfd_open of no process", pidfd_open(999999, 0));
    PRINT_RES("pidfd_open of pid 0", pidfd_open(0, 0));
    PRINT_RES("pidfd_send_signal bad flags", syscall(NR_pidfd_send_signal, self, 0, NULL, 8));
    PRINT_RES("pidfd_send_signal two scopes", syscall(NR_pidfd_send_signal, self, 0, NULL, 3));
    PRINT_RES("pidfd_send_signal probe, thread scope",
              syscall(NR_pidfd_send_signal, self, 0, NULL, 1));
    PRINT_RES("pidfd_send_signal on a pipe", syscall(NR_pidfd_send_signal, 1, 0, NULL, 0));
    PRINT_RES("pidfd_send_signal probe", syscall(NR_pidfd_send_signal, self, 0, NULL, 0));

    /* A sleeping child ended by pidfd_send_signal. */
    pid_t c = xfork();
    if (c == 0) {
        for (;;)
            pause();
    }
    long fd = pidfd_open(c, 0);
    CHECK(fd >= 0, "pidfd_open of a child");
    CHECK(!readable(fd, 0), "not readable while it runs");
    CHECK(syscall(NR_pidfd_send_signal, fd, SIGTERM, NULL, 0) == 0, "pidfd_send_signal SIGTERM");
    CHECK(readable(fd, 5000), "readable once it has ended");
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK(waitid(P_PIDFD, fd, &si, WEXITED) == 0, "waitid(P_PIDFD)");
    CHECK(si.si_pid == c && si.si_code == CLD_KILLED && si.si_status == SIGTERM,
          "waitid reports the death by SIGTERM");
    PRINT_RES("pidfd_send_signal after it was reaped",
              syscall(NR_pidfd_send_signal, fd, SIGTERM, NULL, 0));
    close(fd);

    /* clone3(CLONE_PIDFD), watched with epoll. */
    int pfd = -1;
    struct clone_args_v0 args = {.flags = CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&pfd,
                                 .exit_signal = SIGCHLD};
    fflush(stdout);
    long r = syscall(NR_clone3, &args, sizeof args);
    if (r == 0) {
        msleep(30);
        _exit(7);
    }
    CHECK(r > 0 && pfd >= 0, "clone3(CLONE_PIDFD) gives a pidfd");
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = 42}, got;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, pfd, &e) == 0, "epoll_ctl ADD of a pidfd");
    CHECK(epoll_wait(ep, &got, 1, 5000) == 1 && got.data.u64 == 42, "epoll sees the child end");
    memset(&si, 0, sizeof si);
    CHECK(waitid(P_PIDFD, pfd, &si, WEXITED) == 0 && si.si_code == CLD_EXITED &&
              si.si_status == 7,
          "waitid(P_PIDFD) reports exit 7");
    close(ep);
    close(pfd);
    PRINT_RES("clone(CLONE_PIDFD | CLONE_PARENT_SETTID)",
              syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &pfd, 0, 0));
    PRINT_RES("waitid(P_PIDFD) of a pipe", waitid(P_PIDFD, 1, &si, WEXITED));

    /* pidfd_getfd: a child's pipe end, written through the copy. */
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    int go[2];
    CHECK(pipe(go) == 0, "pipe");
    c = xfork();
    if (c == 0) {
        close(p[0]);
        char x;
        read(go[0], &x, 1); /* hold p[1] until the parent is done */
        _exit(0);
    }
    long cfd = pidfd_open(c, 0);
    long dup = syscall(NR_pidfd_getfd, cfd, p[1], 0);
    CHECK(dup >= 0, "pidfd_getfd of the child's write end");
    close(p[1]);
    write(dup, "via child", 9);
    close(dup);
    char buf[16] = {0};
    CHECK(read(p[0], buf, sizeof buf) == 9 && strcmp(buf, "via child") == 0,
          "the copy writes into the same pipe");
    PRINT_RES("pidfd_getfd of a closed fd", syscall(NR_pidfd_getfd, cfd, 99, 0));
    write(go[1], "x", 1);
    xwait(c);
    return check_summary();
}
