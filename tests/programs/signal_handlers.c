/* Signal handling that a program survives: handlers, siginfo, masks, pending sets,
 * nesting, the alternate stack, context edits through sigreturn, FP state across a
 * handler, and an interval timer. */
#include "hull_test.h"
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

static volatile int usr1_count, usr2_count, order_pos, alrm_count;
static volatile int usr1_signo, usr1_code, usr1_pid_ok, usr1_blocked_inside;
static volatile char order[8];
static volatile uintptr_t alt_local;

static void on_usr1(int sig, siginfo_t *si, void *ucv) {
    (void)ucv;
    usr1_count++;
    usr1_signo = si->si_signo;
    usr1_code = si->si_code;
    usr1_pid_ok = si->si_pid == getpid();
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    usr1_blocked_inside = sigismember(&cur, sig);
}

static void on_usr2(int sig) {
    (void)sig;
    usr2_count++;
}

static void nest_outer(int sig) {
    (void)sig;
    order[order_pos++] = 'o';
    raise(SIGUSR2); /* not in the mask: delivered inside this handler */
    order[order_pos++] = 'O';
}

static void nest_inner(int sig) {
    (void)sig;
    order[order_pos++] = 'i';
}

static void on_alt(int sig) {
    volatile char local;
    (void)sig;
    alt_local = (uintptr_t)&local;
}

/* Skips a 2-byte faulting instruction by editing RIP and sets RAX to 1234. */
static void skip_fault(int sig, siginfo_t *si, void *ucv) {
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    uc->uc_mcontext.gregs[REG_RIP] += 2;
    uc->uc_mcontext.gregs[REG_RAX] = 1234;
}

/* Clobbers xmm8 inside the handler. */
static void clobber_xmm(int sig) {
    (void)sig;
    __asm__ volatile("pcmpeqd %%xmm8, %%xmm8" ::: "xmm8");
}

static void on_alrm(int sig) {
    (void)sig;
    alrm_count++;
}

static struct sigaction sa_of(void (*h)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    return sa;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction SIGUSR1");
    struct sigaction old;
    CHECK(sigaction(SIGUSR1, NULL, &old) == 0 && (old.sa_flags & SA_SIGINFO) && old.sa_sigaction == on_usr1,
          "sigaction reads back");
    raise(SIGUSR1);
    CHECK(usr1_count == 1, "handler ran once");
    CHECK(usr1_signo == SIGUSR1, "si_signo");
    CHECK(usr1_code == SI_TKILL || usr1_code == SI_USER, "si_code is SI_TKILL/SI_USER");
    CHECK(usr1_pid_ok, "si_pid is our pid");
    CHECK(usr1_blocked_inside, "signal blocked inside its own handler");
    kill(getpid(), SIGUSR1);
    CHECK(usr1_count == 2, "kill(self) delivers before returning");

    /* Blocked signals stay pending until unblocked. */
    struct sigaction s2 = sa_of(on_usr2, 0);
    sigaction(SIGUSR2, &s2, NULL);
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR2);
    raise(SIGUSR2);
    CHECK(usr2_count == 0, "blocked signal not delivered");
    sigpending(&pend);
    CHECK(sigismember(&pend, SIGUSR2) && !sigismember(&pend, SIGUSR1), "sigpending shows it");
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    CHECK(usr2_count == 1, "unblocking delivers it once (standard signals merge)");
    sigpending(&pend);
    CHECK(!sigismember(&pend, SIGUSR2), "no longer pending");
    /* SIGKILL and SIGSTOP cannot be caught or blocked. */
    errno = 0;
    CHECK(sigaction(SIGKILL, &s2, NULL) == -1 && errno == EINVAL, "sigaction(SIGKILL) EINVAL");
    sigfillset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
    sigprocmask(SIG_SETMASK, NULL, &pend);
    CHECK(!sigismember(&pend, SIGKILL) && !sigismember(&pend, SIGSTOP), "SIGKILL/SIGSTOP unblockable");
    sigemptyset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);

    /* Ignored signals vanish. */
    signal(SIGUSR2, SIG_IGN);
    raise(SIGUSR2);
    CHECK(usr2_count == 1, "SIG_IGN discards");

    /* Nested delivery. */
    struct sigaction so = sa_of(nest_outer, 0), si2 = sa_of(nest_inner, 0);
    sigaction(SIGUSR1, &so, NULL);
    sigaction(SIGUSR2, &si2, NULL);
    raise(SIGUSR1);
    order[order_pos] = 0;
    printf("nesting order=%s\n", (const char *)order);

    /* SA_RESETHAND restores the default after one delivery. */
    struct sigaction sr = sa_of(on_usr2, SA_RESETHAND);
    sigaction(SIGUSR2, &sr, NULL);
    raise(SIGUSR2);
    sigaction(SIGUSR2, NULL, &old);
    CHECK(usr2_count == 2 && old.sa_handler == SIG_DFL, "SA_RESETHAND");

    /* The alternate signal stack. */
    static char altbuf[64 * 1024];
    stack_t ss = {.ss_sp = altbuf, .ss_size = sizeof altbuf, .ss_flags = 0};
    CHECK(sigaltstack(&ss, NULL) == 0, "sigaltstack");
    struct sigaction sal = sa_of(on_alt, SA_ONSTACK);
    sigaction(SIGUSR1, &sal, NULL);
    raise(SIGUSR1);
    CHECK(alt_local >= (uintptr_t)altbuf && alt_local < (uintptr_t)altbuf + sizeof altbuf,
          "SA_ONSTACK handler runs on the alternate stack");
    stack_t cur;
    CHECK(sigaltstack(NULL, &cur) == 0 && cur.ss_sp == altbuf && !(cur.ss_flags & SS_ONSTACK),
          "sigaltstack reads back, not on it now");

    /* A SIGSEGV handler that edits RIP/RAX and returns: sigreturn restores the edit. */
    struct sigaction sk;
    memset(&sk, 0, sizeof sk);
    sk.sa_sigaction = skip_fault;
    sk.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sk, NULL);
    long rax = 0;
    /* 48 31 c0 = xor eax; 8b 00 = mov (%rax), %eax: a 2-byte load from NULL. */
    __asm__ volatile("xor %%eax, %%eax\n\t.byte 0x8b, 0x00" : "=a"(rax) : : "memory");
    CHECK(rax == 1234, "handler skipped the faulting load and set RAX");

    /* FP registers are saved across a handler that clobbers them. */
    struct sigaction sx = sa_of(clobber_xmm, 0);
    sigaction(SIGUSR2, &sx, NULL);
    uint64_t in = 0x0123456789abcdefULL, out = 0;
    long nr = SYS_tgkill;
    long pid = getpid(), tid = syscall(SYS_gettid);
    __asm__ volatile("movq %[in], %%xmm8\n\t"
                     "syscall\n\t"
                     "movq %%xmm8, %[out]"
                     : [out] "=r"(out), "+a"(nr)
                     : [in] "r"(in), "D"(pid), "S"(tid), "d"((long)SIGUSR2)
                     : "rcx", "r11", "xmm8", "memory");
    CHECK(nr == 0, "tgkill from asm");
    CHECK(out == in, "xmm8 survives a handler that clobbers it");

    /* An interval timer delivers SIGALRM; pause() returns EINTR. */
    struct sigaction sa2 = sa_of(on_alrm, 0);
    sigaction(SIGALRM, &sa2, NULL);
    struct itimerval it = {{0, 0}, {0, 20000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer 20ms");
    errno = 0;
    int pr = pause();
    CHECK(pr == -1 && errno == EINTR && alrm_count == 1, "pause interrupted by SIGALRM");
    CHECK(alarm(0) == 0, "no alarm left");
    return check_summary();
}
