/* Process groups and sessions: getpgrp/getpgid/setpgid/getsid/setsid and their errors
 * (ESRCH, EPERM across sessions and for session leaders, EACCES after exec, EINVAL),
 * inheritance across fork, and who a signal reaches: kill(pid), kill(0, sig) (the
 * sender's group, the sender included), kill(-pgid, sig), kill of an empty group, and
 * kill(pid, 0) probes.
 *
 * kill(-1, sig) is not here: natively it would signal every process of the user. It is
 * tested under hull only (tests/hostile_procs.rs, proc_killall.c). */
#include "proc_util.h"

/* ---- a child that reports the first of SIGUSR1/SIGTERM it gets, as its exit code ---- */

/* Blocks SIGUSR1 and SIGTERM, tells the parent it is ready (one byte on `ready`), and
 * exits with the number of the first of the two signals that arrives. */
static pid_t listener(int ready_w, pid_t join_group) {
    pid_t c = xfork();
    if (c == 0) {
        if (join_group >= 0)
            setpgid(0, join_group);
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        sigaddset(&s, SIGTERM);
        sigprocmask(SIG_BLOCK, &s, NULL);
        char c = 'r';
        write(ready_w, &c, 1);
        int sig = sigwaitinfo(&s, NULL);
        _exit(sig > 0 ? sig : 99);
    }
    if (join_group >= 0)
        setpgid(c, join_group == 0 ? c : join_group);
    return c;
}

static void wait_ready(int ready_r, int n) {
    for (int i = 0; i < n; i++) {
        char c;
        read(ready_r, &c, 1);
    }
}

/* Ends each listener (SIGTERM to those still waiting) and prints who got what. */
static void collect(const char *label, pid_t *kids, const char **names, int n) {
    for (int i = 0; i < n; i++)
        kill(kids[i], SIGTERM);
    for (int i = 0; i < n; i++) {
        int st = xwait(kids[i]);
        printf("%s: %s got %s\n", label, names[i],
               WIFEXITED(st) ? sig_name(WEXITSTATUS(st)) : status_str(st));
    }
}

static void ids_and_inheritance(void) {
    CHECK(getpgrp() == getpgid(0) && getpgid(0) == getpgid(getpid()), "getpgrp == getpgid(0)");
    CHECK(getsid(0) == getsid(getpid()), "getsid(0) == getsid(self)");
    pid_t c = xfork();
    if (c == 0) {
        int ok = getpgrp() == getpgid(getppid()) && getsid(0) == getsid(getppid()) &&
                 getpgrp() != getpid();
        _exit(ok ? 0 : 1);
    }
    print_status("child inherits group and session, does not lead them", xwait(c));
    /* The program's own setsid succeeds (returning its pid) unless it already leads a
     * process group, which depends on how it was started (a harness that gives it its
     * own group, a shell, hull's init): either outcome is right, the other is not. */
    pid_t me = getpid();
    int leader = getpgrp() == me;
    errno = 0;
    pid_t sid = setsid();
    int right = leader ? (sid == -1 && errno == EPERM) : sid == me;
    printf("setsid() in the root process is right for its group: %s\n", right ? "yes" : "no");
}

static void setpgid_cases(void) {
    int p[2];
    pipe(p);
    /* A child that makes its own group. */
    pid_t a = xfork();
    if (a == 0) {
        close(p[1]);
        int r = setpgid(0, 0);
        char c;
        read(p[0], &c, 1);
        _exit(r == 0 && getpgrp() == getpid() ? 0 : 1);
    }
    /* A second child joins the first one's group (the parent does it). */
    pid_t b = xfork();
    if (b == 0) {
        close(p[1]);
        char c;
        read(p[0], &c, 1);
        _exit(getpgrp() == getpgid(getppid()) ? 2 : 3);
    }
    setpgid(a, a);
    CHECK(getpgid(a) == a, "the first child leads a new group");
    CHECK(setpgid(b, a) == 0 && getpgid(b) == a, "the parent moves the second child into it");
    CHECK(setpgid(b, b) == 0 && getpgid(b) == b, "and into a group of its own");
    CHECK(setpgid(b, getpgrp()) == 0 && getpgid(b) == getpgrp(), "and back into ours");
    PRINT_RES("setpgid(child, -1)", setpgid(b, -1));
    pid_t no_such = a;
    close(p[1]);
    close(p[0]);
    print_status("self-made group leader", xwait(a));
    print_status("child back in the parent's group (2)", xwait(b));
    PRINT_RES("getpgid(reaped pid)", getpgid(no_such));
    PRINT_RES("getsid(reaped pid)", getsid(no_such));
    PRINT_RES("setpgid(reaped pid, 0)", setpgid(no_such, 0));
    PRINT_RES("setpgid(0, a group that does not exist)", setpgid(0, no_such));

    /* A grandchild is not ours to move. */
    int q[2], hold[2];
    pipe(q);
    pipe(hold);
    pid_t c = xfork();
    if (c == 0) {
        close(q[0]);
        close(hold[1]);
        pid_t g = fork();
        if (g == 0) {
            char x;
            read(hold[0], &x, 1);
            _exit(0);
        }
        write(q[1], &g, sizeof g);
        close(q[1]);
        close(hold[0]);
        waitpid(g, NULL, 0);
        _exit(0);
    }
    close(q[1]);
    close(hold[0]);
    pid_t g = 0;
    read(q[0], &g, sizeof g);
    PRINT_RES("setpgid(grandchild, 0)", setpgid(g, 0));
    close(q[0]);
    close(hold[1]);
    xwait(c);
}

static void sessions(void) {
    int p[2], r[2];
    pipe(p);
    pipe(r);
    pid_t s = xfork();
    if (s == 0) {
        close(p[1]);
        pid_t old_sid = getsid(0);
        pid_t sid = setsid();
        int ok = sid == getpid() && getsid(0) == getpid() && getpgrp() == getpid() &&
                 getsid(0) != old_sid;
        int again = setsid() == -1 && errno == EPERM;
        errno = 0;
        int leader_setpgid = setpgid(0, 0) == -1 && errno == EPERM;
        /* A child of the new session leader inherits the session. */
        pid_t g = fork();
        if (g == 0)
            _exit(getsid(0) == getppid() && getpgrp() == getppid() ? 0 : 1);
        int gst = 0;
        waitpid(g, &gst, 0);
        char msg[4] = {(char)('0' + ok), (char)('0' + again), (char)('0' + leader_setpgid),
                       (char)('0' + (WIFEXITED(gst) && WEXITSTATUS(gst) == 0))};
        write(r[1], msg, 4);
        char c;
        read(p[0], &c, 1);
        _exit(0);
    }
    char msg[4] = {0};
    read(r[0], msg, 4);
    CHECK(msg[0] == '1', "setsid in a child: new session and group, led by the child");
    CHECK(msg[1] == '1', "a second setsid: EPERM");
    CHECK(msg[2] == '1', "setpgid(0, 0) by a session leader, even without a change: EPERM");
    CHECK(msg[3] == '1', "the session leader's child inherits its session and group");
    CHECK(getsid(s) == s, "getsid(child) seen from the parent");
    PRINT_RES("setpgid(session leader, 0)", setpgid(s, 0));
    PRINT_RES("setpgid(session leader, our group)", setpgid(s, getpgrp()));
    /* Another child may not join a group of a different session. */
    pid_t o = xfork();
    if (o == 0) {
        close(p[1]);
        char c;
        read(p[0], &c, 1);
        _exit(0);
    }
    PRINT_RES("setpgid(child, group in another session)", setpgid(o, s));
    close(p[1]);
    close(p[0]);
    xwait(s);
    xwait(o);
    close(r[0]);
    close(r[1]);

    /* setpgid on a child after it has exec'd: EACCES. */
    int e[2], ready[2];
    pipe(e);
    pipe(ready);
    pid_t x = xfork();
    if (x == 0) {
        dup2(e[0], 0);
        dup2(ready[1], 1);
        close(e[1]);
        char *argv[] = {"proc_pgrp", "wait-stdin", NULL};
        exec_self(argv);
        _exit(127);
    }
    close(e[0]);
    close(ready[1]);
    char c = 0;
    read(ready[0], &c, 1); /* the new image is running */
    PRINT_RES("setpgid(child after exec, 0)", setpgid(x, 0));
    close(e[1]);
    print_status("exec'd child", xwait(x));
    close(ready[0]);
}

static void kill_targets(void) {
    int rd[2], go[2];
    pipe(rd);
    pipe(go);
    const char *names[] = {"group member 1", "group member 2", "group member 3 (sender)",
                           "child in our group"};
    pid_t k[4];
    k[0] = listener(rd[1], 0);
    pid_t g = k[0];
    k[1] = listener(rd[1], g);
    /* The sender: joins the group, blocks the signals, then kill(0, SIGUSR1) and reports
     * what it got itself. */
    k[2] = xfork();
    if (k[2] == 0) {
        setpgid(0, g);
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        sigaddset(&s, SIGTERM);
        sigprocmask(SIG_BLOCK, &s, NULL);
        char c;
        read(go[0], &c, 1); /* the parent's go */
        if (kill(0, SIGUSR1) != 0)
            _exit(98);
        int sig = sigwaitinfo(&s, NULL);
        _exit(sig > 0 ? sig : 99);
    }
    setpgid(k[2], g);
    k[3] = listener(rd[1], -1);
    wait_ready(rd[0], 3);
    write(go[1], "g", 1);
    close(go[0]);
    close(go[1]);
    /* Wait for the sender to be done before ending the others. */
    int st = xwait(k[2]);
    printf("kill(0, SIGUSR1): the sender got %s\n",
           WIFEXITED(st) ? sig_name(WEXITSTATUS(st)) : status_str(st));
    pid_t rest[3] = {k[0], k[1], k[3]};
    const char *rest_names[3] = {names[0], names[1], names[3]};
    collect("kill(0, SIGUSR1)", rest, rest_names, 3);

    /* kill(-pgid) from outside the group. */
    const char *n2[] = {"group member 1", "group member 2", "child in our group"};
    pid_t m[3];
    m[0] = listener(rd[1], 0);
    m[1] = listener(rd[1], m[0]);
    m[2] = listener(rd[1], -1);
    wait_ready(rd[0], 3);
    PRINT_RES("kill(-pgid, SIGUSR1)", kill(-m[0], SIGUSR1));
    /* The group's members have it pending; wait for them before the SIGTERMs. */
    for (int i = 0; i < 2; i++) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        waitid(P_PID, m[i], &si, WEXITED | WNOWAIT);
    }
    collect("kill(-pgid, SIGUSR1)", m, n2, 3);

    /* kill(0) from the root reaches its own group: its children there and itself. */
    block_sig(SIGUSR1);
    block_sig(SIGTERM);
    pid_t own = listener(rd[1], -1);
    pid_t other = listener(rd[1], 0);
    wait_ready(rd[0], 2);
    PRINT_RES("kill(0, SIGUSR1) from the root", kill(0, SIGUSR1));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    waitid(P_PID, own, &si, WEXITED | WNOWAIT);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    struct timespec zero = {0, 0};
    int got = sigtimedwait(&s, NULL, &zero);
    printf("the root itself got: %s\n", got > 0 ? sig_name(got) : "nothing");
    pid_t two[2] = {own, other};
    const char *n3[] = {"child in the root's group", "child in another group"};
    collect("kill(0) from the root", two, n3, 2);
    unblock_sig(SIGUSR1);
    unblock_sig(SIGTERM);
    close(rd[0]);
    close(rd[1]);

    /* Probes and errors. */
    pid_t dead = xfork();
    if (dead == 0)
        _exit(0);
    xwait(dead);
    PRINT_RES("kill(reaped pid, 0)", kill(dead, 0));
    PRINT_RES("kill(-reaped pid, SIGUSR1) (no such group)", kill(-dead, SIGUSR1));
    PRINT_RES("kill(self, 0)", kill(getpid(), 0));
    /* Not kill(-getpgrp(), 0): under hull our group is 1, and kill(-1) is a broadcast. */
    PRINT_RES("kill(0, 0): our own group", kill(0, 0));
    PRINT_RES("kill(self, 65)", kill(getpid(), 65));
    PRINT_RES("kill(self, -1)", kill(getpid(), -1));
    PRINT_RES("tgkill(self, reaped tid, 0)", syscall(SYS_tgkill, getpid(), dead, 0));
    PRINT_RES("tgkill(0, self, 0)", syscall(SYS_tgkill, 0, getpid(), 0));
}

int main(int argc, char **argv) {
    proc_init();
    if (argc > 1 && strcmp(argv[1], "wait-stdin") == 0) {
        write(1, "r", 1);
        char c;
        while (read(0, &c, 1) > 0) {
        }
        return 4;
    }
    ids_and_inheritance();
    setpgid_cases();
    sessions();
    kill_targets();
    return check_summary();
}
