/* Stop and continue: SIGSTOP/SIGTSTP/SIGTTIN/SIGTTOU stop a child (in a process group of
 * its own, which is not orphaned: its parent is in another group of the same session);
 * waitpid(WUNTRACED) and waitid(WSTOPPED) report it once; signals sent to a stopped
 * process wait until SIGCONT; SIGCONT runs its handler; waitpid(WCONTINUED) and
 * waitid(WCONTINUED) report the continue; a handled SIGTSTP does not stop; SIGKILL ends
 * a stopped process; a blocked read survives a stop and a continue; SIGCHLD reports
 * CLD_STOPPED/CLD_CONTINUED unless SA_NOCLDSTOP; a whole group is stopped and continued
 * with kill(-pgid). */
#include "proc_util.h"

static volatile sig_atomic_t cont_hits, usr1_hits, tstp_hits;

static void on_cont(int s) {
    (void)s;
    cont_hits++;
}
static void on_usr1(int s) {
    (void)s;
    usr1_hits++;
}
static void on_tstp(int s) {
    (void)s;
    tstp_hits++;
}

/* A child in its own group that counts SIGCONT and SIGUSR1 and, when told through the
 * pipe (one byte per question), writes back its counters. */
static pid_t worker(int to_child[2], int from_child[2]) {
    pipe(to_child);
    pipe(from_child);
    pid_t c = xfork();
    if (c == 0) {
        setpgid(0, 0);
        close(to_child[1]);
        close(from_child[0]);
        set_handler(SIGCONT, on_cont, SA_RESTART);
        set_handler(SIGUSR1, on_usr1, SA_RESTART);
        char q;
        write(from_child[1], "r", 1);
        while (read(to_child[0], &q, 1) == 1) {
            char a[2] = {(char)('0' + cont_hits), (char)('0' + usr1_hits)};
            write(from_child[1], a, 2);
        }
        _exit(0);
    }
    setpgid(c, c);
    close(to_child[0]);
    close(from_child[1]);
    char r;
    read(from_child[0], &r, 1);
    return c;
}

static void ask(int to_child[2], int from_child[2], const char *label) {
    char a[2] = {'?', '?'};
    write(to_child[1], "q", 1);
    read(from_child[0], a, 2);
    printf("%s: SIGCONT handler ran %c, SIGUSR1 handler ran %c\n", label, a[0], a[1]);
}

static void stop_cont(int stopsig) {
    int tc[2], fc[2];
    pid_t c = worker(tc, fc);
    kill(c, stopsig);
    int st = 0;
    pid_t r = waitpid(c, &st, WUNTRACED);
    printf("%s: waitpid(WUNTRACED) %s: %s\n", sig_name(stopsig), r == c ? "the child" : "?",
           status_str(st));
    r = waitpid(c, &st, WUNTRACED | WNOHANG);
    printf("  reported once: a second waitpid(WUNTRACED|WNOHANG) = %d\n", (int)r);
    kill(c, SIGUSR1); /* waits for the continue */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int w = waitid(P_PID, c, &si, WEXITED | WNOHANG);
    printf("  still stopped after SIGUSR1, not exited: %s\n", w == 0 && si.si_pid == 0 ? "yes" : "no");
    kill(c, SIGCONT);
    memset(&si, 0, sizeof si);
    w = waitid(P_PID, c, &si, WCONTINUED);
    printf("  waitid(WCONTINUED): %s, si_code CLD_CONTINUED %d, si_status %s\n",
           w == 0 && si.si_pid == c ? "the child" : "?", si.si_code == CLD_CONTINUED,
           sig_name(si.si_status));
    ask(tc, fc, "  after SIGCONT");
    close(tc[1]);
    print_status("  exit", xwait(c));
    close(fc[0]);
}

static void waitpid_continued(void) {
    int tc[2], fc[2];
    pid_t c = worker(tc, fc);
    kill(c, SIGSTOP);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int w = waitid(P_PID, c, &si, WSTOPPED);
    printf("waitid(WSTOPPED): %s, CLD_STOPPED %d, si_status %s\n", w == 0 && si.si_pid == c ? "the child" : "?",
           si.si_code == CLD_STOPPED, sig_name(si.si_status));
    kill(c, SIGCONT);
    int st = 0;
    pid_t r = waitpid(c, &st, WCONTINUED);
    printf("waitpid(WCONTINUED): %s %s, WIFCONTINUED %d\n", r == c ? "the child" : "?",
           status_str(st), WIFCONTINUED(st) ? 1 : 0);
    ask(tc, fc, "after the continue");
    /* SIGCONT to a running process: the handler runs, nothing to report. */
    kill(c, SIGCONT);
    ask(tc, fc, "after a second SIGCONT while running");
    r = waitpid(c, &st, WCONTINUED | WNOHANG);
    printf("  nothing new to report: %d\n", (int)r);
    /* SIGKILL ends a stopped process. */
    kill(c, SIGSTOP);
    waitpid(c, &st, WUNTRACED);
    kill(c, SIGKILL);
    print_status("SIGKILL while stopped", xwait(c));
    close(tc[1]);
    close(fc[0]);
}

static void handled_tstp(void) {
    int p[2], ready[2];
    pipe(p);
    pipe(ready);
    pid_t c = xfork();
    if (c == 0) {
        setpgid(0, 0);
        set_handler(SIGTSTP, on_tstp, 0);
        close(p[1]);
        block_sig(SIGTSTP);
        write(ready[1], "r", 1);
        sigset_t none;
        sigemptyset(&none);
        SUSPEND_UNTIL(tstp_hits, &none);
        _exit(40 + tstp_hits);
    }
    setpgid(c, c);
    close(p[0]);
    char r0;
    read(ready[0], &r0, 1);
    kill(c, SIGTSTP);
    int st = 0;
    pid_t r = waitpid(c, &st, WUNTRACED);
    printf("a handled SIGTSTP does not stop (41): %s %s\n", r == c ? "the child" : "?",
           status_str(st));
    close(p[1]);
    close(ready[0]);
    close(ready[1]);
}

static void blocked_read(void) {
    int p[2];
    pipe(p);
    pid_t c = xfork();
    if (c == 0) {
        setpgid(0, 0);
        close(p[1]);
        char buf[8] = {0};
        errno = 0;
        ssize_t n = read(p[0], buf, sizeof buf);
        _exit(n == 4 && memcmp(buf, "data", 4) == 0 ? 0 : (n < 0 && errno == EINTR ? 4 : 5));
    }
    setpgid(c, c);
    close(p[0]);
    msleep(10);
    kill(c, SIGSTOP);
    int st;
    waitpid(c, &st, WUNTRACED);
    kill(c, SIGCONT);
    waitpid(c, &st, WCONTINUED);
    write(p[1], "data", 4);
    print_status("a read blocked across stop/continue gets its data (0)", xwait(c));
    close(p[1]);
}

static volatile sig_atomic_t chld_codes[8], nchld;

static void on_chld(int s, siginfo_t *si, void *uc) {
    (void)s;
    (void)uc;
    if (nchld < 8)
        chld_codes[nchld++] = si->si_code;
}

static const char *cld(int c) {
    switch (c) {
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    case CLD_STOPPED: return "CLD_STOPPED";
    case CLD_CONTINUED: return "CLD_CONTINUED";
    default: return "other";
    }
}

static void chld_notifications(int nocldstop) {
    block_sig(SIGCHLD);
    set_action(SIGCHLD, on_chld, nocldstop ? SA_NOCLDSTOP : 0);
    nchld = 0;
    int tc[2], fc[2];
    pid_t c = worker(tc, fc);
    sigset_t none;
    sigemptyset(&none);
    int st;
    kill(c, SIGSTOP);
    waitpid(c, &st, WUNTRACED);
    if (!nocldstop)
        SUSPEND_UNTIL(nchld >= 1, &none);
    kill(c, SIGCONT);
    waitpid(c, &st, WCONTINUED);
    if (!nocldstop)
        SUSPEND_UNTIL(nchld >= 2, &none);
    close(tc[1]);
    xwait(c);
    int want = nocldstop ? 1 : 3;
    SUSPEND_UNTIL(nchld >= want, &none);
    printf("SIGCHLD%s:", nocldstop ? " with SA_NOCLDSTOP" : "");
    for (int i = 0; i < nchld; i++)
        printf(" %s", cld(chld_codes[i]));
    printf("\n");
    close(fc[0]);
    unblock_sig(SIGCHLD);
    signal(SIGCHLD, SIG_DFL);
}

static void group_stop(void) {
    int tc1[2], fc1[2], tc2[2], fc2[2];
    pid_t a = worker(tc1, fc1);
    /* b joins a's group. */
    pid_t b = worker(tc2, fc2);
    setpgid(b, a);
    CHECK(getpgid(b) == a, "second worker joined the first one's group");
    kill(-a, SIGSTOP);
    int n = 0, st;
    for (int i = 0; i < 2; i++) {
        pid_t r = waitpid(-a, &st, WUNTRACED);
        if ((r == a || r == b) && WIFSTOPPED(st))
            n++;
    }
    printf("kill(-pgid, SIGSTOP): %d stopped\n", n);
    kill(-a, SIGCONT);
    n = 0;
    for (int i = 0; i < 2; i++) {
        pid_t r = waitpid(-a, &st, WCONTINUED);
        if ((r == a || r == b) && WIFCONTINUED(st))
            n++;
    }
    printf("kill(-pgid, SIGCONT): %d continued\n", n);
    ask(tc1, fc1, "first worker");
    ask(tc2, fc2, "second worker");
    close(tc1[1]);
    close(tc2[1]);
    xwait(a);
    xwait(b);
    close(fc1[0]);
    close(fc2[0]);
}

static void stop_blocked_all(void) {
    int p[2];
    pipe(p);
    pid_t c = xfork();
    if (c == 0) {
        setpgid(0, 0);
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, NULL);
        close(p[1]);
        char x;
        read(p[0], &x, 1);
        _exit(0);
    }
    setpgid(c, c);
    close(p[0]);
    kill(c, SIGSTOP);
    int st;
    pid_t r = waitpid(c, &st, WUNTRACED);
    printf("SIGSTOP with every signal blocked: %s\n", r == c ? status_str(st) : "?");
    kill(c, SIGCONT);
    close(p[1]);
    int fin = xwait(c);
    /* WCONTINUED was not asked for: the next report is the exit. */
    print_status("  then", fin);
}

int main(void) {
    proc_init();
    stop_cont(SIGSTOP);
    stop_cont(SIGTSTP);
    stop_cont(SIGTTIN);
    stop_cont(SIGTTOU);
    waitpid_continued();
    handled_tstp();
    blocked_read();
    chld_notifications(0);
    chld_notifications(1);
    group_stop();
    stop_blocked_all();
    return check_summary();
}
