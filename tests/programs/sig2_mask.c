/* Masks, waits and handler frames beyond signal_handlers.c: sigsuspend (the temporary
 * mask, the old one back afterwards, woken by another process), rt_sigtimedwait
 * (timeout, zero timeout, a pending signal, a bad timeout), SA_NODEFER recursion versus
 * the default deferral, sa_mask, SA_RESETHAND's mask, sigaltstack errors and a stack
 * overflow caught on the alternate stack, SIGSEGV recovery with siglongjmp (si_addr,
 * SEGV_MAPERR/SEGV_ACCERR, trap number and error code, the mask restored by
 * siglongjmp), handlers that edit the ucontext (general registers, RFLAGS, uc_sigmask),
 * and rt_sigprocmask/rt_sigaction argument errors. */
#include "proc_util.h"
#include <setjmp.h>
#include <sys/mman.h>
#include <ucontext.h>

static volatile sig_atomic_t hits, depth, max_depth;
static volatile int inside_mask_has_usr1, inside_mask_has_usr2, inside_mask_has_int;

static void on_usr1(int sig) {
    (void)sig;
    hits++;
    sigset_t m;
    sigprocmask(SIG_SETMASK, NULL, &m);
    inside_mask_has_usr1 = sigismember(&m, SIGUSR1);
    inside_mask_has_usr2 = sigismember(&m, SIGUSR2);
    inside_mask_has_int = sigismember(&m, SIGINT);
}

static int mask_has(int sig) {
    sigset_t m;
    sigprocmask(SIG_SETMASK, NULL, &m);
    return sigismember(&m, sig);
}

static void suspend(void) {
    set_handler(SIGUSR1, on_usr1, 0);
    block_sig(SIGUSR1);
    block_sig(SIGUSR2);
    raise(SIGUSR1);
    CHECK(hits == 0, "blocked SIGUSR1 is pending, not delivered");
    sigset_t tmp;
    sigemptyset(&tmp);
    sigaddset(&tmp, SIGINT);
    errno = 0;
    int r = sigsuspend(&tmp);
    printf("sigsuspend = %d %s, handler ran %d\n", r, proc_errname(errno), (int)hits);
    printf("mask inside the handler: SIGUSR1 %d (its own), SIGINT %d (sigsuspend's), SIGUSR2 %d\n",
           inside_mask_has_usr1, inside_mask_has_int, inside_mask_has_usr2);
    printf("mask after sigsuspend: SIGUSR1 %d, SIGUSR2 %d, SIGINT %d\n", mask_has(SIGUSR1),
           mask_has(SIGUSR2), mask_has(SIGINT));
    unblock_sig(SIGUSR2);

    /* Woken by another process. */
    hits = 0;
    pid_t parent = getpid();
    pid_t c = xfork();
    if (c == 0) {
        msleep(10);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    sigset_t none;
    sigemptyset(&none);
    SUSPEND_UNTIL(hits, &none);
    printf("sigsuspend woken by a child's kill: handler ran %d\n", (int)hits);
    xwait(c);
    unblock_sig(SIGUSR1);
    signal(SIGUSR1, SIG_DFL);
}

static void timedwait(void) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    sigprocmask(SIG_BLOCK, &s, NULL);
    struct timespec to = {0, 20000000};
    long long t0 = now_ns();
    siginfo_t si;
    errno = 0;
    int r = sigtimedwait(&s, &si, &to);
    long long el = now_ns() - t0;
    printf("sigtimedwait 20 ms, nothing pending: %d %s, waited at least 20 ms: %s\n", r,
           proc_errname(errno), el >= 20000000 ? "yes" : "no");
    struct timespec zero = {0, 0};
    errno = 0;
    r = sigtimedwait(&s, &si, &zero);
    printf("sigtimedwait zero timeout: %d %s\n", r, proc_errname(errno));
    union sigval v = {.sival_int = 5};
    sigqueue(getpid(), SIGUSR2, v);
    memset(&si, 0, sizeof si);
    r = sigtimedwait(&s, &si, &to);
    printf("sigtimedwait with SIGUSR2 pending: %s, si_code SI_QUEUE %d, value %d\n", sig_name(r),
           si.si_code == SI_QUEUE, si.si_value.sival_int);
    struct timespec bad = {0, 1000000000};
    errno = 0;
    r = sigtimedwait(&s, &si, &bad);
    printf("sigtimedwait with tv_nsec 1e9: %d %s\n", r, proc_errname(errno));
    /* Woken from another process while waiting without a timeout. */
    pid_t parent = getpid();
    pid_t c = xfork();
    if (c == 0) {
        msleep(10);
        kill(parent, SIGUSR2);
        _exit(0);
    }
    memset(&si, 0, sizeof si);
    r = sigwaitinfo(&s, &si);
    printf("sigwaitinfo woken by a child: %s, from the child: %s\n", sig_name(r),
           si.si_pid == c ? "yes" : "no");
    xwait(c);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
}

static char trace[64];
static volatile int tpos;

static void recurse(int sig) {
    (void)sig;
    depth++;
    if (depth > max_depth)
        max_depth = depth;
    trace[tpos++] = (char)('0' + depth);
    if (hits++ < 3)
        raise(SIGUSR1);
    trace[tpos++] = 'r';
    depth--;
}

static void on_usr2_trace(int sig) {
    (void)sig;
    trace[tpos++] = '2';
}

static void with_usr2(int sig) {
    (void)sig;
    trace[tpos++] = '1';
    raise(SIGUSR2); /* in sa_mask: deferred until this handler returns */
    trace[tpos++] = 'e';
}

static volatile int resethand_blocked = -1;

static void resethand(int sig) {
    resethand_blocked = mask_has(sig);
}

static void nodefer(void) {
    for (int nd = 0; nd <= 1; nd++) {
        hits = depth = max_depth = tpos = 0;
        memset(trace, 0, sizeof trace);
        set_handler(SIGUSR1, recurse, nd ? SA_NODEFER : 0);
        raise(SIGUSR1);
        printf("%s: handler ran %d times, deepest nesting %d, trace %s\n",
               nd ? "SA_NODEFER" : "default", (int)hits, (int)max_depth, trace);
    }
    tpos = 0;
    memset(trace, 0, sizeof trace);
    set_handler(SIGUSR2, on_usr2_trace, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = with_usr2;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("sa_mask {SIGUSR2}: trace %s\n", trace);
    set_handler(SIGUSR1, resethand, SA_RESETHAND);
    raise(SIGUSR1);
    struct sigaction old;
    sigaction(SIGUSR1, NULL, &old);
    printf("SA_RESETHAND: signal blocked in its handler %d, then SIG_DFL %d\n", resethand_blocked,
           old.sa_handler == SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
}

static sigjmp_buf jb;
static volatile void *fault_addr;
static volatile int fault_code, fault_trapno, fault_err, fault_on_alt;
static char *altbuf;
static size_t altsize;

static void on_segv(int sig, siginfo_t *si, void *ucv) {
    (void)sig;
    ucontext_t *uc = ucv;
    fault_addr = si->si_addr;
    fault_code = si->si_code;
    fault_trapno = (int)uc->uc_mcontext.gregs[REG_TRAPNO];
    fault_err = (int)uc->uc_mcontext.gregs[REG_ERR];
    volatile char here;
    fault_on_alt = altbuf && (char *)&here >= altbuf && (char *)&here < altbuf + altsize;
    siglongjmp(jb, 1);
}

static const char *segv_code(int c) {
    return c == SEGV_MAPERR ? "SEGV_MAPERR" : c == SEGV_ACCERR ? "SEGV_ACCERR" : "other";
}

static volatile int overflow_limit = -1;

static __attribute__((noinline)) int overflow(int n) {
    volatile char pad[512];
    pad[0] = (char)n;
    if (n == overflow_limit)
        return 0;
    return overflow(n + 1) + pad[0];
}

static void segv_recovery(void) {
    set_action(SIGSEGV, on_segv, 0);
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, (size_t)pg * 2, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(m + pg, (size_t)pg);
    for (int round = 0; round < 3; round++) {
        volatile char *target = round == 0 ? m + pg + 8 : m + 16;
        int write_it = round != 2;
        fault_addr = NULL;
        if (sigsetjmp(jb, 1) == 0) {
            if (write_it)
                *target = 1;
            else
                (void)*(volatile char *)(m + pg + 24);
            printf("no fault?\n");
        } else {
            volatile char *want = round == 2 ? m + pg + 24 : target;
            printf("fault %d (%s %s page): si_addr exact %s, %s, trap %d, error code & 6 = %d, "
                   "SIGSEGV unblocked again %s\n",
                   round, write_it ? "write to" : "read from",
                   round == 1 ? "a read-only" : "an unmapped", fault_addr == want ? "yes" : "no",
                   segv_code(fault_code), fault_trapno, fault_err & 6,
                   mask_has(SIGSEGV) ? "no" : "yes");
        }
    }
    munmap(m, (size_t)pg);

    /* A stack overflow handled on the alternate stack. */
    altsize = 64 * 1024;
    altbuf = malloc(altsize);
    stack_t ss = {.ss_sp = altbuf, .ss_size = altsize, .ss_flags = 0};
    CHECK(sigaltstack(&ss, NULL) == 0, "sigaltstack");
    set_action(SIGSEGV, on_segv, SA_ONSTACK);
    fault_on_alt = 0;
    if (sigsetjmp(jb, 1) == 0) {
        overflow(0);
        printf("no overflow?\n");
    } else {
        printf("stack overflow caught: handler ran on the alternate stack %s, %s\n",
               fault_on_alt ? "yes" : "no", segv_code(fault_code));
    }
    stack_t cur;
    sigaltstack(NULL, &cur);
    CHECK(!(cur.ss_flags & SS_ONSTACK), "off the alternate stack after siglongjmp");
    /* Once more: the program recovered fully. */
    fault_on_alt = 0;
    if (sigsetjmp(jb, 1) == 0)
        overflow(0);
    CHECK(fault_on_alt, "a second overflow is caught too");
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    free(altbuf);
    altbuf = NULL;
    signal(SIGSEGV, SIG_DFL);
}

static volatile int in_alt_eperm = -1, in_alt_onstack = -1;

static void alt_probe(int sig) {
    (void)sig;
    stack_t cur, ns;
    sigaltstack(NULL, &cur);
    in_alt_onstack = (cur.ss_flags & SS_ONSTACK) != 0;
    static char other[16384];
    ns.ss_sp = other;
    ns.ss_size = sizeof other;
    ns.ss_flags = 0;
    errno = 0;
    in_alt_eperm = sigaltstack(&ns, NULL) == -1 && errno == EPERM;
}

static void altstack_errors(void) {
    static char small[1024], big[65536];
    stack_t ss = {.ss_sp = small, .ss_size = 1024, .ss_flags = 0};
    PRINT_RES("sigaltstack with ss_size 1024", sigaltstack(&ss, NULL));
    ss.ss_size = sizeof big;
    ss.ss_sp = big;
    ss.ss_flags = 0x1234;
    PRINT_RES("sigaltstack with bad flags", sigaltstack(&ss, NULL));
    ss.ss_flags = 0;
    sigaltstack(&ss, NULL);
    set_handler(SIGUSR2, alt_probe, SA_ONSTACK);
    raise(SIGUSR2);
    printf("inside an SA_ONSTACK handler: SS_ONSTACK %d, changing the stack gives EPERM %d\n",
           in_alt_onstack, in_alt_eperm);
    set_handler(SIGUSR2, alt_probe, 0);
    raise(SIGUSR2);
    printf("inside a handler without SA_ONSTACK: SS_ONSTACK %d\n", in_alt_onstack);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    stack_t cur;
    sigaltstack(NULL, &cur);
    printf("after SS_DISABLE: disabled %d\n", (cur.ss_flags & SS_DISABLE) != 0);
    signal(SIGUSR2, SIG_DFL);
}

/* int3 raises SIGTRAP; the handler edits registers, RFLAGS and the mask to return to. */
static void edit_context(int sig, siginfo_t *si, void *ucv) {
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    uc->uc_mcontext.gregs[REG_R12] = 0x1122334455667788LL;
    uc->uc_mcontext.gregs[REG_RBX] += 5;
    uc->uc_mcontext.gregs[REG_EFL] |= 1; /* carry */
    sigaddset(&uc->uc_sigmask, SIGUSR2);
}

static void context_edits(void) {
    set_action(SIGTRAP, edit_context, 0);
    unsigned long r12 = 0, rbx = 10;
    unsigned char carry = 0;
    __asm__ volatile("xor %%r12, %%r12\n\t"
                     "clc\n\t"
                     "int3\n\t"
                     "setc %[c]\n\t"
                     "mov %%r12, %[r]\n\t"
                     : [r] "=r"(r12), [c] "=r"(carry), "+b"(rbx)
                     :
                     : "r12", "cc", "memory");
    printf("after the handler: r12 %s, rbx %lu, carry %d, SIGUSR2 now blocked %d\n",
           r12 == 0x1122334455667788ULL ? "as set" : "unchanged", rbx, carry, mask_has(SIGUSR2));
    unblock_sig(SIGUSR2);
    signal(SIGTRAP, SIG_DFL);
}

static void bad_args(void) {
    sigset_t s;
    sigemptyset(&s);
    PRINT_RES("sigprocmask(how=99)", sigprocmask(99, &s, NULL));
    PRINT_RES("rt_sigprocmask with sigsetsize 4", syscall(SYS_rt_sigprocmask, SIG_BLOCK, &s, NULL, 4));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    PRINT_RES("rt_sigaction with sigsetsize 4", syscall(SYS_rt_sigaction, SIGUSR1, NULL, &sa, 4));
    PRINT_RES("sigaction(0)", sigaction(0, NULL, &sa));
    PRINT_RES("sigaction(65)", sigaction(65, NULL, &sa));
    sa.sa_handler = SIG_IGN;
    PRINT_RES("sigaction(SIGSTOP, SIG_IGN)", sigaction(SIGSTOP, &sa, NULL));
    PRINT_RES("sigaction(SIGKILL, NULL, &old)", sigaction(SIGKILL, NULL, &sa));
    PRINT_RES("rt_sigpending with sigsetsize 4", syscall(SYS_rt_sigpending, &s, 4));
    PRINT_RES("rt_sigsuspend with sigsetsize 4", syscall(SYS_rt_sigsuspend, &s, 4));
    PRINT_RES("sigprocmask with a bad pointer", syscall(SYS_rt_sigprocmask, SIG_BLOCK, (void *)8, NULL, 8));
}

int main(void) {
    proc_init();
    suspend();
    timedwait();
    nodefer();
    segv_recovery();
    altstack_errors();
    context_edits();
    bad_args();
    return check_summary();
}
