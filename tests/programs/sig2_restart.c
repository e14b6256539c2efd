/* EINTR versus SA_RESTART. A one-shot ITIMER_REAL fires while the program is blocked;
 * the SIGALRM handler makes the blocked call able to finish (writes a byte to the pipe
 * being read, drains the pipe being written, changes the futex word, ...). Then:
 *   - read/write on a pipe, wait4 and futex: EINTR without SA_RESTART, restarted (and
 *     finishing) with it;
 *   - nanosleep, poll, select, pause and sigsuspend: EINTR even with SA_RESTART;
 *   - a signal whose disposition is to ignore it (SIGURG's default, an explicit SIG_IGN)
 *     interrupts nothing;
 *   - a blocked read is not disturbed by a stop and a continue (tested in sig2_stop).
 * The 30 ms timer fires long after the call has blocked; should it ever fire before,
 * the restarted cases give the same output and the EINTR cases would show a
 * difference natively first. */
#include "proc_util.h"
#include <poll.h>
#include <sys/select.h>
#include <sys/time.h>

static int pipe_w = -1, drain_r = -1;
static volatile int fword;
static volatile sig_atomic_t hits;

static void on_alrm(int sig) {
    (void)sig;
    hits++;
    if (pipe_w >= 0)
        write(pipe_w, "h", 1);
    if (drain_r >= 0) {
        static char buf[8192];
        read(drain_r, buf, sizeof buf);
    }
    fword = 1;
}

static void arm(int restart) {
    hits = 0;
    set_handler(SIGALRM, on_alrm, restart ? SA_RESTART : 0);
    struct itimerval it = {{0, 0}, {0, 30000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static const char *mode(int restart) {
    return restart ? "SA_RESTART" : "no SA_RESTART";
}

static void report(const char *what, int restart, long r, int err) {
    printf("%s, %s: ", what, mode(restart));
    if (r < 0)
        printf("-1 %s", proc_errname(err));
    else
        printf("%ld", r);
    printf(", handler ran %d time(s)\n", (int)hits);
}

static void pipe_read(int restart) {
    int p[2];
    pipe(p);
    pipe_w = p[1];
    arm(restart);
    char c = 0;
    errno = 0;
    long r = read(p[0], &c, 1);
    report("read from an empty pipe", restart, r, errno);
    if (r < 0) {
        r = read(p[0], &c, 1);
        printf("  the next read returns %ld '%c'\n", r, c);
    } else {
        printf("  read returned the handler's byte: %s\n", c == 'h' ? "yes" : "no");
    }
    pipe_w = -1;
    close(p[0]);
    close(p[1]);
}

static void pipe_write(int restart) {
    int p[2];
    pipe(p);
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    static char buf[4096];
    memset(buf, 'x', sizeof buf);
    long filled = 0;
    for (;;) {
        ssize_t n = write(p[1], buf, sizeof buf);
        if (n <= 0)
            break;
        filled += n;
    }
    fcntl(p[1], F_SETFL, 0);
    drain_r = p[0];
    arm(restart);
    errno = 0;
    long r = write(p[1], "y", 1);
    report("write of 1 byte to a full pipe", restart, r, errno);
    drain_r = -1;
    close(p[0]);
    close(p[1]);
    (void)filled;
}

static volatile pid_t kill_after_tick;

static void on_alrm_kill(int sig) {
    (void)sig;
    hits++;
    if (hits == 2 && kill_after_tick > 0)
        kill(kill_after_tick, SIGTERM);
}

/* wait4 with SA_RESTART: two ticks; the first interrupts the wait (restarted), the
 * second kills the child, and wait4 returns its status. Without SA_RESTART, EINTR on the
 * first tick. */
static void wait_child_restart(int restart) {
    pid_t c = xfork();
    if (c == 0) {
        for (;;)
            pause();
    }
    kill_after_tick = c;
    hits = 0;
    set_handler(SIGALRM, on_alrm_kill, restart ? SA_RESTART : 0);
    struct itimerval it = {{0, 30000}, {0, 30000}};
    setitimer(ITIMER_REAL, &it, NULL);
    int st = 0;
    errno = 0;
    long r = wait4(c, &st, 0, NULL);
    int err = errno;
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("wait4 for a running child, %s: %s", mode(restart),
           r == c ? "the child" : (r < 0 ? proc_errname(err) : "?"));
    if (r == c)
        printf(" (%s) after 2 ticks: %s\n", status_str(st), hits >= 2 ? "yes" : "no");
    else
        printf(" after %d tick(s)\n", (int)hits);
    if (r != c) {
        kill(c, SIGKILL);
        xwait(c);
    }
    kill_after_tick = 0;
}

static void futex_wait(int restart) {
    fword = 0;
    pipe_w = -1;
    arm(restart);
    errno = 0;
    long r = syscall(SYS_futex, &fword, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    /* Restarted after the handler changed the word: EAGAIN. */
    report("futex WAIT without timeout", restart, r, errno);
}

static void always_eintr(int restart) {
    struct timespec ts = {0, 500000000}, rem = {0, 0};
    arm(restart);
    errno = 0;
    long r = nanosleep(&ts, &rem);
    int err = errno;
    report("nanosleep 500 ms", restart, r, err);
    printf("  remaining time reported: %s\n",
           rem.tv_sec == 0 && rem.tv_nsec > 0 && rem.tv_nsec < 500000000 ? "between 0 and 500 ms"
                                                                           : "WRONG");

    int p[2];
    pipe(p);
    pipe_w = -1;
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    arm(restart);
    errno = 0;
    r = poll(&pf, 1, 2000);
    report("poll on an empty pipe", restart, r, errno);

    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {2, 0};
    arm(restart);
    errno = 0;
    r = select(p[0] + 1, &rs, NULL, NULL, &tv);
    report("select on an empty pipe", restart, r, errno);

    arm(restart);
    errno = 0;
    r = pause();
    report("pause", restart, r, errno);

    sigset_t none;
    sigemptyset(&none);
    arm(restart);
    errno = 0;
    r = sigsuspend(&none);
    report("sigsuspend", restart, r, errno);
    close(p[0]);
    close(p[1]);
}

static void ignored_signals(void) {
    int p[2];
    pipe(p);
    pid_t parent = getpid();
    signal(SIGUSR2, SIG_IGN);
    pid_t c = xfork();
    if (c == 0) {
        close(p[0]);
        msleep(20);
        kill(parent, SIGURG);  /* default action: ignore */
        kill(parent, SIGUSR2); /* SIG_IGN */
        kill(parent, SIGCHLD); /* default action: ignore */
        msleep(20);
        write(p[1], "d", 1);
        _exit(0);
    }
    close(p[1]);
    char ch = 0;
    errno = 0;
    long r = read(p[0], &ch, 1);
    printf("read while ignored signals arrive: %ld '%c' %s\n", r, r == 1 ? ch : '-',
           r < 0 ? proc_errname(errno) : "");
    close(p[0]);
    xwait(c);
    signal(SIGUSR2, SIG_DFL);
}

int main(void) {
    proc_init();
    for (int restart = 0; restart <= 1; restart++) {
        pipe_read(restart);
        pipe_write(restart);
        wait_child_restart(restart);
        futex_wait(restart);
        always_eintr(restart);
    }
    ignored_signals();
    return check_summary();
}
