/* fork, exit and wait: Linux's wait-status encoding (exit codes, deaths by signal with
 * the core bit off), waitpid for one pid / any / a process group, waitid (WEXITED,
 * WNOHANG, WNOWAIT, P_PID/P_PGID/P_ALL and its siginfo), wait4, ECHILD, zombies that
 * stay until reaped, SIGCHLD ignored (auto-reaping) and SA_NOCLDWAIT, and getppid after
 * the parent exits (reparenting to the root, which is a child subreaper natively and
 * pid 1 under hull). */
#include "proc_util.h"
#include <sys/prctl.h>
#include <sys/resource.h>

/* A child that dies by `sig` without dumping core. */
static void die_by(int sig) {
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    signal(sig, SIG_DFL);
    sigset_t s;
    sigemptyset(&s);
    sigprocmask(SIG_SETMASK, &s, NULL);
    if (sig == SIGSEGV) {
        volatile int *volatile p = NULL;
        *p = 1;
    } else if (sig == SIGABRT) {
        abort();
    } else if (sig == SIGFPE) {
        volatile int a = 1, b = 0;
        a /= b;
    } else {
        kill(getpid(), sig);
    }
    _exit(99);
}

static void exit_codes(void) {
    static const int codes[] = {0, 1, 42, 127, 255, 256, 257, -1, -128};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        pid_t p = xfork();
        if (p == 0)
            exit(codes[i]);
        int st = xwait(p);
        printf("exit(%d): %s raw=0x%x\n", codes[i], status_str(st), st);
        CHECK(WIFEXITED(st) && !WIFSIGNALED(st) && !WIFSTOPPED(st) && !WIFCONTINUED(st) &&
                  st == ((codes[i] & 0xff) << 8),
              "exit status is (code & 0xff) << 8");
    }
    /* _exit and exit_group directly. */
    pid_t p = xfork();
    if (p == 0)
        syscall(SYS_exit_group, 77);
    print_status("exit_group(77)", xwait(p));
    p = xfork();
    if (p == 0)
        _exit(3);
    print_status("_exit(3)", xwait(p));
}

static void signal_deaths(void) {
    static const int sigs[] = {SIGTERM, SIGKILL, SIGUSR1, SIGPIPE, SIGINT, SIGHUP,
                               SIGALRM, SIGSEGV, SIGABRT, SIGFPE, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        pid_t p = xfork();
        if (p == 0)
            die_by(sigs[i]);
        int st = xwait(p);
        printf("child dies by %s: %s raw=0x%x\n", sig_name(sigs[i]), status_str(st), st);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == sigs[i] && !WCOREDUMP(st) && !WIFEXITED(st) &&
                  (st & 0xff00) == 0,
              "signalled status, core bit off");
    }
    /* Killed by the parent while blocked. */
    int pfd[2];
    pipe(pfd);
    pid_t p = xfork();
    if (p == 0) {
        char c;
        close(pfd[1]);
        read(pfd[0], &c, 1); /* never returns: the parent keeps the write end */
        _exit(5);
    }
    close(pfd[0]);
    CHECK(kill(p, SIGKILL) == 0, "kill(child, SIGKILL)");
    print_status("child killed while blocked in read", xwait(p));
    close(pfd[1]);
}

/* Blocks until the parent writes a byte (or closes) on the pipe, then exits `code`. */
static pid_t child_waiting_on(int rfd, int wfd, int code, int own_group) {
    pid_t p = xfork();
    if (p == 0) {
        if (own_group)
            setpgid(0, 0);
        close(wfd);
        char c;
        read(rfd, &c, 1);
        _exit(code);
    }
    if (own_group)
        setpgid(p, p);
    return p;
}

static void wait_selectors(void) {
    /* A specific pid first, then any. */
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = xfork();
        if (kids[i] == 0)
            _exit(10 + i);
    }
    int st;
    pid_t r = waitpid(kids[1], &st, 0);
    CHECK(r == kids[1], "waitpid(second child) returns it");
    print_status("waitpid(second child)", st);
    int codes[2], n = 0;
    for (int i = 0; i < 2; i++) {
        r = wait(&st);
        CHECK(r == kids[0] || r == kids[2], "wait() returns one of the others");
        codes[n++] = WEXITSTATUS(st);
    }
    sort_ints(codes, n);
    printf("wait() x2, sorted: %d %d\n", codes[0], codes[1]);
    errno = 0;
    r = wait(&st);
    print_res("wait() with no children left", r, errno);

    /* waitpid(-pgid) and waitpid(0). */
    int g[2], x[2];
    pipe(g);
    pid_t grp = child_waiting_on(g[0], g[1], 21, 1);
    close(g[0]);
    pipe(x);
    pid_t mine = xfork();
    if (mine == 0) {
        char c;
        close(g[1]);
        close(x[1]);
        read(x[0], &c, 1);
        _exit(22);
    }
    close(x[0]);
    CHECK(getpgid(grp) == grp, "child leads its own group");
    CHECK(getpgid(mine) == getpgrp(), "other child is in our group");
    close(x[1]); /* `mine` exits now */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK(waitid(P_PID, mine, &si, WEXITED | WNOWAIT) == 0 && si.si_pid == mine,
          "waitid WNOWAIT sees the exited child");
    r = waitpid(-grp, &st, WNOHANG);
    CHECK(r == 0, "waitpid(-pgid, WNOHANG) = 0: that group's child still runs");
    memset(&si, 0, sizeof si);
    CHECK(waitid(P_PGID, grp, &si, WEXITED | WNOHANG) == 0 && si.si_pid == 0,
          "waitid(P_PGID, WNOHANG): nothing, si_pid 0");
    close(g[1]); /* `grp` exits now */
    r = waitpid(-grp, &st, 0);
    CHECK(r == grp, "waitpid(-pgid) returns the group's child");
    print_status("waitpid(-pgid)", st);
    r = waitpid(0, &st, 0);
    CHECK(r == mine, "waitpid(0) returns the child in our own group");
    print_status("waitpid(0)", st);
}

static void waitid_info(void) {
    int pfd[2];
    pipe(pfd);
    pid_t p = child_waiting_on(pfd[0], pfd[1], 33, 0);
    close(pfd[0]);
    siginfo_t si;
    memset(&si, 0xff, sizeof si);
    si.si_pid = 12345;
    int r = waitid(P_PID, p, &si, WEXITED | WNOHANG);
    CHECK(r == 0 && si.si_pid == 0, "waitid WNOHANG on a running child: 0, si_pid 0");
    close(pfd[1]);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, p, &si, WEXITED | WNOWAIT);
    CHECK(r == 0 && si.si_pid == p && si.si_code == CLD_EXITED && si.si_status == 33,
          "waitid WNOWAIT: CLD_EXITED, status 33, child still waitable");
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED);
    CHECK(r == 0, "waitid(P_ALL, WEXITED)");
    CHECK(si.si_signo == SIGCHLD, "si_signo SIGCHLD");
    CHECK(si.si_pid == p, "si_pid is the child");
    CHECK(si.si_uid == getuid(), "si_uid is ours");
    CHECK(si.si_code == CLD_EXITED, "si_code CLD_EXITED");
    printf("si_status=%d\n", si.si_status);
    errno = 0;
    r = waitid(P_PID, p, &si, WEXITED | WNOHANG);
    print_res("waitid after reaping", r, errno);

    p = xfork();
    if (p == 0)
        die_by(SIGTERM);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, p, &si, WEXITED);
    CHECK(r == 0 && si.si_code == CLD_KILLED && si.si_status == SIGTERM,
          "waitid of a killed child: CLD_KILLED, si_status SIGTERM");
    p = xfork();
    if (p == 0)
        die_by(SIGSEGV);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, p, &si, WEXITED);
    CHECK(r == 0 && si.si_code == CLD_KILLED && si.si_status == SIGSEGV,
          "waitid of a SIGSEGV death without a core: CLD_KILLED");

    errno = 0;
    r = waitid(P_ALL, 0, &si, WNOHANG);
    print_res("waitid without WEXITED/WSTOPPED/WCONTINUED", r, errno);
    errno = 0;
    r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG);
    print_res("waitid(P_ALL) without children", r, errno);
    errno = 0;
    r = waitid((idtype_t)77, 0, &si, WEXITED);
    print_res("waitid with a bad idtype", r, errno);

    /* wait4 with an rusage. */
    p = xfork();
    if (p == 0)
        _exit(4);
    struct rusage ru;
    memset(&ru, 0xff, sizeof ru);
    int st;
    pid_t w = wait4(p, &st, 0, &ru);
    CHECK(w == p && WEXITSTATUS(st) == 4 && ru.ru_utime.tv_sec >= 0 && ru.ru_utime.tv_usec >= 0 &&
              ru.ru_utime.tv_usec < 1000000,
          "wait4 with rusage");
}

static void echild(void) {
    int st;
    PRINT_RES("waitpid(-1) without children", waitpid(-1, &st, 0));
    PRINT_RES("waitpid(-1, WNOHANG) without children", waitpid(-1, &st, WNOHANG));
    PRINT_RES("waitpid(self)", waitpid(getpid(), &st, 0));
    PRINT_RES("waitpid(-our pgid) without children", waitpid(-getpgrp(), &st, 0));
    /* A grandchild is not ours to wait for. */
    int pfd[2];
    pipe(pfd);
    pid_t c = xfork();
    if (c == 0) {
        pid_t g = fork();
        if (g == 0)
            _exit(0);
        waitpid(g, NULL, 0);
        write(pfd[1], &g, sizeof g);
        _exit(0);
    }
    pid_t g = 0;
    read(pfd[0], &g, sizeof g);
    xwait(c);
    PRINT_RES("waitpid(grandchild)", waitpid(g, &st, 0));
    close(pfd[0]);
    close(pfd[1]);
    PRINT_RES("waitpid with bad options", waitpid(-1, &st, 0x100));
}

static void zombies(void) {
    enum { N = 8 };
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = xfork();
        if (kids[i] == 0)
            _exit(i * 3);
    }
    /* Wait for each to have exited without reaping it. */
    for (int i = 0; i < N; i++) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        waitid(P_PID, kids[i], &si, WEXITED | WNOWAIT);
    }
    int alive = 0;
    for (int i = 0; i < N; i++)
        alive += kill(kids[i], 0) == 0;
    printf("zombies that kill(pid, 0) still finds: %d\n", alive);
    int codes[N], n = 0;
    for (;;) {
        int st;
        pid_t r = waitpid(-1, &st, WNOHANG);
        if (r <= 0)
            break;
        codes[n++] = WEXITSTATUS(st);
    }
    sort_ints(codes, n);
    printf("reaped %d zombies with WNOHANG:", n);
    for (int i = 0; i < n; i++)
        printf(" %d", codes[i]);
    printf("\n");
    int gone = 0;
    for (int i = 0; i < N; i++)
        gone += kill(kids[i], 0) == -1 && errno == ESRCH;
    printf("reaped pids kill(pid, 0) reports ESRCH for: %d\n", gone);
}

static void autoreap(void) {
    /* SIGCHLD ignored: children are reaped by the kernel; wait blocks until they are
     * all gone, then fails with ECHILD. */
    signal(SIGCHLD, SIG_IGN);
    pid_t a = xfork();
    if (a == 0)
        _exit(1);
    pid_t b = xfork();
    if (b == 0) {
        msleep(30);
        _exit(2);
    }
    int st;
    errno = 0;
    pid_t r = waitpid(-1, &st, 0);
    print_res("wait with SIGCHLD ignored", r, errno);
    CHECK(kill(a, 0) == -1 && kill(b, 0) == -1, "both children are gone");
    signal(SIGCHLD, SIG_DFL);

    /* SA_NOCLDWAIT with a default handler: the same. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = SA_NOCLDWAIT;
    sigaction(SIGCHLD, &sa, NULL);
    a = xfork();
    if (a == 0)
        _exit(1);
    errno = 0;
    r = waitpid(-1, &st, 0);
    print_res("wait with SA_NOCLDWAIT", r, errno);
    sa.sa_flags = 0;
    sigaction(SIGCHLD, &sa, NULL);

    /* Back to normal: a child is a zombie until waited for. */
    a = xfork();
    if (a == 0)
        _exit(6);
    print_status("after restoring SIGCHLD", xwait(a));
}

/* The orphan test: root -> A -> B; A exits; B must see a new parent, the root. */
static void orphans(void) {
    /* Natively the root becomes a subreaper, so that orphans come to it as they come to
     * pid 1 (the root) under hull. The result is not printed: under hull it is pid 1
     * anyway. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    pid_t root = getpid();
    int rep[2], go[2];
    pipe(rep);
    pipe(go);
    int ready[2];
    pipe(ready);
    pid_t a = xfork();
    if (a == 0) {
        pid_t me = getpid();
        pid_t b = fork();
        if (b < 0)
            _exit(1);
        if (b == 0) {
            pid_t old = getppid();
            int ok_parent = old == me ? 1 : 0;
            char c = 'r';
            write(ready[1], &c, 1);
            close(go[1]);
            read(go[0], &c, 1); /* until A is gone */
            int changed = 0;
            for (int i = 0; i < 5000 && !changed; i++) {
                if (getppid() != old)
                    changed = 1;
                else
                    msleep(1);
            }
            char msg[3] = {(char)('0' + ok_parent), (char)('0' + changed),
                           (char)('0' + (getppid() == root))};
            write(rep[1], msg, 3);
            _exit(9);
        }
        char c;
        read(ready[0], &c, 1); /* B has looked at its first parent */
        write(rep[1], &b, sizeof b);
        _exit(8);
    }
    pid_t b = 0;
    read(rep[0], &b, sizeof b);
    print_status("middle process", xwait(a));
    close(go[1]); /* B may look now: A has been reaped */
    close(go[0]);
    char msg[3] = {0};
    read(rep[0], msg, 3);
    CHECK(msg[0] == '1', "grandchild's first parent is the middle process");
    CHECK(msg[1] == '1', "grandchild's getppid changes when the middle process exits");
    CHECK(msg[2] == '1', "grandchild is reparented to the root (subreaper / pid 1)");
    int st;
    pid_t r = waitpid(b, &st, 0);
    CHECK(r == b, "the root can wait for the reparented grandchild");
    print_status("reparented grandchild", st);
    close(rep[0]);
    close(rep[1]);
    close(ready[0]);
    close(ready[1]);
}

int main(void) {
    proc_init();
    exit_codes();
    signal_deaths();
    wait_selectors();
    waitid_info();
    echild();
    zombies();
    autoreap();
    orphans();
    return check_summary();
}
