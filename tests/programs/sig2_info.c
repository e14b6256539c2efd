/* Signals between processes and what siginfo says about them: kill (SI_USER), tgkill
 * (SI_TKILL) and sigqueue (SI_QUEUE with a value) from a child, si_pid and si_uid of
 * the sender; rt_sigqueueinfo with a forged si_code (EPERM); real-time signals queue
 * (each one delivered, FIFO per signal, lowest number first) while standard signals
 * merge; SIGCHLD with CLD_EXITED/CLD_KILLED and the child's status, delivered to a
 * handler and to sigwaitinfo; the pending set and the mask across fork (mask kept,
 * pending cleared) and handlers inherited by the child. */
#include "proc_util.h"

static volatile sig_atomic_t got_sig, got_code, got_pid_ok, got_uid_ok, got_value, nhits;
static volatile pid_t expect_pid;

static void on_info(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got_sig = sig;
    got_code = si->si_code;
    got_pid_ok = si->si_pid == expect_pid;
    got_uid_ok = si->si_uid == getuid();
    got_value = si->si_value.sival_int;
    nhits++;
}

static const char *code_name(int code) {
    switch (code) {
    case SI_USER: return "SI_USER";
    case SI_TKILL: return "SI_TKILL";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_KERNEL: return "SI_KERNEL";
    case SI_TIMER: return "SI_TIMER";
    default: {
        static char buf[24];
        snprintf(buf, sizeof buf, "code%d", code);
        return buf;
    }
    }
}

/* A child that sends SIGUSR1 to the parent in the given way, once the parent has
 * blocked it; the parent then takes it with sigsuspend. */
static void from_child(const char *how) {
    got_sig = 0;
    nhits = 0;
    block_sig(SIGUSR1);
    pid_t parent = getpid();
    pid_t c = xfork();
    if (c == 0) {
        int r;
        if (strcmp(how, "kill") == 0) {
            r = kill(parent, SIGUSR1);
        } else if (strcmp(how, "tgkill") == 0) {
            r = (int)syscall(SYS_tgkill, parent, parent, SIGUSR1);
        } else if (strcmp(how, "tkill") == 0) {
            r = (int)syscall(SYS_tkill, parent, SIGUSR1);
        } else {
            union sigval v = {.sival_int = 4242};
            r = sigqueue(parent, SIGUSR1, v);
        }
        _exit(r == 0 ? 0 : 1);
    }
    expect_pid = c;
    sigset_t none;
    sigemptyset(&none);
    SUSPEND_UNTIL(nhits, &none);
    unblock_sig(SIGUSR1);
    print_status("  sender", xwait(c));
    printf("%s from a child: %s, si_code %s, si_pid is the child: %s, si_uid ours: %s", how,
           sig_name(got_sig), code_name(got_code), got_pid_ok ? "yes" : "no",
           got_uid_ok ? "yes" : "no");
    if (got_code == SI_QUEUE)
        printf(", value %d", (int)got_value);
    printf("\n");
}

static void forged(void) {
    pid_t parent = getpid();
    pid_t c = xfork();
    if (c == 0) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        si.si_signo = SIGUSR2;
        si.si_code = SI_USER; /* >= 0: the kernel's to use */
        si.si_pid = 1;
        errno = 0;
        long r = syscall(SYS_rt_sigqueueinfo, parent, SIGUSR2, &si);
        int e1 = r == -1 ? errno : 0;
        si.si_code = SI_TKILL;
        errno = 0;
        r = syscall(SYS_rt_sigqueueinfo, parent, SIGUSR2, &si);
        int e2 = r == -1 ? errno : 0;
        _exit((e1 == EPERM ? 1 : 0) | (e2 == EPERM ? 2 : 0));
    }
    int st = xwait(c);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3,
          "rt_sigqueueinfo to another process with si_code SI_USER or SI_TKILL: EPERM");
    /* To itself, a negative si_code is fine and arrives as given. */
    set_action(SIGUSR2, on_info, 0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR2;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_int = 99;
    expect_pid = getpid();
    nhits = 0;
    long r = syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR2, &si);
    CHECK(r == 0 && nhits == 1 && got_code == SI_QUEUE && got_value == 99,
          "rt_sigqueueinfo to itself with SI_QUEUE");
    signal(SIGUSR2, SIG_DFL);
}

static volatile int order[64];
static volatile int norder;

static void record(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    if (norder < 64)
        order[norder++] = sig * 1000 + si->si_value.sival_int;
}

static void queueing(void) {
    int r0 = SIGRTMIN, r1 = SIGRTMIN + 1;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, r0);
    sigaddset(&s, r1);
    sigaddset(&s, SIGUSR2);
    /* Each handler blocks all three, so that they run one after another, not nested. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = record;
    sa.sa_flags = SA_SIGINFO;
    sa.sa_mask = s;
    sigaction(r0, &sa, NULL);
    sigaction(r1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigprocmask(SIG_BLOCK, &s, NULL);
    pid_t parent = getpid();
    pid_t c = xfork();
    if (c == 0) {
        union sigval v;
        for (int i = 1; i <= 3; i++) {
            v.sival_int = i;
            sigqueue(parent, r1, v);
        }
        for (int i = 1; i <= 3; i++) {
            v.sival_int = 10 + i;
            sigqueue(parent, SIGUSR2, v);
        }
        for (int i = 1; i <= 2; i++) {
            v.sival_int = 20 + i;
            sigqueue(parent, r0, v);
        }
        _exit(0);
    }
    xwait(c);
    sigset_t p;
    sigpending(&p);
    printf("pending after the child exits: SIGUSR2 %d, SIGRTMIN %d, SIGRTMIN+1 %d\n",
           sigismember(&p, SIGUSR2), sigismember(&p, r0), sigismember(&p, r1));
    norder = 0;
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    printf("delivered in this order (signal: value):");
    for (int i = 0; i < norder; i++) {
        int sig = order[i] / 1000, val = order[i] % 1000;
        printf(" %s:%d", sig_name(sig), val);
    }
    printf("\n");

    /* sigwaitinfo takes them in the same order, one siginfo each. */
    sigprocmask(SIG_BLOCK, &s, NULL);
    union sigval v;
    for (int i = 1; i <= 2; i++) {
        v.sival_int = 30 + i;
        sigqueue(getpid(), r1, v);
        sigqueue(getpid(), r0, v);
    }
    printf("sigwaitinfo:");
    struct timespec zero = {0, 0};
    siginfo_t si;
    int sig;
    while ((sig = sigtimedwait(&s, &si, &zero)) > 0)
        printf(" %s:%d", sig_name(sig), si.si_value.sival_int);
    printf(" then %s\n", proc_errname(errno));
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    signal(r0, SIG_DFL);
    signal(r1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
}

static volatile sig_atomic_t chld_hits, chld_code, chld_status, chld_pid_ok;

static void on_chld(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)uc;
    chld_hits++;
    chld_code = si->si_code;
    chld_status = si->si_status;
    chld_pid_ok = si->si_pid == expect_pid;
}

static const char *cld_name(int code) {
    switch (code) {
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    case CLD_DUMPED: return "CLD_DUMPED";
    case CLD_STOPPED: return "CLD_STOPPED";
    case CLD_CONTINUED: return "CLD_CONTINUED";
    default: return "other";
    }
}

static void sigchld(void) {
    set_action(SIGCHLD, on_chld, 0);
    block_sig(SIGCHLD);
    sigset_t none;
    sigemptyset(&none);
    for (int round = 0; round < 2; round++) {
        chld_hits = 0;
        int p[2];
        pipe(p);
        pid_t c = xfork();
        if (c == 0) {
            close(p[1]);
            char x;
            read(p[0], &x, 1);
            _exit(7);
        }
        expect_pid = c;
        close(p[0]);
        if (round == 1)
            kill(c, SIGTERM);
        close(p[1]);
        SUSPEND_UNTIL(chld_hits, &none);
        printf("SIGCHLD handler: %s, si_status %s, si_pid is the child: %s\n", cld_name(chld_code),
               chld_code == CLD_EXITED ? (chld_status == 7 ? "7" : "wrong")
                                       : sig_name(chld_status),
               chld_pid_ok ? "yes" : "no");
        print_status("  then waitpid", xwait(c));
    }
    /* With SIGCHLD blocked and taken by sigwaitinfo instead. */
    signal(SIGCHLD, SIG_DFL);
    pid_t c = xfork();
    if (c == 0)
        _exit(3);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int sig = sigwaitinfo(&s, &si);
    printf("sigwaitinfo: %s, %s, si_status %d, si_pid is the child: %s\n", sig_name(sig),
           cld_name(si.si_code), si.si_status, si.si_pid == c ? "yes" : "no");
    print_status("  then waitpid", xwait(c));
    unblock_sig(SIGCHLD);
}

static volatile sig_atomic_t usr1_in_child;

static void on_usr1_plain(int sig) {
    (void)sig;
    usr1_in_child++;
}

static void fork_inheritance(void) {
    set_handler(SIGUSR1, on_usr1_plain, 0);
    signal(SIGUSR2, SIG_IGN);
    block_sig(SIGUSR1);
    raise(SIGUSR1);
    pid_t c = xfork();
    if (c == 0) {
        sigset_t m, p;
        sigprocmask(SIG_SETMASK, NULL, &m);
        sigpending(&p);
        int bits = 0;
        if (sigismember(&m, SIGUSR1))
            bits |= 1; /* the mask is inherited */
        if (!sigismember(&p, SIGUSR1))
            bits |= 2; /* pending signals are not */
        struct sigaction sa;
        sigaction(SIGUSR2, NULL, &sa);
        if (sa.sa_handler == SIG_IGN)
            bits |= 4; /* dispositions are */
        unblock_sig(SIGUSR1);
        raise(SIGUSR1);
        if (usr1_in_child == 1)
            bits |= 8; /* and handlers too */
        _exit(bits);
    }
    int st = xwait(c);
    printf("fork: mask kept %d, pending cleared %d, SIG_IGN kept %d, handler kept %d\n",
           (WEXITSTATUS(st) & 1) != 0, (WEXITSTATUS(st) & 2) != 0, (WEXITSTATUS(st) & 4) != 0,
           (WEXITSTATUS(st) & 8) != 0);
    sigset_t p;
    sigpending(&p);
    CHECK(sigismember(&p, SIGUSR1), "the parent's signal is still pending");
    unblock_sig(SIGUSR1);
    CHECK(usr1_in_child == 1, "and delivered to the parent once unblocked");
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
}

int main(void) {
    proc_init();
    set_action(SIGUSR1, on_info, 0);
    from_child("kill");
    from_child("tgkill");
    from_child("tkill");
    from_child("sigqueue");
    forged();
    queueing();
    sigchld();
    fork_inheritance();
    return check_summary();
}
