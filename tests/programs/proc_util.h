/*
 * Helpers for the process, thread and signal test programs (proc_*.c, thr_*.c,
 * sig2_*.c).
 *
 * Output rules (as in hull_test.h): only deterministic text. Pids, tids, times and
 * addresses are never printed, only relations between them ("the child's getppid is
 * the parent": ok). Only one process prints to stdout at a time: children report
 * through their exit status or a pipe, or print while their parent is blocked waiting
 * for them, so that the output never depends on scheduling.
 *
 * Under hull the first program is pid 1 (its own session and group leader); natively
 * it is an ordinary process that leads its own process group (the harness starts it
 * with setpgid(0, 0)) but not a session. Nothing printed depends on that difference.
 */
#ifndef HULL_PROC_UTIL_H
#define HULL_PROC_UTIL_H

#include "hull_test.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* futex(2) constants: musl-gcc has no <linux/futex.h>. */
#ifndef FUTEX_WAIT
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#define FUTEX_OP_SET 0
#define FUTEX_OP_ADD 1
#define FUTEX_OP_OR 2
#define FUTEX_OP_ANDN 3
#define FUTEX_OP_XOR 4
#define FUTEX_OP_OPARG_SHIFT 8
#define FUTEX_OP_CMP_EQ 0
#define FUTEX_OP_CMP_NE 1
#define FUTEX_OP_CMP_LT 2
#define FUTEX_OP_CMP_LE 3
#define FUTEX_OP_CMP_GT 4
#define FUTEX_OP_CMP_GE 5
#define FUTEX_OP(op, oparg, cmp, cmparg)                                               \
    ((((op) & 0xf) << 28) | (((cmp) & 0xf) << 24) | (((oparg) & 0xfff) << 12) |               \
     ((cmparg) & 0xfff))
#define FUTEX_WAITERS 0x80000000
#define FUTEX_OWNER_DIED 0x40000000
#define FUTEX_TID_MASK 0x3fffffff
#endif

/* Line-buffered stdout, so that nothing is left in a buffer a fork would copy. Every
 * program calls it first; fork() after unflushed output is still a bug in a test. */
static inline void proc_init(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
}

/* errno names beyond hull_test.h's list. */
static inline const char *proc_errname(int e) {
    switch (e) {
    case ECHILD: return "ECHILD";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOEXEC: return "ENOEXEC";
    case E2BIG: return "E2BIG";
    case ELOOP: return "ELOOP";
    case ETXTBSY: return "ETXTBSY";
    case EOWNERDEAD: return "EOWNERDEAD";
    case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
    case EDEADLK: return "EDEADLK";
    case EBUSY: return "EBUSY";
    case ENOTSUP: return "ENOTSUP";
    default: return errno_name(e);
    }
}

/* The signal's name, the same under glibc and musl. */
static inline const char *sig_name(int s) {
    switch (s) {
    case 0: return "0";
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGUSR1: return "SIGUSR1";
    case SIGSEGV: return "SIGSEGV";
    case SIGUSR2: return "SIGUSR2";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGTERM: return "SIGTERM";
    case SIGCHLD: return "SIGCHLD";
    case SIGCONT: return "SIGCONT";
    case SIGSTOP: return "SIGSTOP";
    case SIGTSTP: return "SIGTSTP";
    case SIGTTIN: return "SIGTTIN";
    case SIGTTOU: return "SIGTTOU";
    case SIGURG: return "SIGURG";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGVTALRM: return "SIGVTALRM";
    case SIGPROF: return "SIGPROF";
    case SIGWINCH: return "SIGWINCH";
    case SIGSYS: return "SIGSYS";
    default: {
        static char buf[2][24];
        static int k;
        k ^= 1;
        if (s >= SIGRTMIN && s <= SIGRTMAX)
            snprintf(buf[k], sizeof buf[k], "SIGRTMIN+%d", s - SIGRTMIN);
        else
            snprintf(buf[k], sizeof buf[k], "signal%d", s);
        return buf[k];
    }
    }
}

/* A wait status as text: "exited 3", "killed SIGTERM", "killed SIGSEGV (core)",
 * "stopped SIGSTOP", "continued", or the raw value if it is none of these. */
static inline const char *status_str(int st) {
    static char buf[4][48];
    static int k;
    k = (k + 1) % 4;
    if (WIFEXITED(st))
        snprintf(buf[k], sizeof buf[k], "exited %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf[k], sizeof buf[k], "killed %s%s", sig_name(WTERMSIG(st)),
                 WCOREDUMP(st) ? " (core)" : "");
    else if (WIFSTOPPED(st))
        snprintf(buf[k], sizeof buf[k], "stopped %s", sig_name(WSTOPSIG(st)));
    else if (WIFCONTINUED(st))
        snprintf(buf[k], sizeof buf[k], "continued");
    else
        snprintf(buf[k], sizeof buf[k], "raw 0x%x", st);
    return buf[k];
}

/* Prints "label: STATUS" for the wait status. */
static inline void print_status(const char *label, int st) {
    printf("%s: %s\n", label, status_str(st));
}

/* "label = ret" or "label = -1 ENAME" (proc_errname's list). */
static inline void print_res(const char *label, long ret, int err) {
    if (ret < 0)
        printf("%s = -1 %s\n", label, proc_errname(err));
    else
        printf("%s = %ld\n", label, ret);
}

/* Evaluates `expr` (errno cleared first) and prints it with print_res. */
#define PRINT_RES(label, expr)                                                         \
    do {                                                                               \
        errno = 0;                                                                     \
        long pr_r_ = (long)(expr);                                                     \
        print_res((label), pr_r_, errno);                                              \
    } while (0)

/* fork(), or print why not and exit 1 (with the checks so far). */
static inline pid_t xfork(void) {
    fflush(stdout);
    fflush(stderr);
    pid_t p = fork();
    if (p < 0) {
        printf("fork failed: %s\n", proc_errname(errno));
        hull_test_failures++;
        exit(check_summary());
    }
    return p;
}

/* waitpid() for one pid, retrying EINTR; prints and counts a failure if it fails. */
static inline int xwait(pid_t pid) {
    int st = 0;
    pid_t r;
    do {
        r = waitpid(pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    if (r != pid) {
        printf("waitpid failed: %s\n", proc_errname(errno));
        hull_test_failures++;
        return -1;
    }
    return st;
}

static inline void msleep(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static inline long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline pid_t sys_gettid(void) {
    return (pid_t)syscall(SYS_gettid);
}

/* Writes all of buf, retrying short writes and EINTR. Returns 0 or -1. */
static inline int write_all(int fd, const void *buf, size_t len) {
    const char *p = (const char *)buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads until EOF or len bytes. Returns the count, or -1. */
static inline ssize_t read_full(int fd, void *buf, size_t len) {
    char *p = (char *)buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Execs this program again (through /proc/self/exe) with argv; returns only on error. */
static inline void exec_self(char *const argv[]) {
    extern char **environ;
    execve("/proc/self/exe", argv, environ);
}

/* Fork + exec of this program with `argv` (argv[0] included), then wait: the status. */
static inline int run_self(char *const argv[]) {
    pid_t p = xfork();
    if (p == 0) {
        exec_self(argv);
        _exit(127);
    }
    return xwait(p);
}

/* sigaction with a plain handler, flags and an empty mask. */
static inline int set_handler(int sig, void (*h)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
}

/* sigaction with an SA_SIGINFO handler. */
static inline int set_action(int sig, void (*h)(int, siginfo_t *, void *), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h;
    sa.sa_flags = flags | SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
}

static inline void block_sig(int sig) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_BLOCK, &s, NULL);
}

static inline void unblock_sig(int sig) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
}

/* sigsuspend(mask) until `cond` holds; gives up, counting a failure, if sigsuspend fails
 * with anything but EINTR (so that a missing sigsuspend fails fast instead of spinning). */
#define SUSPEND_UNTIL(cond, mask)                                                      \
    do {                                                                               \
        while (!(cond)) {                                                              \
            errno = 0;                                                                 \
            if (sigsuspend(mask) == -1 && errno != EINTR) {                            \
                printf("sigsuspend failed: %s\n", proc_errname(errno));                \
                hull_test_failures++;                                                  \
                break;                                                                 \
            }                                                                          \
        }                                                                              \
    } while (0)

/* Sorts ints in place (for statuses of concurrently exiting children). */
static inline void sort_ints(int *v, int n) {
    for (int i = 1; i < n; i++) {
        int x = v[i], j = i - 1;
        while (j >= 0 && v[j] > x) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
}

#endif
